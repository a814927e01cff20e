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

const TIMEOUT_MS = 5000;

interface HeapUsage {
  usedSize: number;
  backingStorageSize?: number;
}

export class IsolateMemory {
  readonly #pids: number[];
  readonly #worker: string;
  #socket: Promise<WebSocket> | undefined;
  readonly #pending = new Map<number, { resolve: (usage: HeapUsage) => void; reject: (error: Error) => void }>();
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
        if (this.#closed || attempt >= 3) throw error;
      }
    }
  }

  close(): void {
    this.#closed = true;
    void this.#socket?.then((socket) => socket.close(), () => {});
  }

  #ask(socket: WebSocket): Promise<HeapUsage> {
    const id = this.#nextId++;
    return new Promise<HeapUsage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the inspector did not answer within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      const settle = <T>(then: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        then(value);
      };
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      socket.send(JSON.stringify({ id, method: "Runtime.getHeapUsage" }));
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
    const message = JSON.parse(data) as { id?: number; result?: HeapUsage; error?: { message: string } };
    const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
    if (!waiter) return;
    this.#pending.delete(message.id!);
    if (message.result) waiter.resolve(message.result);
    else waiter.reject(new Error(`Runtime.getHeapUsage: ${message.error?.message ?? "no result"}`));
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
