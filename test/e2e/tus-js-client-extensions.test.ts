/**
 * tus-js-client's options that lean on the gateway's tus extensions, against
 * a real local gateway: creation-with-upload, concatenation (parallelUploads),
 * termination, X-HTTP-Method-Override, and the empty upload.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, MiB, seededBytes, sha256, startServer, type TestServer } from "./server";
import { startTusUpload, type TusRun } from "./tus";

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

async function expectStored(uploadUrl: string, data: Buffer): Promise<void> {
  const stored = await download(uploadUrl);
  expect(stored.length).toBe(data.length);
  expect(sha256(stored)).toBe(sha256(data));
}

describe("tus-js-client extension options against wrangler dev", () => {
  it("sends the first chunk with the creation POST (uploadDataDuringCreation)", async () => {
    const data = seededBytes(20 * MiB + 5, "creation-with-upload");
    const run = startTusUpload(data, { endpoint: server.endpoint, uploadDataDuringCreation: true, chunkSize: 6 * MiB });
    const url = await run.done;

    expect(run.responses[0]).toBe("POST 201");
    // The POST carried bytes 0 … 6 MiB, so the PATCHes start after them.
    expect(run.patchOffsets).toEqual([6 * MiB, 12 * MiB, 18 * MiB]);
    await expectStored(url, data);
  }, 120_000);

  it("uploads in two parallel partial uploads joined by a final one, downloadable as soon as onSuccess fires (parallelUploads)", async () => {
    // Two partials of 24 MiB + 4 and 24 MiB + 3: each spans R2 parts, and the final is six of
    // them, more than a background assembly finishes before the client's next request arrives.
    const data = seededBytes(48 * MiB + 7, "parallel");
    const run = startTusUpload(data, {
      endpoint: server.endpoint,
      parallelUploads: 2,
      metadata: { filename: "joined.bin", filetype: "application/octet-stream" },
    });
    const url = await run.done;

    expect(run.responses.filter((r) => r === "POST 201")).toHaveLength(3);
    // onSuccess comes with the final's 201, and the POST assembled it before answering.
    const head = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
    expect(head.status).toBe(200);
    expect(head.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(head.headers.get("Upload-Length")).toBe(String(data.length));
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Disposition")).toBe(`attachment; filename="joined.bin"; filename*=UTF-8''joined.bin`);
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(data));
  }, 120_000);

  it("terminates an unfinished upload (abort(true)), after which it is gone", async () => {
    const data = seededBytes(20 * MiB, "terminated");
    let onTerminated!: (termination: Promise<void>) => void;
    const terminated = new Promise<Promise<void>>((resolve) => (onTerminated = resolve));
    const run: TusRun = startTusUpload(data, {
      endpoint: server.endpoint,
      chunkSize: 5 * MiB,
      onChunkComplete(_size, accepted) {
        if (accepted >= 10 * MiB) onTerminated(run.upload.abort(true));
      },
    });
    await Promise.race([terminated.then((termination) => termination), run.done]);
    expect(run.acceptedOffsets.at(-1)).toBeLessThan(data.length);

    const head = await fetch(run.upload.url!, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
    expect([404, 410]).toContain(head.status);
  }, 60_000);

  it("uploads through POST with X-HTTP-Method-Override: PATCH (overridePatchMethod)", async () => {
    const data = seededBytes(9 * MiB + 1, "override");
    const run = startTusUpload(data, { endpoint: server.endpoint, overridePatchMethod: true, chunkSize: 5 * MiB });
    const url = await run.done;

    expect(run.responses).toEqual(["POST 201", "POST 204", "POST 204"]);
    await expectStored(url, data);
  }, 60_000);

  it("uploads an empty file", async () => {
    const run = startTusUpload(Buffer.alloc(0), { endpoint: server.endpoint });
    const url = await run.done;

    await expectStored(url, Buffer.alloc(0));
  }, 30_000);
});
