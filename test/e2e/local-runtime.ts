/**
 * A `wrangler dev`'s local runtime seen from outside, for the bench
 * (bench/run.ts, bench/isolate-memory.ts) and the soak (test/soak/lib): its
 * workerd processes and their resident memory (/proc), the V8 inspector of
 * one of its Workers, and the objects local R2 (miniflare) stores in the
 * state directory (`--persist-to`). Node only; run by
 * `node --experimental-strip-types` too.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

/* ---------- processes, from /proc ---------- */

export interface ProcInfo {
  pid: number;
  pgid: number;
  comm: string;
  cmdline: string;
}

/** Every process that is not a zombie. */
export function listProcesses(): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      if (fields[0] !== "Z") found.push({ pid: Number(entry), pgid: Number(fields[2]), comm, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * The workerd processes (in /proc's order) in the process group of the
 * wrangler started with `--persist-to <persistDir>` (test/e2e/server.ts gives
 * it a group of its own), and that group; undefined when there is no such
 * wrangler.
 */
export function wranglerWorkerd(persistDir: string): { pgid: number; pids: number[] } | undefined {
  const all = listProcesses();
  const wrangler = all.find((p) => p.cmdline.includes("wrangler") && p.cmdline.includes(`--persist-to ${persistDir} `));
  if (!wrangler) return undefined;
  return { pgid: wrangler.pgid, pids: all.filter((p) => p.pgid === wrangler.pgid && p.comm === "workerd").map((p) => p.pid) };
}

/** A process's VmRSS, bytes; 0 when it is gone. */
export function rssOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The TCP ports a process listens on, from its socket descriptors and /proc/net/tcp. */
export function listeningPorts(pid: number): number[] {
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

/* ---------- workerd's V8 inspector ---------- */

/**
 * An open WebSocket on workerd's V8 inspector for the isolate of `worker`
 * (its name in the wrangler configuration), found among the ports `pids`
 * listen on (wrangler dev starts workerd with `--inspector-addr=127.0.0.1:0`):
 * the one whose `/json` lists the Worker as a target. Undefined when none does.
 */
export async function openInspector(pids: number[], worker: string, timeoutMs: number): Promise<WebSocket | undefined> {
  const target = `core:user:${worker}`;
  for (const pid of pids) {
    for (const port of listeningPorts(pid)) {
      const targets = await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(timeoutMs) })
        .then((response) => (response.ok ? (response.json() as Promise<{ id: string; webSocketDebuggerUrl: string }[]>) : []))
        .catch(() => []);
      const found = Array.isArray(targets) ? targets.find((t) => t.id === target) : undefined;
      if (!found) continue;
      const socket = new WebSocket(found.webSocketDebuggerUrl);
      await new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("error", () => reject(new Error(`could not connect to ${found.webSocketDebuggerUrl}`)), { once: true });
      });
      return socket;
    }
  }
  return undefined;
}

/* ---------- local R2's files ---------- */

/**
 * Asks `use` about each SQLite file of local R2's index in wrangler's state
 * directory that holds objects (`_mf_objects`), opened read-only, until it
 * answers something other than undefined.
 */
export function searchLocalR2<T>(persistDir: string, use: (db: DatabaseSync, path: string) => T | undefined): T | undefined {
  const index = join(persistDir, "v3", "r2", "miniflare-R2BucketObject");
  if (!existsSync(index)) return undefined;
  for (const name of readdirSync(index).filter((file) => file.endsWith(".sqlite") && file !== "metadata.sqlite")) {
    const path = join(index, name);
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_mf_objects'").get()) continue;
      const answer = use(db, path);
      if (answer !== undefined) return answer;
    } finally {
      db.close();
    }
  }
  return undefined;
}

/** Where local R2 keeps the blob files of `bucket` (its name in the wrangler configuration). */
export function localR2Blobs(persistDir: string, bucket: string): string {
  return join(persistDir, "v3", "r2", bucket, "blobs");
}

/** The blobs of the object at `key` in the order a GET assembles them (its blob, or its parts' in part order); undefined when the index has no such object. */
export function objectBlobIds(db: DatabaseSync, key: string): string[] | undefined {
  const row = db.prepare("SELECT blob_id FROM _mf_objects WHERE key = ?").get(key) as { blob_id: string | null } | undefined;
  if (!row) return undefined;
  return row.blob_id
    ? [row.blob_id]
    : (db.prepare("SELECT blob_id FROM _mf_multipart_parts WHERE object_key = ? ORDER BY part_number").all(key) as { blob_id: string }[]).map((r) => r.blob_id);
}

/** sha256 and size of the blob files `ids` (in `blobs`) one after the other: the bytes a GET would send. */
export async function sha256OfBlobs(blobs: string, ids: string[]): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for (const id of ids) {
    for await (const chunk of createReadStream(join(blobs, id))) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  }
  return { sha256: hash.digest("hex"), size };
}
