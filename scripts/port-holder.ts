/**
 * Who holds a TCP port, for `npm start` to say so before wrangler fails with
 * a bare "Address already in use". Linux only (/proc); elsewhere nothing is
 * found and the caller says what to run instead.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";

export interface PortHolder {
  pid: number;
  /** Its command line, arguments separated by spaces. */
  command: string;
  /** Its working directory, when readable. */
  cwd: string | undefined;
  /** Its process group: wrangler dev's launcher and its workerd share one. */
  pgid: number;
}

/** Whether `port` on `host` can be bound now. */
export function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, host, () => server.close(() => resolveFree(true)));
  });
}

/** The processes with a socket listening on `port` (any address), as far as /proc lets this user see. */
export function portHolders(port: number): PortHolder[] {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(table)) continue;
    for (const row of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = row.trim().split(/\s+/);
      // local_address is ADDRESS:PORT in hex; state 0A is LISTEN; the socket's inode is the tenth field.
      const local = fields[1];
      if (!local || fields[3] !== "0A") continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.add(fields[9]!);
    }
  }
  if (inodes.size === 0) return [];
  const holders: PortHolder[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    const holds = fds.some((fd) => {
      try {
        const target = readlinkSync(`/proc/${entry}/fd/${fd}`);
        return target.startsWith("socket:[") && inodes.has(target.slice(8, -1));
      } catch {
        return false;
      }
    });
    if (holds) holders.push(describeProcess(Number(entry)));
  }
  return holders;
}

/** A process's command line, working directory and process group. */
export function describeProcess(pid: number): PortHolder {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  let cwd: string | undefined;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    cwd = undefined;
  }
  return { pid, command: read(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim(), cwd, pgid: statFields(pid)?.pgrp ?? pid };
}

/** The parent and process group of a process, from /proc/<pid>/stat; undefined once it is gone. */
export function statFields(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** A process's ancestors (pid and command line), nearest first. */
export function ancestors(pid: number): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (let at = statFields(pid)?.ppid; at !== undefined && at > 1 && found.length < 64; at = statFields(at)?.ppid) {
    found.push({ pid: at, command: describeProcess(at).command });
  }
  return found;
}
