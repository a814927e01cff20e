/**
 * `npm run bench`: how close a tus upload through the gateway comes to the
 * fastest way the same bytes reach R2 from a Worker.
 *
 * Starts bench/wrangler.bench.toml (the gateway plus a `PUT /__bench/r2/<key>`
 * route doing `BUCKET.put(key, request.body)`) under `wrangler dev` with a
 * temporary state directory, writes 256 MiB of seeded pseudo-random data to a
 * temporary file once, and times, in rounds so that machine noise spreads
 * over every case:
 *   (a) the straight PUT into R2 (the baseline),
 *   (b) tus-js-client, the whole file in one PATCH,
 *   (c) tus-js-client, 8 MiB chunks.
 * Each upload is verified afterwards (download, sha256), outside the timing.
 *
 * Prints a table and writes bench/results/latest.md. Ratios matter, not
 * absolute times: these machines are shared and noisy.
 *
 * Environment: BENCH_RUNS (rounds, default 3, at least 2), BENCH_MIB (file
 * size, default 256).
 */
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

// Node runs TypeScript only with explicit `.ts` import paths, which the
// project's type checker (moduleResolution "Bundler") refuses: load the e2e
// helpers by URL and keep their types.
type ServerModule = typeof import("../test/e2e/server");
type TusModule = typeof import("../test/e2e/tus");
const { startServer, writeSeededFile, downloadSha256, MiB, ROOT } = (await import(
  new URL("../test/e2e/server.ts", import.meta.url).href
)) as ServerModule;
const { startTusUpload } = (await import(new URL("../test/e2e/tus.ts", import.meta.url).href)) as TusModule;

const RUNS = Math.max(2, Number(process.env.BENCH_RUNS ?? 3));
const SIZE = Number(process.env.BENCH_MIB ?? 256) * MiB;
const WARM_UP_SIZE = 16 * MiB;
const TARGET_RATIO = 0.85;

interface Case {
  name: string;
  /** Uploads the file and returns the URL it can be downloaded from. */
  upload(file: string, size: number, round: string): Promise<string>;
}

/** Streams a file as one request body with Content-Length, as tus-js-client does for a PATCH. */
function putFile(url: string, file: string, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "PUT", agent: false, headers: { "Content-Length": String(size), "Content-Type": "application/octet-stream" } },
      (res) => {
        const body: Buffer[] = [];
        res.on("data", (chunk: Buffer) => body.push(chunk));
        res.on("end", () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`PUT ${url} answered ${res.statusCode}: ${Buffer.concat(body)}`)),
        );
      },
    );
    req.on("error", reject);
    createReadStream(file).on("error", reject).pipe(req);
  });
}

function tusCase(name: string, endpoint: string, chunkSize: number | undefined): Case {
  return {
    name,
    async upload(file) {
      // No retries: a retried upload would not be a measurement of one.
      const run = startTusUpload(createReadStream(file), { endpoint, retryDelays: [], ...(chunkSize && { chunkSize }) });
      return run.done;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const mbPerSecond = (seconds: number) => SIZE / 1e6 / seconds;

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "tus-edge-bench-"));
  const file = join(work, "data.bin");
  const warmUpFile = join(work, "warm-up.bin");
  console.log(`writing ${SIZE / MiB} MiB of seeded data to ${file} …`);
  const expected = await writeSeededFile(file, SIZE, "bench");
  const warmUpExpected = await writeSeededFile(warmUpFile, WARM_UP_SIZE, "bench warm-up");

  console.log("starting wrangler dev with bench/wrangler.bench.toml …");
  const server = await startServer({
    config: "bench/wrangler.bench.toml",
    sources: ["src", "bench/worker.ts", "bench/wrangler.bench.toml"],
  });
  const stopAll = async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void stopAll().finally(() => process.exit(130)));

  try {
    const cases: Case[] = [
      {
        name: "straight R2 put",
        async upload(path, size, round) {
          const url = `${server.url}/__bench/r2/${round}`;
          await putFile(url, path, size);
          return url;
        },
      },
      tusCase("tus, one PATCH", server.endpoint, undefined),
      tusCase("tus, 8 MiB chunks", server.endpoint, 8 * MiB),
    ];

    const verify = async (url: string, sha256: string, size: number, what: string) => {
      const stored = await downloadSha256(url);
      if (stored.size !== size || stored.sha256 !== sha256) {
        throw new Error(`${what}: stored ${stored.size} bytes with sha256 ${stored.sha256}, expected ${size} bytes with ${sha256}`);
      }
    };

    // Untimed: the first requests pay for bundling, isolate start-up and new Durable Objects.
    for (const c of cases) {
      await verify(await c.upload(warmUpFile, WARM_UP_SIZE, "warm-up"), warmUpExpected, WARM_UP_SIZE, `${c.name} (warm-up)`);
    }

    const seconds = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    for (let round = 1; round <= RUNS; round++) {
      for (const c of cases) {
        const started = performance.now();
        const url = await c.upload(file, SIZE, `round-${round}`);
        const elapsed = (performance.now() - started) / 1000;
        await verify(url, expected, SIZE, `${c.name}, round ${round}`);
        seconds.get(c.name)!.push(elapsed);
        console.log(`  round ${round}  ${c.name.padEnd(18)} ${elapsed.toFixed(2)} s  ${mbPerSecond(elapsed).toFixed(1)} MB/s  (verified)`);
      }
    }

    const report = buildReport(cases.map((c) => c.name), seconds);
    console.log(`\n${report.table}\n\n${report.verdict}`);
    await mkdir(join(ROOT, "bench", "results"), { recursive: true });
    await writeFile(join(ROOT, "bench", "results", "latest.md"), report.markdown);
    console.log(`\nwritten to bench/results/latest.md`);
  } finally {
    await stopAll();
  }
}

function buildReport(names: string[], seconds: Map<string, number[]>) {
  const baseline = seconds.get(names[0]!)!;
  const baselineBest = Math.min(...baseline);
  const baselineMedian = median(baseline);
  const rows = names.map((name) => {
    const times = seconds.get(name)!;
    const best = Math.min(...times);
    const mid = median(times);
    return {
      name,
      best,
      median: mid,
      ratioBest: baselineBest / best,
      ratioMedian: baselineMedian / mid,
      runs: times.map((t) => t.toFixed(2)).join(", "),
    };
  });
  const header = ["case", "best s", "median s", "MB/s (best)", "MB/s (median)", "ratio (best)", "ratio (median)", "runs (s)"];
  const lines = rows.map((r) => [
    r.name,
    r.best.toFixed(2),
    r.median.toFixed(2),
    mbPerSecond(r.best).toFixed(1),
    mbPerSecond(r.median).toFixed(1),
    r.ratioBest.toFixed(3),
    r.ratioMedian.toFixed(3),
    r.runs,
  ]);
  const table = [header, header.map((h) => "-".repeat(h.length)), ...lines]
    .map((cells) => `| ${cells.join(" | ")} |`)
    .join("\n");
  const tusRows = rows.slice(1);
  const verdict = [
    `Target: every tus case at ratio ≥ ${TARGET_RATIO} of the straight R2 put (ratio = baseline time / case time, best of ${RUNS}).`,
    ...tusRows.map(
      (r) => `  ${r.name}: ${r.ratioBest.toFixed(3)} (median ${r.ratioMedian.toFixed(3)}) → ${r.ratioBest >= TARGET_RATIO ? "met" : "NOT met"}`,
    ),
  ].join("\n");
  const cpu = cpus();
  const markdown = `# Benchmark: tus upload vs straight R2 put

${table}

${verdict}

- Data: ${SIZE / MiB} MiB of seeded pseudo-random bytes from a file; every upload verified by download and sha256 (untimed).
- Timed: from the first request to the final response (for tus: creation POST and every PATCH).
- Rounds: ${RUNS}, cases interleaved in each round, after an untimed ${WARM_UP_SIZE / MiB} MiB warm-up of each case.
- MB/s: 10^6 bytes per second.
- Server: \`wrangler dev\` (local workerd, miniflare R2 and Durable Objects) with bench/wrangler.bench.toml, on loopback.

Machine:
- date: ${new Date().toISOString()}
- cpus: ${cpu.length} × ${cpu[0]?.model ?? "unknown"}
- load average (1, 5, 15 min) at the end: ${loadavg().map((l) => l.toFixed(2)).join(", ")}
- node: ${process.version} (${process.platform}-${process.arch})
`;
  return { table, verdict, markdown };
}

await main();
