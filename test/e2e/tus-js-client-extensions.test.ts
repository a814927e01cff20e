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

/** Polls HEAD until the final upload reports its whole length as its offset. */
async function waitUntilAssembled(uploadUrl: string, length: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const head = await fetch(uploadUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
    expect(head.status).toBe(200);
    expect(head.headers.get("Upload-Length")).toBe(String(length));
    if (head.headers.get("Upload-Offset") === String(length)) return;
    expect(head.headers.get("Upload-Offset"), "a final upload shows no offset while it is assembled").toBeNull();
    if (Date.now() > deadline) throw new Error(`${uploadUrl} was not assembled within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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

  it("uploads in three parallel partial uploads joined by a final one (parallelUploads)", async () => {
    const data = seededBytes(30 * MiB + 7, "parallel");
    const run = startTusUpload(data, {
      endpoint: server.endpoint,
      parallelUploads: 3,
      metadata: { filename: "joined.bin", filetype: "application/octet-stream" },
    });
    const url = await run.done;

    expect(run.responses.filter((r) => r === "POST 201")).toHaveLength(4);
    // The final upload is assembled in the background, which the spec allows:
    // onSuccess comes with its 201, and HEAD shows an offset only once it is done.
    await waitUntilAssembled(url, data.length);
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
