/**
 * `npm start` as a new user runs it, on a fresh copy of the repository:
 * TOML numbers in `[vars]` work, a bad value stops it before anything
 * serves, and SIGTERM or SIGINT to the npm process stops every process it
 * started (wrangler, workerd), so the port is free again. And a Worker that
 * is misconfigured anyway (started without the check) answers with a 500 that
 * a browser on another origin can read. Its output is plain: every gateway
 * log line a JSON line (warnings too), each request logged once. And a port
 * held by what a killed `npm start` left behind is freed, while a port held
 * by anyone else's process is named with what to do.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { describeRun, run } from "../readme/snippets";
import { cleanCopy, killProcessesIn, portIsFree, processesIn, waitForAnswer, waitUntilNoProcessIn, type CleanCopy } from "./clean-copy";
import { bearer, HS256_SECRET, signHs256, tokenFor } from "./jwt";
import { freePort, ROOT, sleep } from "./server";

const TEN_GIB = 10 * 1024 ** 3;

let copy: CleanCopy;

beforeAll(async () => {
  copy = await cleanCopy("start");
  const toml = readFileSync(join(copy.dir, "wrangler.toml"), "utf8");
  expect(toml).toMatch(/^\[vars\]$/m);
  // A TOML number, as a new user writes it: it reaches the Worker as a number, not a string.
  await writeFile(join(copy.dir, "wrangler.toml"), toml.replace(/^\[vars\]$/m, `[vars]\nMAX_UPLOAD_SIZE = ${TEN_GIB}`));
}, 60_000);

afterEach(async () => {
  // Whatever a failed test left running in the copy must not keep serving.
  killProcessesIn(copy.dir);
  await rm(join(copy.dir, ".dev.vars"), { force: true });
});

afterAll(async () => {
  await copy?.remove();
});

/** The repository's node_modules/.bin first (the copy links it), for its Node 24, as under `npm test`. */
const ENV = {
  ...process.env,
  PATH: `${join(ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}`,
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
};

interface Started {
  child: ChildProcess;
  output(): string;
  exited(): boolean;
}

/** Starts `command` in the copy, in a process group of its own so that a failed test can still end it. */
function startIn(command: string, args: string[]): Started {
  const child = spawn(command, args, { cwd: copy.dir, detached: true, stdio: ["ignore", "pipe", "pipe"], env: ENV });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  return { child, output: () => output, exited: () => child.exitCode !== null || child.signalCode !== null };
}

async function waitForExit(started: Started, timeoutMs: number): Promise<number | null> {
  if (started.exited()) return started.child.exitCode;
  const timeout = sleep(timeoutMs).then(() => {
    throw new Error(`still running after ${timeoutMs} ms\n--- output ---\n${started.output()}`);
  });
  const [code] = (await Promise.race([once(started.child, "exit"), timeout])) as [number | null];
  return code;
}

describe("npm start", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "serves with [vars] numbers, and %s to the npm process stops wrangler and workerd",
    async (signal) => {
      const port = await freePort();
      const npm = startIn("npm", ["start", "--", "--port", String(port)]);
      const options = await waitForAnswer(`http://127.0.0.1:${port}/files/`, 90_000, npm.output, npm.exited);
      expect(options.ok, npm.output()).toBe(true);
      expect(options.headers.get("Tus-Max-Size")).toBe(String(TEN_GIB));
      expect(processesIn(copy.dir).map((found) => found.command).join("\n"), "workerd runs in the copy").toMatch(/workerd/);

      process.kill(npm.child.pid!, signal);
      await waitForExit(npm, 30_000);

      expect(await portIsFree(port), `port ${port} is free again\n${npm.output()}`).toBe(true);
      expect(processesIn(copy.dir), "no process of npm start is left").toEqual([]);
    },
    150_000,
  );

  it("stops before serving on a bad value, naming the variable, where it was set and the fix", async () => {
    await writeFile(join(copy.dir, ".dev.vars"), "AUTH_MODE=jwt\n");
    const port = await freePort();

    const ran = await run("npm", ["start", "--", "--port", String(port), "--var", "LOCK_TIMEOUT_MS:5", "--var", "PARTSIZE:8388608"], {
      cwd: copy.dir,
      timeoutMs: 90_000,
      env: { WRANGLER_SEND_METRICS: "false" },
    });

    const output = `${ran.stdout}\n${ran.stderr}`;
    expect(ran.code, describeRun(ran)).not.toBe(0);
    expect(output).toMatch(/JWT_SECRET is not set, but AUTH_MODE is jwt.*`npx wrangler secret put JWT_SECRET` for a deployment, or in .dev.vars for `npm start`; never in wrangler.toml \[vars\]/);
    expect(output).toMatch(/LOCK_TIMEOUT_MS must be between 100 and 60000, got 5 .* — set in --var/);
    expect(output).toMatch(/PARTSIZE \(--var\) is not a tus-edge variable and is ignored: did you mean PART_SIZE\?/);
    expect(output).toMatch(/Not starting/);
    expect(output).not.toMatch(/Ready on/);
    expect(processesIn(copy.dir)).toEqual([]);
  }, 120_000);
});

describe("npm start's output", () => {
  it("is plain JSON for every gateway log line, warnings included, logs each request once, and says why a 401 was", async () => {
    await writeFile(join(copy.dir, ".dev.vars"), `AUTH_MODE=jwt\nJWT_SECRET=${HS256_SECRET}\n`);
    const port = await freePort();
    // A webhook nobody listens on: the upload's created event fails to deliver, a HookInvocationError at warn level.
    const npm = startIn("npm", ["start", "--", "--port", String(port), "--var", "WEBHOOK_URL:http://127.0.0.1:9/hook"]);
    try {
      const endpoint = `http://127.0.0.1:${port}/files/`;
      await waitForAnswer(endpoint, 90_000, npm.output, npm.exited);
      const creation = { "Tus-Resumable": "1.0.0", "Upload-Length": "5" };
      const created = await fetch(endpoint, { method: "POST", headers: { ...creation, ...bearer(tokenFor("alice")) } });
      expect(created.status).toBe(201);
      const expired = signHs256({ sub: "alice", exp: Math.floor(Date.now() / 1000) - 3600 });
      expect((await fetch(endpoint, { method: "POST", headers: creation })).status).toBe(401);
      expect((await fetch(endpoint, { method: "POST", headers: { ...creation, ...bearer(expired) } })).status).toBe(401);
      const deadline = Date.now() + 30_000;
      while (!/"event":"HookInvocationError"/.test(npm.output()) && Date.now() < deadline) await sleep(200);
      await sleep(500);

      const lines = npm.output().split("\n");
      const structured = lines.filter((line) => line.includes('"event":'));
      for (const line of structured) expect(() => JSON.parse(line), `not a JSON line: ${JSON.stringify(line)}`).not.toThrow();
      const events = structured.map((line) => JSON.parse(line) as { level: string; event: string; method?: string; status?: number; reason?: string });
      expect(events.find((event) => event.event === "HookInvocationError")?.level, npm.output()).toBe("warn");
      expect(lines.filter((line) => /\[(WARNING|ERROR)\]/.test(line) && line.includes("{")), "no boxed JSON").toEqual([]);
      const posts = events.filter((event) => event.event === "ResponseOutgoing" && event.method === "POST");
      expect(posts.map((event) => event.status)).toEqual([201, 401, 401]);
      expect(posts[1]!.reason).toMatch(/^no token/);
      expect(posts[2]!.reason).toMatch(/the token has expired/);
      expect(npm.output()).not.toContain(expired.split(".")[2]!);
      expect(lines.filter((line) => /\bPOST \/files\/ (201|401)\b/.test(line)), "wrangler's own request lines").toEqual([]);
    } finally {
      process.kill(npm.child.pid!, "SIGTERM");
      await waitForExit(npm, 30_000);
    }
  }, 150_000);
});

describe("npm start on a port in use", () => {
  it("ends what an npm start killed with SIGKILL left running (wrangler, workerd), says so, and serves", async () => {
    const port = await freePort();
    const first = startIn("npm", ["start", "--", "--port", String(port)]);
    await waitForAnswer(`http://127.0.0.1:${port}/files/`, 90_000, first.output, first.exited);
    // npm and scripts/start.ts die at once; wrangler's own process group lives on, as after `kill -9`.
    process.kill(-first.child.pid!, "SIGKILL");
    await waitForExit(first, 10_000);
    expect(await portIsFree(port), "the leftover keeps the port").toBe(false);
    expect(processesIn(copy.dir).map((found) => found.command).join("\n")).toMatch(/workerd/);

    const second = startIn("npm", ["start", "--", "--port", String(port)]);
    try {
      // The leftover answers until it is ended: wait for the second's own wrangler to be ready.
      const deadline = Date.now() + 90_000;
      while (!/Ready on/.test(second.output()) && !second.exited() && Date.now() < deadline) await sleep(200);
      const options = await waitForAnswer(`http://127.0.0.1:${port}/files/`, 30_000, second.output, second.exited);
      expect(options.ok, second.output()).toBe(true);
      expect(second.output()).toMatch(new RegExp(`port ${port} is held by a wrangler dev that an earlier \`npm start\` of this checkout left running .*Ending it`));
      expect(second.output()).not.toMatch(/Address already in use/);
    } finally {
      process.kill(second.child.pid!, "SIGTERM");
      await waitForExit(second, 30_000);
    }
    expect(processesIn(copy.dir), "nothing is left after the second stops").toEqual([]);
  }, 200_000);

  it("leaves anyone else's process alone: names it, its pid, and what to do, and does not start", async () => {
    const holder = createServer();
    await new Promise<void>((listening) => holder.listen(0, "127.0.0.1", () => listening()));
    const port = (holder.address() as { port: number }).port;
    try {
      const ran = await run("npm", ["start", "--", "--port", String(port)], { cwd: copy.dir, timeoutMs: 90_000, env: { WRANGLER_SEND_METRICS: "false" } });
      const output = `${ran.stdout}\n${ran.stderr}`;
      expect(ran.code, describeRun(ran)).not.toBe(0);
      expect(output).toContain(`Not starting: port ${port} is in use by:`);
      expect(output).toContain(`pid ${process.pid}: `);
      expect(output).toContain(`kill ${process.pid}`);
      expect(output).toContain(`npm start -- --port ${port + 1}`);
      expect(output).not.toMatch(/Address already in use|Ready on/);
      expect(processesIn(copy.dir)).toEqual([]);
    } finally {
      await new Promise((closed) => holder.close(closed));
    }
  }, 120_000);
});

describe("a misconfigured Worker (wrangler dev without the check)", () => {
  it("answers 500 naming the variable (its value and the fix only in the log), Tus-Resumable and CORS headers, and lets a preflight through", async () => {
    const port = await freePort();
    const wrangler = startIn(join(copy.dir, "node_modules", ".bin", "wrangler"), ["dev", "--port", String(port), "--var", "MAX_UPLOAD_SIZE:10GB"]);
    try {
      const endpoint = `http://127.0.0.1:${port}/files/`;
      await waitForAnswer(endpoint, 90_000, wrangler.output, wrangler.exited);
      const origin = "https://app.example";

      const post = await fetch(endpoint, { method: "POST", headers: { Origin: origin, "Tus-Resumable": "1.0.0", "Upload-Length": "1" } });
      expect(post.status).toBe(500);
      expect(post.headers.get("Tus-Resumable")).toBe("1.0.0");
      expect(post.headers.get("Access-Control-Allow-Origin")).toBe("*");
      expect(post.headers.get("Access-Control-Expose-Headers")).toMatch(/Tus-Resumable/);
      const told = await post.text();
      expect(told).toMatch(/MAX_UPLOAD_SIZE is not valid, so this gateway serves no one until it is fixed\. The Worker's log says what is wrong/);
      // A value may hold credentials (a webhook URL's password): clients never see it.
      expect(told).not.toContain("10GB");
      // The Worker's console reaches wrangler's output a moment after the answer.
      const logged = /MAX_UPLOAD_SIZE must be a whole number of bytes, got "10GB" \(fix it in wrangler.toml \[vars\]/;
      for (const giveUp = Date.now() + 10_000; !logged.test(wrangler.output()) && Date.now() < giveUp; ) await sleep(100);
      expect(wrangler.output()).toMatch(logged);

      const preflight = await fetch(endpoint, {
        method: "OPTIONS",
        headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "tus-resumable,upload-length" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe("*");
      expect(preflight.headers.get("Access-Control-Allow-Methods")).toMatch(/POST/);

      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(500);
      expect(await page.text()).toMatch(/MAX_UPLOAD_SIZE/);
    } finally {
      process.kill(-wrangler.child.pid!, "SIGTERM");
      await waitUntilNoProcessIn(copy.dir, 20_000);
    }
  }, 150_000);
});
