/**
 * The download cases of `npm run bench` (alone: `npm run bench -- --downloads`).
 *
 * For 2 GiB and 10 GiB (2 GiB only with --quick): a seeded file is uploaded
 * through the gateway with tus-js-client in 50 MiB chunks (untimed), then
 * downloaded whole through the gateway's GET and through a plain
 * `BUCKET.get` route of the bench Worker, each on a freshly restarted
 * wrangler dev, with time to first byte, throughput, resident memory, the
 * isolate's memory and R2 gets measured; then one gateway download is cut
 * off by its client, to count the gets it made. The upload is deleted
 * before the next size.
 *
 * Local R2 assembles everything a `get` asks for before sending the first
 * byte, so a plain get of a whole multipart object holds about its size in
 * memory: it runs under limits on time and memory growth, and is stopped
 * there (the stop is reported as such).
 *
 * bench/run.ts gives this module what it needs of the running bench (the
 * server, memory sampling, restarts): it imports only `node:` built-ins
 * and types, so Node can run it with its own TypeScript support.
 */
import { createHash } from "node:crypto";
import { statfsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { CancelledDownload, DownloadCase, DownloadReader, DownloadRun } from "./download-report";
import type { ResourceUse } from "./report";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** What bench/run.ts lends the download cases. */
export interface DownloadBench {
  /** Origin of the bench's wrangler dev (the same across restarts). */
  url: string;
  /** Temporary directory for the data files. */
  workDir: string;
  /** Restarts wrangler dev, so that a case starts from a fresh runtime's memory. */
  restart(): Promise<void>;
  /**
   * Runs `work` while sampling the runtime's resident memory, the isolate's
   * memory and CPU (run.ts `watched`); runs it again on a fresh runtime if
   * wrangler dev replaced its runtime meanwhile (it reloads when files it
   * watches change), which voids the measurement.
   */
  watch<T>(work: () => Promise<T>): Promise<{ value: T; use: ResourceUse }>;
  /** The runtime's resident memory now, bytes. */
  rss(): number;
  /** R2 gets the bench Worker has counted for `key` since the runtime started. */
  gets(key: string): Promise<number>;
  /** The ranges the gateway reads bytes `start`…`end` in (asked of the bench Worker, which has the gateway's plan). */
  readRanges(start: number, end: number): Promise<Array<{ offset: number; length: number }>>;
  /** Writes `size` seeded bytes to `path`; answers their sha256. */
  writeFile(path: string, size: number, seed: string): Promise<string>;
  /** Uploads the file with tus-js-client in 50 MiB chunks; answers the upload URL. */
  upload(path: string, size: number): Promise<string>;
  /** Deletes the upload (tus termination). */
  terminate(uploadUrl: string): Promise<void>;
  log(line: string): void;
}

/** The plain get stops when either runs out: local R2 would otherwise hold the whole object. */
const PLAIN_GET_LIMITS = { seconds: 300, rssGrowth: 4 * GiB };
export const PLAIN_GET_LIMITS_TEXT = `stopped after ${PLAIN_GET_LIMITS.seconds} s or once the runtime holds ${PLAIN_GET_LIMITS.rssGrowth / GiB} GiB more than before it`;
/** Room left beside a data file and its object in local R2. */
const DISK_MARGIN = 4 * GiB;
/** Body bytes the client of the cut-off download reads before it closes its connection. */
const CANCEL_AFTER = 100 * MiB;

export async function downloadPhase(bench: DownloadBench, sizes: number[]): Promise<{ cases: DownloadCase[]; cancelled?: CancelledDownload }> {
  const cases: DownloadCase[] = [];
  let cancelled: CancelledDownload | undefined;
  for (const size of sizes) {
    const free = freeBytes(bench.workDir);
    if (free < 2 * size + DISK_MARGIN) {
      const skipped = `${(free / GiB).toFixed(1)} GiB of disk free; the file and its object need ${((2 * size + DISK_MARGIN) / GiB).toFixed(0)} GiB`;
      cases.push({ size, reader: "tus-edge GET", skipped }, { size, reader: "plain BUCKET.get (reference)", skipped });
      bench.log(`  ${label(size)}: skipped (${skipped})`);
      continue;
    }
    const path = join(bench.workDir, `download-${size}.bin`);
    const expected = await bench.writeFile(path, size, `bench download ${size}`);
    const started = performance.now();
    const uploadUrl = await bench.upload(path, size);
    // The object is in R2 now; the file is not needed any more, and its disk is.
    await rm(path, { force: true });
    bench.log(`  ${label(size)}: uploaded in ${((performance.now() - started) / 1000).toFixed(1)} s (untimed)`);
    const key = `uploads/${new URL(uploadUrl).pathname.split("/").pop()}`;
    try {
      await bench.restart();
      await warmUp(uploadUrl);
      const gateway = await measure(bench, uploadUrl, size, expected, key);
      cases.push({ size, reader: "tus-edge GET", run: gateway });
      logRun(bench, size, "tus-edge GET", gateway);
      if (!cancelled) cancelled = await cutOff(bench, uploadUrl, size, key);

      await bench.restart();
      await warmUp(`${bench.url}/__bench/ping`);
      const plain = await measure(bench, `${bench.url}/__bench/r2/${encodeURIComponent(key)}`, size, expected, undefined, PLAIN_GET_LIMITS);
      cases.push({ size, reader: "plain BUCKET.get (reference)", run: plain });
      logRun(bench, size, "plain BUCKET.get (reference)", plain);
      // A stopped plain get may leave local R2 assembling the object: start afresh before deleting it.
      if (plain.stopped) await bench.restart();
    } finally {
      await bench.terminate(uploadUrl);
    }
  }
  return { cases, cancelled };
}

/** One whole download, watched; verified by sha256 unless stopped by `limits`. */
async function measure(
  bench: DownloadBench,
  url: string,
  size: number,
  expected: string,
  key: string | undefined,
  limits?: typeof PLAIN_GET_LIMITS,
): Promise<DownloadRun> {
  const watch = await bench.watch(async () => {
    const getsBefore = key ? await bench.gets(key) : 0;
    const idle = bench.rss();
    const fetched = await fetchBody(url, limits && { ...limits, rssNow: () => bench.rss() - idle });
    return { ...fetched, gets: key ? (await bench.gets(key)) - getsBefore : undefined };
  });
  const got = watch.value;
  if (!got.stopped && (got.bytes !== size || got.sha256 !== expected)) {
    throw new Error(`GET ${url}: received ${got.bytes} bytes with sha256 ${got.sha256}, expected ${size} bytes with ${expected}`);
  }
  return {
    firstByteSeconds: got.firstByteSeconds,
    seconds: got.seconds,
    bytes: got.bytes,
    ...watch.use,
    ...(got.gets !== undefined && { gets: got.gets }),
    ...(got.stopped && { stopped: got.stopped }),
  };
}

interface Fetched {
  firstByteSeconds?: number;
  seconds: number;
  bytes: number;
  sha256: string;
  stopped?: string;
}

/**
 * GETs `url`, hashing the body as it arrives. With `limits`, the request is
 * aborted once it has run `seconds` or `rssNow()` passes `rssGrowth`.
 * With `cutAfter`, the connection is closed once that many bytes arrived.
 */
function fetchBody(url: string, limits?: { seconds: number; rssGrowth: number; rssNow: () => number }, cutAfter?: number): Promise<Fetched> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const hash = createHash("sha256");
  let bytes = 0;
  let firstByteSeconds: number | undefined;
  return new Promise<Fetched>((resolve, reject) => {
    let guard: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (stopped?: string) => {
      if (settled) return;
      settled = true;
      clearInterval(guard);
      resolve({ firstByteSeconds, seconds: elapsed(), bytes, sha256: hash.digest("hex"), ...(stopped && { stopped }) });
    };
    // Once finished (also by destroying the request on purpose), later errors are the destroy's own.
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearInterval(guard);
      reject(error);
    };
    const stop = (reason: string) => {
      finish(reason);
      req.destroy();
    };
    const req = request(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        fail(new Error(`GET ${url} answered ${res.statusCode}`));
        return;
      }
      res.on("data", (chunk: Buffer) => {
        firstByteSeconds ??= elapsed();
        hash.update(chunk);
        bytes += chunk.length;
        if (cutAfter !== undefined && bytes >= cutAfter) stop(`the client closed its connection after ${bytes} bytes`);
      });
      res.on("end", () => finish());
      res.on("error", fail);
    });
    req.on("error", fail);
    req.end();
    if (limits) {
      guard = setInterval(() => {
        const grown = limits.rssNow();
        const reason =
          elapsed() > limits.seconds
            ? `${limits.seconds} s passed`
            : grown > limits.rssGrowth
              ? `the runtime grew by ${(grown / GiB).toFixed(1)} GiB`
              : undefined;
        if (reason) stop(`${reason}, ${firstByteSeconds === undefined ? "before the first byte" : `after ${(bytes / MiB).toFixed(0)} MiB`}`);
      }, 250);
    }
  });
}

/**
 * A gateway download whose client closes its connection after
 * CANCEL_AFTER bytes: the gets it made, once the count has stopped changing.
 */
async function cutOff(
  bench: DownloadBench,
  uploadUrl: string,
  size: number,
  key: string,
): Promise<CancelledDownload> {
  const before = await bench.gets(key);
  const got = await fetchBody(uploadUrl, undefined, CANCEL_AFTER);
  let gets = (await bench.gets(key)) - before;
  // Counted when a get is made: wait until no more come (a read ahead may still be starting).
  for (let stable = 0; stable < 4; ) {
    await new Promise((done) => setTimeout(done, 500));
    const now = (await bench.gets(key)) - before;
    stable = now === gets ? stable + 1 : 0;
    gets = now;
  }
  const ranges = await bench.readRanges(0, size - 1);
  const reached = ranges.filter((range) => range.offset < got.bytes).length;
  const result = { size, readBytes: got.bytes, gets, wholeGets: ranges.length, expectedAtMost: reached + 1 };
  bench.log(`  ${label(size)}: a download cut off after ${(got.bytes / MiB).toFixed(0)} MiB made ${gets} R2 gets (a whole one makes ${result.wholeGets})`);
  return result;
}

/**
 * One untimed HEAD, so that the timed download does not also pay for a
 * fresh runtime's first request (bundle, isolate and, for the gateway, the
 * upload's Durable Object). It reads nothing of the object.
 */
function warmUp(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "HEAD", agent: false, headers: { "Tus-Resumable": "1.0.0" } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode! < 300 ? resolve() : reject(new Error(`HEAD ${url} answered ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

function freeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

const label = (size: number) => `${size / GiB} GiB`;

function logRun(bench: DownloadBench, size: number, reader: DownloadReader, run: DownloadRun): void {
  bench.log(
    `  ${label(size).padEnd(7)} ${reader.padEnd(30)} first byte ${run.firstByteSeconds?.toFixed(2) ?? "none"} s, ${run.seconds.toFixed(1)} s` +
      `${run.stopped ? ` (stopped: ${run.stopped})` : `, ${(run.bytes / 1e6 / run.seconds).toFixed(1)} MB/s`}, runtime +${((run.peakRss - run.idleRss) / MiB).toFixed(0)} MiB` +
      `${run.gets === undefined ? "" : `, ${run.gets} R2 gets`}`,
  );
}
