/**
 * A well-formed id that no upload has reaches a Durable Object (the Worker
 * cannot know it is unknown without asking). That object must answer 404
 * and keep nothing: no schema, no tables, so that probing random ids leaves
 * no storage behind. Uploads created before the schema moved to creation
 * (their tables exist, possibly without newer columns) keep working.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { newUploadId } from "../../src/upload/upload-id";
import {
  bodyText,
  COLLECTION,
  createUpload,
  expectDownloadEquals,
  expectNoServerErrors,
  expectStoredInvariant,
  head,
  headOffset,
  KiB,
  MiB,
  OCTET,
  patch,
  patchInChunks,
  randomBytes,
  send,
  TUS,
  uploadStub,
} from "./helpers";

const TIMEOUT = 60_000;

/** The tables the upload's Durable Object holds in SQLite (the runtime's own `_cf_` tables left out). */
function tablesOf(id: string): Promise<string[]> {
  return runInDurableObject(uploadStub(id), (_instance, state) =>
    state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name")
      .toArray()
      .map((row) => row.name),
  );
}

afterEach(() => expectNoServerErrors());

describe("an unknown, well-formed upload id", () => {
  it("HEAD, PATCH, DELETE and GET answer 404, and its Durable Object is left without any table", { timeout: TIMEOUT }, async () => {
    const id = newUploadId();
    const url = `${COLLECTION}${id}`;
    expect((await head(url)).status).toBe(404);
    for (const response of [await patch(url, 0, "abc"), await send(url, { method: "DELETE", headers: TUS }), await send(url)]) {
      expect(response.status, await bodyText(response)).toBe(404);
      expect(await bodyText(response)).toMatch(/no upload exists at this URL/);
    }
    expect((await head(url)).status).toBe(404);
    expect(await tablesOf(id)).toEqual([]);
    await evictDurableObject(uploadStub(id));
    expect((await head(url)).status).toBe(404);
    expect(await tablesOf(id)).toEqual([]);
  });

  it("20 HEADs on random ids leave 20 objects without tables", { timeout: TIMEOUT }, async () => {
    const ids = Array.from({ length: 20 }, () => newUploadId());
    for (const id of ids) expect((await head(`${COLLECTION}${id}`)).status).toBe(404);
    for (const id of ids) expect(await tablesOf(id)).toEqual([]);
  });

  it("a real upload creates its tables and works as before", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(9 * MiB + 3, 901);
    const { url, id } = await createUpload({ length: data.length });
    expect(await tablesOf(id)).toEqual(["event", "part", "tail", "upload"]);
    await patchInChunks(url, data, 0, [3 * MiB]);
    await expectDownloadEquals(url, data);
  });
});

describe("uploads stored before the schema moved to creation", () => {
  it("an upload whose tables lack the newer columns keeps its bytes and finishes", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(10 * MiB + 7, 902);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data.subarray(0, 9 * MiB + 100), 0, [9 * MiB + 100]);
    // As an older version left it: no size_limit column.
    await runInDurableObject(uploadStub(id), (_instance, state) => {
      state.storage.sql.exec("ALTER TABLE upload DROP COLUMN size_limit");
    });
    await evictDurableObject(uploadStub(id));
    expect(await headOffset(url)).toBe(9 * MiB + 100);
    await expectStoredInvariant(id, 9 * MiB + 100);
    const response = await send(url, {
      method: "PATCH",
      headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": String(9 * MiB + 100) },
      body: data.slice(9 * MiB + 100, 9 * MiB + 100 + 64 * KiB),
    });
    expect(response.status, await bodyText(response)).toBe(204);
    await patchInChunks(url, data, 9 * MiB + 100 + 64 * KiB, [MiB]);
    await expectDownloadEquals(url, data);
  });
});
