/**
 * Check 7: the gateway's memory over the run. Every 2 s: the resident memory
 * of the workerd processes of the soak's `wrangler dev` (found as bench/run.ts
 * finds them, again after each restart) and the memory of the gateway's
 * isolate through workerd's inspector (bench/isolate-memory.ts: JavaScript heap
 * in use plus ArrayBuffer backing stores, what Cloudflare's 128 MB
 * per-isolate limit applies to).
 */
import { readdirSync, readFileSync } from "node:fs";
import { IsolateMemory } from "../../../bench/isolate-memory.ts";

const MiB = 1024 * 1024;

/**
 * Bounds. The isolate's figure counts garbage until V8 collects it (a PATCH
 * streams megabytes through ArrayBuffers that live until the next
 * collection), so its peaks say little (they are reported); what a leak moves
 * is the floor, the least the isolate held over a window of FLOOR_WINDOW_MS,
 * in which V8 collects at least once under this load. So:
 *  - every window's floor stays under FLOOR_LIMIT: the part and read buffers
 *    the gateway may hold (ISOLATE_BUFFER_BUDGET, 48 MiB by default) plus
 *    32 MiB for everything else (code, the Durable Objects' state, the small
 *    buffers of PATCHes past the budget, hook answers) — within Cloudflare's
 *    128 MB per-isolate limit;
 *  - in a life of the runtime that lasts LIFE_FOR_GROWTH_MS or more, the
 *    floor of its last window is at most FLOOR_GROWTH_LIMIT above the highest
 *    floor of its first half: the buffer budget fills early under load and
 *    stays full, garbage comes and goes, a leak only grows;
 *  - the workerd processes' resident memory stays under RSS_LIMIT: it also
 *    holds local R2's simulator and the SQLite pages of every Durable Object
 *    (the bench measured 270–500 MiB for one upload), so only a gross leak
 *    would pass it.
 */
export const FLOOR_LIMIT = 80 * MiB;
export const FLOOR_GROWTH_LIMIT = 16 * MiB;
export const RSS_LIMIT = 2 * 1024 * MiB;
const LIFE_FOR_GROWTH_MS = 90_000;
const FLOOR_WINDOW_MS = 20_000;

interface Sample {
  at: number;
  rss: number;
  isolate?: number;
}

export interface Life {
  pids: number[];
  samples: Sample[];
}

export class MemoryWatch {
  readonly lives: Life[] = [];
  private readonly persistDir: string;
  private readonly worker: string;
  private isolate: IsolateMemory | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private paused = false;

  constructor(persistDir: string, worker: string) {
    this.persistDir = persistDir;
    this.worker = worker;
  }

  start(): void {
    this.timer = setInterval(() => void this.sample(), 2000);
  }

  /** Around a restart: no samples, and the processes are looked up again afterwards. */
  pause(): void {
    this.paused = true;
    this.isolate?.close();
    this.isolate = undefined;
  }

  resume(): void {
    this.paused = false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.isolate?.close();
  }

  private async sample(): Promise<void> {
    if (this.busy || this.paused) return;
    this.busy = true;
    try {
      const pids = runtimePids(this.persistDir);
      if (pids.length === 0) return;
      let life = this.lives.at(-1);
      if (!life || life.pids.join() !== pids.join()) {
        life = { pids, samples: [] };
        this.lives.push(life);
        this.isolate?.close();
        this.isolate = undefined;
      }
      const rss = pids.reduce((sum, pid) => sum + rssOf(pid), 0);
      let isolate: number | undefined;
      try {
        this.isolate ??= await IsolateMemory.connect(pids, this.worker);
        isolate = await this.isolate.sample();
      } catch {
        this.isolate = undefined;
      }
      if (!this.paused) life.samples.push({ at: Date.now(), rss, isolate });
    } finally {
      this.busy = false;
    }
  }

  /** Violations of the bounds, and a line of figures. */
  verdict(): { problems: string[]; figures: string; peakRss: number; peakIsolate: number } {
    const problems: string[] = [];
    const all = this.lives.flatMap((life) => life.samples);
    const peakRss = Math.max(0, ...all.map((s) => s.rss));
    const isolates = all.flatMap((s) => (s.isolate === undefined ? [] : [s.isolate]));
    const peakIsolate = Math.max(0, ...isolates);
    if (peakRss > RSS_LIMIT) problems.push(`the workerd processes held ${(peakRss / MiB).toFixed(0)} MiB, over ${RSS_LIMIT / MiB} MiB`);
    const growths: string[] = [];
    let highestFloor = 0;
    for (const [index, life] of this.lives.entries()) {
      const withIsolate = life.samples.filter((s) => s.isolate !== undefined);
      if (withIsolate.length < 2) continue;
      const first = withIsolate[0]!.at;
      const last = withIsolate.at(-1)!.at;
      const floor = (from: number, to: number) => Math.min(...withIsolate.filter((s) => s.at >= from && s.at <= to).map((s) => s.isolate!));
      for (let from = first; from + FLOOR_WINDOW_MS <= last; from += FLOOR_WINDOW_MS / 2) {
        const value = floor(from, from + FLOOR_WINDOW_MS);
        highestFloor = Math.max(highestFloor, value);
        if (value > FLOOR_LIMIT) problems.push(`life ${index + 1} of the runtime: the isolate held at least ${(value / MiB).toFixed(1)} MiB for ${FLOOR_WINDOW_MS / 1000} s (from ${new Date(from).toISOString()}), over ${FLOOR_LIMIT / MiB} MiB`);
      }
      if (last - first < LIFE_FOR_GROWTH_MS) continue;
      const middle = first + (last - first) / 2;
      let start = 0;
      for (let from = first; from + FLOOR_WINDOW_MS <= middle; from += FLOOR_WINDOW_MS / 2) start = Math.max(start, floor(from, from + FLOOR_WINDOW_MS));
      const end = floor(last - FLOOR_WINDOW_MS, last);
      growths.push(`life ${index + 1} (${((last - first) / 1000).toFixed(0)} s): highest floor of its first half ${(start / MiB).toFixed(1)} MiB, last floor ${(end / MiB).toFixed(1)} MiB`);
      if (end - start > FLOOR_GROWTH_LIMIT) problems.push(`the isolate's floor grew by ${((end - start) / MiB).toFixed(1)} MiB in the second half of life ${index + 1} of the runtime, over ${FLOOR_GROWTH_LIMIT / MiB} MiB`);
    }
    if (isolates.length === 0) problems.push("the gateway's isolate could not be sampled once (workerd's inspector not found)");
    const figures =
      `${all.length} samples over ${this.lives.length} lives of the runtime; workerd RSS peak ${(peakRss / MiB).toFixed(0)} MiB (bound ${RSS_LIMIT / MiB}); ` +
      `isolate peak ${(peakIsolate / MiB).toFixed(1)} MiB with garbage, highest ${FLOOR_WINDOW_MS / 1000}-s floor ${(highestFloor / MiB).toFixed(1)} MiB (bound ${FLOOR_LIMIT / MiB})${growths.length ? `; ${growths.join("; ")}` : "; no life lasted long enough to compare its floors"}`;
    return { problems, figures, peakRss, peakIsolate };
  }
}

function rssOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The workerd processes in the process group of the wrangler started with `--persist-to <dir>` (as bench/run.ts finds them). */
export function runtimePids(persistDir: string): number[] {
  const all: { pid: number; pgid: number; comm: string; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      if (fields[0] !== "Z") all.push({ pid: Number(entry), pgid: Number(fields[2]), comm, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  const wrangler = all.find((p) => p.cmdline.includes("wrangler") && p.cmdline.includes(`--persist-to ${persistDir} `));
  if (!wrangler) return [];
  return all.filter((p) => p.pgid === wrangler.pgid && p.comm === "workerd").map((p) => p.pid).sort((a, b) => a - b);
}
