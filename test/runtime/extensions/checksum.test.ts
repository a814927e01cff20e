/**
 * checksum extension: a PATCH (or creation-with-upload POST) may carry
 * `Upload-Checksum: <algorithm> <base64 digest>` of its body. A body that
 * matches is appended; one that does not is refused with 460 and leaves the
 * upload exactly as it was, even when it was long enough that its parts had
 * already gone to R2. A malformed or unknown checksum is 400; a Base64 digest
 * of the wrong length for its algorithm can match no body, so it is a
 * mismatch (460), like any other.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  bodyText,
  brokenBody,
  COLLECTION,
  createUpload,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  head,
  headOffset,
  KiB,
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
  TUS,
  within,
} from "../helpers";
import { base64, bytesOnRecord, checksumHeader, snapshot, type Algorithm } from "./helpers";

const TIMEOUT = 60_000;
const ALGORITHMS: Algorithm[] = ["sha1", "sha256", "sha512", "md5"];
/** Time for bytes the client sent to cross Worker → Durable Object before we interrupt. */
const SETTLE_MS = 300;

/** A checksum header for `bytes` that is well-formed but wrong: the digest of other bytes. */
async function wrongChecksum(algorithm: Algorithm, bytes: Uint8Array): Promise<Record<string, string>> {
  const damaged = bytes.slice();
  damaged[damaged.length >> 1]! ^= 0x01;
  return checksumHeader(algorithm, damaged);
}

describe("checksum: discovery and matching chunks", () => {
  afterEach(() => expectNoServerErrors());

  it("OPTIONS advertises the checksum extension and Tus-Checksum-Algorithm: sha1,sha256,sha512,md5", { timeout: 10_000 }, async () => {
    const response = await send(COLLECTION, { method: "OPTIONS" });
    expect(response.status).toBe(200);
    expect(response.headers.get("Tus-Extension")?.split(",")).toContain("checksum");
    expect(response.headers.get("Tus-Checksum-Algorithm")).toBe("sha1,sha256,sha512,md5");
  });

  it.for(ALGORITHMS)("PATCHes with a correct %s Upload-Checksum are appended (204) and stored byte for byte", { timeout: 20_000 }, async (algorithm) => {
    const data = randomBytes(300 * KiB + 7, 1000 + algorithm.length);
    const { url, id } = await createUpload({ length: data.length });
    for (const [start, end] of [
      [0, 100 * KiB + 3],
      [100 * KiB + 3, data.length],
    ] as const) {
      const chunk = data.slice(start, end);
      const response = await patch(url, start, chunk, await checksumHeader(algorithm, chunk));
      expect(response.status, await bodyText(response)).toBe(204);
      expect(response.headers.get("Upload-Offset")).toBe(String(end));
    }
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });
});

describe("checksum: malformed Upload-Checksum", () => {
  afterEach(() => expectNoServerErrors());

  const chunk = randomBytes(4, 1020);
  const digestOf = async (name: string, bytes: Uint8Array) => base64(await crypto.subtle.digest(name, bytes));

  const cases: Array<{ name: string; value: () => Promise<string> }> = [
    { name: "an unknown algorithm (crc32)", value: async () => `crc32 ${btoa("\x01\x02\x03\x04")}` },
    { name: "an unknown algorithm with a plausible digest (sha384)", value: async () => `sha384 ${await digestOf("SHA-384", chunk)}` },
    { name: "an algorithm without a digest", value: async () => "sha1" },
    { name: "an algorithm and a space but no digest", value: async () => "sha1 " },
    { name: "a digest that is not Base64", value: async () => "sha1 !!!" },
    { name: "a digest without its Base64 padding", value: async () => `sha1 ${(await digestOf("SHA-1", chunk)).replace(/=+$/, "")}` },
    { name: "an extra field after the digest", value: async () => `sha1 ${await digestOf("SHA-1", chunk)} extra` },
  ];

  it.for(cases)("$name is refused with 400 and the upload does not move", { timeout: 15_000 }, async ({ value }) => {
    const { url, id } = await createUpload({ length: 10, body: randomBytes(3, 1021) });
    const before = await bytesOnRecord(id);
    const header = await value();
    const response = await patch(url, 3, chunk, { "Upload-Checksum": header });
    expect(response.status, `Upload-Checksum: ${JSON.stringify(header)}: ${await bodyText(response)}`).toBe(400);
    expect(await response.text()).toMatch(/Upload-Checksum/);
    expect(await headOffset(url)).toBe(3);
    expect(await bytesOnRecord(id)).toEqual(before);
  });

  // The spec keeps 400 for an unsupported algorithm; a well-formed digest that
  // cannot match is a mismatch, as tusd and the tus conformance tests have it.
  const wrongLength: Array<{ name: string; value: () => Promise<string> }> = [
    { name: "a sha1 digest of the wrong length (a sha256 digest)", value: async () => `sha1 ${await digestOf("SHA-256", chunk)}` },
    { name: "an md5 digest of the wrong length (a sha1 digest)", value: async () => `md5 ${await digestOf("SHA-1", chunk)}` },
    { name: "a sha256 digest cut short (30 bytes)", value: async () => `sha256 ${(await digestOf("SHA-256", chunk)).slice(0, 40)}` },
  ];

  it.for(wrongLength)("$name is a mismatch, 460, and the upload does not move", { timeout: 15_000 }, async ({ value }) => {
    const { url, id } = await createUpload({ length: 10, body: randomBytes(3, 1022) });
    const before = await bytesOnRecord(id);
    const header = await value();
    const response = await patch(url, 3, chunk, { "Upload-Checksum": header });
    expect(response.status, `Upload-Checksum: ${JSON.stringify(header)}: ${await bodyText(response)}`).toBe(460);
    expect(await response.text()).toMatch(/Upload-Checksum/);
    expect(await headOffset(url)).toBe(3);
    expect(await bytesOnRecord(id)).toEqual(before);
  });
});

describe("checksum: a chunk that does not match", () => {
  afterEach(() => expectNoServerErrors());

  it.for(ALGORITHMS)("a %s mismatch is refused with 460; offset, parts and tail stay exactly as they were", { timeout: 20_000 }, async (algorithm) => {
    const data = randomBytes(12 * MiB + 5, 1100 + algorithm.length);
    const start = 3 * MiB + 1;
    const { url, id } = await createUpload({ length: data.length, body: data.slice(0, start) });
    const before = await bytesOnRecord(id);
    expect(before.tail.length).toBeGreaterThan(0);

    const chunk = data.slice(start, start + 2 * MiB);
    const response = await patch(url, start, chunk, await wrongChecksum(algorithm, chunk));
    expect(response.status, await bodyText(response)).toBe(460);
    const offsetHeader = response.headers.get("Upload-Offset");
    if (offsetHeader !== null) expect(offsetHeader).toBe(String(start));
    expect(await headOffset(url)).toBe(start);
    expect(await bytesOnRecord(id)).toEqual(before);

    // The correct bytes are then accepted and the upload finishes intact.
    const retry = await patch(url, start, chunk, await checksumHeader(algorithm, chunk));
    expect(retry.status, await bodyText(retry)).toBe(204);
    await patchInChunks(url, data, start + chunk.length, [7 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it.for([
    { where: "3 MiB in (a stored tail, no part yet)", start: 3 * MiB },
    { where: "9 MiB + 3 in (part 1 committed, a stored tail)", start: 9 * MiB + 3 },
  ])(
    "a 20 MiB mismatching chunk at $where whose parts already went to R2 counts for nothing; the correct chunk then completes a 40 MiB upload",
    { timeout: TIMEOUT },
    async ({ start }) => {
      const data = randomBytes(40 * MiB + 5, 1200 + start);
      const { url, id } = await createUpload({ length: data.length });
      const first = data.slice(0, start);
      expect((await patch(url, 0, first, await checksumHeader("sha256", first))).status).toBe(204);
      const before = await snapshot(id);
      expect(before.parts).toHaveLength(Math.floor(start / PART_SIZE));

      // The chunk fills two more 8 MiB parts, which are sent to R2 before the body ends.
      const chunk = data.slice(start, start + 20 * MiB);
      const refused = await patch(url, start, chunk, await wrongChecksum("sha256", chunk));
      expect(refused.status, await bodyText(refused)).toBe(460);
      const after = await snapshot(id);
      // The multipart upload was opened for those parts...
      expect(after.uploads[0]!.multipart_id).not.toBeNull();
      // ...but none of them counts, and the stored tail is untouched.
      expect(after.parts).toEqual(before.parts);
      expect(after.tail).toEqual(before.tail);
      expect(after.uploads[0]!.offset).toBe(start);
      expect(await headOffset(url)).toBe(start);

      const accepted = await patch(url, start, chunk, await checksumHeader("sha256", chunk));
      expect(accepted.status, await bodyText(accepted)).toBe(204);
      expect(accepted.headers.get("Upload-Offset")).toBe(String(start + chunk.length));
      const rest = data.slice(start + chunk.length);
      const last = await patch(url, start + chunk.length, rest, await checksumHeader("sha1", rest));
      expect(last.status, await bodyText(last)).toBe(204);
      expect(last.headers.get("Upload-Offset")).toBe(String(data.length));
      await expectDownloadEquals(url, data);
      await expectFinishedStorage(id, data.length);
    },
  );
});

describe("checksum: all or nothing", () => {
  afterEach(() => expectNoServerErrors());

  it.for([
    { name: "breaks off", make: brokenBody },
    { name: "goes silent and a HEAD takes over", make: stalledBody },
  ])(
    "a checksummed PATCH whose body $name part-way (after crossing a part) stores nothing of it",
    { timeout: TIMEOUT },
    async ({ name, make }) => {
      const data = randomBytes(24 * MiB + 3, 1300 + name.length);
      const start = 2 * MiB + 1;
      const { url, id } = await createUpload({ length: data.length, body: data.slice(0, start) });
      const before = await bytesOnRecord(id);

      const chunk = data.slice(start, start + 16 * MiB);
      const body = make(chunk.slice(0, 10 * MiB + 7));
      const request = settle(patch(url, start, body.stream, await checksumHeader("sha256", chunk)));
      if (make === stalledBody) {
        await body.drained;
        await sleep(SETTLE_MS);
        expect(await within(8_000, "HEAD during a stalled PATCH", headOffset(url))).toBe(start);
      }
      const outcome = await within(8_000, "the interrupted PATCH", request);
      if (outcome.response) {
        expect(outcome.response.status, await bodyText(outcome.response)).toBeLessThan(500);
        const reported = outcome.response.headers.get("Upload-Offset");
        if (reported !== null) expect(reported).toBe(String(start));
      }

      expect(await headOffset(url)).toBe(start);
      expect(await bytesOnRecord(id)).toEqual(before);
      // The whole chunk, sent again, is accepted, and the upload finishes intact.
      const retry = await patch(url, start, chunk, await checksumHeader("sha256", chunk));
      expect(retry.status, await bodyText(retry)).toBe(204);
      await patchInChunks(url, data, start + chunk.length, [6 * MiB + 2]);
      await expectDownloadEquals(url, data);
      await expectFinishedStorage(id, data.length);
    },
  );
});

describe("checksum with creation-with-upload", () => {
  afterEach(() => expectNoServerErrors());

  function postWithBody(length: number, body: Uint8Array, checksum: Record<string, string>): Promise<Response> {
    return send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, "Upload-Length": String(length), "Content-Type": OCTET, ...checksum },
      body,
    });
  }

  it("a POST whose body matches its Upload-Checksum answers 201 with Upload-Offset", { timeout: 20_000 }, async () => {
    const data = randomBytes(11 * MiB + 9, 1400);
    const first = data.slice(0, 9 * MiB + 1);
    const response = await postWithBody(data.length, first, await checksumHeader("sha512", first));
    expect(response.status, await bodyText(response)).toBe(201);
    expect(response.headers.get("Upload-Offset")).toBe(String(first.length));
    const url = response.headers.get("Location")!;
    expect(await headOffset(url)).toBe(first.length);
    await patchInChunks(url, data, first.length, [2 * MiB]);
    await expectDownloadEquals(url, data);
  });

  it("a POST whose body does not match answers 460 with the new upload's Location, which stands at offset 0", { timeout: 20_000 }, async () => {
    const data = randomBytes(3 * MiB + 3, 1401);
    const first = data.slice(0, MiB + 1);
    const response = await postWithBody(data.length, first, await wrongChecksum("md5", first));
    expect(response.status, await bodyText(response)).toBe(460);
    const url = response.headers.get("Location");
    expect(url).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{64}$/);
    const state = await head(url!);
    expect(state.status).toBe(200);
    expect(state.headers.get("Upload-Offset")).toBe("0");
    expect(state.headers.get("Upload-Length")).toBe(String(data.length));
    const id = url!.split("/").pop()!;
    expect(await bytesOnRecord(id)).toEqual({ parts: [], tail: [] });
    // The client resumes from 0.
    await patchInChunks(url!, data, 0, [2 * MiB]);
    await expectDownloadEquals(url!, data);
  });
});
