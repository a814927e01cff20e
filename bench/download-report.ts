/**
 * The download part of the benchmark's report (bench/downloads.ts measures
 * it): time to first byte, throughput and memory of a finished upload
 * downloaded through the gateway's GET, beside a plain `BUCKET.get` of the
 * same object. Pure, like bench/report.ts.
 */

import type { ResourceUse } from "./report";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A whole finished upload through `GET <upload URL>`: the gateway reads R2 in ranges (src/upload/reading/object-reader.ts). */
export const GATEWAY_GET = "tus-edge GET";
/** The same object through a bench route that returns `(await BUCKET.get(key)).body`: one get, no ranges. */
export const PLAIN_GET = "plain BUCKET.get (reference)";
export type DownloadReader = typeof GATEWAY_GET | typeof PLAIN_GET;

export interface DownloadRun extends ResourceUse {
  /** Seconds from sending the request to the body's first byte; absent if it was stopped before one came. */
  firstByteSeconds?: number;
  /** Seconds from sending the request to the body's end (or to the stop). */
  seconds: number;
  /** Body bytes received (all of them, verified by sha256, unless stopped). */
  bytes: number;
  /** R2 gets the download made, counted by the bench Worker's wrapper (the gateway's reads only). */
  gets?: number;
  /** Why it was stopped before the end: the plain get's limits on time and memory. */
  stopped?: string;
}

export interface DownloadCase {
  size: number;
  reader: DownloadReader;
  run?: DownloadRun;
  /** Why the case was not run. */
  skipped?: string;
}

/** A gateway download whose client went away part-way: how many R2 gets it made in all. */
export interface CancelledDownload {
  size: number;
  /** Body bytes the client read before closing its connection. */
  readBytes: number;
  /** R2 gets counted once the counts stopped changing. */
  gets: number;
  /** Gets a whole download of the object makes. */
  wholeGets: number;
  /** The most a download that stops after `readBytes` should make: the ranges covering them, plus the one read ahead. */
  expectedAtMost: number;
}

export interface DownloadResults {
  startedAt: string;
  finishedAt: string;
  commit: string;
  /** Load average at the start and the end. */
  load: { start: number[]; end: number[] };
  /** The gateway's read ranges, in words. */
  rangePlan: string;
  /** The plain get's limits, in words. */
  plainGetLimits: string;
  cases: DownloadCase[];
  cancelled?: CancelledDownload;
  notes: string[];
}

const sizeLabel = (size: number) => (size >= GiB && size % GiB === 0 ? `${size / GiB} GiB` : `${(size / MiB).toFixed(0)} MiB`);
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const signedMib = (bytes: number) => `${bytes >= 0 ? "+" : ""}${mib(bytes)}`;

function table(header: string[], rows: string[][]): string {
  const lines = [header, header.map((h) => "-".repeat(Math.max(3, h.length))), ...rows];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

function casesTable(results: DownloadResults): string {
  return table(
    [
      "size",
      "reader",
      "first byte s",
      "total s",
      "MB/s",
      "runtime idle MiB",
      "runtime peak − idle MiB",
      "isolate peak − idle MiB",
      "server CPU s",
      "R2 gets",
      "note",
    ],
    results.cases.map((c) => {
      const run = c.run;
      if (!run) return [sizeLabel(c.size), c.reader, "—", "—", "—", "—", "—", "—", "—", "—", `skipped: ${c.skipped ?? ""}`];
      const isolate = run.idleIsolate === undefined || run.peakIsolate === undefined ? "—" : signedMib(run.peakIsolate - run.idleIsolate);
      return [
        sizeLabel(c.size),
        c.reader,
        run.firstByteSeconds === undefined ? "none" : run.firstByteSeconds.toFixed(2),
        run.seconds.toFixed(1),
        run.stopped ? "—" : (run.bytes / 1e6 / run.seconds).toFixed(1),
        mib(run.idleRss),
        signedMib(run.peakRss - run.idleRss),
        isolate,
        run.serverCpu.toFixed(1),
        run.gets === undefined ? "—" : String(run.gets),
        run.stopped ? `stopped: ${run.stopped}` : "verified (sha256)",
      ];
    }),
  );
}

function cancelledLine(results: DownloadResults): string | undefined {
  const c = results.cancelled;
  if (!c) return undefined;
  const verdict = c.gets <= c.expectedAtMost ? "reading stopped with the client" : "**reading went on after the client left**";
  return `A ${sizeLabel(c.size)} download through the gateway whose client closed its connection after ${mib(c.readBytes)} MiB made ${c.gets} R2 gets (a whole download makes ${c.wholeGets}; the ranges up to that point and the one read ahead are ${c.expectedAtMost}): ${verdict}.`;
}

export function renderDownloads(results: DownloadResults): { terminal: string; markdown: string } {
  const cases = casesTable(results);
  const cancelled = cancelledLine(results);
  const terminal = ["Downloads", cases, ...(cancelled ? [cancelled] : []), ...results.notes].join("\n");
  const markdown = `## Downloads

Measured by \`npm run bench -- --downloads\` on ${results.finishedAt} (started ${results.startedAt}); commit ${results.commit};
load average ${results.load.start.map((l) => l.toFixed(2)).join(", ")} at the start, ${results.load.end.map((l) => l.toFixed(2)).join(", ")} at the end.

Each file is uploaded with tus-js-client in 50 MiB chunks (untimed), then downloaded whole, each
download on a freshly restarted wrangler dev: **${GATEWAY_GET}** is \`GET <upload URL>\`, which reads
R2 in ranges (${results.rangePlan}), the next range's \`get\` in flight while one is sent;
**${PLAIN_GET}** is a bench route returning \`(await BUCKET.get(key)).body\` for the same object, one
\`get\` (${results.plainGetLimits}). **First byte**: from sending the request to the first body byte
at the client. Memory is sampled every 100 ms as for uploads: the resident memory of wrangler dev's
workerd processes (which also run local R2) and the bench Worker's isolate. Each complete download
is hashed as it arrives and compared with the file's sha256.

${cases}

${[cancelled, ...results.notes].filter(Boolean).map((line) => `- ${line}`).join("\n")}
`;
  return { terminal, markdown };
}
