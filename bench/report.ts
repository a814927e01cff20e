/**
 * The benchmark's report: the terminal tables, bench/results/latest.md and
 * bench/results/throughput.svg, from the measurements bench/run.ts made.
 *
 * Pure functions of the results (no I/O, no Node or Workers APIs), so this
 * file type-checks under either configuration. The download cases have a
 * report of their own (bench/download-report.ts), placed in this one.
 */
import type { CostResults } from "./cost-report";
import type { DownloadResults } from "./download-report";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** tus-edge's target, as a fraction of the straight R2 put, at 8 MiB chunks and above. */
export const TARGET_RATIO = 0.85;

export type ServerName = "tus-edge" | "@tus/server";
export const LIMIT = "R2 put (limit)";
/** The limit for a chunked client: the same chunks, one request each, as parts of one R2 multipart upload. */
export const CHUNKED_LIMIT = "R2 multipart, same chunks (limit)";
/** tus-edge with R2 replaced by the bench Worker's sink: the gateway alone. */
export const SINK = "tus-edge, R2 discarded";
/** A body moved from the Worker into a Durable Object and dropped: the runtime's own memory growth, no tus code. */
export const FLOOR = "runtime floor (body into a Durable Object, dropped)";
export type CaseServer = ServerName | typeof LIMIT | typeof CHUNKED_LIMIT | typeof SINK | typeof FLOOR;

export interface ClientMode {
  label: string;
  /** tus-js-client's chunkSize; undefined: the whole file in one PATCH. */
  chunkSize: number | undefined;
}

export interface OpCount {
  n: number;
  ms: number;
}

/** What the bench Worker counted for one upload (bench/worker.ts). */
export interface UploadOps {
  /** R2 operations on the upload's object key, by kind. */
  r2: Record<string, OpCount>;
  /** Durable Object requests the Worker made for the upload, by method. */
  durableObject: Record<string, OpCount>;
  /** The upload object's storage calls: `sql INSERT`…, `rows written`, `setAlarm`, `deleteAlarm`, `transactionSync`. */
  storage?: Record<string, OpCount>;
}

/** What the server's processes and this (client) process used while one upload or download ran (run.ts `watched`). */
export interface ResourceUse {
  /** Resident memory of the server's processes just before, bytes. */
  idleRss: number;
  /** Highest resident memory sampled (every 100 ms) during it, bytes. */
  peakRss: number;
  /**
   * The bench Worker's isolate (the gateway's Worker and its Durable Objects;
   * cases in wrangler dev only): JavaScript heap in use plus ArrayBuffer
   * backing stores, from workerd's inspector, lowest of three samples before
   * and highest sampled during, bytes (bench/isolate-memory.ts).
   */
  idleIsolate?: number;
  peakIsolate?: number;
  /** CPU time the server's processes used during it, seconds. */
  serverCpu: number;
  /** CPU time this (client) process used during it, seconds. */
  clientCpu: number;
}

export interface Measurement extends ResourceUse {
  seconds: number;
  /** Requests the client made (POST, PATCH…). */
  requests: number;
  ops?: UploadOps;
  /** Parts of the multipart object R2 stored (1 for a single put), counted in local R2's index when verified. */
  storedParts?: number;
}

export interface ThroughputResult {
  size: number;
  server: CaseServer;
  /** Undefined for the limit, which is one PUT. */
  mode: ClientMode | undefined;
  /** One per round, in round order. */
  runs: Measurement[];
}

export type LatencyKind = "no-op Worker route (floor)" | "POST (creation)" | "HEAD" | "PATCH 1 KiB";

export interface LatencyResult {
  server: ServerName;
  kind: LatencyKind;
  /** Milliseconds, one per request. */
  samples: number[];
}

/** One kind of client request and the Durable Object calls the Worker made for it, each time it was sent. */
export interface DoCallsRow {
  dialect: "tus" | "IETF";
  kind: string;
  /** The status of the first of them. */
  status: number;
  /** Per request sent: the Worker's Durable Object calls by method (`fetch`, `create`, `peek` …). */
  samples: Array<Record<string, number>>;
}

export interface DoCallsResult {
  /** The interop version of the IETF requests. */
  ietfVersion: number;
  repeats: number;
  rows: DoCallsRow[];
  /** When and at which commit they were counted (`--do-calls` counts them apart from a full run). */
  measuredAt: string;
  commit: string;
}

export interface ConcurrencyResult extends ResourceUse {
  server: ServerName;
  uploads: number;
  size: number;
  seconds: number;
  failed: number;
  firstError?: string;
  /** Summed over the uploads that were counted (tus-edge only). */
  ops?: UploadOps;
  countedUploads: number;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  rounds: Record<number, number>;
  partSize: number;
  machine: { cpus: string; node: string; loadStart: number[]; loadEnd: number[]; commit: string };
  runtimeProcesses: string;
  peerVersions: string;
  throughput: ThroughputResult[];
  /** tus-edge over the sink, one round per size and mode. */
  sink: ThroughputResult[];
  /** The runtime floor, one round per size, then more uploads of the largest size on the same runtime (absent in results of earlier versions). */
  floor?: ThroughputResult[];
  latency: LatencyResult[];
  latencyRequests: number;
  /** Durable Object calls per client request (absent in results of earlier versions; `--do-calls` adds them to a full run's). */
  doCalls?: DoCallsResult;
  concurrency: ConcurrencyResult[];
  isolateCheck: string;
  notes: string[];
  /** The download cases (absent in results of earlier versions; `--downloads` adds them to a full run's). */
  downloads?: DownloadResults;
  /** What Cloudflare would bill per terabyte (absent in results of earlier versions; `--cost` adds it to a full run's). */
  cost?: CostResults;
}

/* ---------- numbers ---------- */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const mbps = (size: number, seconds: number) => size / 1e6 / seconds;
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
export const sizeLabel = (size: number) => (size >= GiB && size % GiB === 0 ? `${size / GiB} GiB` : `${(size / MiB).toFixed(0)} MiB`);
const caseLabel = (r: Pick<ThroughputResult, "server" | "mode">) => (r.mode ? `${r.server}, ${r.mode.label}` : r.server);

/** Requests to R2 that are billed as writes (class A) and reads (class B); the rest are free or no request at all. */
const R2_WRITES = ["put", "createMultipartUpload", "uploadPart", "complete", "list"];
const R2_READS = ["head", "get"];
const r2Writes = (ops: UploadOps) => R2_WRITES.reduce((sum, kind) => sum + (ops.r2[kind]?.n ?? 0), 0);
const r2Reads = (ops: UploadOps) => R2_READS.reduce((sum, kind) => sum + (ops.r2[kind]?.n ?? 0), 0);
const doRequests = (ops: UploadOps) => Object.values(ops.durableObject).reduce((sum, c) => sum + c.n, 0);
const storageN = (ops: UploadOps, kind: string) => ops.storage?.[kind]?.n ?? 0;
const sqlWrites = (ops: UploadOps) => storageN(ops, "sql INSERT") + storageN(ops, "sql UPDATE") + storageN(ops, "sql DELETE");
const storageText = (ops: UploadOps) =>
  ops.storage ? `rows written ${storageN(ops, "rows written")}, write statements ${sqlWrites(ops)}, setAlarm ${storageN(ops, "setAlarm")}` : "—";
const opsText = (byKind: Record<string, OpCount>, order: string[]) =>
  Object.entries(byKind)
    .sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99))
    .map(([kind, c]) => `${kind} ${c.n}`)
    .join(", ");
const R2_ORDER = ["createMultipartUpload", "uploadPart", "complete", "put", "head", "get", "delete", "abort", "list", "resumeMultipartUpload"];
const DO_ORDER = ["create", "fetch", "info", "peek", "terminate"];
const sameOps = (a: UploadOps | undefined, b: UploadOps | undefined) => {
  const shape = (ops: UploadOps | undefined) =>
    ops && JSON.stringify([Object.entries(ops.r2).map(([k, c]) => [k, c.n]).sort(), Object.entries(ops.durableObject).map(([k, c]) => [k, c.n]).sort()]);
  return shape(a) === shape(b);
};

/* ---------- tables ---------- */

function table(header: string[], rows: (string | number)[][]): string {
  const lines = [header, header.map((h) => "-".repeat(Math.max(3, h.length))), ...rows.map((row) => row.map(String))];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

interface ThroughputRow {
  size: number;
  mode: ClientMode;
  edge: ThroughputResult;
  limit: ThroughputResult;
  /** For a chunked client: the same chunks straight into R2 as multipart parts. */
  chunkedLimit: ThroughputResult | undefined;
  peer: ThroughputResult | undefined;
  /** Median over rounds of limit time / tus-edge time within the same round. */
  pairedRatio: number;
  /** Best limit time / best tus-edge time. */
  bestRatio: number;
  /** The paired ratio against the same-chunks limit. */
  chunkedPairedRatio: number | undefined;
}

function throughputRows(results: BenchResults): ThroughputRow[] {
  const rows: ThroughputRow[] = [];
  for (const edge of results.throughput.filter((r) => r.server === "tus-edge")) {
    const limit = results.throughput.find((r) => r.server === LIMIT && r.size === edge.size)!;
    const sameMode = (server: CaseServer) => results.throughput.find((r) => r.server === server && r.size === edge.size && r.mode?.label === edge.mode!.label);
    const peer = sameMode("@tus/server");
    const chunkedLimit = sameMode(CHUNKED_LIMIT);
    const paired = (reference: ThroughputResult) => median(edge.runs.map((run, i) => reference.runs[i]!.seconds / run.seconds));
    const best = (r: ThroughputResult) => Math.min(...r.runs.map((m) => m.seconds));
    rows.push({
      size: edge.size,
      mode: edge.mode!,
      edge,
      limit,
      chunkedLimit,
      peer,
      pairedRatio: paired(limit),
      bestRatio: best(limit) / best(edge),
      chunkedPairedRatio: chunkedLimit && paired(chunkedLimit),
    });
  }
  return rows;
}

const medianSeconds = (r: ThroughputResult) => median(r.runs.map((m) => m.seconds));
const medianMbps = (r: ThroughputResult) => mbps(r.size, medianSeconds(r));
const targetApplies = (mode: ClientMode) => mode.chunkSize === undefined || mode.chunkSize >= 8 * MiB;
const metOrNot = (ratio: number) => (ratio >= TARGET_RATIO ? "met" : "NOT met");
/** `metOrNot` for a table cell, where a miss stands out. */
const metCell = (ratio: number) => (ratio >= TARGET_RATIO ? "met" : "**NOT met**");

function throughputSection(results: BenchResults): { table: string; runs: string; verdict: string[] } {
  const rows = throughputRows(results);
  const summary = table(
    [
      "size",
      "client",
      "tus-edge MB/s",
      "R2 limit MB/s",
      "ratio (paired median)",
      "ratio (best/best)",
      "CPU ratio",
      `≥ ${TARGET_RATIO}`,
      "same-chunks limit MB/s",
      "ratio to it (paired median)",
      `≥ ${TARGET_RATIO}`,
      "@tus/server MB/s",
      "tus-edge ÷ @tus/server",
    ],
    rows.map((r) => [
      sizeLabel(r.size),
      r.mode.label,
      medianMbps(r.edge).toFixed(1),
      medianMbps(r.limit).toFixed(1),
      r.pairedRatio.toFixed(3),
      r.bestRatio.toFixed(3),
      (median(r.limit.runs.map((m) => m.serverCpu)) / median(r.edge.runs.map((m) => m.serverCpu))).toFixed(3),
      targetApplies(r.mode) ? metCell(r.pairedRatio) : "n/a",
      r.chunkedLimit ? medianMbps(r.chunkedLimit).toFixed(1) : "—",
      r.chunkedPairedRatio?.toFixed(3) ?? "—",
      r.chunkedPairedRatio !== undefined && targetApplies(r.mode) ? metCell(r.chunkedPairedRatio) : "—",
      r.peer ? medianMbps(r.peer).toFixed(1) : "—",
      r.peer ? (medianSeconds(r.peer) / medianSeconds(r.edge)).toFixed(2) : "—",
    ]),
  );
  const runs = table(
    ["size", "case", "rounds (s)", "median s", "best s", "median MB/s", "requests", "client CPU s", "server CPU s"],
    results.throughput.map((r) => [
      sizeLabel(r.size),
      caseLabel(r),
      r.runs.map((m) => m.seconds.toFixed(2)).join(", "),
      medianSeconds(r).toFixed(2),
      Math.min(...r.runs.map((m) => m.seconds)).toFixed(2),
      medianMbps(r).toFixed(1),
      r.runs[0]!.requests,
      median(r.runs.map((m) => m.clientCpu)).toFixed(2),
      median(r.runs.map((m) => m.serverCpu)).toFixed(2),
    ]),
  );
  const verdict = rows
    .filter((r) => targetApplies(r.mode))
    .map(
      (r) =>
        `tus-edge ${sizeLabel(r.size)}, ${r.mode.label}: ${r.pairedRatio.toFixed(3)} of the one-put limit (best/best ${r.bestRatio.toFixed(3)}) → ${metOrNot(r.pairedRatio)}` +
        (r.chunkedPairedRatio === undefined ? "" : `; ${r.chunkedPairedRatio.toFixed(3)} of the same-chunks limit → ${metOrNot(r.chunkedPairedRatio)}`),
    );
  return { table: summary, runs, verdict };
}

function latencySection(results: BenchResults): string {
  const kinds: LatencyKind[] = ["no-op Worker route (floor)", "POST (creation)", "HEAD", "PATCH 1 KiB"];
  const servers: ServerName[] = ["tus-edge", "@tus/server"];
  const cell = (server: ServerName, kind: LatencyKind, p: number | "mean") => {
    const found = results.latency.find((l) => l.server === server && l.kind === kind);
    if (!found) return "—";
    const value = p === "mean" ? found.samples.reduce((a, b) => a + b, 0) / found.samples.length : percentile(found.samples, p);
    return value.toFixed(2);
  };
  return table(
    ["request", ...servers.flatMap((s) => [`${s} p50 ms`, `${s} p99 ms`, `${s} mean ms`])],
    kinds.map((kind) => [kind, ...servers.flatMap((s) => [cell(s, kind, 50), cell(s, kind, 99), cell(s, kind, "mean")])]),
  );
}

/** One row per request kind: the calls per request (a range if they differed between repeats), and by method. */
function doCallsSection(doCalls: DoCallsResult): string {
  const total = (calls: Record<string, number>) => Object.values(calls).reduce((a, b) => a + b, 0);
  return table(
    ["dialect", "client request", "status", "Durable Object calls", "by method"],
    doCalls.rows.map((row) => {
      const totals = row.samples.map(total);
      const [low, high] = [Math.min(...totals), Math.max(...totals)];
      const methods = [...new Set(row.samples.map((calls) => Object.entries(calls).map(([method, n]) => `${method} ${n}`).join(", ")))];
      return [row.dialect, row.kind, String(row.status), low === high ? String(low) : `${low}–${high}`, methods.map((m) => m || "none").join(" / ")];
    }),
  );
}

function concurrencySection(results: BenchResults): string {
  return table(
    ["server", "uploads", "total s", "MB/s", "uploads/s", "failed", "runtime peak − idle MiB", "isolate peak − idle MiB", "server CPU s", "R2 writes per upload", "DO requests per upload", "DO rows written per upload"],
    results.concurrency.map((c) => {
      const ok = c.uploads - c.failed;
      return [
        c.server,
        `${c.uploads} × ${sizeLabel(c.size)}`,
        c.seconds.toFixed(2),
        mbps(ok * c.size, c.seconds).toFixed(1),
        (ok / c.seconds).toFixed(1),
        c.failed ? `**${c.failed}** (${c.firstError ?? ""})` : "0",
        mib(c.peakRss - c.idleRss),
        isolateDelta(c) === undefined ? "—" : mib(isolateDelta(c)!),
        c.serverCpu.toFixed(2),
        c.ops && c.countedUploads ? (r2Writes(c.ops) / c.countedUploads).toFixed(2) : "—",
        c.ops && c.countedUploads ? (doRequests(c.ops) / c.countedUploads).toFixed(2) : "—",
        c.ops && c.countedUploads ? (storageN(c.ops, "rows written") / c.countedUploads).toFixed(1) : "—",
      ];
    }),
  );
}

/**
 * Memory figures come from each case's first round, when (for the runtime)
 * wrangler dev had just been restarted and warmed up by one small upload of
 * the same kind, so both file sizes start from the same state.
 */
const isolateDelta = (m: Pick<Measurement, "idleIsolate" | "peakIsolate">) =>
  m.idleIsolate === undefined || m.peakIsolate === undefined ? undefined : m.peakIsolate - m.idleIsolate;
const signed = (bytes: number) => `${bytes >= 0 ? "+" : ""}${mib(bytes)}`;

function memorySection(results: BenchResults): { table: string; verdict: string[] } {
  const first = (r: ThroughputResult) => r.runs[0]!;
  const delta = (m: Measurement) => m.peakRss - m.idleRss;
  const rows = results.throughput.map((r) => [
    caseLabel(r),
    sizeLabel(r.size),
    r.server === "@tus/server" ? "peer node process" : "workerd (wrangler dev)",
    mib(first(r).idleRss),
    mib(first(r).peakRss),
    mib(delta(first(r))),
    r.runs.length > 1 ? mib(Math.max(...r.runs.slice(1).map(delta))) : "—",
    isolateDelta(first(r)) === undefined ? "—" : mib(first(r).idleIsolate!),
    isolateDelta(first(r)) === undefined ? "—" : mib(isolateDelta(first(r))!),
    r.runs.length > 1 && r.runs.every((m) => isolateDelta(m) !== undefined) ? mib(Math.max(...r.runs.map((m) => isolateDelta(m)!))) : "—",
    ((median(r.runs.map((m) => m.serverCpu)) * GiB) / r.size).toFixed(1),
  ]);
  const verdict: string[] = [];
  const sizes = [...new Set(results.throughput.map((r) => r.size))].sort((a, b) => a - b);
  if (sizes.length < 2) {
    verdict.push("Only one file size was run (--quick): the size-independence target needs the 1 GiB uploads.");
  } else {
    const [small, large] = [sizes[0]!, sizes[sizes.length - 1]!];
    const target = `(target: within one part, ${mib(results.partSize)} MiB)`;
    for (const r of results.throughput.filter((t) => t.size === large)) {
      const other = results.throughput.find((t) => t.server === r.server && t.mode?.label === r.mode?.label && t.size === small)!;
      const growth = delta(first(r)) - delta(first(other));
      const judged = r.server === "tus-edge";
      verdict.push(
        `${caseLabel(r)}: resident peak − idle ${mib(delta(first(r)))} MiB at ${sizeLabel(large)} vs ${mib(delta(first(other)))} MiB at ${sizeLabel(small)} (${signed(growth)} MiB)` +
          (judged ? ` → ${growth <= results.partSize ? "met" : "NOT met"} ${target}` : " (reference)"),
      );
    }
    // The isolate: the largest peak − idle over all rounds of each size, so one
    // lucky garbage collection cannot pass the target.
    const worstIsolate = (r: ThroughputResult) => Math.max(...r.runs.map((m) => isolateDelta(m) ?? NaN));
    for (const r of results.throughput.filter((t) => t.size === large && t.server === "tus-edge")) {
      const other = results.throughput.find((t) => t.server === r.server && t.mode?.label === r.mode?.label && t.size === small)!;
      const [atLarge, atSmall] = [worstIsolate(r), worstIsolate(other)];
      if (Number.isNaN(atLarge) || Number.isNaN(atSmall)) continue;
      verdict.push(
        `${caseLabel(r)}: the gateway's isolate, peak − idle ${mib(atLarge)} MiB at ${sizeLabel(large)} vs ${mib(atSmall)} MiB at ${sizeLabel(small)} (${signed(atLarge - atSmall)} MiB) → ${atLarge - atSmall <= results.partSize ? "met" : "NOT met"} ${target}`,
      );
    }
  }
  return {
    table: table(
      [
        "case",
        "size",
        "processes",
        "idle MiB",
        "peak MiB",
        "peak − idle MiB",
        "peak − idle MiB, later rounds (max)",
        "isolate idle MiB",
        "isolate peak − idle MiB",
        "isolate peak − idle MiB, all rounds (max)",
        "server CPU s per GiB (median)",
      ],
      rows,
    ),
    verdict,
  };
}

function costSection(results: BenchResults): { table: string; perGiB: string; verdict: string[]; time: string } {
  const counted = results.throughput.filter((r) => r.runs[0]?.ops);
  const verdict: string[] = [];
  const rows = counted.map((r) => {
    const ops = r.runs[0]!.ops!;
    // The parts of the object R2 holds, where verification counted them; the
    // part size follows the client's first PATCH, so it is not always PART_SIZE.
    const parts = r.runs[0]!.storedParts ?? Math.ceil(r.size / results.partSize);
    const writes = r2Writes(ops);
    const consistent = r.runs.every((m) => sameOps(m.ops, ops));
    if (r.server === "tus-edge") {
      verdict.push(`tus-edge ${sizeLabel(r.size)}, ${r.mode!.label}: ${writes} R2 writes for ${parts} parts → ${writes <= parts + 2 ? "met" : "NOT met"} (target ${parts + 2})`);
    }
    return [
      sizeLabel(r.size),
      caseLabel(r),
      r.runs[0]!.requests,
      opsText(ops.r2, R2_ORDER) + (consistent ? "" : " (differed between rounds)"),
      writes,
      r.server === "tus-edge" ? `${parts} + 2` : "—",
      opsText(ops.durableObject, DO_ORDER) || "—",
      storageText(ops),
    ];
  });
  const perGiBRows = counted.map((r) => {
    const ops = r.runs[0]!.ops!;
    const scale = GiB / r.size;
    return [
      sizeLabel(r.size),
      caseLabel(r),
      (r2Writes(ops) * scale).toFixed(1),
      (r2Reads(ops) * scale).toFixed(1),
      (doRequests(ops) * scale).toFixed(1),
      ops.storage ? (storageN(ops, "rows written") * scale).toFixed(1) : "—",
      ops.storage ? (storageN(ops, "setAlarm") * scale).toFixed(1) : "—",
      (r.runs[0]!.requests * scale).toFixed(1),
    ];
  });
  // Where the wall time of a tus-edge upload goes, from the wrapper's timings.
  const timeRows = counted.map((r) => {
    const m = r.runs[0]!;
    const ops = m.ops!;
    const t = (kind: string) => (ops.r2[kind]?.ms ?? 0) / 1000;
    const awaitingR2 = t("uploadPart") + t("put") + t("complete") + t("createMultipartUpload");
    return [
      sizeLabel(r.size),
      caseLabel(r),
      m.seconds.toFixed(2),
      `${t("uploadPart").toFixed(2)} (${ops.r2.uploadPart?.n ?? 0})`,
      t("put").toFixed(2),
      (t("complete") + t("createMultipartUpload")).toFixed(2),
      `${((awaitingR2 / m.seconds) * 100).toFixed(0)} %`,
      (m.seconds - awaitingR2).toFixed(2),
      m.serverCpu.toFixed(2),
    ];
  });
  return {
    table: table(
      ["size", "case", "client requests", "R2 operations per upload (by kind)", "R2 writes (class A)", "target", "Durable Object requests per upload", "Durable Object storage per upload"],
      rows,
    ),
    perGiB: table(["size", "case", "R2 writes per GiB", "R2 reads per GiB", "DO requests per GiB", "DO rows written per GiB", "setAlarm per GiB", "client requests per GiB"], perGiBRows),
    verdict,
    time: table(
      ["size", "case", "wall s", "awaiting uploadPart s (parts)", "awaiting put s", "awaiting create+complete s", "share awaiting R2", "rest s (reading the body, copying, SQLite)", "server CPU s"],
      timeRows,
    ),
  };
}

/**
 * tus-edge over the sink: the gateway's own speed, CPU and memory, without
 * the local R2 simulator (which costs ~40 CPU-seconds per GiB here).
 */
function sinkSection(results: BenchResults): { table: string; verdict: string[] } {
  const first = (r: ThroughputResult) => r.runs[0]!;
  const delta = (m: Measurement) => m.peakRss - m.idleRss;
  const rows = results.sink.map((r) => {
    const real = results.throughput.find((t) => t.server === "tus-edge" && t.size === r.size && t.mode?.label === r.mode?.label);
    const limit = results.throughput.find((t) => t.server === LIMIT && t.size === r.size);
    return [
      sizeLabel(r.size),
      r.mode!.label,
      mbps(r.size, first(r).seconds).toFixed(1),
      real ? medianMbps(real).toFixed(1) : "—",
      limit ? medianMbps(limit).toFixed(1) : "—",
      ((first(r).serverCpu * GiB) / r.size).toFixed(1),
      real ? ((median(real.runs.map((m) => m.serverCpu)) * GiB) / r.size).toFixed(1) : "—",
      mib(first(r).idleRss),
      mib(first(r).peakRss),
      mib(delta(first(r))),
    ];
  });
  const verdict: string[] = [];
  const sizes = [...new Set(results.sink.map((r) => r.size))].sort((a, b) => a - b);
  if (sizes.length >= 2) {
    const [small, large] = [sizes[0]!, sizes[sizes.length - 1]!];
    const floorAt = (size: number) => results.floor?.find((t) => t.size === size);
    const floorGrowth = floorAt(large) && floorAt(small) ? delta(first(floorAt(large)!)) - delta(first(floorAt(small)!)) : undefined;
    if (floorGrowth !== undefined) {
      verdict.push(
        `${FLOOR}: peak − idle ${mib(delta(first(floorAt(large)!)))} MiB at ${sizeLabel(large)} vs ${mib(delta(first(floorAt(small)!)))} MiB at ${sizeLabel(small)} (${signed(floorGrowth)} MiB): what workerd itself grows by with the bytes streamed`,
      );
      const later = floorAt(large)!.runs.slice(1);
      if (later.length) {
        verdict.push(
          `${FLOOR}, ${later.length} more ${sizeLabel(large)} uploads on the same runtime: peak − idle ${later.map((m) => mib(delta(m))).join(", ")} MiB, idle ${mib(first(floorAt(large)!).idleRss)} → ${later.map((m) => mib(m.idleRss)).join(" → ")} MiB: ${
            delta(later[later.length - 1]!) <= results.partSize ? "the growth ends once the runtime has warmed up (not a leak)" : "the growth goes on"
          }`,
        );
      }
    }
    for (const r of results.sink.filter((t) => t.size === large)) {
      const other = results.sink.find((t) => t.size === small && t.mode?.label === r.mode?.label)!;
      const growth = delta(first(r)) - delta(first(other));
      const own = floorGrowth === undefined ? undefined : growth - floorGrowth;
      verdict.push(
        `the gateway alone, ${r.mode!.label}: peak − idle ${mib(delta(first(r)))} MiB at ${sizeLabel(large)} vs ${mib(delta(first(other)))} MiB at ${sizeLabel(small)} (${signed(growth)} MiB) → ${growth <= results.partSize ? "independent of file size (within one part)" : "grows with file size"}` +
          (own === undefined ? "" : `; beyond the runtime floor's growth: ${signed(own)} MiB → ${own <= results.partSize ? "within one part" : "more than one part"}`),
      );
    }
  }
  return {
    table: table(
      ["size", "client", "tus-edge, R2 discarded MB/s", "tus-edge → R2 MB/s", "R2 limit MB/s", "server CPU s per GiB, R2 discarded", "server CPU s per GiB, → R2", "idle MiB", "peak MiB", "peak − idle MiB"],
      rows,
    ),
    verdict,
  };
}

/* ---------- the chart ---------- */

const COLORS: Record<CaseServer, string> = {
  "tus-edge": "#2563eb",
  [LIMIT]: "#9ca3af",
  [CHUNKED_LIMIT]: "#6b7280",
  "@tus/server": "#f59e0b",
  [SINK]: "#93c5fd",
  [FLOOR]: "#d1d5db",
};

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A grouped bar chart, one group per size and client mode: tus-edge, the R2 limits and @tus/server, MB/s. */
export function throughputSvg(results: BenchResults): string {
  const rows = throughputRows(results);
  const series: CaseServer[] = ["tus-edge", LIMIT, CHUNKED_LIMIT, "@tus/server"];
  const groups = rows.map((r) => ({
    label: [sizeLabel(r.size), r.mode.label],
    ratios: [
      { ratio: r.pairedRatio, of: "of one put" },
      ...(r.chunkedPairedRatio === undefined ? [] : [{ ratio: r.chunkedPairedRatio, of: "of same chunks" }]),
    ],
    values: [medianMbps(r.edge), medianMbps(r.limit), r.chunkedLimit ? medianMbps(r.chunkedLimit) : 0, r.peer ? medianMbps(r.peer) : 0],
  }));
  const maxValue = Math.max(1, ...groups.flatMap((g) => g.values));
  const step = niceStep(maxValue / 5);
  const top = Math.ceil(maxValue / step) * step;
  const bar = 34;
  const gap = 6;
  const groupWidth = series.length * bar + (series.length - 1) * gap + 40;
  const left = 70;
  const plotTop = 100;
  const plotHeight = 300;
  const width = Math.max(720, left + groups.length * groupWidth + 30);
  const height = plotTop + plotHeight + 106;
  const y = (value: number) => plotTop + plotHeight - (value / top) * plotHeight;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">Upload throughput, MB/s (median of rounds; higher is better)</text>`,
    `<text x="${left}" y="42" fill="#555">tus-js-client against tus-edge (local wrangler dev) and @tus/server + @tus/file-store, same machine, same run.</text>`,
    `<text x="${left}" y="58" fill="#555">R2 limits: the same bytes in one straight BUCKET.put, or in the client's chunks as multipart parts, through the same runtime. ${escapeXml(results.finishedAt.slice(0, 16).replace("T", " "))} UTC</text>`,
    `<text x="${left}" y="74" fill="#555">Under each group: tus-edge ÷ each limit, median of per-round ratios (target ${TARGET_RATIO}).</text>`,
  );
  for (let value = 0; value <= top + 1e-9; value += step) {
    out.push(
      `<line x1="${left}" x2="${width - 20}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e7eb"/>`,
      `<text x="${left - 8}" y="${y(value) + 4}" text-anchor="end" fill="#555">${value}</text>`,
    );
  }
  out.push(`<text transform="translate(18 ${plotTop + plotHeight / 2}) rotate(-90)" text-anchor="middle" fill="#555">MB/s</text>`);
  groups.forEach((group, g) => {
    const x0 = left + 20 + g * groupWidth;
    group.values.forEach((value, s) => {
      const x = x0 + s * (bar + gap);
      out.push(
        `<rect x="${x}" y="${y(value)}" width="${bar}" height="${y(0) - y(value)}" fill="${COLORS[series[s]!]}"><title>${escapeXml(series[s]!)}: ${value.toFixed(1)} MB/s</title></rect>`,
        `<text x="${x + bar / 2}" y="${y(value) - 4}" text-anchor="middle" font-size="11">${value ? value.toFixed(0) : "—"}</text>`,
      );
    });
    const centre = x0 + (series.length * bar + (series.length - 1) * gap) / 2;
    out.push(
      `<text x="${centre}" y="${plotTop + plotHeight + 18}" text-anchor="middle" font-weight="bold">${escapeXml(group.label[0]!)}</text>`,
      `<text x="${centre}" y="${plotTop + plotHeight + 34}" text-anchor="middle">${escapeXml(group.label[1]!)}</text>`,
      ...group.ratios.map(
        ({ ratio, of }, i) =>
          `<text x="${centre}" y="${plotTop + plotHeight + 50 + 16 * i}" text-anchor="middle" fill="${ratio >= TARGET_RATIO ? "#15803d" : "#b91c1c"}">${ratio.toFixed(2)} ${of}</text>`,
      ),
    );
  });
  let lx = left;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="${height - 22}" width="12" height="12" fill="${COLORS[s]}"/>`, `<text x="${lx + 18}" y="${height - 12}">${escapeXml(s)}</text>`);
    lx += 30 + s.length * 7;
  }
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/* ---------- the whole report ---------- */

/** `downloads`, `perTerabyte`: the download cases' and the bill's reports (bench/download-report.ts, bench/cost-report.ts), rendered by the caller. */
export function renderReport(
  results: BenchResults,
  downloads?: { terminal: string; markdown: string },
  perTerabyte?: { terminal: string; markdown: string },
): { terminal: string; markdown: string; svg: string } {
  const throughput = throughputSection(results);
  const memory = memorySection(results);
  const cost = costSection(results);
  const latency = latencySection(results);
  const doCalls = results.doCalls && doCallsSection(results.doCalls);
  const concurrency = concurrencySection(results);
  const sink = sinkSection(results);
  const rounds = Object.entries(results.rounds)
    .map(([size, n]) => `${n} at ${sizeLabel(Number(size))}`)
    .join(", ");

  const terminal = [
    "Throughput (MB/s = 10^6 bytes per second)",
    throughput.table,
    "",
    throughput.runs,
    "",
    ...throughput.verdict,
    "",
    `Latency (${results.latencyRequests} sequential requests each, keep-alive)`,
    latency,
    "",
    ...(doCalls
      ? [
          `Durable Object calls per client request (counted by the bench Worker, each kind ${results.doCalls!.repeats} times; IETF at interop version ${results.doCalls!.ietfVersion}; ${results.doCalls!.measuredAt}, commit ${results.doCalls!.commit})`,
          doCalls,
          "",
        ]
      : []),
    "Concurrency",
    concurrency,
    "",
    "Memory",
    memory.table,
    ...memory.verdict,
    "",
    "The gateway alone (tus-edge with R2 writes discarded by the bench Worker)",
    sink.table,
    ...sink.verdict,
    "",
    "Cost (counted by the bench Worker's R2 and Durable Object wrappers)",
    cost.table,
    "",
    cost.perGiB,
    ...cost.verdict,
    "",
    "Where tus-edge's time goes",
    cost.time,
    ...(downloads ? ["", downloads.terminal] : []),
    ...(perTerabyte ? ["", perTerabyte.terminal] : []),
  ].join("\n");

  const markdown = `# Benchmark: tus-edge vs the R2 limit vs @tus/server

Generated by \`npm run bench${results.quick ? " -- --quick" : ""}\` on ${results.finishedAt} (started ${results.startedAt}); commit ${results.machine.commit}.
All numbers come from this one run on one machine: compare ratios, not absolute speeds (the machine is shared and noisy).

![Throughput, MB/s](throughput.svg)

## Throughput

tus-js-client uploads a file of seeded pseudo-random bytes (read from disk) to tus-edge and to
@tus/server; the **R2 limit** is the same file PUT with Content-Length to a bench route of the
same Worker that does \`BUCKET.put(key, request.body)\` — the fastest way the bytes reach R2
through the same local runtime. A chunked client cannot reach that: each chunk is its own request,
and the next starts only when the last is answered. So for 8 MiB and 50 MiB chunks there is a second
reference, the **same-chunks limit**: the same chunks, one PUT each on one keep-alive connection,
written by the Worker straight into one R2 multipart upload (\`uploadPart\`, then \`complete\`) — what
those requests cost with no protocol, Durable Object or bookkeeping. (On Cloudflare's edge a body
over 100 MB is refused, so a 1 GiB file only ever arrives in chunks.) Rounds: ${rounds}; in each round every case runs once, in turn,
so machine noise spreads over all of them. The **paired ratio** is the limit's time divided by
tus-edge's time in the same round, median over rounds. Target: ≥ ${TARGET_RATIO} at 8 MiB chunks and
above. The **CPU ratio** is the limit's server CPU time divided by tus-edge's (medians): locally
both are CPU-bound, and CPU time is far less disturbed than wall time by other work on a shared
machine, so it shows tus-edge's own overhead when the wall-clock ratios are noisy.

${throughput.table}

${throughput.verdict.map((v) => `- ${v}`).join("\n")}

Every round:

${throughput.runs}

Timed from the first request to the last response (for tus: creation POST and every PATCH).
Every upload was verified afterwards (untimed) by sha256, then deleted: @tus/server's by download
(GET on the upload URL); tus-edge's and the limit's by hashing the bytes local R2 stored for the
object's key (reading them back through workerd would cost as much as writing them; the untimed
warm-up uploads at the start are downloaded through the gateway's GET instead), right after
each upload (see Notes).
CPU seconds: utime + stime from /proc over the upload, of the client (this process) and of the
server (${escapeMd(results.runtimeProcesses)} for tus-edge and the limit; the peer's Node process for @tus/server).

## Latency

${results.latencyRequests} sequential requests of each kind after 20 untimed ones, over one keep-alive connection,
measured at the client: the **no-op Worker route** answers 204 at once (what any request through
wrangler dev's proxy and the Worker costs here: tus-edge's floor); **POST** creates an upload (\`Upload-Length: 1024\`, no body); **HEAD**
asks for one upload's offset; **PATCH 1 KiB** appends 1,024 bytes to one upload at its current
offset (none of them completes it; a last untimed PATCH does, and the result is verified by sha256).

${latency}
${
  doCalls
    ? `
## Durable Object calls per client request

How many requests the gateway's Worker made to Durable Objects (stub \`fetch\`, which carries an
append's bytes, and RPC calls) for one client request of each kind, counted by the bench Worker's
wrapped \`UPLOADS\` namespace: its running totals by method read before and after the request,
which was sent alone (and again after 50 ms, until they stop changing, so that calls made after the
answer count too). Each kind ${results.doCalls!.repeats} times, on small uploads (1–3 KiB); IETF requests at interop
version ${results.doCalls!.ietfVersion}. Counted on ${results.doCalls!.measuredAt}, commit ${escapeMd(results.doCalls!.commit)}. Calls one Durable Object makes to another (a final upload's to its partials) are not
the Worker's and are not counted. In production each of these calls is a round trip from the
Worker's location to the upload's Durable Object.

${doCalls}
`
    : ""
}
## Concurrency

All uploads started at once with tus-js-client (each its own connection, one PATCH each, no retries),
timed until the last finished; every upload then verified by sha256.

${concurrency}

## Memory

Resident memory (VmRSS, summed over the processes) sampled every 100 ms during each timed upload;
**idle** is the lowest of three samples taken just before it. The figures are from each case's
first round, which for tus-edge and the limit ran on a freshly restarted wrangler dev after one
untimed 16 MiB upload of the same kind; later rounds start from whatever the runtime kept. For tus-edge and the limit the
processes are ${escapeMd(results.runtimeProcesses)}; for @tus/server its Node process. Target: tus-edge's
peak − idle at 1 GiB within one part size (${mib(results.partSize)} MiB) of the figure at 256 MiB.

That process also runs local R2's simulator, whose memory grows with the bytes written (the
straight put's does, with no tus code at all). So the same 100 ms samples are also taken of the
**isolate** that runs the bench Worker — the gateway's Worker and its Durable Objects, and the
limits' routes — through workerd's V8 inspector: JavaScript heap in use plus ArrayBuffer backing
stores (\`Runtime.getHeapUsage\`), the memory Cloudflare's 128 MB per-isolate limit applies to.
Garbage counts until it is collected, so the isolate's verdict takes the largest peak − idle over
all rounds of each size.

${memory.table}

${memory.verdict.map((v) => `- ${v}`).join("\n")}

### The gateway alone

The local R2 simulator (miniflare, inside the same workerd process) costs about 40 CPU-seconds
per GiB written on this machine and keeps memory of its own, so the figures above mostly measure
it. To see tus-edge by itself, the bench Worker also serves the same gateway at \`/null/\`, whose R2
writes go to a sink: bodies are read to their end, hashed (sha256, in part order, which also
verifies the upload) and dropped; everything else — Worker, Durable Object, SQLite, the part
writer — is the real code. One round per size and client, each on a freshly restarted runtime.

${sink.table}

${sink.verdict.map((v) => `- ${v}`).join("\n")}

## Cost: R2 operations and Durable Object requests

Counted by bench/worker.ts: the gateway's \`wrapBucket\` option wraps R2 in the Worker and in
every upload's Durable Object and counts each call by kind and object key; the Worker's
\`UPLOADS\` namespace is wrapped to count each Durable Object request by upload (\`fetch\` is a PATCH,
\`create\` a POST). ${escapeMd(results.isolateCheck)} R2 writes are class A operations (\`put\`,
\`createMultipartUpload\`, \`uploadPart\`, \`complete\`), reads class B (\`head\`, \`get\`);
\`resumeMultipartUpload\` makes no request (it only names an upload id). Target: parts + 2 R2 writes
per upload, whatever the client's chunk size (parts of ${mib(results.partSize)} MiB). Durable Object
storage is counted in the object (its \`ctx.storage\` methods are instrumented): rows written (from
each write statement's cursor, what SQLite-backed objects are billed by), write statements, and
\`setAlarm\` calls.

${cost.table}

${cost.verdict.map((v) => `- ${v}`).join("\n")}

Per uploaded GiB:

${cost.perGiB}

### Where tus-edge's time goes

From the same wrapper: wall time the Durable Object spent awaiting each R2 call (the writer
reads no body while it awaits one), for the first round of each case. The rest is reading the
request body through the Worker and the Durable Object, copying it into the part buffer, and SQLite.

${cost.time}

${downloads ? `${downloads.markdown}\n` : ""}${perTerabyte ? `${perTerabyte.markdown}\n` : ""}${results.notes.length ? `## Notes\n\n${results.notes.map((n) => `- ${n}`).join("\n")}\n\n` : ""}## Machine

- cpus: ${escapeMd(results.machine.cpus)}
- node: ${results.machine.node}
- load average (1, 5, 15 min): ${results.machine.loadStart.map((l) => l.toFixed(2)).join(", ")} at the start, ${results.machine.loadEnd.map((l) => l.toFixed(2)).join(", ")} at the end
- peer: ${escapeMd(results.peerVersions)}
`;
  return { terminal, markdown, svg: throughputSvg(results) };
}

function escapeMd(text: string): string {
  return text.replace(/\|/g, "\\|");
}
