/**
 * A real local gateway for end-to-end tests and the benchmark: `wrangler dev`
 * on a free port with its own state directory, plus helpers for test data.
 *
 * This file imports only `node:` built-ins and scripts/process-group.ts (by its
 * full name), so the benchmark can load it with Node's own TypeScript support
 * (`node --experimental-strip-types`), which resolves no extensionless relative
 * imports.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createCipheriv, createHash, type Cipheriv } from "node:crypto";
import { createWriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { stopGroup } from "../../scripts/process-group.ts";

/** The repository root (this file is test/e2e/server.ts). */
export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const BIN = join(ROOT, "node_modules", ".bin");

export interface ServerOptions {
  /** Wrangler configuration, relative to the repository root. Default: wrangler.toml. */
  config?: string;
  /** Directories and files (relative to the root) the Worker is built from. Default: src/ and the configuration. */
  sources?: string[];
  /** State directory (Durable Objects, R2). Default: a fresh temporary directory, removed by `stop()`. */
  persistDir?: string;
  /** How long to wait for the server to answer `OPTIONS /files/`. Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * Worker variables for this server only (e.g. `{ EXPIRE_AFTER_SECONDS: "3" }`),
   * passed as `--var NAME:VALUE`; they override wrangler.toml's `[vars]`.
   */
  vars?: Record<string, string>;
}

export interface TestServer {
  /** Origin, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** The tus collection, `<url>/files/`. */
  endpoint: string;
  persistDir: string;
  /** The snapshot of the sources wrangler dev runs from (see snapshotSources); its build output is under it. */
  sourceDir: string;
  /** Stops the server (the whole process group) and waits until every process of it is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Stops and starts again on the same port with the same state directory, so
   * upload URLs stay valid and tests can check that state survives a restart.
   */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** The child's recent output, for error messages. */
  output(): string;
}

const OUTPUT_LIMIT = 64 * 1024;
/** Starts on a port someone else took first before giving up (see startServer). */
const PORT_ATTEMPTS = 3;

/**
 * `wrangler dev` rebuilds and reloads the Worker whenever a source file
 * changes, dropping every request in flight, and has no flag to stop
 * watching. So the server runs from a snapshot of the sources taken at start
 * (inside .wrangler/ so that node_modules still resolves): an edit made while
 * the tests run cannot break an upload half-way. restart() reuses the snapshot.
 */
async function snapshotSources(paths: string[]): Promise<string> {
  await mkdir(join(ROOT, ".wrangler"), { recursive: true });
  const snapshot = await mkdtemp(join(ROOT, ".wrangler", "e2e-src-"));
  for (const path of [...paths, ".dev.vars"]) {
    await cp(join(ROOT, path), join(snapshot, path), {
      recursive: true,
      force: true,
      filter: (source) => !/[\\/](results|\.wrangler|node_modules)$/.test(source),
    }).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
      // wrangler.toml's [assets] directory must exist even when the page is not built.
      if (path === "public") await mkdir(join(snapshot, path), { recursive: true });
      else if (path !== ".dev.vars") throw error;
    });
  }
  return snapshot;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const config = options.config ?? "wrangler.toml";
  const snapshot = await snapshotSources(options.sources ?? ["src", "public", config]);
  const ownsPersistDir = options.persistDir === undefined;
  const persistDir = options.persistDir ?? (await mkdtemp(join(tmpdir(), "tus-edge-e2e-")));
  let port = await freePort();
  let url = `http://127.0.0.1:${port}`;
  let endpoint = `${url}/files/`;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  let output = "";
  let child: ChildProcess | undefined;

  /**
   * Starts wrangler dev. A restart right after a SIGKILL can find the port
   * still held for a moment (the killed workerd's sockets), which wrangler
   * reports as "Address already in use" and exits: tried again a few times,
   * a second apart, on the same port, since the upload URLs name it.
   */
  const launch = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await launchOnce();
      } catch (error) {
        if (attempt >= 5 || !/Address already in use/.test(String(error))) throw error;
        await stop("SIGKILL");
        await sleep(1000);
      }
    }
  };

  const launchOnce = async (): Promise<void> => {
    const args = [
      "dev",
      "--ip", "127.0.0.1",
      "--port", String(port),
      "--persist-to", persistDir,
      "--show-interactive-dev-session=false",
      "--log-level", "warn",
      "--config", join(snapshot, config),
      ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
    ];
    output = "";
    const started = spawn(join(BIN, "wrangler"), args, {
      cwd: snapshot,
      // Its own process group: wrangler starts node and workerd children, and stop() must end them all.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        // wrangler's `#!/usr/bin/env node` must find the Node 24 from the `node` package, not the system Node.
        PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}`,
        WRANGLER_SEND_METRICS: "false",
        NO_COLOR: "1",
      },
    });
    child = started;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
    };
    started.stdout!.on("data", keep);
    started.stderr!.on("data", keep);
    await waitUntilReady(started, endpoint, readyTimeoutMs, () => output);
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM"): Promise<void> => {
    const running = child;
    child = undefined;
    if (running?.pid === undefined) return;
    await killGroup(running, signal);
  };

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      await stop("SIGKILL");
      // freePort() lets go of the port before wrangler binds it, and with test files running side
      // by side another server may take it in between: try again on another port.
      if (attempt < PORT_ATTEMPTS && /Address already in use/.test(String(error))) {
        port = await freePort();
        url = `http://127.0.0.1:${port}`;
        endpoint = `${url}/files/`;
        continue;
      }
      await rm(snapshot, { recursive: true, force: true });
      if (ownsPersistDir) await rm(persistDir, { recursive: true, force: true });
      throw error;
    }
  }

  return {
    url,
    endpoint,
    persistDir,
    sourceDir: snapshot,
    output: () => output,
    async stop(signal) {
      await stop(signal);
      await rm(snapshot, { recursive: true, force: true });
      if (ownsPersistDir) await rm(persistDir, { recursive: true, force: true });
    },
    async restart(signal) {
      await stop(signal);
      await launch();
    },
  };
}

async function waitUntilReady(child: ChildProcess, endpoint: string, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = `exited early (code ${code}, signal ${signal})`;
  });
  let lastError = "";
  while (Date.now() < deadline) {
    if (exited) break;
    // wrangler dev stays up after a failed build, serving nothing: fail at once, not after the timeout.
    if (/Build failed/.test(output())) {
      exited = "could not build the Worker";
      break;
    }
    try {
      const response = await fetch(endpoint, { method: "OPTIONS", signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.ok) return;
      lastError = `OPTIONS ${endpoint} answered ${response.status}`;
    } catch (error) {
      lastError = String((error as Error).cause ?? error);
    }
    await sleep(200);
  }
  throw new Error(
    `wrangler dev ${exited ?? `was not ready within ${timeoutMs} ms`} (last attempt: ${lastError})\n--- wrangler output ---\n${output()}`,
  );
}

/** Stops the whole process group (wrangler's children, node and workerd, may outlive it for a moment). */
async function killGroup(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, "exit").then(() => {});
  await stopGroup(child.pid!, signal);
  await exited;
}

/**
 * A free port for a test server, below Linux's ephemeral range (32768–60999).
 * The OS hands out ephemeral ports to every listen(0) and outgoing
 * connection, wrangler's and workerd's internal ones included: a gateway
 * port from that range, freed by a restart (SIGKILL), could be taken by
 * another server starting meanwhile before the gateway binds it again. Each
 * vitest worker draws from a block of its own, so test files running side by
 * side never pick the same port.
 */
export async function freePort(): Promise<number> {
  const block = Number(process.env.VITEST_POOL_ID ?? 0) % 20;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10_000 + block * 1_000 + Math.floor(Math.random() * 1_000);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in 10000 + ${block} × 1000 … +999`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/* ---------- test data ---------- */

export const MiB = 1024 * 1024;

/**
 * A deterministic pseudo-random byte stream: the AES-256-CTR keystream under a
 * key derived from `seed`. Same seed, same bytes, at several hundred MB/s.
 */
class SeededBytes {
  private readonly cipher: Cipheriv;
  constructor(seed: string) {
    const key = createHash("sha256").update(`tus-edge test data: ${seed}`).digest();
    this.cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  }
  next(size: number): Buffer {
    return this.cipher.update(Buffer.alloc(size));
  }
}

/** `size` deterministic pseudo-random bytes for `seed`. */
export function seededBytes(size: number, seed: string): Buffer {
  return new SeededBytes(seed).next(size);
}

/** Writes `size` seeded bytes to `path` without holding them in memory; returns their sha256 (hex). */
export async function writeSeededFile(path: string, size: number, seed: string): Promise<string> {
  const source = new SeededBytes(seed);
  const hash = createHash("sha256");
  const out = createWriteStream(path);
  for (let written = 0; written < size; ) {
    const block = source.next(Math.min(8 * MiB, size - written));
    hash.update(block);
    written += block.length;
    if (!out.write(block)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return hash.digest("hex");
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * GETs `url` and returns the body; anything but 200 is an error carrying the
 * response text. `init` adds request options, e.g. an Authorization header.
 */
export async function download(url: string, init: RequestInit = {}): Promise<Buffer> {
  const response = await fetch(url, init);
  if (response.status !== 200) {
    throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  }
  return Buffer.from(await response.arrayBuffer());
}

/** Streams `url` through sha256 without holding the body: for downloads too large to buffer twice. */
export async function downloadSha256(url: string, init: RequestInit = {}): Promise<{ sha256: string; size: number }> {
  const response = await fetch(url, init);
  if (response.status !== 200 || !response.body) {
    throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  }
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of response.body) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest("hex"), size };
}
