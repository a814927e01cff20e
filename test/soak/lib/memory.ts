/**
 * Check 7: the gateway's memory over the run. Every 2 s: the resident memory
 * of the workerd processes of the soak's `wrangler dev` (found as bench/run.ts
 * finds them, again after each restart) and the memory of the gateway's
 * isolate through workerd's V8 inspector, as bench/isolate-memory.ts reads it
 * (JavaScript heap in use plus ArrayBuffer backing stores, what Cloudflare's
 * 128 MB per-isolate limit applies to): every 2 s as it is (garbage
 * included: the peak), and every 10 s after asking V8 for a full collection
 * (`HeapProfiler.collectGarbage`: what the isolate really keeps, the figure
 * the bounds apply to).
 */
import { openInspector, rssOf, wranglerWorkerd } from "../../e2e/local-runtime.ts";

const MiB = 1024 * 1024;

/**
 * Bounds, on the live figure (after a full collection):
 *  - it stays under LIVE_LIMIT, which leaves a quarter of Cloudflare's
 *    128 MB per-isolate limit (122 MiB) for the garbage a PATCH makes between
 *    collections. What the gateway budgets is its part and read buffers
 *    (ISOLATE_BUFFER_BUDGET, 48 MiB by default); the rest (code, the Durable
 *    Objects loaded, requests in flight, hook answers) is not budgeted, and
 *    the 10-minute run saw up to 80 MiB live with 6 clients (results/latest.md);
 *  - a leak: once every upload has finished, been ended or expired (after
 *    check 5), the live figure is at most RETURN_LIMIT above the lowest live
 *    figure of the whole run: what the uploads took is given back. The
 *    one-minute run of seed 42 ended 15.6 and 21.5 MiB above its lowest on
 *    the same code (2026-12-07: Durable Objects not yet evicted, compiled
 *    code), so the bound is 32 MiB: a leaked part buffer per upload (5 MiB
 *    or more, dozens of uploads a minute) would still be hundreds over it;
 *  - the workerd processes' resident memory stays under RSS_LIMIT: it also
 *    holds local R2's simulator and the SQLite pages of every Durable Object
 *    (the bench measured 270–500 MiB for one upload), so only a gross leak
 *    would pass it.
 * The peak with garbage is reported, not bounded: V8 collects when it needs to.
 */
export const LIVE_LIMIT = 96 * MiB;
export const RETURN_LIMIT = 32 * MiB;
export const RSS_LIMIT = 2 * 1024 * MiB;
/** Every this many samples (2 s apart), the sample is taken after a full collection. */
const LIVE_EVERY = 5;

interface Sample {
  at: number;
  rss: number;
  /** With garbage. */
  isolate?: number;
  /** After a full collection. */
  live?: number;
}

export interface Life {
  pids: number[];
  samples: Sample[];
}

export class MemoryWatch {
  readonly lives: Life[] = [];
  private readonly persistDir: string;
  private readonly worker: string;
  private isolate: Inspector | undefined;
  /** Why the reading at the end failed, when it did. */
  private atEndError: string | undefined;
  private count = 0;
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

  /** The live figure once the run is over (every upload finished, ended or expired), for the leak bound. */
  atEnd: number | undefined;

  /**
   * The live figure once every upload has ended. `wake` sends the gateway a
   * request: workerd handles inspector commands on the isolate's thread, so
   * an isolate left idle (as it is once everything has ended) may not answer
   * one until a request comes in.
   */
  async sampleAtEnd(wake: () => Promise<unknown>): Promise<void> {
    // A busy machine can keep the inspector from answering for a while too: up to about a minute
    // of tries, each on a fresh session, and the last error kept.
    for (let attempt = 0; attempt < 10 && this.atEnd === undefined; attempt++) {
      const waking = setInterval(() => void wake().catch(() => {}), 500);
      try {
        this.isolate ??= await Inspector.connect(runtimePids(this.persistDir), this.worker);
        await this.isolate.ask("HeapProfiler.collectGarbage");
        this.atEnd = await this.isolate.heap();
      } catch (error) {
        this.atEndError = error instanceof Error ? error.message : String(error);
        this.isolate?.close();
        this.isolate = undefined;
        await new Promise((resume) => setTimeout(resume, 2000));
      } finally {
        clearInterval(waking);
      }
    }
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
      let live: number | undefined;
      try {
        this.isolate ??= await Inspector.connect(pids, this.worker);
        if (++this.count % LIVE_EVERY === 0) {
          await this.isolate.ask("HeapProfiler.collectGarbage");
          live = await this.isolate.heap();
        } else {
          isolate = await this.isolate.heap();
        }
      } catch {
        this.isolate?.close();
        this.isolate = undefined;
      }
      if (!this.paused) life.samples.push({ at: Date.now(), rss, isolate: isolate ?? live, live });
    } finally {
      this.busy = false;
    }
  }

  /** Violations of the bounds, and a line of figures. */
  verdict(): { problems: string[]; figures: string; peakRss: number; peakIsolate: number; peakLive: number } {
    const problems: string[] = [];
    const all = this.lives.flatMap((life) => life.samples);
    const peakRss = Math.max(0, ...all.map((s) => s.rss));
    const isolates = all.flatMap((s) => (s.isolate === undefined ? [] : [s.isolate]));
    const peakIsolate = Math.max(0, ...isolates);
    if (peakRss > RSS_LIMIT) problems.push(`the workerd processes held ${(peakRss / MiB).toFixed(0)} MiB, over ${RSS_LIMIT / MiB} MiB`);
    const growths: string[] = [];
    const lives = all.flatMap((s) => (s.live === undefined ? [] : [s.live]));
    const peakLive = Math.max(0, ...lives);
    if (peakLive > LIVE_LIMIT) problems.push(`the gateway's isolate kept ${(peakLive / MiB).toFixed(1)} MiB after a full collection, over ${LIVE_LIMIT / MiB} MiB`);
    if (this.atEnd !== undefined && lives.length > 0) {
      const lowest = Math.min(...lives);
      growths.push(`live at the end ${(this.atEnd / MiB).toFixed(1)} MiB, lowest of the run ${(lowest / MiB).toFixed(1)} MiB`);
      if (this.atEnd - lowest > RETURN_LIMIT) problems.push(`once every upload had ended, the isolate still kept ${(this.atEnd / MiB).toFixed(1)} MiB, ${((this.atEnd - lowest) / MiB).toFixed(1)} MiB above the lowest of the run (bound ${RETURN_LIMIT / MiB} MiB): a leak`);
    } else if (this.atEnd === undefined) {
      problems.push(`the isolate's live memory could not be read at the end (${this.atEndError ?? "no answer"})`);
    }
    // The live figure over the longest life, so a trend can be read (MiB, one value per sample after a collection).
    const longest = [...this.lives].sort((a, b) => b.samples.length - a.samples.length)[0];
    const series = longest ? longest.samples.filter((s) => s.live !== undefined).map((s) => (s.live! / MiB).toFixed(0)).join(" ") : "";
    if (series) growths.push(`live MiB every 10 s over the longest life: ${series}`);
    const figures =
      `${all.length} samples over ${this.lives.length} lives of the runtime; workerd RSS peak ${(peakRss / MiB).toFixed(0)} MiB (bound ${RSS_LIMIT / MiB}); ` +
      `isolate peak ${(peakIsolate / MiB).toFixed(1)} MiB with garbage, ${(peakLive / MiB).toFixed(1)} MiB live after a full collection (${lives.length} such samples; bound ${LIVE_LIMIT / MiB})${growths.length ? `; ${growths.join("; ")}` : "; no live figure at the end"}`;
    return { problems, figures, peakRss, peakIsolate, peakLive };
  }
}

/** The workerd processes in the process group of the wrangler started with `--persist-to <dir>`, in pid order (found as bench/run.ts finds them: test/e2e/local-runtime.ts). */
export function runtimePids(persistDir: string): number[] {
  return (wranglerWorkerd(persistDir)?.pids ?? []).sort((a, b) => a - b);
}

/** A session on workerd's V8 inspector for one Worker's isolate (opened as bench/isolate-memory.ts opens it: test/e2e/local-runtime.ts). */
class Inspector {
  private readonly socket: WebSocket;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 1;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; method?: string; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id!);
      // workerd answers some commands by sending them back as they were sent, with no result.
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result ?? {});
    });
    socket.addEventListener("close", () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error("the inspector closed the session"));
      this.pending.clear();
    });
  }

  static async connect(pids: number[], worker: string): Promise<Inspector> {
    const socket = await openInspector(pids, worker, 5000);
    if (!socket) throw new Error(`no workerd inspector lists core:user:${worker}`);
    return new Inspector(socket);
  }

  ask(method: string, params?: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the inspector did not answer ${method} within 10 s`));
      }, 10_000);
      this.pending.set(id, {
        resolve: (result) => (clearTimeout(timer), resolve(result)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.socket.send(JSON.stringify({ id, method, ...(params && { params }) }));
    });
  }

  /** JavaScript heap in use plus ArrayBuffer backing stores, bytes. */
  async heap(): Promise<number> {
    const usage = (await this.ask("Runtime.getHeapUsage")) as { usedSize?: number; backingStorageSize?: number };
    if (usage.usedSize === undefined) throw new Error("Runtime.getHeapUsage gave no usedSize");
    return usage.usedSize + (usage.backingStorageSize ?? 0);
  }

  close(): void {
    this.socket.close();
  }
}
