/**
 * The local gateway restarted under an upload: between PATCHes (every
 * Durable Object evicted, state only on disk) and in the middle of one, the
 * process group killed with SIGKILL while bytes stream in. (Eviction of a
 * Durable Object in the middle of a PATCH is covered inside the runtime by
 * the runtime suite; a restart mid-PATCH covers it end to end.)
 *
 * Afterwards HEAD reports at least what was acknowledged and at most what
 * was sent, and the upload finishes with the source's exact bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, startServer, type TestServer } from "../e2e/server";
import { OffsetHistory } from "./lib/offsets";
import { createKnownLength, expectIntact, resumeWithTusClient, startBoundedTusUpload } from "./lib/uploads";
import { head, openPatch, patch, writeInPieces } from "./lib/wire";

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

async function headAfterRestart(url: string, history: OffsetHistory): Promise<number> {
  const after = await head(url);
  expect(after.status, "HEAD after the restart").toBe(200);
  return history.seeResponse("HEAD after restart", after)!;
}

describe("the gateway restarted under an upload", () => {
  it("keeps an upload across restarts between PATCHes (SIGTERM, then SIGKILL), tail and parts alike", async () => {
    const size = 30 * MiB + 4321;
    const data = seededBytes(size, "restart-between");
    const url = await createKnownLength(server.endpoint, size);
    const history = new OffsetHistory("restarts between PATCHes");
    // Offsets that leave the state in each shape: only a stored tail; a part in R2 plus a tail;
    // exactly two whole parts and no tail.
    const steps: [number, NodeJS.Signals][] = [
      [5 * MiB, "SIGTERM"],
      [12 * MiB, "SIGKILL"],
      [16 * MiB, "SIGKILL"],
    ];
    let offset = 0;
    for (const [until, signal] of steps) {
      const answer = await patch(url, offset, data.subarray(offset, until));
      expect(answer.status).toBe(204);
      offset = history.seeResponse("PATCH", answer)!;
      await server.restart(signal);
      expect(await headAfterRestart(url, history), `offset after a ${signal} restart`).toBe(offset);
    }
    await resumeWithTusClient(url, data, history, { chunkSize: 7 * MiB });
    history.expectNeverBackwards();
    await expectIntact(url, data);
  }, 180_000);

  it.each([
    ["3 MiB into the first part", 2 * MiB, 3 * MiB],
    ["just past a part boundary, while the part goes to R2", 6 * MiB, 8 * MiB + 128 * 1024],
    ["deep in a later part", 6 * MiB, 19 * MiB + 77],
  ])("keeps what was acknowledged when killed (SIGKILL) mid-PATCH %s", async (_label, acknowledged, killAt) => {
    const size = 24 * MiB;
    const data = seededBytes(size, `restart-mid:${killAt}`);
    const url = await createKnownLength(server.endpoint, size);
    const history = new OffsetHistory(`killed at ${killAt}`);
    const first = await patch(url, 0, data.subarray(0, acknowledged));
    expect(first.status).toBe(204);
    history.seeResponse("PATCH", first);

    const body = data.subarray(acknowledged);
    const request = openPatch(url, acknowledged, body.length, 60_000);
    await writeInPieces(request, body.subarray(0, killAt - acknowledged), 256 * 1024, 2);
    await server.restart("SIGKILL");
    request.destroy();

    const offset = await headAfterRestart(url, history);
    expect(offset, "acknowledged bytes lost in the restart").toBeGreaterThanOrEqual(acknowledged);
    expect(offset, "counted bytes that were never sent").toBeLessThanOrEqual(acknowledged + request.written);
    const run = await resumeWithTusClient(url, data, history, { chunkSize: 5 * MiB });
    expect(run.patchOffsets[0]).toBe(offset);
    history.expectNeverBackwards();
    await expectIntact(url, data);
  }, 180_000);

  it("tus-js-client rides out a SIGKILL restart mid-PATCH with its retries and finishes intact", async () => {
    const size = 40 * MiB;
    const data = seededBytes(size, "restart-tus-js-client");
    const history = new OffsetHistory("tus-js-client across a restart");
    let restarting: Promise<void> | undefined;
    const run = startBoundedTusUpload(
      data,
      history,
      {
        endpoint: server.endpoint,
        chunkSize: 8 * MiB,
        // About 20 s in all: the restart takes a few.
        retryDelays: [0, 500, 1000, 2000, 3000, 5000, 5000, 5000],
        onChunkComplete() {
          if (restarting) return;
          // Restart once the next PATCH is well into its body.
          const poll = setInterval(() => {
            if (restarting || (run.currentPatch()?.socketBytes ?? 0) < 3 * MiB) return;
            clearInterval(poll);
            restarting = server.restart("SIGKILL");
          }, 1);
          setTimeout(() => clearInterval(poll), 30_000);
        },
      },
      { timeoutMs: 120_000 },
    );
    const url = await run.done;
    expect(restarting, "the restart happened during the upload").toBeDefined();
    await restarting;
    expect(run.responses.some((status) => status.startsWith("HEAD")), "tus-js-client asked HEAD after the restart").toBe(true);
    history.expectNeverBackwards();
    history.expectAtMost(size, "the upload's length");
    await expectIntact(url, data);
  }, 180_000);
});
