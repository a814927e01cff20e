/**
 * The README's first upload and the client snippets of docs/clients.md, run
 * as written against a real local gateway (`wrangler dev`): curl (tus 1.0 and
 * the IETF draft) and tuspy in a shell and Python, tus-js-client
 * in Node, tus-js-client and Uppy bundled with esbuild into pages that a
 * Chromium (test/browser/chromium.ts) loads from another origin. The only
 * change made to a snippet is the endpoint's origin (the documentation's
 * `http://127.0.0.1:8787` becomes the test server's). Every upload is then
 * checked from Node: HEAD says it is complete, and the download has the file's
 * bytes and name.
 */
import { readFile, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MiB, ROOT, sha256, startServer, writeSeededFile, type TestServer } from "../e2e/server";
import { launchBrowser } from "../browser/harness";
import { startHoldingProxy } from "./holding-proxy";
import {
  codeBlocks,
  describeRun,
  documentationSnippets,
  forServer,
  run,
  serveDirectory,
  snippet,
  start,
  workDir,
} from "./snippets";

/** Debian's python3-tuspy installs for Debian's Python (.ci/run installs it); pyenv's python3 may come first on PATH. */
const PYTHON = process.env.README_PYTHON ?? "/usr/bin/python3";
const NODE = join(ROOT, "node_modules", ".bin", "node");

/** The snippets this file runs; a snippet added to the README or docs/ without a test (here or below) fails the first test. */
const CHECKED = [
  "tus-js-client-node",
  "tus-js-client-browser",
  "tus-js-client-browser-build",
  "tus-js-client-browser-html",
  "uppy",
  "uppy-build",
  "uppy-html",
  "curl",
  "curl-ietf",
  "tuspy",
];

/** Snippets that other test files run, by the prefix of their names. */
const RUN_ELSEWHERE: Record<string, string> = {
  "library-": "test/e2e/library-package.test.ts",
  "listing-": "test/e2e/listing.test.ts",
};

/** Where every code block is a snippet: the README's first upload, and the clients' page. */
const ALL_SNIPPETS = [
  { file: "README.md", heading: "## A first upload" },
  { file: "docs/clients.md", heading: undefined },
];

let server: TestServer;
let browser: Browser;
let context: BrowserContext | undefined;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
}, 90_000);

afterEach(async () => {
  await context?.close();
  context = undefined;
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
}, 15_000);

afterAll(async () => {
  await Promise.all([browser?.close(), server?.stop()]);
}, 30_000);

/** A work folder inside the repository (so bare imports resolve), removed after the test. */
async function folder(prefix: string): Promise<string> {
  const dir = await workDir(prefix);
  cleanups.push(dir.remove);
  return dir.path;
}

interface Expected {
  sha256: string;
  size: number;
  filename: string;
  contentType?: string;
}

/** From Node: HEAD says the upload is complete, and GET returns the same bytes under the same name. */
async function expectUploaded(url: string, expected: Expected): Promise<void> {
  expect(url.startsWith(server.endpoint), `${url} is an upload of the test server`).toBe(true);
  const head = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, signal: AbortSignal.timeout(10_000) });
  expect(head.status, `HEAD ${url}`).toBe(200);
  expect(head.headers.get("Upload-Offset")).toBe(String(expected.size));
  expect(head.headers.get("Upload-Length")).toBe(String(expected.size));
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  expect(response.status, `GET ${url}`).toBe(200);
  const body = Buffer.from(await response.arrayBuffer());
  expect(body.length, "downloaded size").toBe(expected.size);
  expect(sha256(body), "sha256 of the download").toBe(expected.sha256);
  expect(response.headers.get("Content-Disposition")).toContain(`filename="${expected.filename}"`);
  if (expected.contentType) expect(response.headers.get("Content-Type")).toBe(expected.contentType);
}

/** A test file of seeded random bytes in `dir`. */
async function testFile(dir: string, name: string, size: number): Promise<Expected & { path: string }> {
  const path = join(dir, name);
  return { path, filename: name, size, sha256: await writeSeededFile(path, size, `readme ${name}`) };
}

describe("the documentation's client snippets", () => {
  it("marks every code block of the first upload and the clients' page as a snippet, and every snippet is run by a test", () => {
    for (const { file, heading } of ALL_SNIPPETS) {
      const blocks = codeBlocks(file, heading);
      expect(blocks.length, `${file} ${heading ?? ""}`).toBeGreaterThan(0);
      for (const block of blocks) expect(block.marker, `${file} line ${block.line}: a code block without a snippet marker`).toBeTypeOf("string");
    }
    const names = documentationSnippets().map((found) => found.name);
    expect(new Set(names).size, "snippet names are unique").toBe(names.length);
    const elsewhere = (name: string) => Object.keys(RUN_ELSEWHERE).some((prefix) => name.startsWith(prefix));
    expect(names.filter((name) => !elsewhere(name)).sort()).toEqual([...CHECKED].sort());
  }, 10_000);
});

describe("curl", () => {
  it("creates (Location), patches (204, offset 11), asks the offset (HEAD 200) and downloads hello.txt", async () => {
    const { code } = snippet("curl");
    const dir = await folder("curl");
    const ran = await run("bash", ["-euo", "pipefail", "-c", forServer(code, server.url)], { cwd: dir, timeoutMs: 30_000 });
    expect(ran.code, describeRun(ran)).toBe(0);

    // The POST's Location (--fail: a 4xx or 5xx would have stopped the script).
    const location = /^created (\S+)$/m.exec(ran.stdout)?.[1];
    expect(location, describeRun(ran)).toMatch(new RegExp(`^${server.endpoint}[0-9a-f]{64}$`));
    // PATCH -i, then HEAD -I: statuses in order, each with the offset.
    const responses = ran.stdout.split(/^(?=HTTP\/)/m).filter((part) => part.startsWith("HTTP/"));
    expect(responses, describeRun(ran)).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/[\d.]+ 204\b/);
    expect(responses[0]).toMatch(/^upload-offset: 11\r?$/im);
    expect(responses[1]).toMatch(/^HTTP\/[\d.]+ 200\b/);
    expect(responses[1]).toMatch(/^upload-offset: 11\r?$/im);
    expect(responses[1]).toMatch(/^upload-length: 11\r?$/im);

    // curl -OJ saved the download under the upload's filename.
    expect(readFileSync(join(dir, "hello.txt"), "utf8")).toBe("hello world");
    await expectUploaded(location!, {
      size: 11,
      sha256: sha256(Buffer.from("hello world")),
      filename: "hello.txt",
      contentType: "text/plain",
    });
  }, 60_000);
});

describe("curl in the IETF dialect", () => {
  it("creates with ?0 and bytes (Location), appends (204, offset 9), asks the offset (204, ?0), completes with ?1 (200) and downloads hello.txt", async () => {
    const { code } = snippet("curl-ietf");
    const dir = await folder("curl-ietf");
    const ran = await run("bash", ["-euo", "pipefail", "-c", forServer(code, server.url)], { cwd: dir, timeoutMs: 30_000 });
    expect(ran.code, describeRun(ran)).toBe(0);

    const location = /^created (\S+)$/m.exec(ran.stdout)?.[1];
    expect(location, describeRun(ran)).toMatch(new RegExp(`^${server.endpoint}[0-9a-f]{64}$`));
    // PATCH -i, HEAD -I, PATCH -i: statuses in order, each with its offset and completion.
    const responses = ran.stdout.split(/^(?=HTTP\/)/m).filter((part) => part.startsWith("HTTP/"));
    expect(responses, describeRun(ran)).toHaveLength(3);
    const [append, offset, complete] = responses as [string, string, string];
    expect(append).toMatch(/^HTTP\/[\d.]+ 204\b/);
    expect(append).toMatch(/^upload-offset: 9\r?$/im);
    expect(append).toMatch(/^upload-complete: \?0\r?$/im);
    expect(offset).toMatch(/^HTTP\/[\d.]+ 204\b/);
    expect(offset).toMatch(/^upload-offset: 9\r?$/im);
    expect(offset).toMatch(/^upload-complete: \?0\r?$/im);
    expect(complete).toMatch(/^HTTP\/[\d.]+ 200\b/);
    expect(complete).toMatch(/^upload-complete: \?1\r?$/im);
    const result = JSON.parse(complete.slice(complete.search(/\r?\n\r?\n/)).trim()) as { url: string; length: number };
    expect(result).toEqual({ url: location, length: 11 });

    expect(readFileSync(join(dir, "hello.txt"), "utf8")).toBe("hello world");
    await expectUploaded(location!, {
      size: 11,
      sha256: sha256(Buffer.from("hello world")),
      filename: "hello.txt",
      contentType: "text/plain",
    });
  }, 60_000);
});

describe("tus-js-client in Node", () => {
  it("uploads video.mp4 with `node upload.mjs` and prints the upload URL", async () => {
    const { code } = snippet("tus-js-client-node");
    const dir = await folder("node");
    const file = await testFile(dir, "video.mp4", 12 * MiB + 3);
    await writeFile(join(dir, "upload.mjs"), forServer(code, server.url));
    const ran = await run(NODE, ["upload.mjs"], { cwd: dir, timeoutMs: 60_000 });
    expect(ran.code, describeRun(ran)).toBe(0);
    expect(ran.stderr, describeRun(ran)).toBe("");
    expect(ran.stdout).toMatch(/^100\.0 %$/m);
    const url = /^done: (\S+)$/m.exec(ran.stdout)?.[1];
    expect(url, describeRun(ran)).toBeDefined();
    await expectUploaded(url!, { ...file, contentType: "video/mp4" });
  }, 90_000);

  it("run again after the first run was killed mid-upload, continues the same upload from the gateway's offset", async () => {
    const { code } = snippet("tus-js-client-node");
    const dir = await folder("node-resume");
    const file = await testFile(dir, "video.mp4", 12 * MiB + 3);
    // Between the snippet and the gateway, a proxy that lets 3 MiB of what the client sends through
    // and holds the rest back: the first run stalls mid-PATCH with a known prefix at the gateway.
    const proxy = await startHoldingProxy(new URL(server.url));
    cleanups.push(proxy.close);
    await writeFile(join(dir, "upload.mjs"), forServer(code, proxy.url));

    proxy.holdAfter(3 * MiB);
    const first = start(NODE, ["upload.mjs"], { cwd: dir, timeoutMs: 60_000 });
    await expect.poll(() => proxy.holding, { timeout: 30_000, interval: 20 }).toBe(true);
    first.kill();
    const killed = await first.done;
    expect(killed.signal, describeRun(killed)).toBe("SIGKILL");
    expect(killed.stdout).not.toMatch(/^done:/m);
    proxy.cutAll();

    // The snippet's FileUrlStorage kept the upload's URL; the gateway kept the bytes that arrived.
    const stored = () => readFile(join(dir, "tus-uploads.json"), "utf8").then((text) => Object.values(JSON.parse(text) as Record<string, { uploadUrl: string }>));
    const [entry, ...others] = await stored();
    expect(others, "one stored upload").toEqual([]);
    const uploadUrl = entry!.uploadUrl;
    const direct = new URL(new URL(uploadUrl).pathname, server.url).href;
    let offset = 0;
    await expect
      .poll(
        async () => {
          const head = await fetch(direct, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" }, signal: AbortSignal.timeout(10_000) });
          offset = Number(head.headers.get("Upload-Offset"));
          return offset;
        },
        { timeout: 15_000, interval: 100 },
      )
      .toBeGreaterThan(0);
    expect(offset).toBeLessThan(3 * MiB);

    // The same command again: it finds the stored URL and goes on from the gateway's offset.
    const ran = await run(NODE, ["upload.mjs"], { cwd: dir, timeoutMs: 60_000 });
    expect(ran.code, describeRun(ran)).toBe(0);
    expect(ran.stderr, describeRun(ran)).toBe("");
    expect(/^done: (\S+)$/m.exec(ran.stdout)?.[1], "the same upload, not a new one").toBe(uploadUrl);
    const firstProgress = Number(/^([\d.]+) %$/m.exec(ran.stdout)?.[1]);
    expect(firstProgress, `the second run's first progress starts at the offset ${offset}, not at 0\n${describeRun(ran)}`).toBeGreaterThanOrEqual(
      Math.floor((offset / file.size) * 1000) / 10,
    );
    await expectUploaded(direct, { ...file, contentType: "video/mp4" });
    // removeFingerprintOnSuccess: a finished upload is not offered again.
    expect(await stored()).toEqual([]);
  }, 90_000);
});

/**
 * Why the tuspy snippet cannot run here, or undefined when it can. The
 * page names both `pip install tuspy` and Debian's package; the test runs
 * Debian's, the one .ci/run installs.
 */
async function tuspyMissing(): Promise<string | undefined> {
  const check = await run(PYTHON, ["-c", "import tusclient"], { cwd: ROOT, timeoutMs: 15_000 }).catch((error: Error) => ({ code: -1, stderr: error.message }));
  if (check.code === 0) return undefined;
  const why = check.stderr.trim().split("\n").at(-1);
  return `${PYTHON} cannot import tusclient (${why}); install it with \`apt-get install python3-tuspy\``;
}

describe("tuspy", () => {
  it("uploads video.mp4 with Debian's python3-tuspy and prints uploader.url", async (context) => {
    const missing = await tuspyMissing();
    // Skipped where the client is missing (e.g. `npm install && npm test` on a fresh machine), but
    // never in CI: there a missing client is a broken setup, not a reason to check less.
    if (missing !== undefined) {
      if (process.env.CI === "true") throw new Error(`CI=true, so the tuspy snippet may not be skipped: ${missing}`);
      context.skip(missing);
    }

    const { code } = snippet("tuspy");
    const dir = await folder("tuspy");
    const file = await testFile(dir, "video.mp4", 9 * MiB + 5);
    await writeFile(join(dir, "upload.py"), forServer(code, server.url));
    const ran = await run(PYTHON, ["upload.py"], { cwd: dir, timeoutMs: 60_000 });
    expect(ran.code, describeRun(ran)).toBe(0);
    const url = /^done: (\S+)$/m.exec(ran.stdout)?.[1];
    expect(url, describeRun(ran)).toBeDefined();
    await expectUploaded(url!, { ...file, contentType: "video/mp4" });
  }, 90_000);
});

/**
 * Writes a browser snippet's script and page into a work folder, builds the
 * script with the documented esbuild command, and serves the folder on its own
 * loopback port. Returns the page's URL.
 */
async function buildPage(prefix: string, script: { name: string; snippet: string }, build: string, html: string): Promise<{ dir: string; url: string }> {
  const dir = await folder(prefix);
  await writeFile(join(dir, script.name), forServer(snippet(script.snippet).code, server.url));
  await writeFile(join(dir, "index.html"), snippet(html).code);
  const built = await run("bash", ["-euo", "pipefail", "-c", snippet(build).code], { cwd: dir, timeoutMs: 60_000 });
  expect(built.code, describeRun(built)).toBe(0);
  const site = await serveDirectory(dir);
  cleanups.push(site.close);
  return { dir, url: site.url };
}

/** A new tab that records console messages and page errors. */
async function openTab(url: string): Promise<{ page: Page; messages: string[]; errors: string[] }> {
  context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const messages: string[] = [];
  const errors: string[] = [];
  page.on("console", (message) => messages.push(message.text()));
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(url);
  return { page, messages, errors };
}

/** Waits for a console message matching `pattern` after the first `from` messages; returns its first group. */
async function consoleMatch(messages: string[], pattern: RegExp, from = 0, timeoutMs = 60_000): Promise<string> {
  let found: string | undefined;
  await expect
    .poll(
      () => {
        found = messages.slice(from).map((message) => pattern.exec(message)?.[1]).find((match) => match !== undefined);
        return found;
      },
      { timeout: timeoutMs, interval: 100 },
    )
    .toBeDefined();
  return found!;
}

describe("tus-js-client in the browser", () => {
  it("bundled with esbuild: uploads the chosen file, and choosing it again after a reload resumes the same upload", async () => {
    const site = await buildPage(
      "browser",
      { name: "upload.js", snippet: "tus-js-client-browser" },
      "tus-js-client-browser-build",
      "tus-js-client-browser-html",
    );
    const file = await testFile(site.dir, "photo.jpg", 6 * MiB + 7);
    const { page, messages, errors } = await openTab(site.url);

    await page.locator("#file").setInputFiles(file.path);
    const url = await consoleMatch(messages, /^download at (\S+)$/);
    await expectUploaded(url, { ...file, contentType: "image/jpeg" });

    // The snippet's findPreviousUploads: the same file after a reload continues the upload it has.
    await page.reload();
    const seen = messages.length;
    await page.locator("#file").setInputFiles(file.path);
    expect(await consoleMatch(messages, /^download at (\S+)$/, seen)).toBe(url);
    expect(errors).toEqual([]);
  }, 120_000);
});

describe("Uppy", () => {
  it("bundled with esbuild: the Dashboard uploads a file chosen with 'browse files' through @uppy/tus", async () => {
    const site = await buildPage("uppy", { name: "uppy.js", snippet: "uppy" }, "uppy-build", "uppy-html");
    const file = await testFile(site.dir, "clip.mp4", 7 * MiB + 11);
    const { page, messages, errors } = await openTab(site.url);

    const chooser = page.waitForEvent("filechooser");
    await page.getByRole("button", { name: "browse files" }).click();
    await (await chooser).setFiles(file.path);
    await page.getByRole("button", { name: "Upload 1 file" }).click();
    const url = await consoleMatch(messages, /^clip\.mp4 uploaded to (\S+)$/);
    await expectUploaded(url, { ...file, contentType: "video/mp4" });
    // The Dashboard says so too, and the stylesheet esbuild wrote from the CSS imports is applied.
    await page.getByText("Complete", { exact: true }).waitFor();
    expect(await page.locator(".uppy-Dashboard-inner").evaluate((element) => getComputedStyle(element).position)).toBe("relative");
    expect(errors).toEqual([]);
  }, 120_000);
});
