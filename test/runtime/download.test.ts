/**
 * Downloads of objects larger than one read range (src/upload/reading/object-reader.ts):
 * the gateway reads R2 in ranges of 8, 16, 32, then 64 MiB from the first byte
 * asked for, so a 40 MiB object is three ranges (8 + 16 + 16 MiB) over five
 * 8 MiB R2 parts. Real R2 and Durable Objects in workerd.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { createTusGateway } from "../../src/index";
import {
  createUpload,
  expectDownloadEquals,
  expectNoServerErrors,
  MiB,
  patchInChunks,
  randomBytes,
  sha256Hex,
  uploadIdOf,
} from "./helpers";

const TIMEOUT = 60_000;
const LENGTH = 40 * MiB + 5;
const data = randomBytes(LENGTH, 9001);
let url: string;

/**
 * The gateway with its R2 gets recorded (the range of each) and their bodies
 * watched for cancellation, through the library's `wrapBucket`.
 */
function observedGateway() {
  const gets: Array<{ offset?: number; length?: number } | undefined> = [];
  const cancelled: number[] = [];
  const gateway = createTusGateway({
    wrapBucket: (bucket) =>
      new Proxy(bucket, {
        get(target, property) {
          if (property !== "get") return Reflect.get(target, property);
          return async (key: string, options?: R2GetOptions) => {
            const index = gets.push(options?.range as { offset?: number; length?: number } | undefined) - 1;
            const object = await target.get(key, options);
            if (!object || !("body" in object)) return object;
            const reader = object.body.getReader();
            const observed = new ReadableStream({
              pull: async (controller) => {
                const { done, value } = await reader.read();
                if (done) controller.close();
                else controller.enqueue(value);
              },
              cancel: async (reason) => {
                cancelled.push(index);
                await reader.cancel(reason);
              },
            });
            const { size, etag, httpEtag, httpMetadata, customMetadata } = object;
            return { size, etag, httpEtag, httpMetadata, customMetadata, body: observed } as unknown as R2ObjectBody;
          };
        },
      }),
  });
  return { gateway, gets, cancelled };
}

/** GET through the observed gateway: the response, its whole body and the ranges R2 was asked for. */
async function observedDownload(headers: Record<string, string> = {}) {
  const { gateway, gets } = observedGateway();
  const response = await gateway.fetch(new Request(url, { headers }), env);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { response, bytes, gets };
}

beforeAll(async () => {
  url = (await createUpload({ length: LENGTH, metadata: "filename ZGF0YS5iaW4=,filetype YXBwbGljYXRpb24vemlw" })).url;
  await patchInChunks(url, data, 0, [10 * MiB]);
}, TIMEOUT);

describe("downloads read in ranges", () => {
  it("serves an object spanning several read ranges and R2 parts byte for byte, with its headers", { timeout: TIMEOUT }, async () => {
    const { response, bytes, gets } = await observedDownload();
    expect(response.status).toBe(200);
    expect(gets).toEqual([
      { offset: 0, length: 8 * MiB },
      { offset: 8 * MiB, length: 16 * MiB },
      { offset: 24 * MiB, length: 16 * MiB + 5 },
    ]);
    expect(response.headers.get("Content-Length")).toBe(String(LENGTH));
    expect(response.headers.get("Content-Type")).toBe("application/zip");
    expect(response.headers.get("Content-Disposition")).toBe(`attachment; filename="data.bin"; filename*=UTF-8''data.bin`);
    expect(response.headers.get("ETag")).toBe((await env.BUCKET.head(`uploads/${uploadIdOf(url)}`))!.httpEtag);
    expect(bytes.length).toBe(LENGTH);
    expect(await sha256Hex(bytes)).toBe(await sha256Hex(data));
  });

  it("serves it the same through the default Worker", { timeout: TIMEOUT }, async () => {
    await expectDownloadEquals(url, data);
    expectNoServerErrors();
  });

  it.each([
    ["an R2 part boundary, in one read range", 8 * MiB - 1, 8 * MiB, 1],
    ["the first read range and one byte of the next", 5, 5 + 8 * MiB, 2],
    ["three read ranges from an odd offset", 1000, 1000 + 30 * MiB, 3],
    ["the middle of the object to its end", 13 * MiB + 7, LENGTH - 1, 3],
    ["past the end (clamped)", 30 * MiB, LENGTH + 100, 2],
  ])("serves Range across %s with 206 and exactly those bytes", { timeout: TIMEOUT }, async (_, first, last, ranges) => {
    const end = Math.min(last, LENGTH - 1);
    const { response, bytes, gets } = await observedDownload({ Range: `bytes=${first}-${last}` });
    expect(response.status).toBe(206);
    expect(gets).toHaveLength(ranges);
    expect(gets[0]!.offset).toBe(first);
    expect(response.headers.get("Content-Range")).toBe(`bytes ${first}-${end}/${LENGTH}`);
    expect(response.headers.get("Content-Length")).toBe(String(end - first + 1));
    expect(bytes.length).toBe(end - first + 1);
    expect(await sha256Hex(bytes)).toBe(await sha256Hex(data.subarray(first, end + 1)));
  });

  it("serves a suffix range longer than one read range", { timeout: TIMEOUT }, async () => {
    const suffix = 25 * MiB + 3;
    const { response, bytes, gets } = await observedDownload({ Range: `bytes=-${suffix}` });
    expect(response.status).toBe(206);
    expect(gets).toHaveLength(3);
    expect(response.headers.get("Content-Range")).toBe(`bytes ${LENGTH - suffix}-${LENGTH - 1}/${LENGTH}`);
    expect(await sha256Hex(bytes)).toBe(await sha256Hex(data.subarray(LENGTH - suffix)));
  });

  it("stops reading R2 when the client goes away: no range after the one read ahead", { timeout: TIMEOUT }, async () => {
    const { gateway, gets, cancelled } = observedGateway();
    const response = await gateway.fetch(new Request(url), env);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(value!.length).toBeGreaterThan(0);
    await reader.cancel("the client went away");

    // The range being sent and the one read ahead are both cancelled …
    await vi.waitFor(() => expect(cancelled.sort()).toEqual([0, 1]), { timeout: 10_000 });
    // … and the third range is never asked for.
    expect(gets).toEqual([
      { offset: 0, length: 8 * MiB },
      { offset: 8 * MiB, length: 16 * MiB },
    ]);
  });
});
