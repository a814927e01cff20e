/**
 * tus-js-client (the reference JavaScript client) against a real local
 * gateway: `wrangler dev` with its own state directory. Every upload is
 * checked by downloading it and comparing sha256.
 *
 * Sizes are chosen to cross R2 part boundaries (8 MiB parts for known
 * lengths, 16 MiB for deferred ones): local miniflare checks part sizes only
 * when the multipart upload is completed, so only multi-part uploads exercise
 * the gateway's part planning.
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

async function headOffset(uploadUrl: string): Promise<number> {
  const response = await fetch(uploadUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
  expect(response.status, `HEAD ${uploadUrl}`).toBe(200);
  const offset = response.headers.get("Upload-Offset");
  expect(offset, "HEAD must carry Upload-Offset").toMatch(/^[0-9]+$/);
  return Number(offset);
}

async function expectStored(uploadUrl: string, data: Buffer): Promise<void> {
  const stored = await download(uploadUrl);
  expect(stored.length).toBe(data.length);
  expect(sha256(stored)).toBe(sha256(data));
}

function expectIncreasing(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    expect(values[i], `${what}[${i}] after ${values[i - 1]} (all: ${values.join(", ")})`).toBeGreaterThan(values[i - 1]!);
  }
}

interface Interruption {
  /** The upload URL. */
  url: string;
  /** The offset of the last PATCH the server acknowledged: it must never be lost. */
  acknowledged: number;
  /** An upper bound on what the client had sent when interrupted. */
  sentAtMost: number;
}

/**
 * Calls `interrupt` once `fraction` of the upload is acknowledged and the
 * next PATCH has put at least `bodyBytes` on its socket, so the interruption
 * falls inside a body, not between two requests. Progress events cannot tell
 * this: tus-js-client reports bytes handed to Node, which buffers them before
 * the socket even connects, and throttles the reports to one per 100 ms.
 * Resolves once `interrupt` has been called; fails if the upload ends first.
 */
function interruptMidPatch(
  data: Buffer,
  chunkSize: number,
  fraction: number,
  interrupt: (run: TusRun) => void,
  options: { retryDelays?: number[]; bodyBytes?: number } = {},
): { run: TusRun; interrupted: Promise<Interruption> } {
  const bodyBytes = options.bodyBytes ?? chunkSize / 4;
  let fired = false;
  let poll: ReturnType<typeof setInterval> | undefined;
  let onInterrupted!: (value: Interruption) => void;
  const interrupted = new Promise<Interruption>((resolve) => (onInterrupted = resolve));
  const run: TusRun = startTusUpload(data, {
    endpoint: server.endpoint,
    chunkSize,
    ...(options.retryDelays && { retryDelays: options.retryDelays }),
    onChunkComplete(_size, accepted) {
      if (poll || accepted < data.length * fraction) return;
      poll = setInterval(() => {
        const patch = run.currentPatch();
        if (fired || !patch || patch.socketBytes < bodyBytes) return;
        fired = true;
        clearInterval(poll);
        const interruption = {
          url: run.upload.url!,
          acknowledged: run.acceptedOffsets.at(-1) ?? 0,
          sentAtMost: patch.offset + patch.socketBytes,
        };
        interrupt(run);
        onInterrupted(interruption);
      }, 1);
    },
  });
  const endedFirst = run.done.then(
    () => {
      throw new Error("the upload finished before it could be interrupted");
    },
    (error: unknown) => {
      if (!fired) throw error;
      return new Promise<never>(() => {}); // the interruption's own error: expected
    },
  );
  endedFirst.catch(() => {}).finally(() => clearInterval(poll));
  return { run, interrupted: Promise.race([interrupted, endedFirst]) };
}

describe("tus-js-client against wrangler dev", () => {
  it("uploads 50 MiB in 3 MiB chunks and serves it back with the metadata's type and name", async () => {
    const data = seededBytes(50 * MiB, "chunked-50");
    const run = startTusUpload(data, {
      endpoint: server.endpoint,
      chunkSize: 3 * MiB,
      metadata: { filename: "video.mp4", filetype: "video/mp4" },
    });
    const url = await run.done;

    expect(url.startsWith(server.endpoint)).toBe(true);
    expect(run.patchOffsets).toEqual(Array.from({ length: 17 }, (_, i) => i * 3 * MiB));
    expect(run.acceptedOffsets.at(-1)).toBe(data.length);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("video/mp4");
    expect(response.headers.get("Content-Disposition")).toBe(`attachment; filename="video.mp4"; filename*=UTF-8''video.mp4`);
    expect(response.headers.get("Content-Length")).toBe(String(data.length));
    const stored = Buffer.from(await response.arrayBuffer());
    expect(sha256(stored)).toBe(sha256(data));
  }, 180_000);

  it("uploads 50 MiB in a single PATCH", async () => {
    const data = seededBytes(50 * MiB, "single-50");
    const run = startTusUpload(data, { endpoint: server.endpoint });
    const url = await run.done;

    expect(run.patchOffsets).toEqual([0]);
    expect(run.acceptedOffsets).toEqual([data.length]);
    await expectStored(url, data);
  }, 180_000);

  it("resumes an interrupted upload from its URL at the offset HEAD reports", async () => {
    const data = seededBytes(30 * MiB, "interrupted-30");
    const chunkSize = 2 * MiB;
    const first = interruptMidPatch(data, chunkSize, 0.4, (run) => void run.upload.abort());
    const { url, acknowledged, sentAtMost } = await first.interrupted;

    // The aborted PATCH may have delivered part of its body: the server keeps
    // what arrived ("SHOULD store as much as possible") but never more than was sent.
    const offset = await headOffset(url);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeGreaterThanOrEqual(acknowledged);
    expect(offset).toBeLessThanOrEqual(sentAtMost);

    const second = startTusUpload(data, { uploadUrl: url, chunkSize });
    expect(await second.done).toBe(url);
    // Where the resumed client starts is what its own HEAD reports: never less than ours, and more
    // only if the aborted PATCH, sent before our HEAD, reached the server after it (seen under load).
    expect(second.patchOffsets[0]).toBeGreaterThanOrEqual(offset);
    expect(second.patchOffsets[0]).toBeLessThanOrEqual(sentAtMost);
    expectIncreasing(second.patchOffsets, "PATCH Upload-Offset");
    expectIncreasing(second.acceptedOffsets, "acknowledged Upload-Offset");
    expect(second.acceptedOffsets.at(-1)).toBe(data.length);
    await expectStored(url, data);
  }, 180_000);

  it.each(["SIGTERM", "SIGKILL"] as const)(
    "keeps an upload across a gateway restart (%s) mid-PATCH and resumes it from its URL",
    async (signal) => {
      const data = seededBytes(30 * MiB, `restart-${signal}`);
      const chunkSize = 2 * MiB;
      let restarting: Promise<void> | undefined;
      // No retries: the first client must fail while the server is down, not race the restart.
      const first = interruptMidPatch(
        data,
        chunkSize,
        0.4,
        () => {
          restarting = server.restart(signal);
        },
        { retryDelays: [] },
      );
      const { url, acknowledged, sentAtMost } = await first.interrupted;
      await restarting;
      await expect(first.run.done).rejects.toThrow();

      const offset = await headOffset(url);
      expect(offset).toBeGreaterThanOrEqual(acknowledged);
      expect(offset).toBeLessThanOrEqual(sentAtMost);

      const second = startTusUpload(data, { uploadUrl: url, chunkSize });
      expect(await second.done).toBe(url);
      expect(second.patchOffsets[0]).toBe(offset);
      expectIncreasing(second.patchOffsets, "PATCH Upload-Offset");
      await expectStored(url, data);
    },
    180_000,
  );

  it("uploads ~12 MiB with a deferred length (uploadLengthDeferred)", async () => {
    const data = seededBytes(12 * MiB + 12_345, "deferred-12");
    const run = startTusUpload(data, { endpoint: server.endpoint, uploadLengthDeferred: true, chunkSize: 5 * MiB });
    const url = await run.done;

    expect(run.patchOffsets).toEqual([0, 5 * MiB, 10 * MiB]);
    await expectStored(url, data);
  }, 120_000);

  it("uploads a deferred-length upload spanning several 16 MiB R2 parts", async () => {
    const data = seededBytes(40 * MiB + 777, "deferred-40");
    const run = startTusUpload(data, { endpoint: server.endpoint, uploadLengthDeferred: true, chunkSize: 6 * MiB });
    const url = await run.done;

    expect(run.acceptedOffsets.at(-1)).toBe(data.length);
    await expectStored(url, data);
  }, 180_000);
});
