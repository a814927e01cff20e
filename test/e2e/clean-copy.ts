/**
 * A copy of the repository as a fresh clone has it — the files git tracks or
 * would track, none of what .gitignore keeps out (public/, .wrangler/,
 * .dev.vars) — with node_modules linked in, for tests of the npm commands a
 * new user runs (`npm start`, `npm run deploy`). Plus the process and port
 * checks those tests make.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { freePort, ROOT, sleep } from "./server";

export interface CleanCopy {
  dir: string;
  remove(): Promise<void>;
}

/**
 * The working tree's files as they would be committed (tracked, or new and
 * not ignored), so the test checks the code being changed; generated and
 * local files are left behind, as in a clone.
 */
export async function cleanCopy(prefix: string): Promise<CleanCopy> {
  const dir = await mkdtemp(join(tmpdir(), `tus-edge-${prefix}-`));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" });
    for (const path of listed.split("\0")) {
      // Deleted in the working tree but still tracked: a commit would delete it too. node_modules
      // is linked below (a symlinked node_modules is not matched by .gitignore's `node_modules/`).
      if (!path || path === "node_modules" || !existsSync(join(ROOT, path))) continue;
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await copyFile(join(ROOT, path), join(dir, path));
    }
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
  } catch (error) {
    await remove();
    throw error;
  }
  return { dir, remove };
}

/** Processes (not zombies) whose working directory is `dir` or below: what a command started there left running. */
export function processesIn(dir: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      found.push({ pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Waits until nothing runs in `dir`; then kills what is left after `timeoutMs`. */
export async function waitUntilNoProcessIn(dir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processesIn(dir).length > 0) {
    if (Date.now() > deadline) {
      killProcessesIn(dir);
      return;
    }
    await sleep(100);
  }
}

/** Kills what `processesIn` finds: a failed test must not leave a server behind. */
export function killProcessesIn(dir: string): void {
  for (const { pid } of processesIn(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Whether nothing listens on the port: it can be bound again. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}

/** Waits until `url` answers OPTIONS at all (any status); throws after `timeoutMs` with `output()`. */
export async function waitForAnswer(url: string, timeoutMs: number, output: () => string, exited: () => boolean): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited()) {
    try {
      return await fetch(url, { method: "OPTIONS", signal: AbortSignal.timeout(2000) });
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms${exited() ? " (the command exited)" : ""}\n--- output ---\n${output()}`);
}
