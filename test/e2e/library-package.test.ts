/**
 * tus-edge as a library, the way someone else's Worker gets it: `npm pack`
 * builds and packs the package, and a scratch Worker in a temporary folder is
 * made of the packed files plus the README's own `wrangler.toml` and Worker
 * code (section "Using tus-edge as a library", read out of README.md). It
 * must type-check under the Workers types with and without @types/node, run
 * under `wrangler dev`, and take a tus-js-client upload large enough to be a
 * multi-part R2 object.
 *
 * The tarball is unpacked into the Worker's node_modules/tus-edge by hand:
 * `npm install <tarball>` would ask the registry about the package's
 * dependency even with a warm cache, and the test runs offline. Exactly the
 * dependencies the packed package.json declares are linked in from this
 * repository's node_modules, so a runtime import that is not declared fails
 * the Worker's build here as it would in a user's project.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, readmeSnippets, run, snippet } from "../readme/snippets";
import { download, freePort, MiB, ROOT, seededBytes, sha256, sleep } from "./server";
import { startTusUpload } from "./tus";

const BIN = join(ROOT, "node_modules", ".bin");

/** The README's snippets for this section; the readme project leaves every `library-` snippet to this file. */
const LIBRARY_SNIPPETS = ["library-install", "library-wrangler-toml", "library-worker"];

/** The type packages a Worker project has beside tus-edge (linked from this repository). */
const TYPE_PACKAGES = ["@cloudflare/workers-types", "@types/node"];

interface PackedPackage {
  /** The tarball, in the scratch folder. */
  tarball: string;
  /** Paths inside the tarball, e.g. `dist/index.js`. */
  files: string[];
  manifest: {
    dependencies?: Record<string, string>;
    exports?: Record<string, { types?: string; default?: string }>;
    main?: string;
    types?: string;
  };
}

let scratch: string;
let packed: PackedPackage;
/** The user's Worker project: package.json, wrangler.toml, src/index.ts, node_modules. */
let app: string;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "tus-edge-library-"));
  packed = await pack(scratch);
  app = join(scratch, "my-app");
  await makeWorkerProject(app, packed);
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}, 30_000);

/** `npm pack` in the repository (its `prepare` script builds dist/ first), into `destination`. */
async function pack(destination: string): Promise<PackedPackage> {
  const ran = await run("npm", ["pack", "--json", "--pack-destination", destination], { cwd: ROOT, timeoutMs: 150_000 });
  expect(ran.code, describeRun(ran)).toBe(0);
  // Lifecycle scripts print to stderr; stdout is the JSON report alone.
  const [report] = JSON.parse(ran.stdout) as { filename: string; files: { path: string }[] }[];
  const tarball = join(destination, report!.filename);
  const packedManifest = await run("tar", ["-xzOf", tarball, "package/package.json"], { cwd: destination, timeoutMs: 30_000 });
  expect(packedManifest.code, describeRun(packedManifest)).toBe(0);
  const manifest = JSON.parse(packedManifest.stdout) as PackedPackage["manifest"];
  return { tarball, files: report!.files.map((file) => file.path), manifest };
}

/**
 * The user's project, as the README tells them to set it up: the package
 * installed from the tarball, the README's wrangler.toml and Worker code.
 */
async function makeWorkerProject(dir: string, from: PackedPackage): Promise<void> {
  const installed = join(dir, "node_modules", "tus-edge");
  await mkdir(installed, { recursive: true });
  await mkdir(join(dir, "src"));
  const unpacked = await run("tar", ["-xzf", from.tarball, "-C", installed, "--strip-components=1"], { cwd: dir, timeoutMs: 30_000 });
  expect(unpacked.code, describeRun(unpacked)).toBe(0);
  for (const name of [...Object.keys(from.manifest.dependencies ?? {}), ...TYPE_PACKAGES]) {
    const link = join(dir, "node_modules", name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(join(ROOT, "node_modules", name), link, "dir");
  }
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "my-app", private: true, type: "module" }, null, 2));
  await writeFile(join(dir, "wrangler.toml"), snippet("library-wrangler-toml").code);
  await writeFile(join(dir, "src", "index.ts"), snippet("library-worker").code);
  // A Worker project's usual settings (Cloudflare's templates): bundler
  // resolution, strict. Under the Workers types alone tus-edge's declarations
  // are checked too; with @types/node beside them the two type packages
  // conflict with each other, so such a project must skip library checks.
  const compilerOptions = {
    target: "ES2022",
    lib: ["ES2022"],
    module: "ES2022",
    moduleResolution: "Bundler",
    strict: true,
    isolatedModules: true,
    noEmit: true,
  };
  await writeFile(
    join(dir, "tsconfig.workers.json"),
    JSON.stringify({ compilerOptions: { ...compilerOptions, types: ["@cloudflare/workers-types"], skipLibCheck: false }, include: ["src"] }),
  );
  await writeFile(
    join(dir, "tsconfig.node.json"),
    JSON.stringify({ compilerOptions: { ...compilerOptions, types: ["@cloudflare/workers-types", "node"], skipLibCheck: true }, include: ["src"] }),
  );
}

async function typeCheck(cwd: string, project: string): Promise<void> {
  const ran = await run(join(BIN, "tsc"), ["-p", project], { cwd, timeoutMs: 90_000 });
  expect(ran.code, describeRun(ran)).toBe(0);
}

describe("the packed tus-edge package", () => {
  it("holds the compiled library and its declarations, not the sources, and package.json points at them", () => {
    expect(packed.files).toContain("dist/index.js");
    expect(packed.files).toContain("dist/index.d.ts");
    expect(packed.files.filter((path) => path.startsWith("src/") || path.startsWith("test/"))).toEqual([]);
    const entry = packed.manifest.exports?.["."];
    for (const target of [entry?.types, entry?.default, packed.manifest.main, packed.manifest.types]) {
      expect(target, "exports, main and types name a packed file").toBeTypeOf("string");
      expect(packed.files).toContain(target!.replace(/^\.\//, ""));
    }
  });

  it("is installed by the README's command under the file name npm pack gives it", () => {
    const names = readmeSnippets().map((found) => found.name).filter((name) => name.startsWith("library-"));
    expect(names.sort()).toEqual([...LIBRARY_SNIPPETS].sort());
    const fileName = packed.tarball.slice(scratch.length + 1);
    expect(snippet("library-install").code).toContain(`npm install ../tus-edge/${fileName}\n`);
  });
});

describe("the README's Worker on the packed package", () => {
  it("type-checks under @cloudflare/workers-types, tus-edge's declarations included", async () => {
    await typeCheck(app, "tsconfig.workers.json");
  }, 120_000);

  it("type-checks with @types/node beside the Workers types", async () => {
    await typeCheck(app, "tsconfig.node.json");
  }, 120_000);

  it("serves uploads under wrangler dev: its hook refuses a non-video, a 12 MiB video arrives intact", async () => {
    worker = await startWorker(app, join(scratch, "state"));
    const home = await fetch(worker.url, { signal: AbortSignal.timeout(10_000) });
    expect(await home.text(), "the Worker's own route").toBe("my app");
    const endpoint = `${worker.url}/uploads/`;

    // The README's onUploadCreate answers 415 to anything but a video.
    const refused = startTusUpload(Buffer.from("not a video"), {
      endpoint,
      metadata: { filename: "notes.txt", filetype: "text/plain" },
      retryDelays: [],
    });
    const refusal = await refused.done.then(() => "accepted", (error: Error) => error.message);
    expect(refusal).toMatch(/response code: 415/);
    expect(refusal).toContain("videos only");

    // 5 MiB chunks: the first PATCH sets 5 MiB parts, so R2 stores three of them.
    const data = seededBytes(12 * MiB + 1, "library package");
    const upload = startTusUpload(data, {
      endpoint,
      chunkSize: 5 * MiB,
      metadata: { filename: "clip.mp4", filetype: "video/mp4" },
    });
    const url = await withDeadline(upload.done, 90_000, "the upload");
    expect(url.startsWith(endpoint), url).toBe(true);
    expect(upload.acceptedOffsets).toEqual([5 * MiB, 10 * MiB, 12 * MiB + 1]);
    const stored = await withDeadline(download(url, { signal: AbortSignal.timeout(30_000) }), 30_000, "the download");
    expect(stored.length).toBe(data.length);
    expect(sha256(stored)).toBe(sha256(data));
  }, 240_000);
});

/**
 * A Worker that declares its bindings itself, as many do, instead of
 * extending GatewayEnv: plain `DurableObjectNamespace` (what a hand-written
 * env says) and the class-typed one must both be accepted.
 */
const OWN_ENV_WORKER = `import { createTusGateway } from "tus-edge";

const tus = createTusGateway();
export const UploadObject = tus.UploadObject;

interface Env {
  BUCKET: R2Bucket;
  UPLOADS: DurableObjectNamespace;
  EVENTS: Queue;
  SESSIONS: KVNamespace;
}
interface TypedEnv {
  BUCKET: R2Bucket;
  UPLOADS: DurableObjectNamespace<InstanceType<typeof UploadObject>>;
}

export default {
  fetch: (request, env) => tus.fetch(request, env),
} satisfies ExportedHandler<Env>;
export const typed = {
  fetch: (request, env) => tus.fetch(request, env),
} satisfies ExportedHandler<TypedEnv>;
`;

describe("a Worker with an env type of its own", () => {
  it("passes it to the gateway's fetch: hand-written bindings type-check against the packed declarations", async () => {
    await mkdir(join(app, "own-env"));
    await writeFile(join(app, "own-env", "index.ts"), OWN_ENV_WORKER);
    const config = JSON.parse(await readFile(join(app, "tsconfig.workers.json"), "utf8")) as { include: string[] };
    await writeFile(join(app, "tsconfig.own-env.json"), JSON.stringify({ ...config, include: ["own-env"] }));
    await typeCheck(app, "tsconfig.own-env.json");
  }, 120_000);
});

describe("tus-edge's sources", () => {
  it("type-check with @types/node beside the Workers types (where setTimeout returns a Timeout)", async () => {
    await typeCheck(ROOT, "test/library/tsconfig.node-types.json");
  }, 120_000);
});

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms\n--- wrangler output ---\n${worker?.output()}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

interface RunningWorker {
  /** Origin, e.g. `http://127.0.0.1:40123`. */
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `wrangler dev` in the user's project on a free port, with its own state
 * directory; ready once the tus collection answers OPTIONS. (test/e2e/server.ts
 * runs this repository's Worker from a snapshot of src/; this one is a project
 * of its own, with its own node_modules.)
 */
async function startWorker(cwd: string, persistDir: string): Promise<RunningWorker> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistDir, "--show-interactive-dev-session=false", "--log-level", "warn"];
  const child = spawn(join(BIN, "wrangler"), args, {
    cwd,
    // Its own process group: wrangler starts workerd, and stop() must end both.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}`, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  let output = "";
  const keep = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-64 * 1024));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const running: RunningWorker = { url, output: () => output, stop: () => stopGroup(child) };

  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline && child.exitCode === null && !/Build failed/.test(output)) {
    try {
      const response = await fetch(`${url}/uploads/`, { method: "OPTIONS", signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.ok) return running;
      last = `OPTIONS answered ${response.status}`;
    } catch (error) {
      last = String((error as Error).cause ?? error);
    }
    await sleep(200);
  }
  await running.stop();
  throw new Error(`wrangler dev in ${cwd} did not come up (last attempt: ${last})\n--- wrangler output ---\n${output}`);
}

/** SIGTERM to the group, then SIGKILL to whatever of it is left once wrangler has gone or 10 s have passed. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // ESRCH: the group is gone
    }
  };
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, "exit");
  signalGroup("SIGTERM");
  await Promise.race([exited, sleep(10_000)]);
  signalGroup("SIGKILL");
}

