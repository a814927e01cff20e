/**
 * The memory of one Worker's isolate in a local workerd — the figure
 * Cloudflare's 128 MB per-isolate limit applies to — read through workerd's
 * own V8 inspector: the JavaScript heap in use plus the backing stores of
 * ArrayBuffers (`Runtime.getHeapUsage`). The resident memory of the workerd
 * process also holds local R2's simulator (other isolates and native
 * buffers); this does not.
 *
 * wrangler dev starts workerd with `--inspector-addr=127.0.0.1:0`, so the
 * port is found among the sockets the process listens on: the one whose
 * `/json` lists the Worker as a target (test/e2e/local-runtime.ts).
 */
import { openInspector } from "../test/e2e/local-runtime.ts";
import type { CpuProfile } from "./cpu-attribution";

const TIMEOUT_MS = 5000;

interface HeapUsage {
  usedSize: number;
  backingStorageSize?: number;
}

export class IsolateMemory {
  readonly #pids: number[];
  readonly #worker: string;
  #socket: Promise<WebSocket> | undefined;
  readonly #pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void; method: string }>();
  #nextId = 1;
  #closed = false;

  private constructor(pids: number[], worker: string) {
    this.#pids = pids;
    this.#worker = worker;
  }

  /** Connects to the inspector of `worker` (its name in the wrangler configuration) in one of `pids`. */
  static async connect(pids: number[], worker: string): Promise<IsolateMemory> {
    const memory = new IsolateMemory(pids, worker);
    await memory.sample();
    return memory;
  }

  /**
   * Bytes: JavaScript heap in use plus ArrayBuffer backing stores. workerd
   * sometimes closes an inspector session (e.g. when wrangler opens its own
   * just after start-up): a sample cut off that way is taken again on a new one.
   */
  async sample(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const usage = await this.#ask(await (this.#socket ??= this.#open()));
        return usage.usedSize + (usage.backingStorageSize ?? 0);
      } catch (error) {
        this.#socket = undefined;
        if (this.#closed || attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  close(): void {
    this.#closed = true;
    void this.#socket?.then((socket) => socket.close(), () => {});
  }

  #ask<T = HeapUsage>(socket: WebSocket, method = "Runtime.getHeapUsage", params?: object): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the inspector did not answer ${method} within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      const settle = <V>(then: (value: V) => void) => (value: V) => {
        clearTimeout(timer);
        then(value);
      };
      this.#pending.set(id, { resolve: settle(resolve as (value: unknown) => void), reject: settle(reject), method });
      socket.send(JSON.stringify({ id, method, ...(params && { params }) }));
    });
  }

  async #open(): Promise<WebSocket> {
    const socket = await openInspector(this.#pids, this.#worker, TIMEOUT_MS);
    if (!socket) throw new Error(`no workerd inspector lists core:user:${this.#worker} (processes ${this.#pids.join(", ")})`);
    socket.addEventListener("message", (event) => this.#answer(String(event.data)));
    socket.addEventListener("close", () => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error("the inspector closed the session"));
      this.#pending.clear();
    });
    return socket;
  }

  #answer(data: string): void {
    const message = JSON.parse(data) as { id?: number; method?: string; result?: unknown; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
    if (!waiter) return;
    // workerd answers the profiler's commands by sending them back as they were sent, with no
    // result; Profiler.stop's answer with the profile may follow such an echo.
    const echo = message.method !== undefined && message.result === undefined && message.error === undefined;
    if (echo && waiter.method === "Profiler.stop") return;
    this.#pending.delete(message.id!);
    if (echo) waiter.resolve({});
    else if (message.result) waiter.resolve(message.result);
    else waiter.reject(new Error(`${waiter.method}: ${message.error?.message ?? `no result in ${data.slice(0, 200)}`}`));
  }

  /**
   * Starts V8's sampling CPU profiler in the isolate (asking for a sample every 100 µs), for
   * `stopCpuProfile`. One profile at a time, on the current session.
   */
  async startCpuProfile(): Promise<void> {
    const socket = await (this.#socket ??= this.#open());
    await this.#ask(socket, "Profiler.enable", {});
    await this.#ask(socket, "Profiler.setSamplingInterval", { interval: 100 });
    await this.#ask(socket, "Profiler.start", {});
  }

  /**
   * Stops the profile and answers it as V8 made it (bench/cpu-attribution.ts
   * splits it between the Worker and the Durable Object). Undefined when the
   * session was lost meanwhile (workerd sometimes closes one).
   */
  async stopCpuProfile(): Promise<CpuProfile | undefined> {
    try {
      const socket = await (this.#socket ??= this.#open());
      const { profile } = await this.#ask<{ profile: CpuProfile }>(socket, "Profiler.stop", {});
      await this.#ask(socket, "Profiler.disable", {});
      return profile;
    } catch {
      this.#socket = undefined;
      return undefined;
    }
  }
}
