/**
 * Connections cut mid-PATCH, against a real local gateway (`wrangler dev`).
 *
 * Fifty uploads of 12–20 MiB (so R2 parts of 8 MiB are filled, sent and
 * committed around the cuts) are each cut one to three times at a random
 * byte: the client writes the body in pieces, each flushed to the kernel,
 * and destroys its socket at the chosen byte. A new connection then asks
 * HEAD for the offset, and tus-js-client finishes the upload from its URL.
 *
 * Nothing acknowledged may be lost (HEAD after a cut ≥ the offset before
 * it), nothing unsent may be counted (≤ offset before + bytes written), no
 * offset goes backwards, and the object's sha256 is the source's. The share
 * of written bytes the server kept at each cut is a figure, not a pass/fail
 * line: tus only says the server SHOULD keep what arrived.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, sleep, startServer, type TestServer } from "../e2e/server";
import { OffsetHistory } from "./lib/offsets";
import { Random, runSeed } from "./lib/random";
import { mapConcurrently, saveResult, spread } from "./lib/results";
import { createKnownLength, expectIntact, resumeWithTusClient } from "./lib/uploads";
import { cutPatch, head } from "./lib/wire";

const UPLOADS = 50;
/** Uploads in flight at once: enough to keep the gateway busy, few enough for a 2-core machine. */
const CONCURRENCY = 3;
const PART_SIZE = 8 * MiB;
const SEED = runSeed("FAULTS_SEED");
/**
 * How long the client waits after a cut before it reconnects. A HEAD takes
 * the upload over from the broken PATCH at once, so bytes still on their way
 * through the server when it arrives are not counted; waiting lets them land.
 */
const PAUSES_MS = [0, 100, 500, 1500] as const;

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

interface Cut {
  upload: number;
  size: number;
  offsetBefore: number;
  written: number;
  offsetAfter: number;
  kept: number;
  share: number;
  /** Whether the cut fell within 256 KiB of a part boundary. */
  nearPartBoundary: boolean;
  /** How long the client waited after the cut before its HEAD. */
  pauseMs: number;
}

interface UploadPlan {
  size: number;
  /** Where each cut falls, as a fraction of what is left to send (or an absolute position near a part boundary). */
  cuts: { fraction: number; nearBoundary: { part: number; delta: number } | undefined; pauseMs: number }[];
  chunkSize: number | undefined;
}

/** Every choice is drawn up front from the seed, so a run can be replayed whatever the timing. */
function planUploads(random: Random): UploadPlan[] {
  return Array.from({ length: UPLOADS }, () => ({
    size: random.int(12 * MiB, 20 * MiB),
    cuts: Array.from({ length: random.int(1, 3) }, () => ({
      fraction: random.next(),
      nearBoundary: random.chance(0.3) ? { part: random.int(1, 2), delta: random.int(-256 * 1024, 256 * 1024) } : undefined,
      pauseMs: random.pick(PAUSES_MS),
    })),
    chunkSize: random.pick([undefined, 3 * MiB, 5 * MiB + 17, 8 * MiB]),
  }));
}

function cutPosition(cut: UploadPlan["cuts"][number], offsetBefore: number, size: number): number {
  const remaining = size - offsetBefore;
  if (cut.nearBoundary) {
    const at = cut.nearBoundary.part * PART_SIZE + cut.nearBoundary.delta - offsetBefore;
    if (at >= 1 && at < remaining) return at;
  }
  return Math.max(1, Math.min(remaining - 1, Math.floor(cut.fraction * remaining)));
}

describe(`connections cut mid-PATCH (seed ${SEED}, FAULTS_SEED to replay)`, () => {
  it(`${UPLOADS} uploads of 12–20 MiB, each cut 1–3 times at a random byte and resumed, all arrive intact`, async () => {
    console.log(`cuts: seed ${SEED}`);
    const plans = planUploads(new Random(`cuts:${SEED}`));
    const cuts: Cut[] = [];

    await mapConcurrently(plans, CONCURRENCY, async (plan, index) => {
      const label = `upload ${index} (${plan.size} B)`;
      const data = seededBytes(plan.size, `cuts:${SEED}:${index}`);
      const url = await createKnownLength(server.endpoint, plan.size);
      const history = new OffsetHistory(label);
      let offsetBefore = 0;
      /** The most the client ever put on the wire: no offset may pass it. */
      let sentUpTo = 0;
      for (const cut of plan.cuts) {
        const cutAt = cutPosition(cut, offsetBefore, plan.size);
        const { written, response } = await cutPatch(url, offsetBefore, data.subarray(offsetBefore), cutAt);
        sentUpTo = Math.max(sentUpTo, offsetBefore + written);
        if (response) {
          // Answered before the cut: only a refusal could be, and none is due here.
          expect.fail(`${label}: PATCH at ${offsetBefore} was answered ${response.status} before the cut: ${response.body}`);
        }
        await sleep(cut.pauseMs);
        const after = await head(url);
        expect(after.status, `${label}: HEAD after a cut`).toBe(200);
        const offsetAfter = history.seeResponse("HEAD after cut", after)!;
        expect(offsetAfter, `${label}: acknowledged bytes lost at a cut`).toBeGreaterThanOrEqual(offsetBefore);
        expect(offsetAfter, `${label}: counted bytes that were never sent`).toBeLessThanOrEqual(offsetBefore + written);
        const boundaryDistance = Math.min(...[1, 2].map((part) => Math.abs(part * PART_SIZE - (offsetBefore + written))));
        cuts.push({
          upload: index,
          size: plan.size,
          offsetBefore,
          written,
          offsetAfter,
          kept: offsetAfter - offsetBefore,
          share: (offsetAfter - offsetBefore) / written,
          nearPartBoundary: boundaryDistance <= 256 * 1024,
          pauseMs: cut.pauseMs,
        });
        offsetBefore = offsetAfter;
      }
      const run = await resumeWithTusClient(url, data, history, { chunkSize: plan.chunkSize });
      // Where HEAD said, or further: a cut PATCH can reach the upload's Durable Object after the
      // HEAD sent behind it (seen once in this session's dozen runs), and its bytes are then appended, at the
      // offset HEAD reported. Never before it, and never past what the client sent.
      expect(run.patchOffsets[0], `${label}: tus-js-client resumed before where HEAD said`).toBeGreaterThanOrEqual(offsetBefore);
      expect(run.patchOffsets[0], `${label}: tus-js-client resumed past the bytes sent`).toBeLessThanOrEqual(sentUpTo);
      history.expectNeverBackwards();
      history.expectAtMost(plan.size, "the upload's length");
      await expectIntact(url, data, label);
    });

    const shares = spread(cuts.map((cut) => cut.share));
    const lost = spread(cuts.map((cut) => cut.written - cut.kept));
    const whole = cuts.filter((cut) => cut.kept === cut.written).length;
    const nearBoundary = cuts.filter((cut) => cut.nearPartBoundary);
    const percent = (value: number) => `${(value * 100).toFixed(1)} %`;
    const summary = [
      `## Bytes kept at a cut (seed ${SEED})`,
      "",
      `${UPLOADS} uploads, ${cuts.length} cuts; kept = HEAD offset after the cut − offset before the PATCH, over the body bytes written to the socket.`,
      "",
      `| | min | median | max | mean |`,
      `|---|---|---|---|---|`,
      `| share kept, all cuts | ${percent(shares.min)} | ${percent(shares.median)} | ${percent(shares.max)} | ${percent(shares.mean)} |`,
      ...PAUSES_MS.map((pauseMs) => {
        const some = spread(cuts.filter((cut) => cut.pauseMs === pauseMs).map((cut) => cut.share));
        return `| share kept, HEAD ${pauseMs} ms after the cut (${some.count} cuts) | ${percent(some.min)} | ${percent(some.median)} | ${percent(some.max)} | ${percent(some.mean)} |`;
      }),
      `| bytes lost, all cuts | ${lost.min} | ${lost.median} | ${lost.max} | ${lost.mean.toFixed(0)} |`,
      ...PAUSES_MS.map((pauseMs) => {
        const some = spread(cuts.filter((cut) => cut.pauseMs === pauseMs).map((cut) => cut.written - cut.kept));
        return `| bytes lost, HEAD ${pauseMs} ms after the cut | ${some.min} | ${some.median} | ${some.max} | ${some.mean.toFixed(0)} |`;
      }),
      "",
      `Every byte kept at ${whole} of ${cuts.length} cuts; ${nearBoundary.length} cuts within 256 KiB of a part boundary (share kept there: median ${percent(spread(nearBoundary.map((cut) => cut.share)).median)}).`,
      `Corrupted uploads: 0 of ${UPLOADS}; acknowledged bytes lost: 0.`,
    ].join("\n");
    await saveResult("cuts", summary, { seed: SEED, shares, lostBytes: lost, cuts });
  }, 600_000);
});
