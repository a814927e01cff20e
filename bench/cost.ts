/**
 * What Cloudflare bills for an upload, in dollars per terabyte uploaded,
 * from the counts the bench measured for one upload (bench/run.ts, `--cost`).
 *
 * Pure arithmetic (no I/O), unit-tested in test/unit/bench-cost.test.ts.
 * Prices are the usage rates of the Workers Paid plan beyond its monthly
 * allowances: an account that uploads terabytes a month is past them, so the
 * marginal terabyte costs what is computed here. Storage (GB-month) is left
 * out: it is the same for any way of getting the bytes into R2.
 */

/** USD. Each rate is per million of its unit. */
export interface Prices {
  r2ClassAPerMillion: number;
  r2ClassBPerMillion: number;
  workerRequestsPerMillion: number;
  workerCpuPerMillionMs: number;
  durableObjectRequestsPerMillion: number;
  durableObjectPerMillionGbSeconds: number;
  sqliteRowsReadPerMillion: number;
  sqliteRowsWrittenPerMillion: number;
}

/** Read on 2026-12-02 from the pages in `PRICE_SOURCES`. */
export const PRICES: Prices = {
  r2ClassAPerMillion: 4.5,
  r2ClassBPerMillion: 0.36,
  workerRequestsPerMillion: 0.3,
  workerCpuPerMillionMs: 0.02,
  durableObjectRequestsPerMillion: 0.15,
  durableObjectPerMillionGbSeconds: 12.5,
  sqliteRowsReadPerMillion: 0.001,
  sqliteRowsWrittenPerMillion: 1.0,
};

export const PRICES_READ_ON = "2026-12-02";

export const PRICE_SOURCES: { what: string; url: string }[] = [
  { what: "R2: Class A $4.50 / million, Class B $0.36 / million (Standard storage)", url: "https://developers.cloudflare.com/r2/pricing/" },
  {
    what: "Durable Objects: requests $0.15 / million (HTTP requests, RPC sessions, alarm invocations), duration $12.50 / million GB-s at 128 MB; SQLite rows read $0.001 / million, rows written $1.00 / million (each setAlarm is one row written)",
    url: "https://developers.cloudflare.com/durable-objects/platform/pricing/",
  },
  {
    what: "Workers Paid (Standard): requests $0.30 / million beyond 10 million, CPU $0.02 / million CPU-ms beyond 30 million",
    url: "https://developers.cloudflare.com/workers/platform/pricing/",
  },
];

/** Cloudflare bills a Durable Object's duration for the 128 MB it is allocated, whatever it uses (128 MB / 1 GB, as its examples count). */
export const DURABLE_OBJECT_GB = 0.128;
/** Decimal, as Cloudflare counts storage. */
export const TERABYTE = 1e12;

/**
 * How R2 bills each binding call (r2/pricing: Class A mutates, Class B
 * reads; deletes and aborts are free). `resumeMultipartUpload` makes no
 * request at all: it only builds a handle.
 */
export function r2Class(kind: string): "A" | "B" | "free" {
  if (["put", "createMultipartUpload", "uploadPart", "complete", "list"].includes(kind)) return "A";
  if (["head", "get"].includes(kind)) return "B";
  if (["delete", "abort", "resumeMultipartUpload"].includes(kind)) return "free";
  throw new Error(`bench/cost.ts does not know how R2 bills "${kind}"`);
}

/** What one upload of `bytes` was measured (or estimated) to use. */
export interface BilledCounts {
  bytes: number;
  r2ClassA: number;
  r2ClassB: number;
  /** Requests that reached the Worker (each client request is one). */
  workerRequests: number;
  /**
   * The Worker's own share of the isolate's CPU profile (bench/cpu-attribution.ts):
   * the Durable Object's CPU is not billed apart from its duration.
   */
  workerCpuMs: number;
  /** Requests (stub calls) and alarm invocations of the upload's Durable Object. */
  durableObjectRequests: number;
  /** Wall time the object was active (handling a request). */
  durableObjectActiveSeconds: number;
  rowsRead: number;
  /** Rows written by SQL statements, plus one per setAlarm. */
  rowsWritten: number;
  /** Parts of the stored object: the floor is these plus create and complete, all Class A. */
  parts: number;
}

export type CostItem =
  | "R2 Class A"
  | "R2 Class B"
  | "Worker requests"
  | "Worker CPU ms"
  | "Durable Object requests"
  | "Durable Object GB-s"
  | "SQLite rows read"
  | "SQLite rows written";

export interface CostLine {
  item: CostItem;
  /** Units per terabyte uploaded. */
  units: number;
  /** USD per terabyte uploaded. */
  dollars: number;
}

export interface TerabyteCost {
  lines: CostLine[];
  /** USD per terabyte, everything billed. */
  total: number;
  /** USD per terabyte for the R2 operations of the parts alone (parts + create + complete, Class A). */
  floor: number;
  /** total ÷ floor. */
  ratio: number;
}

/** Scales one upload's counts to a terabyte of such uploads and prices them. */
export function costPerTerabyte(counts: BilledCounts, prices: Prices = PRICES): TerabyteCost {
  if (!(counts.bytes > 0)) throw new Error(`an upload of ${counts.bytes} bytes cannot be scaled to a terabyte`);
  const uploads = TERABYTE / counts.bytes;
  const line = (item: CostItem, perUpload: number, perMillion: number): CostLine => {
    const units = perUpload * uploads;
    return { item, units, dollars: (units / 1e6) * perMillion };
  };
  const lines = [
    line("R2 Class A", counts.r2ClassA, prices.r2ClassAPerMillion),
    line("R2 Class B", counts.r2ClassB, prices.r2ClassBPerMillion),
    line("Worker requests", counts.workerRequests, prices.workerRequestsPerMillion),
    line("Worker CPU ms", counts.workerCpuMs, prices.workerCpuPerMillionMs),
    line("Durable Object requests", counts.durableObjectRequests, prices.durableObjectRequestsPerMillion),
    line("Durable Object GB-s", counts.durableObjectActiveSeconds * DURABLE_OBJECT_GB, prices.durableObjectPerMillionGbSeconds),
    line("SQLite rows read", counts.rowsRead, prices.sqliteRowsReadPerMillion),
    line("SQLite rows written", counts.rowsWritten, prices.sqliteRowsWrittenPerMillion),
  ];
  const total = lines.reduce((sum, l) => sum + l.dollars, 0);
  const floor = line("R2 Class A", counts.parts + 2, prices.r2ClassAPerMillion).dollars;
  return { lines, total, floor, ratio: total / floor };
}

/** The issue's target: everything billed within 1.25× of the parts' own R2 operations, at 8 MiB chunks and above. */
export const COST_TARGET_RATIO = 1.25;
