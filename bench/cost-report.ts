/**
 * The cost part of the benchmark's report: what Cloudflare would bill for
 * the measured uploads, in dollars per terabyte uploaded (bench/cost.ts),
 * beside the floor of the parts' own R2 writes. Pure, like bench/report.ts.
 */
import type { BilledCounts, CostItem } from "./cost";
import type { CpuTime } from "./cpu-attribution";

/** bench/cost.ts, passed in: Node runs these files only with explicit `.ts` import paths, which the type checker refuses (see bench/run.ts). */
type CostModule = typeof import("./cost");

const MiB = 1024 * 1024;

/** One upload measured for its bill (bench/run.ts `costPhase`). */
export interface CostCase {
  size: number;
  /** The client's mode, as in the throughput cases. */
  mode: { label: string; chunkSize?: number };
  seconds: number;
  counts: BilledCounts;
  /**
   * Where the CPU estimate comes from: the isolate's CPU profile split by
   * bench/cpu-attribution.ts (ms; `counts.workerCpuMs` is its `worker`), its
   * JavaScript total (Worker, Durable Object, unattributed and garbage
   * collection: what was billed before the split), and the runtime
   * processes' CPU time (s), the fallback when there is no profile.
   */
  cpu: { isolate?: CpuTime; isolateJavascriptMs?: number; runtimeProcessesSeconds: number };
  /** The raw counts of the bench Worker, by kind, for the record. */
  raw: { r2: Record<string, number>; durableObject: Record<string, number>; storage: Record<string, number>; alarms: number };
}

export interface CostResults {
  startedAt: string;
  finishedAt: string;
  commit: string;
  load: { start: number[]; end: number[] };
  cases: CostCase[];
  notes: string[];
}

const ITEMS: CostItem[] = [
  "R2 Class A",
  "R2 Class B",
  "Worker requests",
  "Worker CPU ms",
  "Durable Object requests",
  "Durable Object GB-s",
  "SQLite rows read",
  "SQLite rows written",
];

const sizeLabel = (size: number) => `${(size / MiB).toFixed(0)} MiB`;
const usd = (dollars: number) => `$${dollars < 0.01 ? dollars.toFixed(4) : dollars.toFixed(3)}`;

function table(header: string[], rows: (string | number)[][]): string {
  const lines = [header, header.map((h) => "-".repeat(Math.max(3, h.length))), ...rows.map((row) => row.map(String))];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

export function renderCost(results: CostResults, cost: CostModule): { terminal: string; markdown: string; verdict: string[] } {
  const { COST_TARGET_RATIO, costPerTerabyte, DURABLE_OBJECT_GB, PRICE_SOURCES, PRICES_READ_ON } = cost;
  /** The ratio had all of the isolate's JavaScript been billed as Worker CPU (the bound used before the split). */
  const wholeIsolateRatio = (c: CostCase) =>
    c.cpu.isolateJavascriptMs === undefined ? undefined : costPerTerabyte({ ...c.counts, workerCpuMs: c.cpu.isolateJavascriptMs }).ratio;
  const targetApplies = (c: CostCase) => c.mode.chunkSize === undefined || c.mode.chunkSize >= 8 * MiB;
  const priced = results.cases.map((c) => ({ c, bill: costPerTerabyte(c.counts) }));
  const dollarsTable = table(
    ["upload", "client", ...ITEMS.map((item) => `${item} $/TB`), "total $/TB", "floor $/TB (parts + 2 Class A)", "total ÷ floor", `≤ ${COST_TARGET_RATIO}`],
    priced.map(({ c, bill }) => [
      sizeLabel(c.size),
      c.mode.label,
      ...ITEMS.map((item) => usd(bill.lines.find((line) => line.item === item)!.dollars)),
      `**${usd(bill.total)}**`,
      usd(bill.floor),
      bill.ratio.toFixed(2),
      targetApplies(c) ? (bill.ratio <= COST_TARGET_RATIO ? "met" : "**NOT met**") : "n/a",
    ]),
  );
  const countsTable = table(
    [
      "upload",
      "client",
      "parts",
      "R2 Class A",
      "R2 Class B",
      "Worker requests",
      "Worker CPU ms (billed)",
      "Durable Object CPU ms",
      "unattributed ms",
      "isolate JavaScript ms (total)",
      "DO requests",
      "DO active s",
      "DO GB-s",
      "rows read",
      "rows written",
      "wall s",
    ],
    results.cases.map((c) => [
      sizeLabel(c.size),
      c.mode.label,
      c.counts.parts,
      c.counts.r2ClassA,
      c.counts.r2ClassB,
      c.counts.workerRequests,
      c.counts.workerCpuMs.toFixed(0),
      c.cpu.isolate ? c.cpu.isolate.durableObject.toFixed(0) : "—",
      c.cpu.isolate ? (c.cpu.isolate.unattributed + c.cpu.isolate.garbageCollector).toFixed(0) : "—",
      c.cpu.isolateJavascriptMs?.toFixed(0) ?? "—",
      c.counts.durableObjectRequests,
      c.counts.durableObjectActiveSeconds.toFixed(2),
      (c.counts.durableObjectActiveSeconds * DURABLE_OBJECT_GB).toFixed(3),
      c.counts.rowsRead,
      c.counts.rowsWritten,
      c.seconds.toFixed(2),
    ]),
  );
  const verdict = priced.map(({ c, bill }) => {
    const biggest = [...bill.lines].sort((a, b) => b.dollars - a.dollars).slice(0, 2);
    return (
      `${sizeLabel(c.size)}, ${c.mode.label}: ${usd(bill.total)} per TB, ${bill.ratio.toFixed(2)}× the floor of ${usd(bill.floor)}` +
      (targetApplies(c) ? ` → ${bill.ratio <= COST_TARGET_RATIO ? "met" : "NOT met"}` : "") +
      ` (largest: ${biggest.map((line) => `${line.item} ${usd(line.dollars)}`).join(", ")}` +
      (wholeIsolateRatio(c) === undefined ? ")" : `; with all of the isolate's JavaScript billed as Worker CPU ${wholeIsolateRatio(c)!.toFixed(2)}×)`)
    );
  });
  const gaps = results.cases.flatMap((c) => (c.cpu.isolate?.unattributedSamples ? [`${(c.cpu.isolate.unattributed / c.cpu.isolate.unattributedSamples).toFixed(1)} ms`] : []));
  const unattributedGaps = gaps.length ? `on average ${gaps.join(", ")} per such sample in the cases above, against the 0.1 ms interval` : "none in the cases above";
  const sources = PRICE_SOURCES.map((source) => `- ${source.what}: ${source.url}`).join("\n");
  const markdown = `## Cost per terabyte

Measured by \`npm run bench -- --cost\` (or with a whole run) on ${results.finishedAt} (started ${results.startedAt}); commit ${results.commit};
load average ${results.load.start.map((l) => l.toFixed(2)).join(", ")} at the start, ${results.load.end.map((l) => l.toFixed(2)).join(", ")} at the end.

One upload per client mode with tus-js-client, scaled to a terabyte (10^12 bytes) of such uploads and priced at Cloudflare's
published rates beyond the Workers Paid plan's monthly allowances (read ${PRICES_READ_ON}):

${sources}

The **floor** is what R2 bills for the stored object's own parts: one Class A operation per part, plus
the multipart upload's create and complete. Target: total ≤ ${COST_TARGET_RATIO}× the floor at 8 MiB chunks and above.

${dollarsTable}

${verdict.map((v) => `- ${v}`).join("\n")}

Per upload:

${countsTable}

How each count is obtained:

- **R2 Class A / B**: every call through the gateway's \`wrapBucket\` (bench/worker.ts), classed as R2 bills it (\`put\`, \`createMultipartUpload\`, \`uploadPart\`, \`complete\`, \`list\` are A; \`head\`, \`get\` B; \`delete\`, \`abort\` free; \`resumeMultipartUpload\` makes no request).
- **Worker requests**: the client's requests (each reaches the Worker once).
- **Durable Object requests**: the Worker's calls on the upload's stub (\`create\`, \`fetch\` per PATCH, …; each is one billed request or RPC session), plus alarm invocations during the upload.
- **Durable Object GB-s**: the wall time of those calls (the object is active while it handles one; between PATCHes it has no timers or WebSockets and may hibernate, so it is not billed) × ${DURABLE_OBJECT_GB * 1000} MB.
- **SQLite rows read / written**: \`rowsRead\` and \`rowsWritten\` of every statement's cursor in the upload's object (its \`ctx.storage.sql\` is instrumented), plus one row written per \`setAlarm\` (billed so); Miniflare's own statements (its \`__miniflare_do_name\` table, which Cloudflare does not have) are left out.
- **Worker CPU ms**: not measurable per Worker locally: workerd runs the Worker and the upload's Durable Object in one isolate and freezes clocks between I/O. A V8 CPU profile of that isolate is taken over the upload through workerd's inspector (sampled every 100 µs) and split by bench/cpu-attribution.ts: a sample is the **Durable Object's** when any frame of its stack is a function defined in code only the object runs — the UploadObject class's module and the modules only it imports (\`access\`, \`writing/\`, \`storage/\` but for \`r2-parts\` and \`part-plan\`, \`lifecycle/\`, \`hooks/pre-finish\`: bench/cpu-attribution.ts lists them), the subclasses of UploadObject (the gateway's configured one, the bench Worker's), Miniflare's Durable Object wrapper — placed by line in the bundle wrangler dev runs (its \`// src/…\` module comments). Definition sites are searched, not only the class's entry points, because V8 resumes an awaited async function with nothing above it on the stack. Any other sample with a frame in the script is the **Worker's** (the gateway's fetch handler, routing, auth, header parsing, the stub calls) and only that is billed: a Durable Object's CPU is not billed apart from its duration. Not in any share: samples with no script frame at all and \`(garbage collector)\` (together "unattributed"). The former sit at the profile's root, outside any JavaScript function, and each carries the gap since the sample before it — ${unattributedGaps} — so their time is mostly what the sampler did not see between samples, not JavaScript either side ran; also left out, \`(program)\` (native work outside JavaScript, such as piping the request body to the object) and \`(idle)\`. Limits: a helper shared by both sides (errors, configuration, telemetry) counts for the side whose code is below it on the stack, and for the Worker when it runs alone after an \`await\`; the isolate's JavaScript total (what was billed before the split) is in the table and in latest.json (\`cpu\`), beside the workerd processes' whole CPU time (which includes local R2's simulator).

${results.notes.map((n) => `- ${n}`).join("\n")}
`;
  const terminal = ["Cost per terabyte", dollarsTable, "", countsTable, "", ...verdict].join("\n");
  return { terminal, markdown, verdict };
}
