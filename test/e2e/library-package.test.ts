/**
 * tus-edge as a library, the way someone else's Worker gets it, from
 * docs/library.md as written: `npm pack`
 * builds and packs the package into `tus-edge/` of a scratch folder, and an
 * empty folder beside it, `my-app/`, gets the section's four files
 * (package.json, tsconfig.json, wrangler.toml, src/index.ts, read out of
 * docs/library.md). Then the section's commands, with nothing but npm on the
 * machine's own Node (20 here; this repository's Node 24 is taken off PATH):
 * `npm install` from the registry and the tarball, `npm run typecheck`,
 * `npm start`; and a tus-js-client upload large enough to be a multi-part R2
 * object, downloaded again byte for byte.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, documentationSnippets, run, snippet, type Ran } from "../readme/snippets";
import { download, freePort, MiB, ROOT, seededBytes, sha256, sleep } from "./server";
import { startTusUpload } from "./tus";

/** The snippets of docs/library.md; the readme project leaves every `library-` snippet to this file. */
const LIBRARY_SNIPPETS = ["library-install", "library-package-json", "library-tsconfig", "library-wrangler-toml", "library-worker"];

/** The section's commands, run in my-app/ as the reader runs them (library-install). */
const COMMANDS = ["mkdir my-app && cd my-app", "npm install", "npm run typecheck", "npm start"];

interface PackedPackage {
  /** The tarball, in the scratch folder. */
  tarball: string;
  /** Paths inside the tarball, e.g. `dist/index.js`. */
  files: string[];
  manifest: {
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    engines?: Record<string, string>;
    exports?: Record<string, { types?: string; default?: string }>;
    main?: string;
    types?: string;
  };
}

let scratch: string;
let packed: PackedPackage;
/** The user's Worker project: package.json, tsconfig.json, wrangler.toml, src/index.ts, node_modules. */
let app: string;
let worker: RunningWorker | undefined;

/**
 * The environment of a reader's shell: this repository's tools off PATH (its
 * node_modules/.bin holds Node 24 and wrangler), and none of the `npm_*`
 * variables that the npm running this test set, which the inner npm would
 * read as its own configuration.
 */
const READER_ENV: Record<string, string> = Object.fromEntries(
  Object.entries({
    ...process.env,
    PATH: (process.env.PATH ?? "").split(delimiter).filter((dir) => !dir.startsWith(ROOT)).join(delimiter),
    WRANGLER_SEND_METRICS: "false",
    NO_COLOR: "1",
  }).filter((entry): entry is [string, string] => entry[1] !== undefined && !/^npm_/i.test(entry[0]) && entry[0] !== "INIT_CWD"),
);

/**
 * Runs a command in my-app/ in the reader's environment, to its end
 * (snippets.ts's `run` puts this repository's tools first on PATH, which is
 * what this test must not do).
 */
function inApp(command: string, args: string[], timeoutMs: number): Promise<Ran> {
  const child = spawn(command, args, { cwd: app, detached: true, stdio: ["ignore", "pipe", "pipe"], env: READER_ENV });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "tus-edge-library-"));
  await mkdir(join(scratch, "tus-edge"));
  packed = await pack(join(scratch, "tus-edge"));
  app = join(scratch, "my-app");
  await mkdir(app);
  expect(await readdir(app), "my-app/ starts empty").toEqual([]);
  await writeFile(join(app, "package.json"), snippet("library-package-json").code);
  await writeFile(join(app, "tsconfig.json"), snippet("library-tsconfig").code);
  await writeFile(join(app, "wrangler.toml"), snippet("library-wrangler-toml").code);
  await mkdir(join(app, "src"));
  await writeFile(join(app, "src", "index.ts"), snippet("library-worker").code);
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

  it("states what it needs: engines, and peer dependencies that the documented package.json asks for, wrangler and its types at the versions tus-edge is tested with", async () => {
    expect(packed.manifest.engines?.node).toBeTypeOf("string");
    const peers = packed.manifest.peerDependencies ?? {};
    expect(Object.keys(peers).sort()).toEqual(["@cloudflare/workers-types", "node", "wrangler"]);
    const documented = JSON.parse(snippet("library-package-json").code) as { devDependencies: Record<string, string> };
    const lock = JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
    // A range would let npm take the newest wrangler, whose own peer range for
    // the types can run ahead of what the registry holds (ERESOLVE): the pair is pinned.
    for (const pinned of ["wrangler", "@cloudflare/workers-types"]) {
      const tested = lock.packages[`node_modules/${pinned}`]!.version;
      expect(documented.devDependencies[pinned], pinned).toBe(tested);
      expect(peers[pinned], `${pinned}: the peer range starts at the tested version`).toBe(`^${tested}`);
    }
    expect(documented.devDependencies.node).toBe(peers.node);
  });

  it("is what the documented package.json installs, under the file name npm pack gives it, with the documented commands", () => {
    const names = documentationSnippets().filter((found) => found.name.startsWith("library-")).map((found) => `${found.file}: ${found.name}`);
    expect(names.sort()).toEqual(LIBRARY_SNIPPETS.map((name) => `docs/library.md: ${name}`).sort());
    const fileName = packed.tarball.slice(join(scratch, "tus-edge").length + 1);
    const manifest = JSON.parse(snippet("library-package-json").code) as { dependencies: Record<string, string> };
    expect(manifest.dependencies["tus-edge"]).toBe(`file:../tus-edge/${fileName}`);
    const install = snippet("library-install").code.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
    expect(install).toContain("git clone <tus-edge repository URL> tus-edge && (cd tus-edge && npm install && npm pack)");
    for (const command of COMMANDS) expect(install).toContain(command);
  });
});

describe("the Worker of docs/library.md on the packed package, from an empty folder", () => {
  it("installs with `npm install` on the machine's own Node: wrangler, workerd and Node 24 at versions that run it", async () => {
    const ownNode = await inApp("node", ["--version"], 10_000);
    const installed = await inApp("npm", ["install"], 300_000);
    expect(installed.code, `on Node ${ownNode.stdout.trim()}\n${describeRun(installed)}`).toBe(0);
    // What npm run and npx put first on PATH: the node package's Node 24, whatever Node ran npm.
    const projectNode = await inApp("npm", ["exec", "--", "node", "--version"], 30_000);
    expect(projectNode.stdout.trim(), describeRun(projectNode)).toMatch(/^v24\./);
  }, 320_000);

  it("type-checks with `npm run typecheck` under @cloudflare/workers-types, tus-edge's declarations included", async () => {
    const checked = await inApp("npm", ["run", "typecheck"], 120_000);
    expect(checked.code, describeRun(checked)).toBe(0);
  }, 130_000);

  it("type-checks with @types/node beside the Workers types, as docs/library.md says to set it up", async () => {
    // This repository's @types/node, linked in: the documented project has none of its own.
    await mkdir(join(app, "node_modules", "@types"), { recursive: true });
    await symlink(join(ROOT, "node_modules", "@types", "node"), join(app, "node_modules", "@types", "node"), "dir");
    await writeFile(
      join(app, "tsconfig.node.json"),
      JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { types: ["@cloudflare/workers-types", "node"], skipLibCheck: true } }),
    );
    const checked = await inApp("npm", ["exec", "--", "tsc", "-p", "tsconfig.node.json"], 120_000);
    expect(checked.code, describeRun(checked)).toBe(0);
  }, 130_000);

  it("serves uploads under `npm start`: its hook refuses a non-video, a 12 MiB video arrives intact", async () => {
    worker = await startWorker(join(scratch, "state"));
    const home = await fetch(worker.url, { signal: AbortSignal.timeout(10_000) });
    expect(await home.text(), "the Worker's own route").toBe("my app");
    const endpoint = `${worker.url}/uploads/`;

    // The documented onUploadCreate answers 415 to anything but a video.
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
    await writeFile(join(app, "tsconfig.own-env.json"), JSON.stringify({ extends: "./tsconfig.json", include: ["own-env"] }));
    const checked = await inApp("npm", ["exec", "--", "tsc", "-p", "tsconfig.own-env.json"], 120_000);
    expect(checked.code, describeRun(checked)).toBe(0);
  }, 120_000);
});

describe("tus-edge's sources", () => {
  it("type-check with @types/node beside the Workers types (where setTimeout returns a Timeout)", async () => {
    const ran = await run(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "test/library/tsconfig.node-types.json"], { cwd: ROOT, timeoutMs: 90_000 });
    expect(ran.code, describeRun(ran)).toBe(0);
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
 * The documented `npm start` (wrangler dev) in the user's project, on a free
 * port and with its own state directory; ready once the tus collection
 * answers OPTIONS. (test/e2e/server.ts runs this repository's Worker from a
 * snapshot of src/; this one is a project of its own, with its own
 * node_modules and Node.)
 */
async function startWorker(persistDir: string): Promise<RunningWorker> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ["start", "--", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistDir, "--show-interactive-dev-session=false", "--log-level", "warn"];
  const child = spawn("npm", args, {
    cwd: app,
    // Its own process group: npm starts wrangler, wrangler workerd, and stop() must end them all.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: READER_ENV,
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
  throw new Error(`npm start in ${app} did not come up (last attempt: ${last})\n--- wrangler output ---\n${output}`);
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

