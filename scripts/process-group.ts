/**
 * Runs a command in a process group of its own and stops the whole group on
 * SIGINT, SIGTERM and SIGHUP. `wrangler dev` is a node launcher, a node CLI
 * and workerd processes: signalling the launcher alone leaves workerd serving
 * the port, so the signal goes to every process of the group, and this
 * process exits only once none is left.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** How long the group gets to stop by itself before SIGKILL. */
const GRACE_MS = 10_000;

/**
 * Runs `command` until it exits or a stop signal arrives; resolves with the
 * exit code for this process. With `lineFilter`, its output is read line by
 * line and each line printed as a filter (one per stream, made by
 * `lineFilter`) returns it: on the stream it came from, or on stdout when the
 * filter says so; undefined prints nothing.
 */
export function runAsGroup(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  lineFilter?: () => (line: string) => { text: string; toStdout?: boolean } | undefined,
): Promise<number> {
  // stdin is not passed on: a process group other than the terminal's that
  // reads from it would be stopped by SIGTTIN (wrangler's key shortcuts).
  const output = lineFilter ? "pipe" : "inherit";
  const child = spawn(command, args, { detached: true, stdio: ["ignore", output, output], env });
  if (lineFilter) {
    for (const [from, to] of [
      [child.stdout!, process.stdout],
      [child.stderr!, process.stderr],
    ] as const) {
      const filterLine = lineFilter();
      createInterface({ input: from, crlfDelay: Infinity }).on("line", (line) => {
        const shown = filterLine(line);
        if (shown !== undefined) (shown.toStdout ? process.stdout : to).write(`${shown.text}\n`);
      });
    }
  }
  return new Promise((resolveCode, reject) => {
    let stopping: Promise<void> | undefined;
    const stop = (signal: NodeJS.Signals) => {
      // A second signal (the terminal's Ctrl-C reaches npm and this process) changes nothing.
      stopping ??= stopGroup(child.pid!, signal === "SIGHUP" ? "SIGTERM" : signal);
      stopping.then(() => resolveCode(0), reject);
    };
    for (const signal of STOP_SIGNALS) process.on(signal, stop);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (stopping) return;
      // The launcher is gone by itself: take down whatever it left behind.
      void stopGroup(child.pid!, "SIGTERM").then(() => resolveCode(code ?? (signal ? 1 : 0)), reject);
    });
  });
}

/**
 * Signals the group, escalates to SIGKILL after the grace period, and waits
 * until no process of it runs; a group that outlives SIGKILL by another grace
 * period is an error rather than a wait without end.
 */
export async function stopGroup(pgid: number, signal: NodeJS.Signals): Promise<void> {
  signalGroup(pgid, signal);
  const killAt = Date.now() + GRACE_MS;
  while (groupRunning(pgid)) {
    if (Date.now() > killAt) signalGroup(pgid, "SIGKILL");
    if (Date.now() > killAt + GRACE_MS) throw new Error(`process group ${pgid} survived SIGKILL`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

/**
 * True while a process of the group runs. Zombies do not count: workerd's
 * processes are reaped by whatever init the machine has, maybe late or never.
 */
function groupRunning(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  if (process.platform !== "linux") return true;
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") return true;
  }
  return false;
}
