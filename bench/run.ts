/**
 * `npm run bench`: how tus-edge compares with the fastest way the same bytes
 * reach R2 through the same local runtime, and with a stock @tus/server, in
 * one run on one machine.
 *
 * Starts bench/wrangler.bench.toml (the gateway, instrumented, plus a
 * `PUT /__bench/r2/<key>` route doing `BUCKET.put(key, request.body)`; see
 * bench/worker.ts) under `wrangler dev` with a temporary state directory, and
 * bench/peer.ts (@tus/server with @tus/file-store) on another loopback port,
 * then measures:
 *
 *  1. Throughput of 256 MiB and 1 GiB files (seeded pseudo-random bytes on
 *     disk) with tus-js-client — one PATCH, 8 MiB and 50 MiB chunks — against
 *     tus-edge and @tus/server, beside the straight R2 put of the same file
 *     (the limit) and, for the chunked modes, the same chunks written
 *     straight into an R2 multipart upload (the same-chunks limit), in rounds
 *     that interleave the cases. While each upload runs, the server's
 *     resident memory is sampled every 100 ms from /proc (for tus-edge: the
 *     workerd processes wrangler dev started) and so is the memory of the
 *     bench Worker's isolate (bench/isolate-memory.ts), and its CPU time is
 *     taken before and after; for tus-edge the bench Worker counts the R2
 *     operations and Durable Object requests of the upload.
 *  2. Latency of creation (POST), HEAD and a 1 KiB PATCH: p50 and p99 over
 *     1,000 sequential requests each, on both servers.
 *     Beside it, the Durable Object calls the Worker makes for one client
 *     request of each kind, in both dialects (tus POST, POST with a body,
 *     PATCH, HEAD, GET, DELETE, a final POST; IETF creation with and without
 *     a body, appends `?0` and `?1`, offset HEAD, GET of an unfinished upload,
 *     DELETE), counted by the bench Worker (`doCallsPhase`).
 *  3. Concurrency: 200 uploads of 1 MiB started at once, on both servers.
 *  4. Downloads of 2 GiB and 10 GiB finished uploads through the gateway's
 *     GET, beside a plain `BUCKET.get` of the same object: time to first
 *     byte, throughput, memory, R2 gets (bench/downloads.ts).
 *
 * Every upload is verified by sha256 outside the timed window (downloaded,
 * or for R2 objects hashed from what local R2 stored; see `verifyAll`), then
 * deleted. Prints tables and writes bench/results/latest.md,
 * bench/results/throughput.svg (bench/report.ts) and the raw measurements,
 * bench/results/latest.json. Ratios matter, not absolute
 * speeds: these machines are shared and noisy.
 *
 * Flags: --quick skips the 1 GiB files and the 10 GiB download (for
 * iteration; the report says so); --downloads runs only the download cases
 * and puts them into bench/results/latest.json beside the upload figures
 * already there (which it leaves as they are); --cost likewise runs only the
 * cost cases (what Cloudflare would bill per terabyte, bench/cost.ts: one
 * 256 MiB upload per client mode, with a CPU profile of the isolate split
 * between the Worker and the Durable Object, bench/cpu-attribution.ts) and
 * puts them beside the rest; --do-calls likewise runs only the count of
 * Durable Object calls per client request (a minute or two); --render only renders the
 * report again from bench/results/latest.json; --capacity runs only the capacity
 * of the upload index (bench/capacity.ts: many uploads at once against a
 * gateway with the subject index and D1 bound, bench/wrangler.capacity.toml)
 * and writes bench/results/capacity.md, leaving latest.json as it is (it is
 * another gateway, started by `capacityOnly`).
 * Environment: BENCH_RUNS (rounds at 256 MiB, default 3), BENCH_RUNS_LARGE
 * (rounds at 1 GiB, default 1), BENCH_LATENCY_REQUESTS (default 1000),
 * BENCH_CONCURRENT_UPLOADS (default 200); for --capacity BENCH_CAPACITY_REV
 * (the commit whose src/ and migrations/ are measured, default HEAD),
 * BENCH_CAPACITY_BASELINE (a second commit measured the same way after it,
 * e.g. one from before the subject index), BENCH_CAPACITY_CONNECTIONS (the
 * client's connections, default 128), BENCH_CAPACITY_QUOTA=off (no quota
 * variable; by default SUBJECT_MAX_ACTIVE_UPLOADS is set far above what the
 * scenarios reach, so that every creation also reserves; `both` measures
 * the commit with and without it), BENCH_CAPACITY_LOG (a file to which every
 * line of the gateway's output is appended).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, createReadStream, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

// Node runs TypeScript only with explicit `.ts` import paths, which the
// project's type checker (moduleResolution "Bundler") refuses: load the
// helpers by URL and keep their types.
type ServerModule = typeof import("../test/e2e/server");
type TusModule = typeof import("../test/e2e/tus");
type ReportModule = typeof import("./report");
const { startServer, writeSeededFile, seededBytes, sha256, downloadSha256, ROOT } = (await import(
  new URL("../test/e2e/server.ts", import.meta.url).href
)) as ServerModule;
const { startTusUpload } = (await import(new URL("../test/e2e/tus.ts", import.meta.url).href)) as TusModule;
// The tests' wire client (request shapes of both dialects); sent here with node:http on a keep-alive agent.
const { tus, ietf } = (await import(new URL("../test/lib/wire.ts", import.meta.url).href)) as typeof import("../test/lib/wire");
type WireRequest = import("../test/lib/wire").WireRequest<Buffer>;
const { IsolateMemory } = (await import(new URL("./isolate-memory.ts", import.meta.url).href)) as typeof import("./isolate-memory");
type IsolateMemory = import("./isolate-memory").IsolateMemory;
// The local runtime seen from /proc and its state directory (shared with the soak).
const { localR2Blobs, objectBlobIds, rssOf, searchLocalR2, sha256OfBlobs, wranglerWorkerd } = (await import(
  new URL("../test/e2e/local-runtime.ts", import.meta.url).href
)) as typeof import("../test/e2e/local-runtime");
const { renderReport, sizeLabel, LIMIT, CHUNKED_LIMIT, SINK, FLOOR, MiB, GiB } = (await import(new URL("./report.ts", import.meta.url).href)) as ReportModule;
const { renderDownloads } = (await import(new URL("./download-report.ts", import.meta.url).href)) as typeof import("./download-report");
const { downloadPhase, PLAIN_GET_LIMITS_TEXT } = (await import(new URL("./downloads.ts", import.meta.url).href)) as typeof import("./downloads");
type DownloadResults = import("./download-report").DownloadResults;
const { renderCost } = (await import(new URL("./cost-report.ts", import.meta.url).href)) as typeof import("./cost-report");
const costModule = (await import(new URL("./cost.ts", import.meta.url).href)) as typeof import("./cost");
const { r2Class } = costModule;
const { attributeCpuProfile, bundleFrameSide } = (await import(new URL("./cpu-attribution.ts", import.meta.url).href)) as typeof import("./cpu-attribution");
type CostResults = import("./cost-report").CostResults;
type CostCase = import("./cost-report").CostCase;
type BenchResults = import("./report").BenchResults;
type ClientMode = import("./report").ClientMode;
type Measurement = import("./report").Measurement;
type ResourceUse = import("./report").ResourceUse;
type ThroughputResult = import("./report").ThroughputResult;
type LatencyResult = import("./report").LatencyResult;
type DoCallsResult = import("./report").DoCallsResult;
type DoCallsRow = import("./report").DoCallsRow;
type ConcurrencyResult = import("./report").ConcurrencyResult;
type UploadOps = import("./report").UploadOps;
type ServerName = import("./report").ServerName;
type CaseServer = import("./report").CaseServer;
const capacityModule = (await import(new URL("./capacity.ts", import.meta.url).href)) as typeof import("./capacity");
type CapacityRun = import("./capacity").CapacityRun;
type GatewayLine = import("./capacity").GatewayLine;
// The e2e suites' tokens (the fixture's HS256 secret) and npm start's reading of wrangler's output.
const { HS256_SECRET, tokenFor } = (await import(new URL("../test/e2e/jwt.ts", import.meta.url).href)) as typeof import("../test/e2e/jwt");
const { createLocalLogFilter } = (await import(new URL("../scripts/local-log-lines.ts", import.meta.url).href)) as typeof import("../scripts/local-log-lines");
const { stopGroup } = (await import(new URL("../scripts/process-group.ts", import.meta.url).href)) as typeof import("../scripts/process-group");

const QUICK = process.argv.includes("--quick");
const DOWNLOADS_ONLY = process.argv.includes("--downloads");
const COST_ONLY = process.argv.includes("--cost");
const DO_CALLS_ONLY = process.argv.includes("--do-calls");
const CAPACITY_ONLY = process.argv.includes("--capacity");
/** The cost cases upload this much once per client mode. */
const COST_SIZE = 256 * MiB;
const SIZES = QUICK ? [256 * MiB] : [256 * MiB, GiB];
const DOWNLOAD_SIZES = QUICK ? [2 * GiB] : [2 * GiB, 10 * GiB];
const ROUNDS: Record<number, number> = {
  [256 * MiB]: positive("BENCH_RUNS", 3),
  [GiB]: positive("BENCH_RUNS_LARGE", 1),
};
const LATENCY_REQUESTS = positive("BENCH_LATENCY_REQUESTS", 1000);
const LATENCY_WARM_UP = 20;
const CONCURRENT_UPLOADS = positive("BENCH_CONCURRENT_UPLOADS", 200);
const CONCURRENT_SIZE = MiB;
const WARM_UP_SIZE = 16 * MiB;
/** tus-edge's default PART_SIZE; planPartSize keeps it for uploads up to 10,000 parts. */
const PART_SIZE = 8 * MiB;
const MODES: ClientMode[] = [
  { label: "one PATCH", chunkSize: undefined },
  { label: "8 MiB chunks", chunkSize: 8 * MiB },
  { label: "50 MiB chunks", chunkSize: 50 * MiB },
];

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${process.env[name]}`);
  return value;
}

const log = (line: string) => console.log(line);

/* ---------- processes: resident memory and CPU from /proc ---------- */

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A fixed set of processes whose resident memory and CPU time can be read at any moment. */
class Processes {
  readonly pids: number[];
  readonly description: string;
  constructor(pids: number[], description: string) {
    this.pids = pids;
    this.description = description;
  }

  /** Summed VmRSS, bytes; a process that is gone counts 0. */
  rss(): number {
    let total = 0;
    for (const pid of this.pids) total += rssOf(pid);
    return total;
  }

  /** Summed utime + stime, seconds. */
  cpu(): number {
    let ticks = 0;
    for (const pid of this.pids) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // gone
      }
    }
    return ticks / CLOCK_TICKS;
  }
}

/**
 * The local runtime of a `wrangler dev`: the workerd processes in the
 * process group of the wrangler started with `--persist-to <persistDir>`
 * (test/e2e/server.ts gives it a group of its own).
 */
function wranglerRuntime(persistDir: string): Processes {
  const wrangler = wranglerWorkerd(persistDir);
  if (!wrangler) throw new Error(`no wrangler process with --persist-to ${persistDir}`);
  const workerd = wrangler.pids;
  if (!workerd.length) throw new Error(`no workerd process in wrangler's process group ${wrangler.pgid}`);
  return new Processes(
    workerd,
    `the ${workerd.length} workerd processes that wrangler dev started (its proxy and the Worker's runtime; wrangler's own Node process is not counted)`,
  );
}

/** Watches a set of processes (and the gateway's isolate, when given) while `work` runs. */
async function watched<T>(
  processes: Processes,
  work: () => Promise<T>,
  isolate?: IsolateMemory,
): Promise<{ value: T; seconds: number; use: ResourceUse }> {
  // Idle: the lowest of three samples 100 ms apart, just before.
  let idleRss = Infinity;
  let idleIsolate = Infinity;
  for (let i = 0; i < 3; i++) {
    idleRss = Math.min(idleRss, processes.rss());
    if (isolate) idleIsolate = Math.min(idleIsolate, await isolate.sample());
    await sleep(100);
  }
  let peakRss = idleRss;
  let peakIsolate = idleIsolate;
  const sampleIsolate = () =>
    isolate?.sample().then(
      (bytes) => (peakIsolate = Math.max(peakIsolate, bytes)),
      () => {},
    );
  const sample = setInterval(() => {
    peakRss = Math.max(peakRss, processes.rss());
    void sampleIsolate();
  }, 100);
  const cpuBefore = processes.cpu();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  try {
    const value = await work();
    const seconds = (performance.now() - started) / 1000;
    const client = process.cpuUsage(clientBefore);
    const serverCpu = processes.cpu() - cpuBefore;
    peakRss = Math.max(peakRss, processes.rss());
    await sampleIsolate();
    return {
      value,
      seconds,
      use: { idleRss, peakRss, ...(isolate && { idleIsolate, peakIsolate }), serverCpu, clientCpu: (client.user + client.system) / 1e6 },
    };
  } finally {
    clearInterval(sample);
  }
}

/* ---------- the peer: @tus/server in a child process ---------- */

interface Peer {
  url: string;
  endpoint: string;
  processes: Processes;
  stop(): Promise<void>;
}

async function startPeer(directory: string): Promise<Peer> {
  const child: ChildProcess = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", join(ROOT, "bench", "peer.ts"), directory], {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("bench/peer.ts did not start within 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`bench/peer.ts exited (code ${code}) before listening`)));
    createInterface({ input: child.stdout! }).once("line", (first) => {
      clearTimeout(timer);
      resolve(first);
    });
  });
  const { url, pid } = JSON.parse(line) as { url: string; pid: number };
  return {
    url,
    endpoint: `${url}/files/`,
    processes: new Processes([pid], "the peer's Node process"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/* ---------- HTTP ---------- */

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Bytes [start, end) of a file, streamed as a request body with Content-Length (as tus-js-client sends a PATCH). */
interface FileRange {
  file: string;
  start: number;
  end: number;
}

function send(url: string, method: string, headers: Record<string, string>, body?: Buffer | FileRange, agent?: Agent): Promise<Reply> {
  const length = body === undefined ? undefined : Buffer.isBuffer(body) ? body.length : body.end - body.start;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, agent: agent ?? false, headers: { ...headers, ...(length !== undefined && { "Content-Length": String(length) }) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    else createReadStream(body.file, { start: body.start, end: body.end - 1 }).on("error", reject).pipe(req);
  });
}

/** A request of the tests' wire client (test/lib/wire.ts). */
function sendWire(url: string, request: WireRequest, agent?: Agent): Promise<Reply> {
  return send(url, request.method, request.headers, request.body, agent);
}

function expectStatus(reply: Reply, status: number, what: string): Reply {
  if (reply.status !== status) throw new Error(`${what}: answered ${reply.status}, expected ${status}: ${reply.body.toString("utf8").slice(0, 300)}`);
  return reply;
}

const OCTETS = { "Content-Type": "application/octet-stream" };

async function putFile(url: string, file: string, size: number): Promise<void> {
  expectStatus(await send(url, "PUT", OCTETS, { file, start: 0, end: size }), 201, `PUT ${url}`);
}

/**
 * The limit for a chunked client (see bench/worker.ts): the file in the
 * client's chunks, one PUT each, one after another on one keep-alive
 * connection (as tus-js-client sends its PATCHes), each written by the
 * Worker as a part of one R2 multipart upload, which a last request
 * completes. Answers the number of requests.
 */
async function putChunks(url: string, file: string, size: number, chunkSize: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const started = expectStatus(await send(url, "POST", {}, undefined, agent), 200, `POST ${url}`);
    const query = `?uploadId=${encodeURIComponent((JSON.parse(started.body.toString("utf8")) as { uploadId: string }).uploadId)}`;
    const parts: unknown[] = [];
    for (let start = 0; start < size; start += chunkSize) {
      const reply = await send(`${url}${query}&part=${parts.length + 1}`, "PUT", OCTETS, { file, start, end: Math.min(size, start + chunkSize) }, agent);
      parts.push(JSON.parse(expectStatus(reply, 200, `part ${parts.length + 1} of ${url}`).body.toString("utf8")));
    }
    expectStatus(await send(`${url}${query}`, "POST", { "Content-Type": "application/json" }, Buffer.from(JSON.stringify(parts)), agent), 201, `completing ${url}`);
    return parts.length + 2;
  } finally {
    agent.destroy();
  }
}

async function verify(url: string, expected: string, size: number, what: string): Promise<void> {
  const stored = await downloadSha256(url);
  if (stored.size !== size || stored.sha256 !== expected) {
    throw new Error(`${what}: stored ${stored.size} bytes with sha256 ${stored.sha256}, expected ${size} bytes with ${expected}`);
  }
}

async function terminate(uploadUrl: string): Promise<void> {
  expectStatus(await sendWire(uploadUrl, tus.delete()), 204, `DELETE ${uploadUrl}`);
}

const uploadIdOf = (uploadUrl: string) => new URL(uploadUrl).pathname.split("/").pop()!;

/* ---------- the bench Worker's counts ---------- */

interface CountsReply {
  r2: Record<string, UploadOps["r2"]>;
  durableObject: Record<string, UploadOps["durableObject"]>;
  storage: Record<string, NonNullable<UploadOps["storage"]>>;
  alarms: number;
  isolates: { worker: string[]; durableObject: string[] };
  reportedBy: string;
}

async function countsOf(edgeUrl: string, id?: string): Promise<CountsReply> {
  const reply = expectStatus(await send(`${edgeUrl}/__bench/ops${id ? `/${encodeURIComponent(id)}` : ""}`, "GET", {}), 200, "GET /__bench/ops");
  return JSON.parse(reply.body.toString("utf8")) as CountsReply;
}

function opsOf(counts: CountsReply, uploadId: string, keyPrefix = "uploads/"): UploadOps {
  return {
    r2: counts.r2[`${keyPrefix}${uploadId}`] ?? {},
    durableObject: counts.durableObject[uploadId] ?? {},
    storage: counts.storage[uploadId] ?? {},
  };
}

/* ---------- the phases ---------- */

interface Targets {
  edge: Awaited<ReturnType<typeof startServer>>;
  peerEndpoint: string;
  peerProcesses: Processes;
  /** The workerd processes of wrangler dev; new ones after each restart. */
  runtime: Processes;
  /** The bench Worker's isolate in them (the gateway's Worker and Durable Objects). */
  isolate: IsolateMemory;
}

/** What the download cases need of the targets: wrangler dev alone. */
type RuntimeTargets = Pick<Targets, "edge" | "runtime" | "isolate">;

const endpointOf = (targets: Targets, server: ServerName | typeof SINK) =>
  server === "tus-edge" ? targets.edge.endpoint : server === SINK ? `${targets.edge.url}/null/` : targets.peerEndpoint;
const processesOf = (targets: Targets, server: CaseServer) => (server === "@tus/server" ? targets.peerProcesses : targets.runtime);
/** Whether a case runs in wrangler dev (and so is disturbed if wrangler restarts its runtime). */
const inRuntime = (server: CaseServer) => server !== "@tus/server";

/** wrangler dev restarted its runtime while a case ran (its own reload, not ours): the measurement is void. */
class RuntimeReloaded extends Error {}

/** Whether wrangler dev's workerd processes are still the ones being watched. */
function checkRuntime(targets: RuntimeTargets, what: string): void {
  const now = wranglerRuntime(targets.edge.persistDir);
  if (now.pids.join() !== targets.runtime.pids.join()) {
    const said = targets.edge
      .output()
      .split("\n")
      .filter((line) => /reload|restart|change|error/i.test(line))
      .slice(-3)
      .join(" / ");
    targets.runtime = now;
    throw new RuntimeReloaded(`wrangler dev replaced its workerd processes during ${what}${said ? ` (it said: ${said})` : ""}`);
  }
}

/**
 * Restarts wrangler dev (same port, same state directory). Its memory is
 * then that of a fresh runtime, whatever earlier uploads and downloads left
 * behind, so the first-round memory figures of both file sizes start from
 * the same place.
 */
async function restartRuntime(targets: RuntimeTargets): Promise<void> {
  const started = performance.now();
  await targets.edge.restart();
  targets.runtime = wranglerRuntime(targets.edge.persistDir);
  targets.isolate.close();
  targets.isolate = await IsolateMemory.connect(targets.runtime.pids, BENCH_WORKER);
  log(`  (wrangler dev restarted in ${((performance.now() - started) / 1000).toFixed(1)} s; workerd pids ${targets.runtime.pids.join(", ")})`);
}

interface DataFile {
  path: string;
  size: number;
  sha256: string;
}

interface UploadCase {
  server: CaseServer;
  mode: ClientMode | undefined;
}

function casesOf(): UploadCase[] {
  // Interleaved, so that each server's cases are spread over the round.
  const cases: UploadCase[] = [{ server: LIMIT, mode: undefined }];
  for (const mode of MODES) {
    if (mode.chunkSize) cases.push({ server: CHUNKED_LIMIT, mode });
    for (const server of ["tus-edge", "@tus/server"] as const) cases.push({ server, mode });
  }
  return cases;
}

const caseName = (c: UploadCase) => (c.mode ? `${c.server}, ${c.mode.label}` : c.server);

/** The data files, by size (the warm-up file too). */
const files = new Map<number, DataFile>();

/** An upload whose bytes are still to be verified, and which is then deleted. */
interface Stored {
  url: string;
  file: DataFile;
  what: string;
  /** How to delete it: a tus termination, or a DELETE on the limit's route. */
  tus: boolean;
  /** For tus-edge and the limits: the R2 key, whose sha256 the bench Worker can compute itself. */
  r2Key?: string;
  /** The timed upload's measurement, which learns the object's part count when it is verified. */
  measurement?: Measurement;
}

/**
 * Uploads `file` once in the case's way, timed and watched, and reads the
 * bench Worker's counts for it. Verification comes after (`verifyAll`),
 * from local R2's files rather than by a download: downloading a multipart
 * object through local miniflare leaves workerd's memory larger by about the
 * object's size (its R2 simulator streams the parts through a JavaScript
 * TransformStream), which would blur the memory figures of the uploads after it.
 */
async function runCase(targets: Targets, c: UploadCase, file: DataFile, label: string): Promise<{ measurement: Measurement; stored: Stored }> {
  try {
    return await runCaseOnce(targets, c, file, label);
  } catch (error) {
    // A failed upload on a runtime that wrangler replaced meanwhile is a void measurement, not a failure of tus-edge.
    if (!(error instanceof RuntimeReloaded) && inRuntime(c.server)) checkRuntime(targets, `${caseName(c)} (${label}), which failed: ${String(error).slice(0, 200)}`);
    throw error;
  }
}

async function runCaseOnce(targets: Targets, c: UploadCase, file: DataFile, label: string): Promise<{ measurement: Measurement; stored: Stored }> {
  let requests = 0;
  let url: string;
  let watch;
  // What the previous case wrote is still being written back to disk: let the
  // kernel finish first, so that it does not slow this case down.
  execFileSync("sync");
  if (c.server === CHUNKED_LIMIT) {
    url = `${targets.edge.url}/__bench/multipart/bench/${label}`;
    watch = await watched(processesOf(targets, c.server), () => putChunks(url, file.path, file.size, c.mode!.chunkSize!), targets.isolate);
    requests = watch.value;
    // Deleted as the limit's objects are.
    url = `${targets.edge.url}/__bench/r2/bench/${label}`;
  } else if (c.server === LIMIT || c.server === FLOOR) {
    url = `${targets.edge.url}/__bench/${c.server === LIMIT ? "r2/bench" : "floor"}/${label}`;
    watch = await watched(processesOf(targets, c.server), () => putFile(url, file.path, file.size), targets.isolate);
    requests = 1;
  } else {
    const endpoint = endpointOf(targets, c.server as ServerName | typeof SINK);
    let responses: string[] = [];
    watch = await watched(processesOf(targets, c.server), async () => {
      const tus = startTusUpload(createReadStream(file.path), {
        endpoint,
        // No retries: a retried upload would not be a measurement of one.
        retryDelays: [],
        ...(c.mode!.chunkSize && { chunkSize: c.mode!.chunkSize }),
        metadata: { filename: `${label}.bin`, filetype: "application/octet-stream" },
      });
      const uploadUrl = await tus.done;
      responses = tus.responses;
      return uploadUrl;
    }, inRuntime(c.server) ? targets.isolate : undefined);
    url = watch.value as string;
    requests = responses.length;
  }
  const measurement: Measurement = {
    seconds: watch.seconds,
    ...watch.use,
    requests,
  };
  if (inRuntime(c.server)) checkRuntime(targets, `${caseName(c)} (${label})`);
  if (c.server === "tus-edge" || c.server === SINK) {
    const id = uploadIdOf(url);
    measurement.ops = opsOf(await countsOf(targets.edge.url, id), id, c.server === SINK ? "null/" : "uploads/");
    if (measurement.ops.r2.createMultipartUpload?.n !== 1 && measurement.ops.r2.put?.n !== 1) {
      throw new RuntimeReloaded(`the counts of ${caseName(c)} (${label}) are incomplete (the runtime's module state was reset): ${JSON.stringify(measurement.ops.r2)}`);
    }
  } else if (c.server === LIMIT || c.server === CHUNKED_LIMIT) {
    const key = `bench/${label}`;
    measurement.ops = { r2: (await countsOf(targets.edge.url, key)).r2[key] ?? {}, durableObject: {} };
  }
  const r2Key = c.server === LIMIT || c.server === CHUNKED_LIMIT ? `bench/${label}` : c.server === "tus-edge" ? `uploads/${uploadIdOf(url)}` : c.server === SINK ? `null/${uploadIdOf(url)}` : undefined;
  return { measurement, stored: { url, file, what: `${caseName(c)} (${label})`, tus: c.server !== LIMIT && c.server !== CHUNKED_LIMIT, r2Key, measurement } };
}

/** The Worker's name in bench/wrangler.bench.toml: workerd's inspector lists its isolate under it. */
const BENCH_WORKER = "tus-edge-bench";
/** The bucket's name in bench/wrangler.bench.toml: local R2 keeps its blobs under it. */
const BENCH_BUCKET = "tus-edge-bench";
/** BENCH_VERIFY=worker: hash R2 objects through the R2 API in the bench Worker even where local R2's files can be read. */
const VERIFY_THROUGH_WORKER = process.env.BENCH_VERIFY === "worker";

/**
 * The sha256 of the object local R2 (miniflare) stores at `key`, read from
 * its files in wrangler's state directory: its SQLite index (`_mf_objects`,
 * and `_mf_multipart_parts` in part order for a multipart object) and its
 * blob files — exactly the bytes a GET would assemble. About twenty times
 * faster than reading the object back through workerd, which costs as much
 * CPU as writing it. Undefined when the layout is not the one expected
 * (another miniflare version): the caller then asks the bench Worker.
 */
async function sha256OnDisk(persistDir: string, key: string): Promise<{ size: number; sha256: string; parts: number } | undefined> {
  const blobs = localR2Blobs(persistDir, BENCH_BUCKET);
  if (!existsSync(blobs)) return undefined;
  const ids = searchLocalR2(persistDir, (db) => objectBlobIds(db, key));
  if (!ids) return undefined;
  const hashed = await sha256OfBlobs(blobs, ids);
  return { size: hashed.size, sha256: hashed.sha256, parts: ids.length };
}

let verifiedOnDisk = 0;
let verifiedInWorker = 0;

/**
 * Compares every stored upload's sha256 with its file's, then deletes it.
 * `download`: through the upload URL (the gateway's GET, the peer's GET, the
 * limit's GET route). `stored`: for objects in R2 (tus-edge, the limit), the
 * bytes local R2 stored, read from its files (see `sha256OnDisk`), or hashed
 * by the bench Worker through the R2 API (BENCH_VERIFY=worker, and the
 * sink's uploads, which only the Worker has seen); the peer's uploads are
 * still downloaded.
 */
async function verifyAll(targets: Targets, stored: Stored[], how: "download" | "stored"): Promise<void> {
  const started = performance.now();
  for (const s of stored) {
    if (how === "stored" && s.r2Key) {
      const onDisk = VERIFY_THROUGH_WORKER || s.r2Key.startsWith("null/") ? undefined : await sha256OnDisk(targets.edge.persistDir, s.r2Key);
      let found: { size: number; sha256: string };
      if (onDisk) {
        found = onDisk;
        verifiedOnDisk++;
        if (s.measurement) s.measurement.storedParts = onDisk.parts;
      } else {
        const reply = expectStatus(await send(`${targets.edge.url}/__bench/sha256/${encodeURIComponent(s.r2Key)}`, "GET", {}), 200, `sha256 of ${s.r2Key}`);
        found = JSON.parse(reply.body.toString("utf8")) as { size: number; sha256: string };
        verifiedInWorker++;
      }
      if (found.size !== s.file.size || found.sha256 !== s.file.sha256) {
        throw new Error(`${s.what}: R2 holds ${found.size} bytes with sha256 ${found.sha256} at ${s.r2Key}, expected ${s.file.size} bytes with ${s.file.sha256}`);
      }
    } else {
      await verify(s.url, s.file.sha256, s.file.size, s.what);
    }
    if (s.tus) await terminate(s.url);
    else expectStatus(await send(s.url, "DELETE", {}), 204, `DELETE ${s.url}`);
  }
  log(`  verified ${stored.length} uploads by sha256 (${how === "stored" ? "what R2 stored" : "downloaded"}) and deleted them (${((performance.now() - started) / 1000).toFixed(1)} s, untimed)`);
}

const reloads: string[] = [];

/**
 * One timed upload of a case. `fresh`: first restart wrangler dev and warm it
 * up with a small upload of the same kind (untimed), so that the memory
 * figure starts from a fresh runtime. If wrangler dev replaces its runtime
 * during the upload by itself (it reloads when files it watches change, e.g.
 * when someone reinstalls node_modules), the measurement is void: noted and
 * repeated, after a fresh start, at most twice.
 */
async function measureCase(
  targets: Targets,
  c: UploadCase,
  file: DataFile,
  label: string,
  fresh: boolean,
  stored: Stored[],
): Promise<{ measurement: Measurement; stored: Stored }> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (fresh && inRuntime(c.server)) {
        await restartRuntime(targets);
        stored.push((await runCase(targets, c, files.get(WARM_UP_SIZE)!, `warm-up-${label}-${attempt}`)).stored);
      }
      return await runCase(targets, c, file, attempt === 1 ? label : `${label}-${attempt}`);
    } catch (error) {
      if (!(error instanceof RuntimeReloaded) || attempt >= 3) throw error;
      reloads.push(`${caseName(c)} (${label}), attempt ${attempt}: ${error.message}`);
      log(`  !! ${error.message}; repeating ${caseName(c)} on a fresh runtime`);
      fresh = true;
    }
  }
}

async function throughputPhase(targets: Targets): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const size of SIZES) {
    const file = files.get(size)!;
    const cases = casesOf();
    const bySize = cases.map((c) => ({ server: c.server, mode: c.mode, size, runs: [] as Measurement[] }));
    const stored: Stored[] = [];
    for (let round = 1; round <= ROUNDS[size]!; round++) {
      for (const [i, c] of cases.entries()) {
        const { measurement: m, stored: s } = await measureCase(targets, c, file, `${sizeLabel(size).replace(" ", "")}-r${round}-${i}`, round === 1, stored);
        bySize[i]!.runs.push(m);
        stored.push(s);
        // Verified and deleted at once (untimed): every GiB left in local R2's
        // (or the peer's) files made the cases after it slower — by a third
        // once a round had stored 4 GiB — so cases late in a round lost to
        // the limit, which runs first.
        await verifyAll(targets, stored.splice(0), "stored");
        log(
          `  ${sizeLabel(size).padEnd(8)} round ${round}  ${caseName(c).padEnd(30)} ${m.seconds.toFixed(2).padStart(7)} s ${(file.size / 1e6 / m.seconds).toFixed(1).padStart(7)} MB/s  peak−idle ${((m.peakRss - m.idleRss) / MiB).toFixed(1).padStart(6)} MiB  server CPU ${m.serverCpu.toFixed(1).padStart(5)} s`,
        );
      }
    }
    results.push(...bySize);
  }
  return results;
}

/**
 * tus-edge with R2 replaced by the bench Worker's sink (bench/worker.ts):
 * the same gateway code and Durable Object, but bytes that would go to R2
 * are hashed and dropped. Shows what the gateway costs by itself — time,
 * CPU and memory — apart from the local R2 simulator, which dominates the
 * real uploads. One round per size and mode, each on a freshly restarted
 * runtime; verified by the sink's sha256 of what it received.
 */
async function sinkPhase(targets: Targets): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const size of SIZES) {
    for (const mode of MODES) {
      const c: UploadCase = { server: SINK, mode };
      const stored: Stored[] = [];
      const { measurement: m, stored: s } = await measureCase(targets, c, files.get(size)!, `sink-${sizeLabel(size).replace(" ", "")}-${mode.chunkSize ?? 0}`, true, stored);
      stored.push(s);
      await verifyAll(targets, stored, "stored");
      results.push({ server: SINK, mode, size, runs: [m] });
      log(
        `  ${sizeLabel(size).padEnd(8)} ${caseName(c).padEnd(38)} ${m.seconds.toFixed(2).padStart(7)} s ${(size / 1e6 / m.seconds).toFixed(1).padStart(7)} MB/s  peak−idle ${((m.peakRss - m.idleRss) / MiB).toFixed(1).padStart(6)} MiB  server CPU ${m.serverCpu.toFixed(1).padStart(5)} s`,
      );
    }
  }
  return results;
}

/** Uploads after the first of the largest size through the runtime floor, on the same runtime. */
const FLOOR_LATER_UPLOADS = 3;

/**
 * The runtime floor: each file PUT to a route that hands the body to a
 * Durable Object which reads it to the end and drops it (bench/worker.ts).
 * No tus code runs, so its memory over the two file sizes is workerd's own
 * growth with the bytes streamed, against which the gateway's is judged.
 * One round per size on a freshly restarted runtime, like the sink's; then
 * the largest file a few more times on the same runtime, which shows whether
 * that growth goes on with every byte (a leak) or ends (the runtime warming up).
 */
async function floorPhase(targets: Targets): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  const c: UploadCase = { server: FLOOR, mode: undefined };
  const logRun = (size: number, m: Measurement, what = "") =>
    log(`  ${sizeLabel(size).padEnd(8)} ${`${FLOOR}${what}`.padEnd(52)} ${m.seconds.toFixed(2).padStart(7)} s  peak−idle ${((m.peakRss - m.idleRss) / MiB).toFixed(1).padStart(6)} MiB`);
  for (const size of SIZES) {
    const { measurement: m } = await measureCase(targets, c, files.get(size)!, `floor-${sizeLabel(size).replace(" ", "")}`, true, []);
    results.push({ server: FLOOR, mode: undefined, size, runs: [m] });
    logRun(size, m);
  }
  const largest = results[results.length - 1]!;
  for (let i = 1; i <= FLOOR_LATER_UPLOADS; i++) {
    const { measurement: m } = await measureCase(targets, c, files.get(largest.size)!, `floor-${sizeLabel(largest.size).replace(" ", "")}-later-${i}`, false, []);
    largest.runs.push(m);
    logRun(largest.size, m, `, again (${i})`);
  }
  return results;
}

/** The latency of a no-op route of the bench Worker: what any request through wrangler dev costs. */
async function floorLatency(edgeUrl: string): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  try {
    for (let i = 0; i < LATENCY_WARM_UP + LATENCY_REQUESTS; i++) {
      const started = performance.now();
      expectStatus(await send(`${edgeUrl}/__bench/ping`, "GET", {}, undefined, agent), 204, "GET /__bench/ping");
      if (i >= LATENCY_WARM_UP) samples.push(performance.now() - started);
    }
  } finally {
    agent.destroy();
  }
  log(`  tus-edge     no-op route      p50 ${percentileOf(samples, 50)} ms  p99 ${percentileOf(samples, 99)} ms`);
  return samples;
}

async function latencyPhase(server: ServerName, endpoint: string): Promise<LatencyResult[]> {
  // One keep-alive connection: the time is the server's, not TCP set-up's.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const total = LATENCY_WARM_UP + LATENCY_REQUESTS;
  const timedLoop = async (what: string, one: (i: number) => Promise<void>): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < total; i++) {
      const started = performance.now();
      await one(i);
      if (i >= LATENCY_WARM_UP) samples.push(performance.now() - started);
    }
    log(`  ${server.padEnd(12)} ${what.padEnd(16)} p50 ${percentileOf(samples, 50)} ms  p99 ${percentileOf(samples, 99)} ms`);
    return samples;
  };
  try {
    const post = await timedLoop("POST (creation)", async () => {
      expectStatus(await sendWire(endpoint, tus.create({ length: 1024 }), agent), 201, `POST ${endpoint}`);
    });

    const chunk = 1024;
    const length = (total + 1) * chunk;
    const data = seededBytes(length, `latency ${server}`);
    const created = expectStatus(await sendWire(endpoint, tus.create({ length }), agent), 201, `POST ${endpoint}`);
    const uploadUrl = new URL(String(created.headers.location), endpoint).href;
    const head = await timedLoop("HEAD", async () => {
      expectStatus(await sendWire(uploadUrl, tus.head(), agent), 200, `HEAD ${uploadUrl}`);
    });
    const patchAt = async (i: number) => {
      const reply = expectStatus(
        await sendWire(uploadUrl, tus.patch(i * chunk, data.subarray(i * chunk, (i + 1) * chunk)), agent),
        204,
        `PATCH ${uploadUrl} at ${i * chunk}`,
      );
      if (Number(reply.headers["upload-offset"]) !== (i + 1) * chunk) throw new Error(`PATCH ${uploadUrl}: Upload-Offset ${reply.headers["upload-offset"]}`);
    };
    const patch = await timedLoop("PATCH 1 KiB", patchAt);
    await patchAt(total); // completes the upload, untimed
    await verify(uploadUrl, sha256(data), length, `${server}: the upload of the PATCH latency test`);
    await terminate(uploadUrl);
    return [
      { server, kind: "POST (creation)", samples: post },
      { server, kind: "HEAD", samples: head },
      { server, kind: "PATCH 1 KiB", samples: patch },
    ];
  } finally {
    agent.destroy();
  }
}

function percentileOf(samples: number[], p: number): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!.toFixed(2);
}

/* ---------- Durable Object calls per client request ---------- */

/** Each request kind is counted this many times (each on an upload of its own where it changes one). */
const DO_CALL_REPEATS = 3;
/** The interop version of the IETF rows: the newest the gateway speaks. */
const DO_CALLS_IETF_VERSION = 9;

/** Every Durable Object call the bench Worker's namespace made since it started, by method. */
async function doCallTotals(edgeUrl: string): Promise<Record<string, number>> {
  const reply = expectStatus(await send(`${edgeUrl}/__bench/do-calls`, "GET", {}), 200, "GET /__bench/do-calls");
  return (JSON.parse(reply.body.toString("utf8")) as { calls: Record<string, number> }).calls;
}

/**
 * Sends one client request alone and counts the Durable Object calls the
 * Worker made for it: the Worker's running totals before and after. Nothing
 * else runs meanwhile, and the totals are read until two readings 50 ms apart
 * agree, so calls the Worker makes after answering (`waitUntil`) count too.
 */
async function countedRequest(edgeUrl: string, url: string, request: WireRequest, agent: Agent): Promise<{ reply: Reply; calls: Record<string, number> }> {
  const before = await doCallTotals(edgeUrl);
  const reply = await sendWire(url, request, agent);
  let after = await doCallTotals(edgeUrl);
  for (;;) {
    await sleep(50);
    const again = await doCallTotals(edgeUrl);
    if (JSON.stringify(again) === JSON.stringify(after)) break;
    after = again;
  }
  const calls: Record<string, number> = {};
  for (const [method, n] of Object.entries(after)) if (n - (before[method] ?? 0) > 0) calls[method] = n - (before[method] ?? 0);
  return { reply, calls };
}

/**
 * How many Durable Object requests (stub `fetch` and RPC calls) the Worker
 * makes for one client request of each kind, in both dialects: measured by
 * the bench Worker's counting namespace, each kind DO_CALL_REPEATS times.
 */
async function doCallsPhase(edgeUrl: string, endpoint: string): Promise<DoCallsResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const rows: DoCallsRow[] = [];
  const KiB = 1024;
  const bytes = (n: number, label: string) => seededBytes(n, `do-calls ${label}`);
  const locationOf = (reply: Reply) => new URL(String(reply.headers.location), endpoint).href;
  /** Sends what `step` builds (given the repeat's number), counts it, checks its status; answers the replies. */
  const count = async (dialect: DoCallsRow["dialect"], kind: string, expected: number | "any", step: (i: number) => Promise<[string, WireRequest]>): Promise<Reply[]> => {
    const samples: Array<Record<string, number>> = [];
    const replies: Reply[] = [];
    for (let i = 0; i < DO_CALL_REPEATS; i++) {
      const [url, request] = await step(i);
      const { reply, calls } = await countedRequest(edgeUrl, url, request, agent);
      if (expected !== "any") expectStatus(reply, expected, `${dialect} ${kind}`);
      samples.push(calls);
      replies.push(reply);
    }
    const row: DoCallsRow = { dialect, kind, status: replies[0]!.status, samples };
    rows.push(row);
    const totals = samples.map((calls) => Object.values(calls).reduce((a, b) => a + b, 0));
    log(`  ${dialect.padEnd(5)} ${kind.padEnd(44)} ${[...new Set(totals)].join("–")} (${Object.entries(samples[0]!).map(([m, n]) => `${m} ${n}`).join(", ") || "none"})`);
    return replies;
  };
  const sendOk = async (url: string, request: WireRequest, status: number, what: string) => expectStatus(await sendWire(url, request, agent), status, what);

  try {
    /* tus 1.0: each upload 3 KiB; the counted request is the only one of its kind in the loop. */
    const created = await count("tus", "POST (creation)", 201, async () => [endpoint, tus.create({ length: 3 * KiB })]);
    const urls = created.map(locationOf);
    const withBody = await count("tus", "POST with body (creation-with-upload)", 201, async (i) => [endpoint, tus.create({ length: 3 * KiB, body: bytes(KiB, `tus ${i}`) })]);
    const bodyUrls = withBody.map(locationOf);
    await count("tus", "PATCH 1 KiB", 204, async (i) => [urls[i]!, tus.patch(0, bytes(KiB, `tus ${i}`))]);
    await count("tus", "PATCH 1 KiB (completing)", 204, async (i) => {
      await sendOk(bodyUrls[i]!, tus.patch(KiB, bytes(KiB, `tus rest ${i}`)), 204, "PATCH");
      return [bodyUrls[i]!, tus.patch(2 * KiB, bytes(KiB, `tus last ${i}`))];
    });
    await count("tus", "HEAD", 200, async (i) => [urls[i]!, tus.head()]);
    await count("tus", "GET (finished upload, 3 KiB)", 200, async (i) => [bodyUrls[i]!, tus.get()]);
    await count("tus", "POST final (concatenation of 2 partials)", 201, async (i) => {
      const partials: string[] = [];
      for (const half of [0, 1]) {
        const reply = await sendOk(endpoint, tus.create({ length: KiB, headers: { "Upload-Concat": "partial" } }), 201, "POST partial");
        partials.push(locationOf(reply));
        await sendOk(locationOf(reply), tus.patch(0, bytes(KiB, `partial ${i} ${half}`)), 204, "PATCH partial");
      }
      return [endpoint, tus.final(partials.map((url) => new URL(url).pathname))];
    });
    await count("tus", "DELETE", 204, async (i) => [urls[i]!, tus.delete()]);
    for (const url of bodyUrls) await sendOk(url, tus.delete(), 204, "DELETE");

    /* The IETF draft at interop version DO_CALLS_IETF_VERSION. */
    const v = DO_CALLS_IETF_VERSION;
    const ietfCreated = await count("IETF", "creation with 1 KiB body (?0)", 201, async (i) => [endpoint, ietf.create(v, { complete: false, body: bytes(KiB, `ietf ${i}`) })]);
    const ietfUrls = ietfCreated.map(locationOf);
    const whole = await count("IETF", "creation with the whole body (?1)", 201, async (i) => [endpoint, ietf.create(v, { complete: true, body: bytes(KiB, `ietf whole ${i}`) })]);
    await count("IETF", "append 1 KiB ?0", 204, async (i) => [ietfUrls[i]!, ietf.append(v, KiB, false, bytes(KiB, `ietf ${i} 2`))]);
    await count("IETF", "offset HEAD", 204, async (i) => [ietfUrls[i]!, ietf.offset(v)]);
    await count("IETF", "GET of an unfinished upload", "any", async (i) => [ietfUrls[i]!, tus.get(ietf.offset(v).headers)]);
    const open = await count("IETF", "creation without body (?0)", 201, async () => [endpoint, ietf.create(v, { complete: false })]);
    const openUrls = open.map(locationOf);
    await count("IETF", "append 1 KiB ?1 (completing)", 200, async (i) => [ietfUrls[i]!, ietf.append(v, 2 * KiB, true, bytes(KiB, `ietf ${i} 3`))]);
    await count("IETF", "DELETE (cancel)", 204, async (i) => [openUrls[i]!, ietf.cancel(v)]);
    // Tidy up; whatever a finished upload's DELETE answers is not the point here.
    for (const url of [...ietfUrls, ...whole.map(locationOf)]) await sendWire(url, ietf.cancel(v), agent);
  } finally {
    agent.destroy();
  }
  return { ietfVersion: DO_CALLS_IETF_VERSION, repeats: DO_CALL_REPEATS, rows, measuredAt: new Date().toISOString(), commit: gitDescription() };
}

async function concurrencyPhase(targets: Targets, server: ServerName): Promise<ConcurrencyResult> {
  const endpoint = endpointOf(targets, server);
  const inputs = Array.from({ length: CONCURRENT_UPLOADS }, (_, i) => seededBytes(CONCURRENT_SIZE, `concurrent ${server} ${i}`));
  const watch = await watched(processesOf(targets, server), () =>
    Promise.allSettled(inputs.map((input) => startTusUpload(input, { endpoint, retryDelays: [] }).done)),
    server === "tus-edge" ? targets.isolate : undefined,
  );
  const settled = watch.value;
  const urls = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const firstFailure = settled.find((s) => s.status === "rejected");
  let ops: UploadOps | undefined;
  if (server === "tus-edge") {
    const counts = await countsOf(targets.edge.url);
    ops = { r2: {}, durableObject: {}, storage: {} };
    for (const url of urls) {
      const one = opsOf(counts, uploadIdOf(url));
      for (const [table, byKind] of [
        [ops.r2, one.r2],
        [ops.durableObject, one.durableObject],
        [ops.storage!, one.storage ?? {}],
      ] as const) {
        for (const [kind, c] of Object.entries(byKind)) {
          const sum = (table[kind] ??= { n: 0, ms: 0 });
          sum.n += c.n;
          sum.ms += c.ms;
        }
      }
    }
  }
  // Verify and delete, a few at a time.
  const pending = settled.map((s, i) => ({ s, i })).filter(({ s }) => s.status === "fulfilled");
  for (let at = 0; at < pending.length; at += 8) {
    await Promise.all(
      pending.slice(at, at + 8).map(async ({ s, i }) => {
        const url = (s as PromiseFulfilledResult<string>).value;
        await verify(url, sha256(inputs[i]!), CONCURRENT_SIZE, `${server}: concurrent upload ${i}`);
        await terminate(url);
      }),
    );
  }
  const result: ConcurrencyResult = {
    server,
    uploads: CONCURRENT_UPLOADS,
    size: CONCURRENT_SIZE,
    seconds: watch.seconds,
    failed: settled.length - urls.length,
    firstError: firstFailure ? String((firstFailure as PromiseRejectedResult).reason).slice(0, 160) : undefined,
    ...watch.use,
    ops,
    countedUploads: ops ? urls.length : 0,
  };
  log(
    `  ${server.padEnd(12)} ${CONCURRENT_UPLOADS} × ${sizeLabel(CONCURRENT_SIZE)}: ${result.seconds.toFixed(2)} s, ${((urls.length * CONCURRENT_SIZE) / 1e6 / result.seconds).toFixed(1)} MB/s, ${result.failed} failed (verified)`,
  );
  return result;
}

/* ---------- main ---------- */

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  const work = await mkdtemp(join(tmpdir(), "tus-edge-bench-"));
  const notes: string[] = [];
  let edge: Awaited<ReturnType<typeof startServer>> | undefined;
  let peer: Peer | undefined;
  let targets: Targets | undefined;
  const stopAll = async () => {
    targets?.isolate.close();
    await Promise.allSettled([edge?.stop(), peer?.stop()]);
    await rm(work, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));

  try {
    log(`writing seeded data files to ${work} …`);
    for (const size of [WARM_UP_SIZE, ...SIZES]) {
      const path = join(work, `data-${size}.bin`);
      files.set(size, { path, size, sha256: await writeSeededFile(path, size, `bench ${size}`) });
    }

    log("starting wrangler dev (bench/wrangler.bench.toml) and the peer (bench/peer.ts) …");
    [edge, peer] = await Promise.all([
      startServer({ config: "bench/wrangler.bench.toml", sources: ["src", "bench/worker.ts", "bench/wrangler.bench.toml"] }),
      startPeer(join(work, "peer-files")),
    ]);
    const runtime = wranglerRuntime(edge.persistDir);
    targets = {
      edge,
      peerEndpoint: peer.endpoint,
      peerProcesses: peer.processes,
      runtime,
      isolate: await IsolateMemory.connect(runtime.pids, BENCH_WORKER),
    };
    log(`  tus-edge    ${edge.endpoint}  (runtime: workerd pids ${targets.runtime.pids.join(", ")})`);
    log(`  @tus/server ${peer.endpoint}  (pid ${peer.processes.pids.join(", ")})`);

    // Untimed: the first requests pay for bundling, isolate start-up and new Durable Objects.
    log("warm-up (untimed) …");
    const warmUp = files.get(WARM_UP_SIZE)!;
    let warmUpOps: UploadOps | undefined;
    const warmedUp: Stored[] = [];
    for (const c of casesOf()) {
      const { measurement, stored } = await runCase(targets, c, warmUp, `warm-up-${c.server.replace(/\W/g, "")}-${c.mode?.chunkSize ?? 0}`);
      warmedUp.push(stored);
      if (c.server === "tus-edge" && c.mode?.chunkSize === 8 * MiB) warmUpOps = measurement.ops;
    }
    const all = await countsOf(edge.url);
    await verifyAll(targets, warmedUp, "download");
    // The Durable Objects' uploadPart calls must reach the Worker's counts: only then do they share state.
    const parts = warmUpOps?.r2.uploadPart?.n ?? 0;
    if (parts !== WARM_UP_SIZE / PART_SIZE || all.isolates.durableObject.length !== 1 || all.isolates.worker.join() !== all.isolates.durableObject.join()) {
      throw new Error(
        `the bench Worker's counts are unusable: the warm-up's 16 MiB upload counted ${parts} uploadPart calls (expected ${WARM_UP_SIZE / PART_SIZE}); isolates ${JSON.stringify(all.isolates)}`,
      );
    }
    const isolateCheck = `Checked in this run: the Worker and every Durable Object counted in one module instance (isolate ${all.reportedBy}), so the Worker's route sees the objects' counts.`;

    log(`throughput (${SIZES.map((s) => `${ROUNDS[s]} round(s) at ${sizeLabel(s)}`).join(", ")}) …`);
    const throughput = await throughputPhase(targets);

    log("tus-edge over a discarding R2 sink (the gateway alone) …");
    const sink = await sinkPhase(targets);

    log("the runtime floor: bodies into a Durable Object, dropped …");
    const floor = await floorPhase(targets);

    log("cost per terabyte …");
    const cost = await costPhase(targets, work);

    log(`latency (${LATENCY_REQUESTS} requests each) …`);
    await restartRuntime(targets);
    const latencyFloor = await floorLatency(edge.url);
    const latency = [
      { server: "tus-edge" as const, kind: "no-op Worker route (floor)" as const, samples: latencyFloor },
      ...(await latencyPhase("tus-edge", edge.endpoint)),
      ...(await latencyPhase("@tus/server", peer.endpoint)),
    ];

    log(`Durable Object calls per client request (each kind ${DO_CALL_REPEATS} times) …`);
    const doCalls = await doCallsPhase(edge.url, edge.endpoint);

    log(`concurrency (${CONCURRENT_UPLOADS} × ${sizeLabel(CONCURRENT_SIZE)}) …`);
    const concurrency = [await concurrencyPhase(targets, "tus-edge"), await concurrencyPhase(targets, "@tus/server")];

    log(`downloads (${DOWNLOAD_SIZES.map(sizeLabel).join(", ")}) …`);
    const downloads = await downloadsPhase(targets, work);

    const alarms = (await countsOf(edge.url)).alarms;
    if (alarms) notes.push(`${alarms} Durable Object alarm invocations happened after the last restart of wrangler dev (each is a billed request).`);
    if (QUICK) notes.push("--quick: the 1 GiB uploads and the 10 GiB download were skipped, so the memory target could not be judged.");
    for (const reload of reloads) notes.push(`Repeated: ${reload}.`);
    notes.push(
      `Verification of the timed uploads: ${verifiedOnDisk} R2 objects were hashed from local R2's own files (its SQLite index and blobs, in part order: the bytes a GET assembles), ${verifiedInWorker} by the bench Worker through the R2 API (the sink's uploads${VERIFY_THROUGH_WORKER ? ", and all of them: BENCH_VERIFY=worker" : ""}); the warm-up, latency and concurrency uploads were downloaded through the gateway's GET. Reading a large object back through workerd costs as much CPU as writing it, which made verification half of the run.`,
    );
    notes.push(
      "Each timed upload is verified from local R2's files (or the peer's download) and deleted right after it, and `sync` runs before the next: uploads left in place made every later case slower (a 1 GiB straight put went from 10.2 to 14.4 s after four more GiB were stored), so the cases late in a round lost to the limit, which runs first. Verification does not download through workerd: a multipart object read back through local miniflare grows workerd's resident memory by about the object's size (its R2 simulator streams the parts through a JavaScript TransformStream), which would blur the memory figures of later uploads. For the same reason wrangler dev is restarted before the first round's upload of each case that runs in it (followed by an untimed 16 MiB upload of the same kind), and before the latency phase.",
    );

    const results: BenchResults = {
      startedAt,
      finishedAt: new Date().toISOString(),
      quick: QUICK,
      rounds: Object.fromEntries(SIZES.map((s) => [s, ROUNDS[s]!])),
      partSize: PART_SIZE,
      machine: {
        cpus: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
        node: `${process.version} (${process.platform}-${process.arch})`,
        loadStart,
        loadEnd: loadavg(),
        commit: gitDescription(),
      },
      runtimeProcesses: targets.runtime.description,
      peerVersions: peerVersions(),
      throughput,
      sink,
      floor,
      latency,
      latencyRequests: LATENCY_REQUESTS,
      doCalls,
      concurrency,
      isolateCheck,
      notes,
      downloads,
      cost,
    };
    await writeResults(results);
  } finally {
    await stopAll();
  }
}

const RESULTS = join(ROOT, "bench", "results");

/**
 * One phase alone (`--downloads`, `--cost`), added to the results of the last
 * full run: its other figures are kept as they are, and the report rendered again.
 */
async function onePhaseOnly(flag: string, label: string, phase: (targets: RuntimeTargets, work: string, results: BenchResults) => Promise<void>): Promise<void> {
  const latest = join(RESULTS, "latest.json");
  if (!existsSync(latest)) throw new Error(`${latest} is missing: run the whole bench once (npm run bench); ${flag} adds its cases to those results`);
  const results = JSON.parse(readFileSync(latest, "utf8")) as BenchResults;
  const work = await mkdtemp(join(tmpdir(), "tus-edge-bench-"));
  let edge: Awaited<ReturnType<typeof startServer>> | undefined;
  let targets: RuntimeTargets | undefined;
  const stopAll = async () => {
    targets?.isolate.close();
    await edge?.stop();
    await rm(work, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));
  try {
    log("starting wrangler dev (bench/wrangler.bench.toml) …");
    edge = await startServer({ config: "bench/wrangler.bench.toml", sources: ["src", "bench/worker.ts", "bench/wrangler.bench.toml"] });
    const runtime = wranglerRuntime(edge.persistDir);
    targets = { edge, runtime, isolate: await IsolateMemory.connect(runtime.pids, BENCH_WORKER) };
    log(`${label} …`);
    await phase(targets, work, results);
    await writeResults(results);
  } finally {
    await stopAll();
  }
}

/** The download cases (bench/downloads.ts) on the bench's wrangler dev. */
async function downloadsPhase(targets: RuntimeTargets, work: string): Promise<DownloadResults> {
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  const edgeUrl = targets.edge.url;
  const readRanges = async (start: number, end: number) =>
    JSON.parse(expectStatus(await send(`${edgeUrl}/__bench/read-ranges?start=${start}&end=${end}`, "GET", {}), 200, "GET /__bench/read-ranges").body.toString("utf8")) as Array<{
      offset: number;
      length: number;
    }>;
  const { cases, cancelled } = await downloadPhase(
    {
      url: edgeUrl,
      workDir: work,
      restart: () => restartRuntime(targets),
      watch: async (work) => {
        for (let attempt = 1; ; attempt++) {
          try {
            const watch = await watched(targets.runtime, work, targets.isolate);
            checkRuntime(targets, "a download");
            return watch;
          } catch (failure) {
            // A download cut off because wrangler dev replaced its runtime is void, not a failure of tus-edge.
            let error = failure;
            if (!(error instanceof RuntimeReloaded)) {
              try {
                checkRuntime(targets, `a download, which failed: ${String(failure).slice(0, 200)}`);
              } catch (reloaded) {
                error = reloaded;
              }
            }
            if (!(error instanceof RuntimeReloaded) || attempt >= 3) {
              log(`  a download failed; wrangler dev's last output:\n${targets.edge.output().slice(-3000)}`);
              throw error;
            }
            reloads.push(`a download, attempt ${attempt}: ${error.message}`);
            log(`  !! ${error.message}; repeating the download on a fresh runtime`);
            await restartRuntime(targets);
          }
        }
      },
      rss: () => targets.runtime.rss(),
      gets: async (key) => (await countsOf(edgeUrl, key)).r2[key]?.get?.n ?? 0,
      readRanges,
      writeFile: writeSeededFile,
      upload: (path) =>
        startTusUpload(createReadStream(path), {
          endpoint: targets.edge.endpoint,
          chunkSize: 50 * MiB,
          // Untimed: a PATCH cut by a reload of wrangler dev is simply resumed.
          retryDelays: [0, 1000, 3000, 5000],
          metadata: { filename: "download.bin", filetype: "application/octet-stream" },
        }).done,
      terminate,
      log,
    },
    DOWNLOAD_SIZES,
  );
  // The last range is what is left over: the plan is in the ones before it.
  const lengths = (await readRanges(0, 10 * GiB - 1)).slice(0, -1).map((range) => range.length / MiB);
  const distinct = lengths.filter((length, i) => length !== lengths[i - 1]);
  const getsFor = async (size: number) => `${(await readRanges(0, size - 1)).length} for ${sizeLabel(size)}`;
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    commit: gitDescription(),
    load: { start: loadStart, end: loadavg() },
    rangePlan: `${distinct.slice(0, -1).join(", ")}, then ${distinct.at(-1)} MiB from the first byte asked for; gets: ${await getsFor(2 * GiB)}, ${await getsFor(10 * GiB)}`,
    plainGetLimits: PLAIN_GET_LIMITS_TEXT,
    cases,
    cancelled,
    notes: [
      "R2 bills every get as a Class B operation; the plain get is one, the gateway's are counted above. The runtime's resident memory includes local R2's simulator, which holds what a get asks for until it has sent it.",
      ...reloads.filter((reload) => reload.startsWith("a download")).map((reload) => `Repeated: ${reload}.`),
    ],
  };
}

const sumOf = (byKind: Record<string, { n: number }> | undefined, which: (kind: string) => boolean = () => true) =>
  Object.entries(byKind ?? {}).reduce((sum, [kind, c]) => sum + (which(kind) ? c.n : 0), 0);

/**
 * One tus-edge upload of 256 MiB per client mode, for what Cloudflare would
 * bill it (bench/cost.ts): the bench Worker's counts are cleared before each,
 * the isolate is CPU-profiled over it, and the bytes R2 stored are verified
 * by sha256 after it (untimed), then the upload is terminated.
 */
async function costPhase(targets: RuntimeTargets, work: string): Promise<CostResults> {
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  const file = files.get(COST_SIZE) ?? { path: join(work, `data-${COST_SIZE}.bin`), size: COST_SIZE, sha256: "" };
  if (!file.sha256) {
    file.sha256 = await writeSeededFile(file.path, COST_SIZE, `bench ${COST_SIZE}`);
    files.set(COST_SIZE, file);
  }
  const upload = async (path: string, mode: ClientMode, label: string) => {
    const tus = startTusUpload(createReadStream(path), {
      endpoint: targets.edge.endpoint,
      retryDelays: [],
      ...(mode.chunkSize && { chunkSize: mode.chunkSize }),
      metadata: { filename: `${label}.bin`, filetype: "application/octet-stream" },
    });
    const url = await tus.done;
    return { url, requests: tus.responses.length };
  };
  // Untimed: bundling, isolate start-up and the first Durable Object are not an upload's bill.
  const warmUpPath = join(work, "cost-warm-up.bin");
  await writeSeededFile(warmUpPath, WARM_UP_SIZE, "bench cost warm-up");
  await terminate((await upload(warmUpPath, MODES[1]!, "cost-warm-up")).url);

  const cases: CostCase[] = [];
  for (const mode of MODES) {
    for (let attempt = 1; ; attempt++) {
      try {
        cases.push(await costCase(targets, file, mode, upload));
        break;
      } catch (error) {
        if (!(error instanceof RuntimeReloaded) || attempt >= 3) throw error;
        reloads.push(`cost, ${mode.label}, attempt ${attempt}: ${error.message}`);
        log(`  !! ${error.message}; repeating`);
        await restartRuntime(targets);
      }
    }
  }
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    commit: gitDescription(),
    load: { start: loadStart, end: loadavg() },
    cases,
    notes: [
      "Left out: R2 storage (GB-month; the same however the bytes arrive), and the monthly allowances (10 million Worker requests, 30 million CPU-ms, 1 million Durable Object requests, 400,000 GB-s, 25 billion rows read, 50 million rows written, 1 million Class A operations), which a terabyte-a-month account exceeds.",
      "Local counts: local workerd, wrangler dev, no listing index or metrics binding in bench/wrangler.bench.toml (with them, the index adds rows written in D1 and outbox deliveries). Expiry alarms that fire after an upload (one request each, if its object is not deleted first) are not in the figures; the alarms that fired during the uploads are.",
      ...reloads.filter((reload) => reload.startsWith("cost")).map((reload) => `Repeated: ${reload}.`),
    ],
  };
}

/**
 * The script wrangler dev runs (its esbuild bundle, in bench/.wrangler/tmp
 * of the server's snapshot of the sources while it runs): the CPU profile's
 * frames are placed in it by line. The newest, as wrangler rebundles into a
 * new directory.
 */
function runningBundle(sourceDir: string): string | undefined {
  const tmp = join(sourceDir, "bench", ".wrangler", "tmp");
  const bundles = (existsSync(tmp) ? readdirSync(tmp) : [])
    .filter((dir) => dir.startsWith("dev-") && existsSync(join(tmp, dir, "worker.js")))
    .map((dir) => join(tmp, dir, "worker.js"))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return bundles[0] && readFileSync(bundles[0], "utf8");
}

async function costCase(
  targets: RuntimeTargets,
  file: DataFile,
  mode: ClientMode,
  upload: (path: string, mode: ClientMode, label: string) => Promise<{ url: string; requests: number }>,
): Promise<CostCase> {
  execFileSync("sync");
  expectStatus(await send(`${targets.edge.url}/__bench/ops`, "DELETE", {}), 204, "DELETE /__bench/ops");
  await targets.isolate.startCpuProfile();
  const watch = await watched(targets.runtime, () => upload(file.path, mode, `cost-${mode.chunkSize ?? 0}`), targets.isolate);
  const profile = await targets.isolate.stopCpuProfile();
  const bundle = profile && runningBundle(targets.edge.sourceDir);
  if (profile && !bundle) throw new Error(`no bundle of wrangler dev in ${join(targets.edge.sourceDir, "bench", ".wrangler", "tmp")}: the CPU profile cannot be split between the Worker and the Durable Object`);
  const cpu = profile && bundle ? attributeCpuProfile(profile, bundleFrameSide(bundle, "worker.js")) : undefined;
  checkRuntime(targets, `the cost case ${mode.label}`);
  const { url, requests } = watch.value;
  const id = uploadIdOf(url);
  const counts = await countsOf(targets.edge.url, id);
  const ops = opsOf(counts, id);
  if (ops.r2.createMultipartUpload?.n !== 1) throw new RuntimeReloaded(`the counts of the cost case ${mode.label} are incomplete: ${JSON.stringify(ops.r2)}`);
  const key = `uploads/${id}`;
  const stored = await sha256OnDisk(targets.edge.persistDir, key);
  if (stored) {
    if (stored.size !== file.size || stored.sha256 !== file.sha256) throw new Error(`cost case ${mode.label}: R2 holds ${stored.size} bytes with sha256 ${stored.sha256}, expected ${file.sha256}`);
  } else {
    await verify(url, file.sha256, file.size, `cost case ${mode.label}`);
  }
  await terminate(url);
  const storage = ops.storage ?? {};
  const plain = (byKind: Record<string, { n: number }>) => Object.fromEntries(Object.entries(byKind).map(([kind, c]) => [kind, c.n]));
  const result: CostCase = {
    size: file.size,
    mode: { label: mode.label, ...(mode.chunkSize && { chunkSize: mode.chunkSize }) },
    seconds: watch.seconds,
    counts: {
      bytes: file.size,
      r2ClassA: sumOf(ops.r2, (kind) => r2Class(kind) === "A"),
      r2ClassB: sumOf(ops.r2, (kind) => r2Class(kind) === "B"),
      workerRequests: requests,
      workerCpuMs: cpu?.worker ?? watch.use.serverCpu * 1000,
      durableObjectRequests: sumOf(ops.durableObject) + counts.alarms,
      durableObjectActiveSeconds: Object.values(ops.durableObject).reduce((sum, c) => sum + c.ms, 0) / 1000,
      rowsRead: storage["rows read"]?.n ?? 0,
      rowsWritten: (storage["rows written"]?.n ?? 0) + (storage.setAlarm?.n ?? 0),
      parts: ops.r2.uploadPart?.n ?? 0,
    },
    cpu: {
      ...(cpu && { isolate: cpu, isolateJavascriptMs: cpu.worker + cpu.durableObject + cpu.unattributed + cpu.garbageCollector }),
      runtimeProcessesSeconds: watch.use.serverCpu,
    },
    raw: { r2: plain(ops.r2), durableObject: plain(ops.durableObject), storage: plain(storage), alarms: counts.alarms },
  };
  log(`  ${mode.label}: ${watch.seconds.toFixed(2)} s, ${JSON.stringify(result.counts)}, profile ${JSON.stringify(cpu)}`);
  return result;
}

/** Prints the tables and writes latest.md, throughput.svg and the raw measurements, latest.json. */
async function writeResults(results: BenchResults): Promise<void> {
  const report = renderReport(results, results.downloads && renderDownloads(results.downloads), results.cost && renderCost(results.cost, costModule));
  log(`\n${report.terminal}\n`);
  await mkdir(RESULTS, { recursive: true });
  await writeFile(join(RESULTS, "latest.md"), report.markdown);
  await writeFile(join(RESULTS, "throughput.svg"), report.svg);
  // Microseconds and bytes are plenty: keeps the file small (the latency samples are most of it).
  const rounded = (_key: string, value: unknown) => (typeof value === "number" && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value);
  await writeFile(join(RESULTS, "latest.json"), `${JSON.stringify(results, rounded)}\n`);
  log("written to bench/results/latest.md, throughput.svg and latest.json");
}

function gitDescription(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "bench/worker.ts"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head} with uncommitted changes in src/ or bench/worker.ts` : head;
  } catch {
    return "unknown";
  }
}

function peerVersions(): string {
  const version = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
    } catch {
      return "?";
    }
  };
  return `@tus/server ${version("@tus/server")}, @tus/file-store ${version("@tus/file-store")}, on ${process.version}; clients: tus-js-client ${version("tus-js-client")}`;
}

/* ---------- --capacity: the upload index under many uploads at once (bench/capacity.ts) ---------- */

const CAPACITY_CONFIG = "bench/wrangler.capacity.toml";
/** Ports the capacity gateway may listen on (kept apart from the tests' 10000–29999). */
const CAPACITY_PORTS = [9700, 9799] as const;
const CAPACITY_CONNECTIONS = positive("BENCH_CAPACITY_CONNECTIONS", 128);
/** BENCH_CAPACITY_LOG=<file>: every line of the gateway's output is appended there too (it is large at debug level). */
const CAPACITY_LOG = process.env.BENCH_CAPACITY_LOG;
/** Far above what any scenario reaches: every creation reserves, none is refused. */
const CAPACITY_QUOTA = { SUBJECT_MAX_ACTIVE_UPLOADS: "100000" };

/** A wrangler dev of bench/wrangler.capacity.toml whose every output line is kept, timed. */
interface CapacityGateway {
  origin: string;
  lines: GatewayLine[];
  runtime: Processes;
  stop(): Promise<void>;
}

async function canListenOn(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}

/**
 * Starts wrangler dev on `snapshot` (a copy of one commit's src/ and
 * migrations/ with the capacity configuration), after applying the D1
 * migrations to its state directory as `npm start` does (scripts/start.ts).
 * Not test/e2e/server.ts's startServer: that one runs wrangler with
 * `--log-level warn`, which drops the Worker's own info and debug lines that
 * the capacity bench counts, keeps only the last 64 KiB of output, and picks
 * ports where the test suites run. Every line goes through npm start's
 * filter (scripts/local-log-lines.ts), which unwraps the gateway's warnings
 * and errors into plain JSON lines.
 */
async function startCapacityGateway(snapshot: string, persistDir: string, vars: Record<string, string>): Promise<CapacityGateway> {
  const bin = join(ROOT, "node_modules", ".bin");
  const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}`, WRANGLER_SEND_METRICS: "false", WRANGLER_LOG: "log", WRANGLER_WRITE_LOGS: "false", NO_COLOR: "1", CI: "1" };
  const config = join(snapshot, CAPACITY_CONFIG);
  execFileSync(join(bin, "wrangler"), ["d1", "migrations", "apply", "INDEX", "--local", "--config", config, "--persist-to", persistDir], { cwd: snapshot, env, stdio: "pipe", timeout: 120_000 });
  let port: number | undefined;
  for (let candidate = CAPACITY_PORTS[0]; candidate <= CAPACITY_PORTS[1] && port === undefined; candidate++) if (await canListenOn(candidate)) port = candidate;
  if (port === undefined) throw new Error(`no free port in ${CAPACITY_PORTS.join("–")}`);
  const origin = `http://127.0.0.1:${port}`;
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistDir, "--show-interactive-dev-session=false", "--config", config];
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);
  const child = spawn(join(bin, "wrangler"), args, { cwd: snapshot, detached: true, stdio: ["ignore", "pipe", "pipe"], env });
  const lines: GatewayLine[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    const filter = createLocalLogFilter();
    createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
      const at = Date.now();
      const shown = filter(line);
      if (!shown) return;
      lines.push({ at, text: shown.text });
      if (CAPACITY_LOG) appendFileSync(CAPACITY_LOG, `${shown.text}\n`);
    });
  }
  let exited = false;
  child.once("exit", () => (exited = true));
  const stop = async () => {
    if (!exited) await stopGroup(child.pid!, "SIGTERM");
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = await fetch(`${origin}/files/`, { method: "OPTIONS", signal: AbortSignal.timeout(2000) }).then(
      async (response) => (await response.arrayBuffer(), response.ok),
      () => false,
    );
    if (ready) break;
    if (exited || Date.now() > deadline || lines.some((line) => /Build failed/.test(line.text))) {
      await stop();
      throw new Error(`wrangler dev (${CAPACITY_CONFIG}) did not start:\n${lines.map((line) => line.text).join("\n").slice(-4000)}`);
    }
    await sleep(250);
  }
  return { origin, lines, runtime: wranglerRuntime(persistDir), stop };
}

/** One request, with how long it waited in the agent for a connection before it was sent (`waitedMs`). */
function sendTimed(url: string, wire: import("./capacity").CapacityRequest, agent: Agent): Promise<import("./capacity").CapacityReply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const body = wire.body && Buffer.from(wire.body.buffer, wire.body.byteOffset, wire.body.byteLength);
    let waitedMs = 0;
    const req = request(url, { method: wire.method, agent, headers: { ...wire.headers, ...(body && { "Content-Length": String(body.length) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), waitedMs }));
      res.on("error", reject);
    });
    req.once("socket", () => (waitedMs = performance.now() - started));
    req.on("error", reject);
    req.end(body);
  });
}

/** The capacity configuration for a commit: without the blocks that name SubjectIndex if the commit has none. */
function capacityConfig(subjectIndex: boolean): string {
  const text = readFileSync(join(ROOT, CAPACITY_CONFIG), "utf8");
  return subjectIndex ? text : text.split(/\n\s*\n/).filter((block) => !block.includes('"SubjectIndex"')).join("\n\n");
}

/** Both scenarios on a fresh gateway built from `rev`'s src/ and migrations/ (git archive: edits in the work tree play no part). */
async function capacityOf(commit: string, quota: boolean): Promise<CapacityRun> {
  await mkdir(join(ROOT, ".wrangler"), { recursive: true });
  const snapshot = await mkdtemp(join(ROOT, ".wrangler", "capacity-src-"));
  const persistDir = await mkdtemp(join(tmpdir(), "tus-edge-capacity-"));
  const agents = { uploads: new Agent({ keepAlive: true, maxSockets: CAPACITY_CONNECTIONS }), watch: new Agent({ keepAlive: true, maxSockets: 32 }) };
  let gateway: CapacityGateway | undefined;
  const stopAll = async () => {
    agents.uploads.destroy();
    agents.watch.destroy();
    await gateway?.stop();
    await rm(snapshot, { recursive: true, force: true });
    await rm(persistDir, { recursive: true, force: true });
  };
  const interrupted = () => void stopAll().finally(() => process.exit(130));
  process.once("SIGINT", interrupted);
  try {
    execFileSync("tar", ["-x", "-C", snapshot], { input: execFileSync("git", ["archive", commit, "src", "migrations"], { cwd: ROOT, maxBuffer: 256 * MiB }) });
    const subjectIndex = readFileSync(join(snapshot, "src", "index.ts"), "utf8").includes("SubjectIndex");
    await mkdir(join(snapshot, "bench"), { recursive: true });
    await writeFile(join(snapshot, CAPACITY_CONFIG), capacityConfig(subjectIndex));
    const vars = subjectIndex && quota ? { ...CAPACITY_QUOTA } : {};
    log(`starting wrangler dev (${CAPACITY_CONFIG}) on commit ${commit}${subjectIndex ? "" : " (no subject index: the single D1 index)"} …`);
    gateway = await startCapacityGateway(snapshot, persistDir, { ...vars, JWT_SECRET: HS256_SECRET });
    const runtime = gateway.runtime;
    log(`  ${gateway.origin} (workerd pids ${runtime.pids.join(", ")})`);
    // Tokens live ten minutes (test/lib/tokens.ts): one per subject and claims, made again after five.
    const tokens = new Map<string, { token: string; until: number }>();
    const ctx: import("./capacity").CapacityContext = {
      origin: gateway.origin,
      basePath: "/files/",
      adminPath: "/admin/uploads/",
      connections: CAPACITY_CONNECTIONS,
      send: (url, wire, lane) => sendTimed(url, wire, agents[lane]),
      tus,
      token(subject, claims = {}) {
        const key = `${subject} ${JSON.stringify(claims)}`;
        const cached = tokens.get(key);
        if (cached && cached.until > Date.now()) return cached.token;
        const token = tokenFor(subject, claims);
        tokens.set(key, { token, until: Date.now() + 5 * 60_000 });
        return token;
      },
      lines: gateway.lines,
      log,
      serverCpu: () => runtime.cpu(),
    };
    // Untimed: bundling, the isolate's start and the first objects of each class.
    await capacityModule.capacityScenario({ ...ctx, log: () => {} }, { key: "warm-up", label: "warm-up", subjects: 2, uploadsPerSubject: 5 });
    const results = [];
    for (const scenario of capacityModule.scenarios(QUICK)) {
      await sleep(3000);
      results.push(await capacityModule.capacityScenario(ctx, scenario));
      checkCapacityRuntime(persistDir, runtime);
    }
    return { commit, subjectIndex, vars, scenarios: results };
  } finally {
    process.removeListener("SIGINT", interrupted);
    await stopAll();
  }
}

/** The numbers are void if wrangler dev replaced its runtime meanwhile (it does when files it watches change). */
function checkCapacityRuntime(persistDir: string, runtime: Processes): void {
  const now = wranglerRuntime(persistDir);
  if (now.pids.join() !== runtime.pids.join()) throw new Error(`wrangler dev replaced its workerd processes during the capacity run (${runtime.pids.join()} → ${now.pids.join()}): run it again`);
}

/** `--capacity`: bench/capacity.ts's scenarios on BENCH_CAPACITY_REV (and BENCH_CAPACITY_BASELINE), into bench/results/capacity.md. */
async function capacityOnly(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  // Resolved once: a commit landing meanwhile does not change what the runs measure.
  const commitOf = (rev: string) => execFileSync("git", ["rev-parse", "--short", rev], { cwd: ROOT, encoding: "utf8" }).trim();
  const measured = commitOf(process.env.BENCH_CAPACITY_REV ?? "HEAD");
  const quota = process.env.BENCH_CAPACITY_QUOTA ?? "on";
  if (!["on", "off", "both"].includes(quota)) throw new Error(`BENCH_CAPACITY_QUOTA must be on, off or both, not ${quota}`);
  const plan = [
    ...(quota !== "off" ? [{ commit: measured, quota: true }] : []),
    ...(quota !== "on" ? [{ commit: measured, quota: false }] : []),
    ...(process.env.BENCH_CAPACITY_BASELINE ? [{ commit: commitOf(process.env.BENCH_CAPACITY_BASELINE), quota: false }] : []),
  ];
  const runs: CapacityRun[] = [];
  let markdown = "";
  for (const { commit, quota } of plan) {
    runs.push(await capacityOf(commit, quota));
    // Written after each commit's run, so that a later one's failure keeps the earlier figures.
    markdown = capacityModule.renderCapacity({
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: `${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}`,
      load: { start: loadStart, end: loadavg() },
      quick: QUICK,
      connections: CAPACITY_CONNECTIONS,
      runs,
      notes: [],
    });
    await mkdir(RESULTS, { recursive: true });
    await writeFile(join(RESULTS, "capacity.md"), markdown);
  }
  log(`\n${markdown}\nwritten to bench/results/capacity.md`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

// `--render`: only render the report again from bench/results/latest.json (after a change to bench/report.ts).
if (process.argv.includes("--render")) await writeResults(JSON.parse(readFileSync(join(RESULTS, "latest.json"), "utf8")) as BenchResults);
else if (DOWNLOADS_ONLY)
  await onePhaseOnly("--downloads", `downloads (${DOWNLOAD_SIZES.map(sizeLabel).join(", ")})`, async (targets, work, results) => {
    results.downloads = await downloadsPhase(targets, work);
  });
else if (COST_ONLY)
  await onePhaseOnly("--cost", "cost per terabyte", async (targets, work, results) => {
    results.cost = await costPhase(targets, work);
  });
else if (CAPACITY_ONLY) await capacityOnly();
else if (DO_CALLS_ONLY)
  await onePhaseOnly("--do-calls", "Durable Object calls per client request", async (targets, _work, results) => {
    results.doCalls = await doCallsPhase(targets.edge.url, targets.edge.endpoint);
  });
else await main();
