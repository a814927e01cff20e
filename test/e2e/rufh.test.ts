/**
 * The IETF dialect (Resumable Uploads for HTTP) end to end against a real
 * local gateway (`wrangler dev`): tus-js-client in its two IETF modes,
 * interrupted and resumed, and raw request sequences as Apple's URLSession
 * sends them at interop versions 3, 6 and 8. Every upload is downloaded
 * again and compared by sha256.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, MiB, seededBytes, sha256, sleep, startServer, type TestServer } from "./server";
import type { UploadOptions } from "tus-js-client";
import { startTusUpload, type TusRun } from "./tus";
import { ietf, interop, isComplete } from "../lib/wire";

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

type Version = 3 | 5 | 6 | 8;
type IetfProtocol = "ietf-draft-03" | "ietf-draft-05";

/** tus-js-client 4.3 reads `protocol`, but its type declarations do not list the option yet. */
function speaking(protocol: IetfProtocol, options: UploadOptions): UploadOptions {
  return Object.assign(options, { protocol });
}

async function offsetOf(version: Version, url: string): Promise<number> {
  const response = await fetch(url, ietf.offset(version));
  expect(response.status, `HEAD ${url}`).toBe(204);
  return Number(response.headers.get("Upload-Offset"));
}

async function expectStored(url: string, data: Buffer): Promise<void> {
  const stored = await download(url);
  expect(stored.length).toBe(data.length);
  expect(sha256(stored)).toBe(sha256(data));
}

/**
 * Sends a request whose body is `data` (Content-Length announced), but cuts
 * the connection after `sendBytes` of it have left, like a device losing its
 * network mid-upload. Resolves once the connection is gone.
 */
async function cutRequest(url: string, method: string, headers: Record<string, string>, data: Buffer, sendBytes: number): Promise<void> {
  const request = httpRequest(url, { method, agent: false, headers: { ...headers, "Content-Length": String(data.length) } });
  request.on("error", () => {}); // the cut is the point
  request.on("response", (response) => response.resume());
  await new Promise<void>((resolve) => request.write(data.subarray(0, sendBytes), () => resolve()));
  // Let the bytes reach the gateway before the connection drops.
  await sleep(1000);
  request.destroy();
}

describe.each([
  { protocol: "ietf-draft-03", version: 5 },
  { protocol: "ietf-draft-05", version: 6 },
] as const)("tus-js-client with protocol $protocol (interop version $version)", ({ protocol, version }) => {
  it("uploads 50 MiB in 5 MiB chunks, is interrupted mid-append, resumes from its URL, and the bytes are identical", async () => {
    const data = seededBytes(50 * MiB, `rufh-${protocol}`);
    const chunkSize = 5 * MiB;
    let interrupted!: () => void;
    const wasInterrupted = new Promise<void>((resolve) => (interrupted = resolve));
    let poll: ReturnType<typeof setInterval> | undefined;
    /** The most the first client put on the wire: no offset may pass it. */
    let sentUpTo = 0;
    // What every request said it speaks: the client must not fall back to tus 1.0.
    const spoken = new Set<string | undefined>();
    const record = (request: { getHeader(name: string): string | undefined }) => void spoken.add(request.getHeader("Upload-Draft-Interop-Version"));
    const first: TusRun = startTusUpload(
      data,
      speaking(protocol, {
        endpoint: server.endpoint,
        chunkSize,
        metadata: { filename: "movie.mp4", filetype: "video/mp4" },
        onBeforeRequest: record,
        onChunkComplete(_size, accepted) {
          if (poll || accepted < data.length * 0.4) return;
          // Abort once the next append has put a good part of its body on the wire.
          poll = setInterval(() => {
            if ((first.currentPatch()?.socketBytes ?? 0) < MiB) return;
            clearInterval(poll);
            sentUpTo = first.bytesSentUpperBound();
            void first.upload.abort();
            interrupted();
          }, 1);
        },
      }),
    );
    await Promise.race([wasInterrupted, first.done.then(() => Promise.reject(new Error("finished before it was interrupted")))]);
    const url = first.upload.url!;
    const offset = await offsetOf(version, url);
    expect(offset).toBeGreaterThanOrEqual(20 * MiB);
    expect(offset).toBeLessThan(data.length);

    const second = startTusUpload(data, speaking(protocol, { uploadUrl: url, chunkSize, onBeforeRequest: record }));
    expect(await second.done).toBe(url);
    // Where HEAD said, or further: the aborted append can reach the upload's Durable Object after
    // the HEAD sent behind it, and its bytes are then appended at the offset HEAD reported (as in
    // test/faults/cuts.test.ts). Never before it, and never past what the first client sent.
    expect(second.patchOffsets[0]).toBeGreaterThanOrEqual(offset);
    expect(second.patchOffsets[0]).toBeLessThanOrEqual(sentUpTo);
    expect([...spoken]).toEqual([String(version)]);
    await expectStored(url, data);
    const response = await fetch(url);
    expect(response.headers.get("Content-Type")).toBe("video/mp4");
    await response.arrayBuffer();
  }, 240_000);
});

describe.each([3, 6, 8] as const)("URLSession's requests at interop version %i", (version) => {
  it("sends a whole file in one ?1 POST: stored like any upload", async () => {
    const data = seededBytes(24 * MiB + 3, `urlsession-whole-${version}`);
    const response = await fetch(
      server.endpoint,
      ietf.create(version, {
        complete: true,
        headers: { "Content-Type": "image/heic", "Content-Disposition": `inline; filename="IMG_0001.HEIC"` },
        body: data,
      }),
    );
    expect(response.status, await response.clone().text()).toBe(201);
    const url = response.headers.get("Location")!;
    expect((await response.json()) as unknown).toEqual({ url, length: data.length });
    await expectStored(url, data);
    const stored = await fetch(url);
    expect(stored.headers.get("Content-Type")).toBe("image/heic");
    expect(stored.headers.get("Content-Disposition")).toContain('filename="IMG_0001.HEIC"');
    await stored.arrayBuffer();
  }, 120_000);

  it("creates with an empty ?0 request, appends the file with ?1, is cut, asks for the offset, and resumes", async () => {
    const data = seededBytes(30 * MiB + 11, `urlsession-cut-${version}`);
    const created = await fetch(server.endpoint, ietf.create(version, { complete: false, headers: { "Content-Type": "video/quicktime" } }));
    expect(created.status).toBe(201);
    const url = created.headers.get("Location")!;
    const appendHeaders = (offset: number) => ietf.append(version, offset, true, undefined).headers;

    await cutRequest(url, "PATCH", appendHeaders(0), data, 13 * MiB);
    const offset = await offsetOf(version, url);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(13 * MiB);

    const rest = await fetch(url, { method: "PATCH", headers: appendHeaders(offset), body: data.subarray(offset) });
    expect(rest.status, await rest.clone().text()).toBe(200);
    expect(isComplete(version, rest.headers)).toBe(true);
    await rest.arrayBuffer();
    await expectStored(url, data);
  }, 120_000);
});

describe("MAX_APPEND_SIZE", () => {
  let limited: TestServer;

  beforeAll(async () => {
    limited = await startServer({ vars: { MAX_APPEND_SIZE: String(MiB) } });
  }, 90_000);

  afterAll(async () => {
    await limited?.stop();
  }, 30_000);

  it("is announced as max-append-size, and a larger creation or append is 413 with Upload-Limit; smaller ones go through", async () => {
    const options = await fetch(limited.endpoint, { method: "OPTIONS", headers: interop(8) });
    expect(options.headers.get("Upload-Limit")).toContain(`max-append-size=${MiB}`);

    const data = seededBytes(2 * MiB, "append-size");
    const tooLarge = await fetch(limited.endpoint, ietf.create(8, { complete: true, body: data }));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get("Upload-Limit")).toContain(`max-append-size=${MiB}`);
    expect(await tooLarge.text()).toMatch(/at most 1048576 bytes per request/);

    const created = await fetch(limited.endpoint, ietf.create(8, { complete: false, body: data.subarray(0, MiB) }));
    expect(created.status).toBe(201);
    const url = created.headers.get("Location")!;
    expect((await fetch(url, ietf.append(8, MiB, true, data.subarray(MiB - 1)))).status).toBe(413);
    const rest = await fetch(url, ietf.append(8, MiB, true, data.subarray(MiB)));
    expect(rest.status).toBe(200);
    await rest.arrayBuffer();
    await expectStored(url, data);
  }, 120_000);
});
