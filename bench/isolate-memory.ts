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
 * `/json` lists the Worker as a target.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
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
    const target = `core:user:${this.#worker}`;
    for (const pid of this.#pids) {
      for (const port of listeningPorts(pid)) {
        const targets = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
          .then((response) => (response.ok ? (response.json() as Promise<{ id: string; webSocketDebuggerUrl: string }[]>) : []))
          .catch(() => []);
        const found = Array.isArray(targets) ? targets.find((t) => t.id === target) : undefined;
        if (!found) continue;
        const socket = new WebSocket(found.webSocketDebuggerUrl);
        await new Promise<void>((resolve, reject) => {
          socket.addEventListener("open", () => resolve(), { once: true });
          socket.addEventListener("error", () => reject(new Error(`could not connect to ${found.webSocketDebuggerUrl}`)), { once: true });
        });
        socket.addEventListener("message", (event) => this.#answer(String(event.data)));
        socket.addEventListener("close", () => {
          for (const waiter of this.#pending.values()) waiter.reject(new Error("the inspector closed the session"));
          this.#pending.clear();
        });
        return socket;
      }
    }
    throw new Error(`no workerd inspector lists ${target} (processes ${this.#pids.join(", ")})`);
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

/** The TCP ports a process listens on, from its socket descriptors and /proc/net/tcp. */
function listeningPorts(pid: number): number[] {
  const sockets = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = /^socket:\[(\d+)\]$/.exec(safeReadlink(`/proc/${pid}/fd/${fd}`));
      if (link) sockets.add(link[1]!);
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // local_address is "ADDR:PORT" in hex, state 0A is LISTEN, field 9 the socket's inode.
    if (fields.length > 9 && fields[3] === "0A" && sockets.has(fields[9]!)) ports.push(parseInt(fields[1]!.split(":")[1]!, 16));
  }
  return ports;
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}
