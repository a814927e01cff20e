/**
 * Whole uploads over several R2 parts, sent in chunk sizes that never line up
 * with the 8 MiB (16 MiB deferred) part size. Local R2 checks part sizes only
 * in `complete()`, so every upload here is over 10 MiB or ends exactly on a
 * part boundary: a wrongly cut part fails the upload instead of passing unseen.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import {
  b64,
  bodyText,
  chunkedBody,
  concat,
  createUpload,
  DEFERRED_PART_SIZE,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  expectStoredInvariant,
  head,
  headOffset,
  KiB,
  MiB,
  patch,
  patchInChunks,
  PART_SIZE,
  randomBytes,
} from "./helpers";

const TIMEOUT = 60_000;

/** Chunk sizes that change with every PATCH and straddle part boundaries. */
const IRREGULAR = [1, 100 * KiB, 7 * MiB, 9 * MiB, 3 * MiB + 17, 5 * MiB - 1, 13];

describe("uploads over several parts", () => {
  afterEach(() => expectNoServerErrors());

  it("stores 21 MiB + 12345 bytes sent in irregular chunks, byte for byte", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(21 * MiB + 12345, 101);
    const { url, id } = await createUpload({
      length: data.length,
      metadata: `filename ${b64("big.bin")},filetype ${b64("application/x-test")}`,
    });
    await patchInChunks(url, data, 0, IRREGULAR);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
    const object = await env.BUCKET.head(`uploads/${id}`);
    // A multipart object keeps the HTTP metadata it was created with.
    expect(object!.httpMetadata?.contentType).toBe("application/x-test");
    expect(object!.httpMetadata?.contentDisposition).toBe(`attachment; filename="big.bin"; filename*=UTF-8''big.bin`);
  });

  it("stores exactly 16 MiB (two full parts) started with creation-with-upload", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(16 * MiB, 102);
    const first = 5 * MiB + 3;
    const { response, url, id } = await createUpload({ length: data.length, body: data.slice(0, first) });
    expect(response.headers.get("Upload-Offset")).toBe(String(first));
    await patchInChunks(url, data, first, [9 * MiB, 100 * KiB, 1]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("stores 8 MiB + 1 bytes, whose second part is a single byte", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(PART_SIZE + 1, 103);
    const { url, id } = await createUpload({ length: data.length });
    // The first PATCH ends exactly on the part boundary, the last carries one byte.
    await patchInChunks(url, data, 0, [4 * MiB, 4 * MiB, 1]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("stores a 22 MiB upload sent in one PATCH after creation-with-upload of 1 byte", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(22 * MiB + 5, 104);
    const { url, id } = await createUpload({ length: data.length, body: data.slice(0, 1) });
    const response = await patch(url, 1, data.slice(1));
    expect(response.status, await bodyText(response)).toBe(204);
    expect(response.headers.get("Upload-Offset")).toBe(String(data.length));
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("keeps offset = stored parts + tail between PATCHes", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(18 * MiB + 3, 105);
    const { url, id } = await createUpload({ length: data.length });
    let offset = 0;
    for (const size of [3 * MiB, 6 * MiB + 1, 100 * KiB, 8 * MiB]) {
      expect((await patch(url, offset, data.slice(offset, offset + size))).status).toBe(204);
      offset += size;
      const state = await expectStoredInvariant(id, offset);
      // Parts are cut at exact multiples of the part size; the rest waits in the tail.
      expect(state.parts.map((part) => part.size)).toEqual(Array(Math.floor(offset / PART_SIZE)).fill(PART_SIZE));
      expect(state.tailBytes).toBe(offset % PART_SIZE);
    }
    await patchInChunks(url, data, offset, [MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("cuts parts that the first PATCH's length is a multiple of, so chunked PATCHes leave no tail", { timeout: TIMEOUT }, async () => {
    // 10 MiB chunks: the planned 8 MiB parts would leave a tail after every PATCH.
    const chunk = 10 * MiB;
    const data = randomBytes(3 * chunk + 5, 111);
    const { url, id } = await createUpload({ length: data.length });
    for (let offset = 0; offset + chunk < data.length; offset += chunk) {
      expect((await patch(url, offset, data.slice(offset, offset + chunk))).status).toBe(204);
      const state = await expectStoredInvariant(id, offset + chunk);
      expect(state.parts.map((part) => part.size)).toEqual(Array((offset + chunk) / chunk).fill(chunk));
      expect(state.tailBytes).toBe(0);
    }
    await patchInChunks(url, data, 3 * chunk, [5]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("keeps its part size once bytes are stored, whatever later PATCHes bring", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(PART_SIZE + 12 * MiB + 1, 112);
    const { url, id } = await createUpload({ length: data.length });
    // A first PATCH of 3 MiB (no valid part size divides it) fixes the planned 8 MiB parts.
    await patchInChunks(url, data.subarray(0, 15 * MiB), 0, [3 * MiB, 12 * MiB]);
    const state = await expectStoredInvariant(id, 15 * MiB);
    expect(state.parts.map((part) => part.size)).toEqual([PART_SIZE]);
    await patchInChunks(url, data, 15 * MiB, [12 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("assembles parts from many small PATCHes whose bytes wait in the stored tail", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(PART_SIZE + 3 * MiB + 3, 108);
    const { url, id } = await createUpload({ length: data.length });
    // Tail rows of uneven sizes, on both sides of the 1 MiB row limit.
    await patchInChunks(url, data.subarray(0, PART_SIZE - 5), 0, [300 * KiB + 1, MiB + 7, 2 * MiB - 5]);
    const state = await expectStoredInvariant(id, PART_SIZE - 5);
    expect(state.parts).toEqual([]);
    await patchInChunks(url, data, PART_SIZE - 5, [10, 700 * KiB, 2 * MiB + 1]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("stores PATCH bodies streamed without Content-Length", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(19 * MiB + 77, 109);
    const { url, id } = await createUpload({ length: data.length });
    let offset = 0;
    for (const size of [5 * MiB + 3, 11 * MiB, data.length - 16 * MiB - 3]) {
      const response = await patch(url, offset, chunkedBody(data.slice(offset, offset + size), 64 * KiB + 1));
      expect(response.status, await bodyText(response)).toBe(204);
      offset += size;
      expect(response.headers.get("Upload-Offset")).toBe(String(offset));
    }
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("refuses a streamed body that runs past Upload-Length (413) and stays resumable", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(10 * MiB + 9, 110);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data.subarray(0, MiB), 0, [MiB]);
    const tooLong = await patch(url, MiB, chunkedBody(concat(data.slice(MiB), randomBytes(5, 111)), 256 * KiB));
    expect(tooLong.status).toBe(413);
    expect(await tooLong.text()).toMatch(/Upload-Length/);
    // Whatever of it was kept is consistent: HEAD, the 413's offset and storage agree.
    const offset = await headOffset(url);
    expect(tooLong.headers.get("Upload-Offset")).toBe(String(offset));
    expect(offset).toBeGreaterThanOrEqual(MiB);
    expect(offset).toBeLessThan(data.length);
    await expectStoredInvariant(id, offset);
    await patchInChunks(url, data, offset, [4 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("stores a deferred-length upload over 20 MiB whose length comes with the last PATCH", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(DEFERRED_PART_SIZE + 4 * MiB + 777, 106);
    const { url, id } = await createUpload({ deferred: true, body: data.slice(0, 100 * KiB) });
    await patchInChunks(url, data.subarray(0, 17 * MiB + 9), 100 * KiB, [6 * MiB, 11 * MiB + 5 - 100 * KiB]);
    const midway = await head(url);
    expect(midway.headers.get("Upload-Defer-Length")).toBe("1");
    expect(midway.headers.get("Upload-Offset")).toBe(String(17 * MiB + 9));
    const state = await expectStoredInvariant(id, 17 * MiB + 9);
    expect(state.parts.map((part) => part.size)).toEqual([DEFERRED_PART_SIZE]);

    await patchInChunks(url, data, 17 * MiB + 9, [2 * MiB, 3 * MiB], { "Upload-Length": String(data.length) });
    const done = await head(url);
    expect(done.headers.get("Upload-Length")).toBe(String(data.length));
    expect(done.headers.get("Upload-Offset")).toBe(String(data.length));
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("stores a deferred-length upload of exactly two parts whose length comes with an empty PATCH", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(2 * DEFERRED_PART_SIZE, 107);
    const { url, id } = await createUpload({ deferred: true });
    await patchInChunks(url, data, 0, [10 * MiB, 13 * MiB]);
    const declare = await patch(url, data.length, new Uint8Array(0), { "Upload-Length": String(data.length) });
    expect(declare.status, await bodyText(declare)).toBe(204);
    expect(declare.headers.get("Upload-Offset")).toBe(String(data.length));
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });
});
