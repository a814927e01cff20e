/**
 * Upload ids are minted by the Durable Object namespace, which signs them:
 * an id somebody made up (of the right form or not) is answered 404 by the
 * Worker without any Durable Object, since the namespace refuses to name an
 * object for it. A genuine id that no upload was created with (minted, then
 * never used) does reach its object, which must answer 404 and keep
 * nothing: no schema, no tables. Uploads created before the schema moved to
 * creation (their tables exist, possibly without newer columns) keep working.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { newUploadId } from "../../src/upload-id";
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

describe("a made-up upload id", () => {
  it("of the right form, or of the form ids had before (22 base64url characters), is 404 for every method, and names no Durable Object", { timeout: TIMEOUT }, async () => {
    const genuine = newUploadId(env.UPLOADS);
    // The same form as a genuine id, but not minted by the namespace: its signature half is wrong.
    const forged = genuine.slice(0, 32) + [...genuine.slice(32)].map((digit) => (digit === "0" ? "1" : "0")).join("");
    for (const id of [forged, "0".repeat(64), "Zm9vYmFyYmF6cXV4cXV1eA"]) expect(() => env.UPLOADS.idFromString(id), id).toThrow();
    // Upper-case hex would name the same object as the genuine id: URLs have one spelling, so it is refused too.
    for (const id of [forged, "0".repeat(64), "Zm9vYmFyYmF6cXV4cXV1eA", genuine.toUpperCase()]) {
      const url = `${COLLECTION}${id}`;
      expect((await head(url)).status, id).toBe(404);
      for (const response of [await patch(url, 0, "abc"), await send(url, { method: "DELETE", headers: TUS }), await send(url)]) {
        expect(response.status, await bodyText(response)).toBe(404);
        expect(await bodyText(response)).toMatch(/no upload exists at this URL/);
      }
    }
  });
});

describe("a genuine upload id that no upload was created with", () => {
  it("HEAD, PATCH, DELETE and GET answer 404, and its Durable Object is left without any table", { timeout: TIMEOUT }, async () => {
    const id = newUploadId(env.UPLOADS);
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

  it("20 HEADs on unused ids leave 20 objects without tables", { timeout: TIMEOUT }, async () => {
    const ids = Array.from({ length: 20 }, () => newUploadId(env.UPLOADS));
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
