/**
 * Load on one local gateway: 200 uploads of 1 MiB, then 20 uploads of
 * 64 MiB, each batch started at once with tus-js-client, so that their
 * requests are in flight on the server together (the suite counts how many
 * PATCHes were open at the same moment). Every object must come back with
 * the source's exact bytes. Timings are figures, saved to results/load.md:
 * this machine is shared and noisy, so no test passes or fails on speed.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, startServer, type TestServer } from "../e2e/server";
import { OffsetHistory } from "./lib/offsets";
import { runSeed } from "./lib/random";
import { mapConcurrently, saveResult, spread } from "./lib/results";
import { expectIntact, startBoundedTusUpload } from "./lib/uploads";

const SEED = runSeed("FAULTS_SEED");

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

interface Batch {
  label: string;
  uploads: number;
  size: number;
  wallSeconds: number;
  megabytesPerSecond: number;
  uploadSeconds: ReturnType<typeof spread>;
  maxPatchesInFlight: number;
  verifySeconds: number;
}

const batches: Batch[] = [];

/** Starts `count` uploads of `size` bytes at once, waits for all, checks every object; returns the figures. */
async function uploadAtOnce(count: number, size: number, label: string): Promise<Batch> {
  let inFlight = 0;
  let maxInFlight = 0;
  const sources = Array.from({ length: count }, (_, index) => seededBytes(size, `load:${SEED}:${label}:${index}`));
  const startedAt = performance.now();
  const runs = sources.map((data, index) => {
    const history = new OffsetHistory(`${label} #${index}`);
    const begun = performance.now();
    const run = startBoundedTusUpload(
      data,
      history,
      {
        endpoint: server.endpoint,
        // One PATCH per upload: each stays open until its last byte, so the batch overlaps on the server.
        retryDelays: [0, 500, 1000, 2000, 4000],
        onBeforeRequest(request) {
          if (request.getMethod() === "PATCH") maxInFlight = Math.max(maxInFlight, ++inFlight);
        },
        onAfterResponse(request) {
          if (request.getMethod() === "PATCH") inFlight--;
        },
      },
      { timeoutMs: 240_000, maxRequests: 20 },
    );
    return run.done.then((url) => ({ url, data, history, seconds: (performance.now() - begun) / 1000 }));
  });
  const results = await Promise.all(runs);
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const verifyStartedAt = performance.now();
  await mapConcurrently(results, 4, async ({ url, data, history }) => {
    history.expectNeverBackwards();
    history.expectAtMost(size, "the upload's length");
    await expectIntact(url, data, history.label);
  });
  return {
    label,
    uploads: count,
    size,
    wallSeconds,
    megabytesPerSecond: (count * size) / 1e6 / wallSeconds,
    uploadSeconds: spread(results.map((result) => result.seconds)),
    maxPatchesInFlight: maxInFlight,
    verifySeconds: (performance.now() - verifyStartedAt) / 1000,
  };
}

describe("load on one local gateway", () => {
  it("200 uploads of 1 MiB at once all arrive intact", async () => {
    const batch = await uploadAtOnce(200, 1 * MiB, "200 × 1 MiB");
    batches.push(batch);
    expect(batch.maxPatchesInFlight, "PATCHes open on the server at once").toBeGreaterThanOrEqual(50);
  }, 300_000);

  it("20 uploads of 64 MiB at once all arrive intact", async () => {
    const batch = await uploadAtOnce(20, 64 * MiB, "20 × 64 MiB");
    batches.push(batch);
    expect(batch.maxPatchesInFlight, "PATCHes open on the server at once").toBe(20);
  }, 420_000);

  afterAll(async () => {
    if (batches.length === 0) return;
    const rows = batches.map(
      (batch) =>
        `| ${batch.label} | ${batch.wallSeconds.toFixed(1)} s | ${batch.megabytesPerSecond.toFixed(1)} MB/s | ${batch.uploadSeconds.min.toFixed(1)} / ${batch.uploadSeconds.median.toFixed(1)} / ${batch.uploadSeconds.max.toFixed(1)} s | ${batch.maxPatchesInFlight} | ${batch.verifySeconds.toFixed(1)} s |`,
    );
    const summary = [
      "## Load (tus-js-client, one PATCH per upload, all started at once)",
      "",
      "| batch | wall time | throughput | per upload min / median / max | PATCHes open at once | download + sha256 check |",
      "|---|---|---|---|---|---|",
      ...rows,
    ].join("\n");
    await saveResult("load", summary, { seed: SEED, batches });
  }, 30_000);
});
