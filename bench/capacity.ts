/**
 * `npm run bench -- --capacity`: loads the upload index locally and measures
 * what it takes — records written into each subject's index (its Durable
 * Object) and rows written into D1 — and how far listing trails the uploads.
 *
 * bench/run.ts starts the gateway (bench/wrangler.capacity.toml: the
 * gateway's own Worker in JWT mode with LOG_LEVEL=debug, the SUBJECTS
 * Durable Object and a local D1 `INDEX`), reads its stdout line by line,
 * stamping each line with the time it arrived, and calls `capacityScenario`
 * for each scenario (`scenarios()`): every upload of the scenario is started
 * at once, each small (4–64 KiB) and made of a creation and a PATCH or two;
 * some are left unfinished, some finished, a few terminated (`planUploads`,
 * from a fixed seed). Then:
 *
 *  - Writes into each subject index: the gateway's debug lines
 *    `SubjectIndexRecord` (one per record a subject index applies, with its
 *    subject), per subject and in total: mean rate over the scenario's
 *    writes, and the peak over any one second.
 *  - Writes into D1: the debug lines `AdminFeedFlushed` (one per batch a
 *    subject index sends to D1, with its `rows`).
 *  - Index lag, for every upload: from its last acknowledgement until the
 *    `SubjectIndexRecord` line with the acknowledged state and offset.
 *  - Listing lag, for the uploads of `LAG_SUBJECTS` subjects: once an
 *    upload's last request is acknowledged, its subject's listing
 *    (`GET <BASE_PATH>`, every page) is asked again, `POLL_MS` after each
 *    answer, until the upload shows the offset and state the client was
 *    acknowledged. The lag is the time from that acknowledgement to the
 *    answer that showed it (an upper bound: the listing may have caught up
 *    while that request was under way); only listings sent after the
 *    acknowledgement count.
 *  - Once every upload has shown up (or `LAG_TIMEOUT_MS` has passed), every
 *    listing is compared with HEAD on each upload: offset, length and state;
 *    an upload missing from its subject's listing, one listed that the
 *    scenario never made, and any difference are mismatches.
 *  - Administration across subjects (D1, with unfinished offsets from the
 *    subject indexes): the time until `GET <ADMIN_PATH>` shows every upload
 *    of the scenario in its final state, and the mismatches left then.
 *  - Every warn and error line the gateway wrote meanwhile, by event.
 *
 * Pure of Node and Workers APIs (fetch-free: run.ts hands in how to send a
 * request and the gateway's lines), so it type-checks under the root
 * configuration, and under test/e2e's through bench/run.ts.
 */
import type { ListedUpload, Listing } from "../src/listing/listing-answer";
import type { tus as TusBuilders, WireRequest } from "../test/lib/wire";

/* ---------- what run.ts hands in ---------- */

export interface CapacityReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  /** How long the request waited in the client for a free connection before it was sent, ms. */
  waitedMs?: number;
}

/**
 * Which connections a request takes: the uploads' (`connections` of them,
 * which the scenario's requests fill), or the watch's and checks' own, so
 * that a listing is never queued in the client behind thousands of uploads.
 */
export type Lane = "uploads" | "watch";

export type CapacityRequest = WireRequest<Uint8Array>;

/** One line of the gateway's stdout, with when it arrived (ms since the epoch). */
export interface GatewayLine {
  at: number;
  text: string;
}

export interface CapacityContext {
  /** e.g. `http://127.0.0.1:9712` */
  origin: string;
  /** The tus collection and the listing, e.g. `/files/`. */
  basePath: string;
  /** Administration, e.g. `/admin/uploads/`. */
  adminPath: string;
  /** Sends one request (keep-alive; at most `connections` at a time on the uploads' lane); a failed connection rejects. */
  send(url: string, request: CapacityRequest, lane: Lane): Promise<CapacityReply>;
  /** The client's connections to the gateway: requests beyond them wait in the client. */
  connections: number;
  /** The tests' wire builders (test/lib/wire.ts). */
  tus: typeof TusBuilders;
  /** A valid HS256 token for `subject` with `claims` added. */
  token(subject: string, claims?: Record<string, unknown>): string;
  /** The gateway's stdout so far, growing while the scenario runs. */
  lines: readonly GatewayLine[];
  log(line: string): void;
  /** CPU seconds the gateway's processes (workerd) used so far; undefined if unknown. */
  serverCpu(): number | undefined;
}

/* ---------- scenarios and plans ---------- */

export interface Scenario {
  /** Subject names start with it: `<key>-<n>`. */
  key: string;
  label: string;
  subjects: number;
  uploadsPerSubject: number;
}

export function scenarios(quick: boolean): Scenario[] {
  return quick
    ? [
        { key: "many", label: "20 subjects × 10 uploads", subjects: 20, uploadsPerSubject: 10 },
        { key: "one", label: "1 subject × 100 uploads", subjects: 1, uploadsPerSubject: 100 },
      ]
    : [
        { key: "many", label: "100 subjects × 20 uploads", subjects: 100, uploadsPerSubject: 20 },
        { key: "one", label: "1 subject × 500 uploads", subjects: 1, uploadsPerSubject: 500 },
      ];
}

/** Ask a subject's listing again this long after its previous answer, while an upload of it is awaited. */
export const POLL_MS = 100;
/**
 * Subjects whose listing is watched for the lag (spread over the scenario's
 * subjects; each has its own loop, one listing at a time): watching all of
 * 100 would measure how fast one client can poll 100 listings through a
 * saturated local runtime, not the index.
 */
export const LAG_SUBJECTS = 8;
/** HEADs in flight at once in the final check. */
const HEAD_CONCURRENCY = 16;
/** An upload not shown by then is counted as never shown. */
export const LAG_TIMEOUT_MS = 60_000;
/** Attempts of a request answered 5xx or 429, or cut off (then counted among the failures). */
const ATTEMPTS = 5;

const KiB = 1024;
const MIN_SIZE = 4 * KiB;
const MAX_SIZE = 64 * KiB;

export const FATES = ["finished, 2 PATCHes", "finished, 1 PATCH", "unfinished, 1 PATCH", "unfinished, no PATCH", "terminated after 1 PATCH"] as const;
export type Fate = (typeof FATES)[number];

interface Plan {
  subject: string;
  /** Its number within the subject. */
  n: number;
  size: number;
  fate: Fate;
  /** Byte counts of its PATCHes, in order. */
  patches: number[];
  terminate: boolean;
  seed: number;
}

/** A small fast PRNG (mulberry32): the same plans and bytes on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every upload of a scenario, interleaved by subject so that every subject is busy from the start. */
export function planUploads(scenario: Scenario): Plan[] {
  const next = random(21 + scenario.subjects * 1000 + scenario.uploadsPerSubject);
  const plans: Plan[] = [];
  for (let n = 0; n < scenario.uploadsPerSubject; n++) {
    for (let s = 0; s < scenario.subjects; s++) {
      const size = MIN_SIZE + Math.floor(next() * (MAX_SIZE - MIN_SIZE + 1));
      const r = next();
      const part = Math.max(1, Math.floor(size * (0.25 + next() * 0.5)));
      const [fate, patches, terminate]: [Fate, number[], boolean] =
        r < 0.4
          ? ["finished, 2 PATCHes", [part, size - part], false]
          : r < 0.55
            ? ["finished, 1 PATCH", [size], false]
            : r < 0.8
              ? ["unfinished, 1 PATCH", [part], false]
              : r < 0.88
                ? ["unfinished, no PATCH", [], false]
                : ["terminated after 1 PATCH", [part], true];
      plans.push({ subject: `${scenario.key}-${String(s).padStart(3, "0")}`, n, size, fate, patches, terminate, seed: Math.floor(next() * 2 ** 31) });
    }
  }
  return plans;
}

function bytesOf(plan: Plan): Uint8Array {
  const next = random(plan.seed);
  const bytes = new Uint8Array(plan.size);
  const words = new Uint32Array(bytes.buffer, 0, Math.floor(plan.size / 4));
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(next() * 4294967296);
  for (let i = words.length * 4; i < plan.size; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/* ---------- results ---------- */

export interface Distribution {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface RateFigures {
  count: number;
  /** Seconds from the first line to the last. */
  seconds: number;
  /** count ÷ seconds (÷ 1 s when they were all within a second). */
  meanPerSecond: number;
  /** The most within any one second (a sliding window). */
  peakPerSecond: number;
}

export interface ScenarioResult {
  scenario: Scenario;
  uploads: number;
  fates: Partial<Record<Fate, number>>;
  /** Requests the clients made, retries included, and how long until the last was answered. */
  requests: number;
  loadSeconds: number;
  /** Latency by kind of request (creation, PATCH, DELETE, listing, HEAD), ms, from when it was sent. */
  latency: Record<string, Distribution>;
  /** How long the uploads' requests waited in the client for a connection before they were sent, ms. */
  clientWait: Distribution;
  /** Answers other than the expected, by kind and status (0: the connection failed). */
  failures: Record<string, number>;
  /** Retries of requests answered 5xx/429 or cut off. */
  retries: number;
  /** Uploads whose requests failed even after retries (then not in the checks). */
  abandoned: number;
  /** CPU seconds of the gateway's processes during the load and the checks. */
  serverCpuSeconds: number | undefined;
  /** Subject-index writes from `SubjectIndexRecord` lines; undefined if the gateway wrote none. */
  records:
    | {
        total: RateFigures;
        perUpload: number;
        subjects: number;
        /** Over the subjects: the mean and the highest of each one's figure. */
        perSubjectMean: { mean: number; max: number };
        perSubjectPeak: { mean: number; max: number };
        perSubjectCount: { mean: number; max: number; min: number };
      }
    | undefined;
  /** D1 writes from `AdminFeedFlushed` lines; undefined if the gateway wrote none. */
  d1:
    | {
        batches: RateFigures;
        rows: RateFigures;
        maxRowsPerBatch: number;
      }
    | undefined;
  /**
   * ms from an upload's last acknowledgement until the line of its subject
   * index's `SubjectIndexRecord` with that state and offset arrived (negative:
   * before the client had the answer); uploads with no such line.
   */
  indexLag: { lag: Distribution; neverApplied: number } | undefined;
  /** Uploads created, each after one quota reservation in its subject index when a quota is set (not logged). */
  reservations: number;
  lag: {
    /** ms, per upload shown. */
    upperBound: Distribution;
    /** ms from the acknowledgement to the sending of the listing that showed it. */
    lowerBound: Distribution;
    /** Uploads never shown as acknowledged within LAG_TIMEOUT_MS. */
    notShown: number;
    listingsSent: number;
    /** Subjects watched, and their uploads. */
    subjects: number;
    uploads: number;
  };
  check: {
    compared: number;
    mismatches: number;
    /** HEAD said something else than the client was last acknowledged (bytes lost or gained). */
    headVsAcknowledged: number;
    examples: string[];
  };
  admin: {
    /** From the scenario's last acknowledgement until administration's listing showed every upload as HEAD does; undefined if it never did. */
    lagSeconds: number | undefined;
    mismatches: number;
    examples: string[];
  };
  /** The gateway's warn and error lines during the scenario, by level and event. */
  logs: Record<string, number>;
  logExamples: string[];
}

/* ---------- statistics ---------- */

export function distribution(values: number[]): Distribution {
  if (values.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return { n: sorted.length, p50: rank(0.5), p99: rank(0.99), max: sorted.at(-1)!, mean: sorted.reduce((s, v) => s + v, 0) / sorted.length };
}

/** Count (or weight) per second of timed events: mean over their span, and the most in any one second. */
export function rates(events: Array<{ at: number; weight?: number }>): RateFigures {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const count = sorted.reduce((sum, e) => sum + (e.weight ?? 1), 0);
  if (sorted.length === 0) return { count: 0, seconds: 0, meanPerSecond: 0, peakPerSecond: 0 };
  const seconds = (sorted.at(-1)!.at - sorted[0]!.at) / 1000;
  let peak = 0;
  let inWindow = 0;
  for (let head = 0, tail = 0; head < sorted.length; head++) {
    inWindow += sorted[head]!.weight ?? 1;
    while (sorted[head]!.at - sorted[tail]!.at >= 1000) inWindow -= sorted[tail++]!.weight ?? 1;
    peak = Math.max(peak, inWindow);
  }
  return { count, seconds, meanPerSecond: count / Math.max(1, seconds), peakPerSecond: peak };
}

/* ---------- requests ---------- */

class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  constructor(slots: number) {
    this.#free = slots;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const header = (reply: CapacityReply, name: string): string | undefined => {
  const value = reply.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
};

const text = (reply: CapacityReply) => new TextDecoder().decode(reply.body);

class RequestFailed extends Error {}

/** Latencies, failures and retries of one scenario's requests. */
class Requests {
  readonly latency = new Map<string, number[]>();
  readonly failures = new Map<string, number>();
  /** How long each upload request waited in the client for one of the uploads' connections. */
  readonly waited: number[] = [];
  count = 0;
  retries = 0;
  readonly ctx: CapacityContext;
  constructor(ctx: CapacityContext) {
    this.ctx = ctx;
  }

  /**
   * Sends until answered with one of `ok`: a 5xx, a 429 or a cut connection
   * is tried again (up to ATTEMPTS, waiting 250 ms more each time) unless
   * `retry` is false; anything else throws.
   */
  async send(kind: string, url: string, request: CapacityRequest, ok: number[], retry = true): Promise<CapacityReply> {
    const lane: Lane = kind === "creation" || kind === "PATCH" || kind === "DELETE" || kind === "HEAD after a failed PATCH" ? "uploads" : "watch";
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      this.count++;
      let reply: CapacityReply;
      try {
        reply = await this.ctx.send(url, request, lane);
      } catch (error) {
        reply = { status: 0, headers: {}, body: new TextEncoder().encode(String(error)) };
      }
      // The gateway's latency: from when the request was sent, not from when it began to wait for a connection.
      const took = Date.now() - started - (reply.waitedMs ?? 0);
      if (!this.latency.has(kind)) this.latency.set(kind, []);
      this.latency.get(kind)!.push(took);
      if (lane === "uploads") this.waited.push(reply.waitedMs ?? 0);
      if (ok.includes(reply.status)) return reply;
      const key = `${kind} ${reply.status}`;
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      const retryable = reply.status === 0 || reply.status === 429 || reply.status >= 500;
      if (!retry || !retryable || attempt >= ATTEMPTS) {
        throw new RequestFailed(`${request.method} ${url}: ${reply.status} ${text(reply).slice(0, 200)}`);
      }
      this.retries++;
      await sleep(250 * attempt);
    }
  }
}

/* ---------- one upload ---------- */

interface Outcome {
  plan: Plan;
  url: string;
  id: string;
  /** What the client was last acknowledged. */
  offset: number;
  state: "unfinished" | "finished" | "terminated";
  /** When the last request's answer arrived. */
  ackAt: number;
  /** Listing lag bounds, once shown. */
  lagMs?: number;
  lagLowMs?: number;
}

const auth = (ctx: CapacityContext, subject: string) => ({ Authorization: `Bearer ${ctx.token(subject)}` });

async function upload(ctx: CapacityContext, requests: Requests, plan: Plan): Promise<Outcome> {
  const endpoint = `${ctx.origin}${ctx.basePath}`;
  const bytes = bytesOf(plan);
  const filename = `capacity-${plan.subject}-${plan.n}.bin`;
  const created = await requests.send(
    "creation",
    endpoint,
    ctx.tus.create<Uint8Array>({ length: plan.size, metadata: `filename ${btoa(filename)}`, headers: auth(ctx, plan.subject) }),
    [201],
  );
  const url = new URL(header(created, "Location") ?? "", endpoint).href;
  let offset = Number(header(created, "Upload-Offset") ?? 0);
  let target = 0;
  for (const length of plan.patches) {
    target += length;
    for (let attempt = 1; offset < target; attempt++) {
      try {
        const reply = await requests.send("PATCH", url, ctx.tus.patch(offset, bytes.subarray(offset, target), auth(ctx, plan.subject)), [204], false);
        offset = Number(header(reply, "Upload-Offset"));
      } catch (error) {
        // As a tus client resumes: ask HEAD where the upload is, and send the rest from there.
        if (attempt >= ATTEMPTS) throw error;
        await sleep(250 * attempt);
        const head = await requests.send("HEAD after a failed PATCH", url, ctx.tus.head(auth(ctx, plan.subject)), [200]);
        offset = Number(header(head, "Upload-Offset"));
      }
    }
  }
  if (plan.terminate) await requests.send("DELETE", url, ctx.tus.delete(auth(ctx, plan.subject)), [204]);
  const state = plan.terminate ? "terminated" : offset === plan.size ? "finished" : "unfinished";
  return { plan, url, id: new URL(url).pathname.split("/").pop()!, offset, state, ackAt: Date.now() };
}

/* ---------- listings ---------- */

async function listAll(ctx: CapacityContext, requests: Requests, kind: string, base: string, token: string): Promise<Map<string, ListedUpload>> {
  const entries = new Map<string, ListedUpload>();
  let cursor: string | null = null;
  do {
    const url = `${base}${base.includes("?") ? "&" : "?"}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const reply = await requests.send(kind, url, { method: "GET", headers: { Authorization: `Bearer ${token}` } }, [200]);
    const page = JSON.parse(text(reply)) as Listing;
    for (const entry of page.uploads) entries.set(entry.id, entry);
    cursor = page.next;
  } while (cursor);
  return entries;
}

/** Whether a listed entry says what the client was acknowledged. */
function shows(entry: ListedUpload | undefined, outcome: Outcome): boolean {
  return entry !== undefined && entry.state === outcome.state && entry.offset === outcome.offset && entry.length === outcome.plan.size;
}

/* ---------- the scenario ---------- */

export async function capacityScenario(ctx: CapacityContext, scenario: Scenario): Promise<ScenarioResult> {
  const plans = planUploads(scenario);
  const subjects = [...new Set(plans.map((plan) => plan.subject))];
  const requests = new Requests(ctx);
  const step = Math.max(1, Math.floor(subjects.length / LAG_SUBJECTS));
  const watchedSubjects = subjects.filter((_, i) => i % step === 0).slice(0, LAG_SUBJECTS);
  const startedAt = Date.now();
  const firstLine = ctx.lines.length;
  const cpuBefore = ctx.serverCpu();

  // Uploads acknowledged and not yet shown by their subject's listing, and a wake-up per subject.
  const awaited = new Map<string, Map<string, Outcome>>(subjects.map((subject) => [subject, new Map()]));
  const wake = new Map<string, () => void>();
  let loadDone = false;
  let loadEndedAt = Infinity;
  let listingsSent = 0;
  const watch = async (subject: string): Promise<void> => {
    const token = ctx.token(subject);
    for (;;) {
      const waiting = awaited.get(subject)!;
      if (waiting.size === 0) {
        if (loadDone) return;
        await new Promise<void>((resolve) => wake.set(subject, resolve));
        continue;
      }
      const sent = Date.now();
      if (loadDone && sent - loadEndedAt > LAG_TIMEOUT_MS) return;
      const entries = await listAll(ctx, requests, "listing", `${ctx.origin}${ctx.basePath}`, token);
      listingsSent++;
      const received = Date.now();
      for (const [id, outcome] of waiting) {
        if (outcome.ackAt > sent || !shows(entries.get(id), outcome)) continue;
        outcome.lagMs = received - outcome.ackAt;
        outcome.lagLowMs = sent - outcome.ackAt;
        waiting.delete(id);
      }
      if (waiting.size > 0) await sleep(POLL_MS);
    }
  };
  const watchers = watchedSubjects.map((subject) => watch(subject));

  ctx.log(`  ${scenario.label}: ${plans.length} uploads at once (${ctx.connections} connections) …`);
  let abandoned = 0;
  const outcomes: Outcome[] = [];
  const examples: string[] = [];
  await Promise.all(
    plans.map(async (plan) => {
      try {
        const outcome = await upload(ctx, requests, plan);
        outcomes.push(outcome);
        if (watchedSubjects.includes(plan.subject)) {
          awaited.get(plan.subject)!.set(outcome.id, outcome);
          wake.get(plan.subject)?.();
        }
      } catch (error) {
        abandoned++;
        if (examples.length < 5) examples.push(`upload ${plan.subject}/${plan.n} abandoned: ${String(error).slice(0, 300)}`);
      }
    }),
  );
  loadEndedAt = Date.now();
  const loadSeconds = (loadEndedAt - startedAt) / 1000;
  loadDone = true;
  for (const resolve of wake.values()) resolve();
  ctx.log(`    load: ${requests.count} requests in ${loadSeconds.toFixed(1)} s; waiting for every listing to show its uploads …`);
  await Promise.all(watchers);
  const lagged = outcomes.filter((outcome) => watchedSubjects.includes(outcome.plan.subject));
  const notShown = lagged.filter((outcome) => outcome.lagMs === undefined).length;
  const lastAck = Math.max(...outcomes.map((outcome) => outcome.ackAt));

  // Every listing against HEAD, once the lag has passed.
  ctx.log(`    comparing every listing with HEAD …`);
  let compared = 0;
  let mismatches = 0;
  let headVsAcknowledged = 0;
  const bySubject = new Map<string, Outcome[]>(subjects.map((subject) => [subject, []]));
  for (const outcome of outcomes) bySubject.get(outcome.plan.subject)!.push(outcome);
  const heads = new Semaphore(HEAD_CONCURRENCY);
  for (const subject of subjects) {
    const token = ctx.token(subject);
    const entries = await listAll(ctx, requests, "listing", `${ctx.origin}${ctx.basePath}`, token);
    const mine = bySubject.get(subject)!;
    const ids = new Set(mine.map((outcome) => outcome.id));
    for (const id of entries.keys()) {
      if (ids.has(id)) continue;
      mismatches++;
      if (examples.length < 10) examples.push(`${subject}: listed ${id}, which the scenario did not create (or abandoned)`);
    }
    await Promise.all(
      mine.map((outcome) =>
        heads.run(async () => {
          compared++;
          const head = await requests.send("HEAD", outcome.url, ctx.tus.head({ Authorization: `Bearer ${token}` }), [200, 404, 410]);
          const truth =
            head.status === 200
              ? { offset: Number(header(head, "Upload-Offset")), length: Number(header(head, "Upload-Length")), ended: false }
              : { offset: undefined, length: undefined, ended: true };
          const acknowledged = outcome.state === "terminated" ? truth.ended : !truth.ended && truth.offset === outcome.offset;
          if (!acknowledged) {
            headVsAcknowledged++;
            if (examples.length < 10) examples.push(`${subject}/${outcome.id}: HEAD ${head.status} offset ${truth.offset}, the client was acknowledged ${outcome.state} at ${outcome.offset}`);
          }
          const entry = entries.get(outcome.id);
          const agrees = truth.ended
            ? entry?.state === "terminated" || entry?.state === "expired" || entry?.state === "failed"
            : entry !== undefined &&
              entry.offset === truth.offset &&
              entry.length === truth.length &&
              entry.state === (truth.offset === truth.length ? "finished" : "unfinished");
          if (!agrees) {
            mismatches++;
            if (examples.length < 10) examples.push(`${subject}/${outcome.id}: listed ${entry ? `${entry.state} at ${entry.offset} of ${entry.length}` : "nowhere"}, HEAD ${head.status} ${truth.ended ? "(ended)" : `at ${truth.offset} of ${truth.length}`}`);
          }
        }),
      ),
    );
  }

  // Administration across subjects (D1): until it shows every upload as its subject's listing does.
  ctx.log(`    waiting for administration's listing across subjects …`);
  const admin = ctx.token("capacity-admin", { scope: "tus:admin" });
  const adminBase = `${ctx.origin}${ctx.adminPath}?created_after=${startedAt - 60_000}`;
  let adminLag: number | undefined;
  let adminMismatches: string[] = [];
  for (;;) {
    let entries: Map<string, ListedUpload>;
    try {
      entries = await listAll(ctx, requests, "admin listing", adminBase, admin);
    } catch (error) {
      adminMismatches = [`administration's listing failed: ${String(error).slice(0, 300)}`];
      break;
    }
    adminMismatches = [];
    for (const outcome of outcomes) {
      const entry = entries.get(outcome.id);
      if (!shows(entry, outcome) || entry?.subject !== outcome.plan.subject) {
        adminMismatches.push(`${outcome.plan.subject}/${outcome.id}: administration lists ${entry ? `${entry.state} at ${entry.offset} for ${entry.subject}` : "nothing"}, acknowledged ${outcome.state} at ${outcome.offset}`);
      }
    }
    if (adminMismatches.length === 0) {
      adminLag = (Date.now() - lastAck) / 1000;
      break;
    }
    if (Date.now() - loadEndedAt > LAG_TIMEOUT_MS * 2) break;
    await sleep(1000);
  }
  // The last D1 batches are written when administration's listing shows them, and logged just after.
  await sleep(2000);
  const cpuAfter = ctx.serverCpu();

  /* ---------- the gateway's lines during the scenario ---------- */
  const records: Array<{ at: number; subject: string }> = [];
  /** Per upload id, when its subject index applied each record (state, offset). */
  const applied = new Map<string, Array<{ at: number; state: unknown; offset: unknown }>>();
  const flushes: Array<{ at: number; weight: number }> = [];
  const logs: Record<string, number> = {};
  const logExamples: string[] = [];
  for (const line of ctx.lines.slice(firstLine)) {
    if (!line.text.startsWith("{")) {
      // Not a structured line: an error the gateway did not handle (console.error), or one of wrangler's or workerd's.
      const plain = line.text.replace(/\u001b\[[0-9;]*m/g, "");
      const key = /unhandled|uncaught/i.test(plain) ? "unhandled-error lines" : /\berror\b/i.test(plain) ? "other error lines (wrangler, workerd)" : undefined;
      if (key) {
        logs[key] = (logs[key] ?? 0) + 1;
        if (logExamples.length < 8 && logs[key] === 1) logExamples.push(plain.slice(0, 400));
      }
      continue;
    }
    let fields: Record<string, unknown>;
    try {
      fields = JSON.parse(line.text) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (fields.event === "SubjectIndexRecord" && typeof fields.subject === "string" && fields.subject.startsWith(`${scenario.key}-`)) {
      records.push({ at: line.at, subject: fields.subject });
      if (fields.applied !== false && typeof fields.uploadId === "string") {
        if (!applied.has(fields.uploadId)) applied.set(fields.uploadId, []);
        applied.get(fields.uploadId)!.push({ at: line.at, state: fields.state, offset: fields.offset });
      }
    } else if (fields.event === "AdminFeedFlushed") {
      flushes.push({ at: line.at, weight: Number(fields.rows ?? 0) });
    }
    if (fields.level === "warn" || fields.level === "error") {
      const key = `${fields.level} ${String(fields.event)}`;
      logs[key] = (logs[key] ?? 0) + 1;
      if (logExamples.length < 8 && logs[key] === 1) logExamples.push(line.text.slice(0, 400));
    }
  }
  let recordFigures: ScenarioResult["records"];
  if (records.length > 0) {
    const perSubject = new Map<string, Array<{ at: number }>>();
    for (const record of records) {
      if (!perSubject.has(record.subject)) perSubject.set(record.subject, []);
      perSubject.get(record.subject)!.push(record);
    }
    const each = [...perSubject.values()].map((events) => rates(events));
    const meanOf = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
    recordFigures = {
      total: rates(records),
      perUpload: records.length / Math.max(1, outcomes.length),
      subjects: perSubject.size,
      perSubjectMean: { mean: meanOf(each.map((r) => r.meanPerSecond)), max: Math.max(...each.map((r) => r.meanPerSecond)) },
      perSubjectPeak: { mean: meanOf(each.map((r) => r.peakPerSecond)), max: Math.max(...each.map((r) => r.peakPerSecond)) },
      perSubjectCount: { mean: meanOf(each.map((r) => r.count)), max: Math.max(...each.map((r) => r.count)), min: Math.min(...each.map((r) => r.count)) },
    };
  }
  // From an upload's last acknowledgement until its subject index applied the record that says the same.
  const indexLags: number[] = [];
  let neverApplied = 0;
  for (const outcome of outcomes) {
    const same = applied.get(outcome.id)?.find((record) => record.state === outcome.state && record.offset === outcome.offset);
    if (same) indexLags.push(same.at - outcome.ackAt);
    else neverApplied++;
  }
  const fates: Partial<Record<Fate, number>> = {};
  for (const plan of plans) fates[plan.fate] = (fates[plan.fate] ?? 0) + 1;
  const result: ScenarioResult = {
    scenario,
    uploads: plans.length,
    fates,
    requests: requests.count,
    loadSeconds,
    latency: Object.fromEntries([...requests.latency].map(([kind, values]) => [kind, distribution(values)])),
    clientWait: distribution(requests.waited),
    failures: Object.fromEntries(requests.failures),
    retries: requests.retries,
    abandoned,
    serverCpuSeconds: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
    records: recordFigures,
    d1: flushes.length > 0 ? { batches: rates(flushes.map((f) => ({ at: f.at }))), rows: rates(flushes), maxRowsPerBatch: Math.max(...flushes.map((f) => f.weight)) } : undefined,
    indexLag: records.length > 0 ? { lag: distribution(indexLags), neverApplied } : undefined,
    reservations: outcomes.length,
    lag: {
      upperBound: distribution(lagged.flatMap((o) => (o.lagMs === undefined ? [] : [o.lagMs]))),
      lowerBound: distribution(lagged.flatMap((o) => (o.lagLowMs === undefined ? [] : [o.lagLowMs]))),
      notShown,
      listingsSent,
      subjects: watchedSubjects.length,
      uploads: lagged.length,
    },
    check: { compared, mismatches, headVsAcknowledged, examples },
    admin: { lagSeconds: adminLag, mismatches: adminMismatches.length, examples: adminMismatches.slice(0, 5) },
    logs,
    logExamples,
  };
  ctx.log(`    ${summary(result)}`);
  return result;
}

/* ---------- the report ---------- */

export interface CapacityRun {
  /** The commit measured (its src/ and migrations/). */
  commit: string;
  /** Whether that commit has the subject index (else: the single D1 index it replaced). */
  subjectIndex: boolean;
  /** Variables given to the gateway besides bench/wrangler.capacity.toml's (JWT_SECRET left out). */
  vars: Record<string, string>;
  scenarios: ScenarioResult[];
}

export interface CapacityResults {
  startedAt: string;
  finishedAt: string;
  machine: string;
  load: { start: number[]; end: number[] };
  quick: boolean;
  /** The client's connections to the gateway. */
  connections: number;
  runs: CapacityRun[];
  notes: string[];
}

const f0 = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "–");
const f1 = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : "–");
const ms = (d: Distribution) => (d.n ? `${f0(d.p50)} / ${f0(d.p99)} / ${f0(d.max)}` : "–");

function summary(r: ScenarioResult): string {
  return [
    `${r.uploads} uploads, ${r.requests} requests in ${r.loadSeconds.toFixed(1)} s`,
    r.records ? `subject index: ${r.records.total.count} records, ${f1(r.records.total.meanPerSecond)}/s mean, ${f0(r.records.total.peakPerSecond)}/s peak` : "no SubjectIndexRecord lines",
    r.d1 ? `D1: ${r.d1.rows.count} rows in ${r.d1.batches.count} batches` : "no AdminFeedFlushed lines",
    `index lag ${r.indexLag ? ms(r.indexLag.lag) : "–"} ms, listing lag p50/p99/max ${ms(r.lag.upperBound)} ms, ${r.lag.notShown} not shown`,
    `mismatches ${r.check.mismatches}, HEAD ≠ acknowledged ${r.check.headVsAcknowledged}`,
    `admin ${r.admin.lagSeconds === undefined ? "never complete" : `${r.admin.lagSeconds.toFixed(1)} s`}, ${r.admin.mismatches} mismatches`,
    `failures ${JSON.stringify(r.failures)}, warn/error lines ${JSON.stringify(r.logs)}`,
  ].join("; ");
}

function scenarioTable(run: CapacityRun): string[] {
  const rows: Array<[string, (r: ScenarioResult) => string]> = [
    ["Uploads (all started at once)", (r) => `${f0(r.uploads)}: ${FATES.filter((fate) => r.fates[fate]).map((fate) => `${r.fates[fate]} ${fate}`).join("; ")}`],
    ["Client requests; time until the last was answered", (r) => `${f0(r.requests)}; ${r.loadSeconds.toFixed(1)} s (${f0(r.requests / r.loadSeconds)} requests/s)`],
    ["Creation / PATCH latency p50 / p99 / max (ms)", (r) => `${ms(r.latency.creation ?? distribution([]))}; ${ms(r.latency.PATCH ?? distribution([]))}`],
    ["— before that, waited in the client for a connection (ms)", (r) => ms(r.clientWait)],
    ["Answers other than expected (retried)", (r) => (Object.keys(r.failures).length ? `${Object.entries(r.failures).map(([k, n]) => `${n} × ${k}`).join(", ")} (${r.retries} retries, ${r.abandoned} uploads abandoned)` : "none")],
    [
      "Records into subject indexes: total; per upload",
      (r) => (r.records ? `${f0(r.records.total.count)}; ${r.records.perUpload.toFixed(2)}` : run.subjectIndex ? "none logged" : "no subject index: each record was one D1 query (not logged)"),
    ],
    ["— total per second: mean / peak (1 s)", (r) => (r.records ? `${f1(r.records.total.meanPerSecond)} / ${f0(r.records.total.peakPerSecond)}` : "–")],
    ["— per subject per second, mean over subjects (max): mean rate", (r) => (r.records ? `${f1(r.records.perSubjectMean.mean)} (${f1(r.records.perSubjectMean.max)})` : "–")],
    ["— per subject per second, mean over subjects (max): peak 1 s", (r) => (r.records ? `${f1(r.records.perSubjectPeak.mean)} (${f0(r.records.perSubjectPeak.max)})` : "–")],
    ["Quota reservations in subject indexes (one per creation, not logged)", (r) => (run.vars.SUBJECT_MAX_ACTIVE_UPLOADS || run.vars.SUBJECT_MAX_ACTIVE_BYTES || run.vars.SUBJECT_MAX_STORED_BYTES ? f0(r.reservations) : "none (no quota)")],
    ["D1 batches: total; per second mean / peak (1 s)", (r) => (r.d1 ? `${f0(r.d1.batches.count)}; ${f1(r.d1.batches.meanPerSecond)} / ${f0(r.d1.batches.peakPerSecond)}` : "none logged")],
    ["D1 rows: total; per second mean / peak (1 s); most in a batch", (r) => (r.d1 ? `${f0(r.d1.rows.count)}; ${f1(r.d1.rows.meanPerSecond)} / ${f0(r.d1.rows.peakPerSecond)}; ${f0(r.d1.maxRowsPerBatch)}` : "–")],
    ["Index lag p50 / p99 / max (ms): acknowledged → record applied (its log line)", (r) => (r.indexLag ? `${ms(r.indexLag.lag)}${r.indexLag.neverApplied ? ` (${r.indexLag.neverApplied} never applied)` : ""}` : "–")],
    ["Listing lag p50 / p99 / max (ms, upper bound)", (r) => `${ms(r.lag.upperBound)} (the ${f0(r.lag.uploads)} uploads of ${r.lag.subjects} subject${r.lag.subjects === 1 ? "" : "s"})`],
    ["— lower bound p50 / p99 / max (ms)", (r) => ms(r.lag.lowerBound)],
    ["— not shown within 60 s", (r) => f0(r.lag.notShown)],
    ["Listing latency p50 / p99 / max (ms, per page)", (r) => ms(r.latency.listing ?? distribution([]))],
    ["Listings vs HEAD after the lag: compared; mismatches", (r) => `${f0(r.check.compared)}; **${f0(r.check.mismatches)}**`],
    ["HEAD vs what the client was acknowledged: differences", (r) => `**${f0(r.check.headVsAcknowledged)}**`],
    ["Administration across subjects complete after (s); mismatches left", (r) => `${r.admin.lagSeconds === undefined ? "never" : r.admin.lagSeconds.toFixed(1)}; ${f0(r.admin.mismatches)}`],
    ["Gateway CPU (workerd processes, s)", (r) => (r.serverCpuSeconds === undefined ? "–" : r.serverCpuSeconds.toFixed(1))],
    ["Gateway warn / error lines", (r) => (Object.keys(r.logs).length ? Object.entries(r.logs).map(([k, n]) => `${n} × ${k}`).join(", ") : "none")],
  ];
  return [
    `| | ${run.scenarios.map((r) => r.scenario.label).join(" | ")} |`,
    `|---|${run.scenarios.map(() => "---").join("|")}|`,
    ...rows.map(([label, value]) => `| ${label} | ${run.scenarios.map(value).join(" | ")} |`),
  ];
}

export function renderCapacity(results: CapacityResults): string {
  const lines = [
    "# Capacity of the upload index",
    "",
    `\`npm run bench -- --capacity\`${results.quick ? " `--quick`" : ""}: bench/capacity.ts, started ${results.startedAt}, finished ${results.finishedAt}, on ${results.machine}; load average ${results.load.start.map((v) => v.toFixed(2)).join(" ")} at the start, ${results.load.end.map((v) => v.toFixed(2)).join(" ")} at the end.`,
    "",
    "The gateway is bench/wrangler.capacity.toml under wrangler dev (one local workerd: the Worker and every Durable Object share one isolate, so one thread runs the whole gateway; on Cloudflare each Durable Object has its own). " +
      `Each scenario starts every upload at once from one client process, over at most ${results.connections} keep-alive connections (requests beyond them wait in the client, and their latency counts from when they were sent); listings and the final HEADs have connections of their own. An upload is 4–64 KiB, a creation and a PATCH or two; some are left unfinished, some finished, a few terminated. ` +
      `Index lag: from an upload's last answer until the gateway's line saying its subject index applied the record with the same state and offset (every upload; negative when the index had it before the client had the answer). ` +
      `Listing lag, for the uploads of up to ${LAG_SUBJECTS} subjects spread over the scenario: after an upload's last answer, its subject's listing (every page) is asked again ${POLL_MS} ms after each answer until it shows the acknowledged offset and state; the upper bound counts until that listing's answer, the lower bound until it was sent. ` +
      "Every request, listings included, waits in the same local runtime as the uploads, so under this load every latency (and every lag) includes that runtime's queue: compare them with the creation latency. " +
      "Records and D1 batches are counted from the gateway's debug lines `SubjectIndexRecord` and `AdminFeedFlushed` on its stdout, timed when they arrived; a peak is the most within any one second.",
    "",
  ];
  for (const run of results.runs) {
    lines.push(
      `## ${run.subjectIndex ? (Object.keys(run.vars).some((name) => name.startsWith("SUBJECT_MAX_")) ? "Subject index, with a quota (each creation reserves)" : "Subject index, no quota") : "Single D1 index (before the subject index)"}: commit ${run.commit}`,
      "",
      `Variables besides the configuration's: ${Object.entries(run.vars).map(([k, v]) => `\`${k}=${v}\``).join(", ") || "none"}.`,
      "",
      ...scenarioTable(run),
      "",
    );
    const examples = run.scenarios.flatMap((r) => [...r.check.examples, ...r.admin.examples, ...r.logExamples].map((e) => `${r.scenario.label}: ${e}`));
    if (examples.length) lines.push("Examples of what went wrong:", "", ...examples.slice(0, 20).map((e) => `- \`${e.replace(/`/g, "'").replace(/\s+/g, " ").trim()}\``), "");
  }
  if (results.notes.length) lines.push("## Notes", "", ...results.notes.map((note) => `- ${note}`), "");
  return `${lines.join("\n")}`;
}
