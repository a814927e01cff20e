/**
 * The chaos soak (issue 22): a seeded random mix of clients against one local
 * gateway while faults land in the middle of each other, then a quiet phase
 * and the checks. `runSoak` is what `npm run soak` (scripts/soak.ts) and
 * test/soak/soak.test.ts run. See test/soak/README.md.
 *
 * Phases:
 *  1. faults (`minutes`): `clients` lanes, each running scenarios drawn from
 *     its own seeded generator (lib/clients.ts); meanwhile the runtime is
 *     SIGKILLed and restarted at seeded moments, and R2 fails in seeded
 *     windows (a fault plan for test/faults/faulty-bucket.ts); the pre-finish
 *     hook fails, is slow or answers late for a share of the uploads; checks
 *     2 (offsets), 6 (5xx) and 1 (downloads) run on every answer.
 *  2. quiet: faults off, the hook accepts; every interrupted upload is resumed
 *     and must complete (check 3).
 *  3. checks: stored objects (1), listing against HEAD (4), expiry of the
 *     abandoned uploads and R2 against the live ones (5), memory (7).
 */
import { performance } from "node:perf_hooks";
import { sleep } from "../e2e/server.ts";
import { Random } from "../faults/lib/random.ts";
import { R2_OPERATIONS, type FaultPlan, type R2Operation } from "../faults/fault-plan.ts";
import { startSoakGateway, WORKER_NAME, type SoakGateway } from "./lib/gateway.ts";
import { Http } from "./lib/http.ts";
import { CHECK_NAMES, quantile, Recorder, type Violation } from "./lib/record.ts";
import { abandonment, CHUNK_SIZES, concatenation, downloadOne, ietf, rawTus, resume, termination, tusJs, type Ctx } from "./lib/clients.ts";
import { MemoryWatch } from "./lib/memory.ts";
import { checkIntegrity, checkListing, checkOrphans } from "./lib/checks.ts";

export interface SoakOptions {
  minutes: number;
  seed: string;
  /** Concurrent client lanes. Default 6. */
  clients?: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  seed: string;
  uploads: number;
  bytes: number;
  faults: number;
  faultsByKind: Record<string, number>;
  /** Outcomes the design expects (expiries, 423s, refused checksums), by kind. */
  expected: Record<string, number>;
  violations: Violation[];
  summary: string;
  lastLine: string;
}

const EXPIRE_AFTER_SECONDS = 20;
const PRE_FINISH_TIMEOUT_MS = 2000;
/** How long an R2 call hangs in a fault window before it throws. */
const HANG_MS = 3000;

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const seed = options.seed;
  const lanes = options.clients ?? 6;
  const rec = new Recorder(seed, log);
  rec.r2Grace = HANG_MS + 3000;
  log(`soak: seed ${seed}, ${options.minutes} min of faults, ${lanes} clients`);
  const gw = await startSoakGateway({ expireAfterSeconds: EXPIRE_AFTER_SECONDS, preFinishTimeoutMs: PRE_FINISH_TIMEOUT_MS });
  log(`soak: gateway at ${gw.server.url} (state ${gw.server.persistDir})`);
  const memory = new MemoryWatch(gw.server.persistDir, WORKER_NAME);
  memory.start();
  const http = new Http(rec);
  let quiet = false;
  installHook(gw, rec, () => quiet);
  const started = performance.now();
  const deadline = started + options.minutes * 60_000;
  rec.faultPhase = { start: started, end: deadline };
  const wallStart = Date.now();
  try {
    const laneRuns = Array.from({ length: lanes }, (_, lane) => {
      let count = 0;
      const ctx: Ctx = {
        rec,
        http,
        gw,
        rng: new Random(`${seed}:lane ${lane}`),
        deadline,
        next: () => {
          count++;
          return Number(`${lane + 1}${String(count).padStart(4, "0")}`);
        },
        log,
      };
      return runLane(ctx, lane);
    });
    const faults = runFaults(gw, rec, memory, new Random(`${seed}:faults`), deadline, log);
    await Promise.all(laneRuns);
    await faults;
    quiet = true;
    await gw.setPlan({});
    await collectInjected(gw, rec);
    log(`soak: faults stopped after ${((performance.now() - started) / 1000).toFixed(0)} s; resuming interrupted uploads`);

    // Check 3: once faults stop, every unfinished upload that is resumed completes.
    const quietCtx: Ctx = { rec, http, gw, rng: new Random(`${seed}:quiet`), deadline: Infinity, next: () => 0, log };
    // An upload never created (its client stopped before, e.g. a partial after a failed creation of another) has nothing to resume.
    for (const upload of rec.uploads) if (!upload.url && (upload.state === "running" || upload.state === "interrupted")) upload.state = "abandoned";
    const toResume = rec.uploads.filter((upload) => upload.state === "interrupted" || upload.state === "running");
    const resumeDeadline = performance.now() + 180_000;
    await mapLimit(toResume, 4, (upload) => resume(quietCtx, upload, resumeDeadline));
    for (const upload of toResume) {
      // A partial is complete once its final consumed it; a lost or expired upload has its violation or count already.
      if (upload.state === "finished" || upload.state === "consumed" || upload.state === "expired" || upload.state === "lost") continue;
      rec.violation(3, upload, `resumed after the faults stopped, but not complete within 180 s (state ${upload.state}, acknowledged offset ${upload.url ? rec.acknowledged(upload.url) : 0} of ${upload.length})`);
    }
    for (const partial of rec.uploads) {
      const final = partial.finalOf;
      if (partial.state !== "consumed" || !final || final.state === "finished" || final.state === "abandoned") continue;
      rec.violation(3, partial, `a partial answered 410 (deleted as consumed by its final), but its final ${final.label} did not finish (state ${final.state})`);
    }
    log(`soak: ${toResume.length} interrupted uploads resumed; checking stored objects`);

    const checkedObjects = await checkIntegrity(rec, gw);
    log(`soak: ${checkedObjects} objects checked byte for byte; checking the listing`);
    const listed = await checkListing(rec, gw, 30_000);
    log(`soak: listing checked for ${listed} uploads; waiting for abandoned uploads to expire, then checking R2`);
    const orphans = await checkOrphans(rec, gw, (EXPIRE_AFTER_SECONDS + 60) * 1000);
    log(`soak: R2 checked: ${orphans.objects} objects, ${orphans.multiparts} multipart uploads in progress, ${orphans.uploads} uploads inspected`);

    // Every upload has finished, been ended or expired: what the isolate keeps now is what it did not give back.
    await memory.sampleAtEnd(() => fetch(gw.server.endpoint, { method: "OPTIONS" }).then((response) => response.arrayBuffer()));
    memory.stop();
    const memoryVerdict = memory.verdict();
    for (const problem of memoryVerdict.problems) rec.violation(7, undefined, problem);

    return summarise(rec, { options, lanes, wallStart, memoryFigures: memoryVerdict.figures, checkedObjects, listed, orphans });
  } finally {
    memory.stop();
    await gw.stop().catch(() => {});
  }
}

/**
 * Each lane's first scenario, so that even a short run has every kind of
 * client (and so the faults that come with them: termination, expiry,
 * concatenation, both dialects); after it, scenarios are drawn by weight.
 */
const FIRST_SCENARIOS: ((ctx: Ctx) => Promise<void>)[] = [
  (ctx) => abandonment(ctx),
  (ctx) => termination(ctx),
  (ctx) => concatenation(ctx),
  // These two begin with one PATCH cut, one stalled and two racing, so that every run has them.
  (ctx) => ietf(ctx, ctx.rng.int(3, 9), ["stall", "cut", "race"]),
  (ctx) => rawTus(ctx, { deferred: true, withUpload: true, checksums: true, script: ["cut", "stall", "race", "bad checksum"] }),
  (ctx) => tusJs(ctx, ctx.rng.pick(CHUNK_SIZES)),
];

async function runLane(ctx: Ctx, lane: number): Promise<void> {
  for (let round = 0; performance.now() < ctx.deadline; round++) {
    const first = round === 0 ? FIRST_SCENARIOS[lane % FIRST_SCENARIOS.length] : undefined;
    const scenario = first ? () => first(ctx) : ctx.rng.weighted<() => Promise<void>>([
      [24, () => tusJs(ctx, ctx.rng.pick(CHUNK_SIZES))],
      [20, () => rawTus(ctx, { deferred: ctx.rng.chance(0.3), withUpload: ctx.rng.chance(0.4), checksums: ctx.rng.chance(0.4) })],
      [16, () => ietf(ctx, ctx.rng.int(3, 9))],
      [10, () => concatenation(ctx)],
      [14, () => downloadOne(ctx)],
      [6, () => termination(ctx)],
      [6, () => abandonment(ctx)],
    ]);
    try {
      await scenario();
    } catch (error) {
      ctx.rec.notes.push(`a client threw: ${(error as Error).stack ?? error}`);
      ctx.log(`soak: a client threw: ${(error as Error).message}`);
    }
  }
}

/** The pre-finish hook's answers: by the upload's mode (its tag is its label), until the quiet phase, then accept. */
function installHook(gw: SoakGateway, rec: Recorder, isQuiet: () => boolean): void {
  rec.onNewUpload = (upload) =>
    gw.receiver.onPreFinish(upload.label, (question) => {
      if (isQuiet()) return {};
      switch (upload.hookMode) {
        case "fail":
          if (question.attempt > 2) return {};
          rec.fault("pre-finish hook failed (500)");
          return { status: 500, text: "failing on purpose" };
        case "slow":
          rec.fault("pre-finish hook slow (within the timeout)");
          return { delayMs: PRE_FINISH_TIMEOUT_MS / 2 };
        case "late":
          if (question.attempt > 1) return {};
          rec.fault("pre-finish hook answered late (after the timeout)");
          return { delayMs: PRE_FINISH_TIMEOUT_MS + 1500 };
        default:
          return {};
      }
    });
}

/** Restarts (SIGKILL) and R2 fault windows, at seeded moments, until the deadline. */
async function runFaults(gw: SoakGateway, rec: Recorder, memory: MemoryWatch, rng: Random, deadline: number, log: (line: string) => void): Promise<void> {
  const start = performance.now();
  const span = deadline - start;
  // Restarts: about one a minute, at least one; none in the first 15 s or the last 10 s. In runs of
  // 5 minutes or more they fall in the first 60 %, so the runtime's last life is long enough to show
  // a leak (check 7).
  const restarts = Math.max(1, Math.round(span / 60_000));
  const within = span >= 300_000 ? span * 0.6 : span - 10_000;
  const moments = Array.from({ length: restarts }, (_, index) => start + 15_000 + ((within - 15_000) * (index + rng.next() * 0.8)) / restarts).sort((a, b) => a - b);
  const restartLoop = (async () => {
    for (const moment of moments) {
      await sleep(Math.max(0, moment - performance.now()));
      if (performance.now() > deadline) return;
      await collectInjected(gw, rec);
      rec.fault("runtime SIGKILLed and restarted");
      memory.pause();
      const began = performance.now();
      try {
        await gw.server.restart("SIGKILL");
      } finally {
        memory.resume();
      }
      rec.events.push(`${(performance.now() - rec.began).toFixed(0)} SIGKILL: runtime back`);
      log(`soak: runtime SIGKILLed and restarted in ${((performance.now() - began) / 1000).toFixed(1)} s`);
    }
  })();
  const r2Loop = (async () => {
    for (;;) {
      await sleep(rng.int(5_000, 15_000));
      if (performance.now() + 3_000 > deadline) return;
      const plan: FaultPlan = {};
      const operations = [...R2_OPERATIONS].filter(() => rng.chance(0.5));
      // The first window fails the busiest calls (parts and heads), so that every run has R2 faults that land.
      if (rec.r2Windows.length === 0) operations.push("uploadPart", "head");
      if (operations.length === 0) operations.push(rng.pick(R2_OPERATIONS));
      for (const operation of operations) {
        // A lost answer to createMultipartUpload leaves a multipart upload no one can name (R2 aborts it after 7 days): not injected, so check 5 stays exact.
        const failAfter = operation === "createMultipartUpload" ? 0 : rng.int(0, 10) / 100;
        plan[operation as R2Operation] = { fail: rng.int(5, 25) / 100, hang: rng.int(0, 5) / 100, failAfter, hangMs: HANG_MS };
      }
      const length = rng.int(3_000, 7_000);
      const window = { start: performance.now(), end: Infinity };
      rec.r2Windows.push(window);
      await gw.setPlan(plan).catch(() => {});
      rec.fault("R2 fault window");
      await sleep(length);
      await gw.setPlan({}).catch(() => {});
      window.end = performance.now();
      rec.events.push(`${(performance.now() - rec.began).toFixed(0)} R2 fault window ends`);
    }
  })();
  await Promise.all([restartLoop, r2Loop]);
}

/** Adds the R2 faults the worker counted since it last started (or since the last read) to the record. */
const lastInjected = new WeakMap<SoakGateway, Record<string, number>>();
async function collectInjected(gw: SoakGateway, rec: Recorder): Promise<void> {
  const now = await gw.injected();
  const before = lastInjected.get(gw) ?? {};
  // A restart starts the counts again: a count below the last one read is from a new isolate.
  const restarted = Object.entries(now).some(([key, count]) => count < (before[key] ?? 0));
  for (const [key, count] of Object.entries(now)) {
    const added = restarted ? count : count - (before[key] ?? 0);
    if (added > 0) rec.fault(`R2 ${key}`, added);
  }
  lastInjected.set(gw, restarted ? {} : now);
}

async function mapLimit<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

function summarise(
  rec: Recorder,
  figures: { options: SoakOptions; lanes: number; wallStart: number; memoryFigures: string; checkedObjects: number; listed: number; orphans: { objects: number; multiparts: number; uploads: number } },
): SoakResult {
  const uploads = rec.uploads.filter((upload) => upload.url).length;
  const byState: Record<string, number> = {};
  for (const upload of rec.uploads) byState[upload.state] = (byState[upload.state] ?? 0) + 1;
  const byKind = new Map<string, Record<string, number>>();
  for (const upload of rec.uploads) {
    const kind = upload.kind.replace(/ \((after|before|abandoned)\)$/, "");
    const states = byKind.get(kind) ?? {};
    states[upload.state] = (states[upload.state] ?? 0) + 1;
    byKind.set(kind, states);
  }
  const kinds = [...byKind.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, states]) => `  - ${kind}: ${Object.entries(states).map(([state, count]) => `${count} ${state}`).join(", ")}`)
    .join("\n");
  const faults = Object.entries(rec.faults).filter(([kind]) => kind !== "R2 fault window").reduce((sum, [, count]) => sum + count, 0);
  const sorted = [...rec.latencies].sort((a, b) => a - b);
  const table = (record: Record<string, number>) =>
    Object.entries(record)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, count]) => `  - ${kind}: ${count}`)
      .join("\n") || "  - none";
  const byCheck: Record<string, number> = {};
  for (const violation of rec.violations) byCheck[`${violation.check} ${CHECK_NAMES[violation.check]}`] = (byCheck[`${violation.check} ${CHECK_NAMES[violation.check]}`] ?? 0) + 1;
  const lastLine = `soak: ${uploads} uploads, ${rec.bytesSent} bytes, ${faults} faults, ${rec.violations.length} violations`;
  const summary = [
    `## Soak, seed ${rec.seed}`,
    "",
    `${figures.options.minutes} min of faults with ${figures.lanes} concurrent clients, ${((Date.now() - figures.wallStart) / 1000).toFixed(0)} s in all (quiet phase and checks included); ${new Date(figures.wallStart).toISOString()}.`,
    "",
    `- uploads: ${uploads} (${Object.entries(byState).map(([state, count]) => `${count} ${state}`).join(", ")})`,
    `- bytes sent by clients: ${rec.bytesSent} (${(rec.bytesSent / 1024 / 1024).toFixed(0)} MiB)`,
    `- requests answered: ${rec.requests}; Upload-Offset answers compared (check 2): ${rec.offsetsSeen}`,
    `- latency under faults (${sorted.length} requests answered during the fault phase, time to response headers): p50 ${quantile(sorted, 0.5).toFixed(0)} ms, p99 ${quantile(sorted, 0.99).toFixed(0)} ms`,
    `- objects checked byte for byte: ${figures.checkedObjects}; uploads compared with the listing: ${figures.listed}; after expiry R2 held ${figures.orphans.objects} objects and ${figures.orphans.multiparts} multipart uploads in progress, ${figures.orphans.uploads} uploads inspected`,
    `- memory: ${figures.memoryFigures}`,
    "",
    "Uploads by client:",
    kinds,
    "",
    `Faults injected, by kind (${faults}; R2 faults as the worker counted them):`,
    table(rec.faults),
    "",
    "Expected outcomes (not faults, not violations):",
    table(rec.expected),
    "",
    "5xx answers, by cause:",
    table(rec.serverErrors),
    "",
    `Violations: ${rec.violations.length}`,
    table(byCheck),
    ...rec.violations.slice(0, 50).map((violation) => `  - check ${violation.check} (${CHECK_NAMES[violation.check]}), seed ${rec.seed}${violation.upload ? `, ${violation.upload}` : ""}: ${violation.message}`),
    ...(rec.violations.length ? ["", "Global faults (ms since the soak began):", ...rec.events.filter((event) => /SIGKILL|R2 fault window/.test(event)).map((event) => `  - ${event}`)] : []),
    ...(rec.notes.length ? ["", "Notes:", ...rec.notes.slice(0, 20).map((note) => `  - ${note}`)] : []),
  ].join("\n");
  return { seed: rec.seed, uploads, bytes: rec.bytesSent, faults, faultsByKind: { ...rec.faults }, expected: { ...rec.expected }, violations: rec.violations, summary, lastLine };
}
