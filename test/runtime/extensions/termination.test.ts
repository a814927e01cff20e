/**
 * termination extension: DELETE on an upload answers 204 and frees what it
 * holds (R2 multipart upload or finished object, parts, tail); afterwards
 * every request for it answers 410, from a tombstone that holds nothing else.
 * A PATCH still streaming when DELETE arrives is stopped first.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import {
  bodyText,
  createUpload,
  expectDownloadEquals,
  expectNoServerErrors,
  expectStoredInvariant,
  head,
  headOffset,
  MiB,
  OCTET,
  patch,
  patchInChunks,
  PART_SIZE,
  randomBytes,
  send,
  settle,
  sleep,
  stalledBody,
  storedState,
  TUS,
  within,
} from "../helpers";
import { expectMultipartAborted, expectNoBody, expectTombstoneOnly, snapshot } from "./helpers";

const TIMEOUT = 30_000;
/** A well-formed id that no upload has. */
const UNKNOWN_URL = "http://tus.test/files/AAAAAAAAAAAAAAAAAAAAAA";

function del(url: string, headers: Record<string, string> = { ...TUS }): Promise<Response> {
  return send(url, { method: "DELETE", headers });
}

/** Every way of reaching a terminated upload answers 410; HEAD without a body. */
async function expectGone(url: string): Promise<void> {
  const state = await head(url);
  expect(state.status).toBe(410);
  expect(state.headers.get("Upload-Offset")).toBeNull();
  await expectNoBody(state);
  const appended = await patch(url, 0, new Uint8Array(1));
  expect(appended.status, await bodyText(appended)).toBe(410);
  expect(await appended.text()).toMatch(/terminated/);
  const downloaded = await send(url);
  expect(downloaded.status, await bodyText(downloaded)).toBe(410);
  await downloaded.arrayBuffer();
  const deletedAgain = await del(url);
  expect(deletedAgain.status, await bodyText(deletedAgain)).toBe(410);
  await deletedAgain.arrayBuffer();
}

describe("termination", () => {
  afterEach(() => expectNoServerErrors());

  it("DELETE on an unfinished upload with a part in R2 and a tail answers 204 and frees all of it", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(12 * MiB + 5, 2000);
    const { url, id } = await createUpload({ length: data.length, metadata: `filename ${btoa("a.bin")}` });
    // A first PATCH of 3 MiB keeps the planned part size (see partSizeForChunk).
    await patchInChunks(url, data.subarray(0, 9 * MiB + 3), 0, [3 * MiB, 6 * MiB + 3]);
    const before = await expectStoredInvariant(id, 9 * MiB + 3);
    expect(before.parts).toEqual([{ number: 1, size: PART_SIZE }]);
    expect(before.tailBytes).toBe(MiB + 3);
    const multipartId = before.multipartId!;
    expect(multipartId).not.toBeNull();

    const response = await del(url);
    expect(response.status, await bodyText(response)).toBe(204);
    expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");

    await expectGone(url);
    await expectTombstoneOnly(id, "terminated");
    expect((await snapshot(id)).alarm, "no expiry alarm is left behind").toBeNull();
    await expectMultipartAborted(`uploads/${id}`, multipartId);
    expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
  });

  it("DELETE on an upload that received nothing answers 204, and it is gone", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 100 });
    expect((await del(url)).status).toBe(204);
    await expectGone(url);
    await expectTombstoneOnly(id, "terminated");
  });

  it("DELETE on a finished upload answers 204 and deletes its R2 object", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(11 * MiB + 1, 2001);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data, 0, [6 * MiB]);
    await expectDownloadEquals(url, data);
    expect(await env.BUCKET.head(`uploads/${id}`)).not.toBeNull();

    const response = await del(url);
    expect(response.status, await bodyText(response)).toBe(204);
    expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
    await expectGone(url);
    await expectTombstoneOnly(id, "terminated");
  });

  it("DELETE on an unknown upload answers 404", { timeout: TIMEOUT }, async () => {
    const response = await del(UNKNOWN_URL);
    expect(response.status, await bodyText(response)).toBe(404);
    expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");
  });

  it("DELETE without Tus-Resumable is refused with 412 and Tus-Version, and the upload stays", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 10, body: new Uint8Array(4) });
    const response = await del(url, {});
    expect(response.status, await bodyText(response)).toBe(412);
    expect(response.headers.get("Tus-Version")).toBe("1.0.0");
    const wrongVersion = await del(url, { "Tus-Resumable": "0.2.2" });
    expect(wrongVersion.status).toBe(412);
    expect(await headOffset(url)).toBe(4);
    expect((await storedState(id)).tailBytes).toBe(4);
  });

  it("DELETE stops a PATCH whose body went silent, answers within seconds, and nothing of the PATCH is stored", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(14 * MiB + 3, 2002);
    const received = 9 * MiB + 1;
    const { url, id } = await createUpload({ length: data.length });
    const body = stalledBody(data.slice(0, received));
    const stalled = settle(patch(url, 0, body.stream));
    await body.drained;
    // Wait until the first 8 MiB have gone to R2 as part 1: a multipart upload to abort.
    let multipartId: string | null = null;
    for (let tries = 0; tries < 50 && multipartId === null; tries++) {
      await sleep(100);
      multipartId = (await snapshot(id)).uploads[0]!.multipart_id;
    }
    expect(multipartId, "part 1 reached R2 while the body stalled").not.toBeNull();

    const started = Date.now();
    const response = await within(8_000, "DELETE during a stalled PATCH", del(url));
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(response.status, await bodyText(response)).toBe(204);

    const outcome = await within(8_000, "the stalled PATCH", stalled);
    if (outcome.response) expect(outcome.response.status, await bodyText(outcome.response)).toBeLessThan(500);

    await expectGone(url);
    await expectTombstoneOnly(id, "terminated");
    await expectMultipartAborted(`uploads/${id}`, multipartId!);
    expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
  });

  it("a PATCH at the offset the upload had before DELETE answers 410 and stores nothing", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 10, body: new Uint8Array(3) });
    expect((await del(url)).status).toBe(204);
    const resumed = await send(url, {
      method: "PATCH",
      headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "3" },
      body: new Uint8Array(7),
    });
    expect(resumed.status).toBe(410);
    await expectTombstoneOnly(id, "terminated");
  });
});
