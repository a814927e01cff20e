/**
 * The browser tests' tools: a real gateway (`wrangler dev`, test/e2e/server.ts)
 * that also serves the built upload page, a real Chromium (Debian's, or the one
 * from npm: ./chromium.ts) driven by playwright-core, and the page's controls
 * and lists by what a person sees.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { HS256_SECRET, tokenFor as e2eTokenFor } from "../e2e/jwt";
import { ROOT, startServer, writeSeededFile, type TestServer } from "../e2e/server";
import { TUS } from "../lib/wire";
import { chooseChromium } from "./chromium";

/** Screenshots land here (gitignored), for people to look at after a run. */
export const ARTIFACTS = join(ROOT, "test", "browser", "artifacts");

/**
 * The gateway with its upload page: the snapshot `wrangler dev` runs from
 * must hold the built page (public/, built by `npm run build:page`, which
 * `npm test` runs first), since wrangler.toml's [assets] points there.
 */
export function startPageServer(vars: Record<string, string> = {}): Promise<TestServer> {
  return startServer({ sources: ["src", "public", "wrangler.toml"], vars });
}

/**
 * A headless Chromium with a temporary profile (playwright's `launch` makes
 * a fresh user-data directory each time). Nothing in it reaches outside this
 * machine: background networking, updates and sync are off.
 */
export async function launchBrowser(): Promise<Browser> {
  const chosen = await chooseChromium();
  const ours = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ];
  try {
    return await chromium.launch({
      executablePath: chosen.executablePath,
      args: [...chosen.args.filter((flag) => !ours.includes(flag)), ...ours],
      timeout: 30_000,
    });
  } catch (error) {
    throw new Error(`could not start ${chosen.executablePath} (${chosen.source}): ${(error as Error).message}`, { cause: error });
  }
}

/** Files of seeded random bytes in a temporary directory; `remove()` deletes them all. */
export async function testFiles(): Promise<{ create(name: string, size: number): Promise<TestFile>; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "tus-edge-browser-"));
  return {
    async create(name, size) {
      const path = join(dir, name);
      const sha256 = await writeSeededFile(path, size, name);
      return { name, path, size, sha256 };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** What a browser test file shares: its gateway, its Chromium, its test files, and the current test's browser context. */
export interface PageSuite {
  server: TestServer;
  browser: Browser;
  files: Awaited<ReturnType<typeof testFiles>>;
  /** The browser context a test opened, if any: closed after each test. */
  context: BrowserContext | undefined;
}

/**
 * Registers a test file's hooks: before its tests, the gateway with its
 * upload page (`vars`, as for `startPageServer`), Chromium and the test files;
 * after each test, its browser context is closed; after all, everything is
 * stopped and removed. The suite's fields are set once the first hook has run.
 */
export function pageSuite(vars: Record<string, string> = {}): PageSuite {
  const suite = { context: undefined } as PageSuite;
  beforeAll(async () => {
    [suite.server, suite.browser, suite.files] = await Promise.all([startPageServer(vars), launchBrowser(), testFiles()]);
  }, 90_000);
  afterEach(async () => {
    await suite.context?.close();
    suite.context = undefined;
  }, 15_000);
  afterAll(async () => {
    await Promise.all([suite.browser?.close(), suite.server?.stop(), suite.files?.remove()]);
  }, 30_000);
  return suite;
}

export interface TestFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

/** The upload page in one browser tab. */
export class UploadPage {
  private constructor(
    readonly page: Page,
    readonly server: TestServer,
  ) {}

  static async open(context: BrowserContext, server: TestServer, path = "/"): Promise<UploadPage> {
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const uploadPage = new UploadPage(page, server);
    await uploadPage.goto(path);
    return uploadPage;
  }

  async goto(path = "/"): Promise<void> {
    await this.page.goto(new URL(path, this.server.url).href);
    await this.ready();
  }

  async reload(): Promise<void> {
    await this.page.reload();
    await this.ready();
  }

  private async ready(): Promise<void> {
    await this.page.locator("html[data-ready]").waitFor({ state: "attached" });
  }

  /** Sets the chunk size under Settings, as a person would: open, type, Enter. */
  async setChunkSizeMiB(mib: number): Promise<void> {
    const field = this.page.getByLabel("Chunk size (MiB)");
    if (!(await field.isVisible())) await this.page.getByText("Settings", { exact: true }).click();
    await field.fill(String(mib));
    await field.press("Enter");
  }

  /** Enters a token under Settings, as a person would: open, type, Enter. */
  async setAccessToken(token: string): Promise<void> {
    const field = this.page.getByLabel("Access token");
    if (!(await field.isVisible())) await this.page.getByText("Settings", { exact: true }).click();
    await field.fill(token);
    await field.press("Enter");
  }

  /** The question the page asks when its address carried `?token=`, before it uses that token. */
  linkTokenDialog(): Locator {
    return this.page.getByRole("dialog", { name: "Use the token from this link?" });
  }

  /** Answers that question "Use this token", as a person who expects that account would. */
  async useLinkToken(): Promise<void> {
    const dialog = this.linkTokenDialog();
    await dialog.getByRole("button", { name: "Use this token" }).click();
    await dialog.waitFor({ state: "hidden" });
  }

  async choose(...files: TestFile[]): Promise<void> {
    await this.page.getByLabel("Choose files", { exact: true }).setInputFiles(files.map((file) => file.path));
  }

  /** The row of an upload in progress. */
  uploading(file: TestFile): Locator {
    return this.page.locator("#upload-list > li").filter({ has: this.page.locator(".file-name", { hasText: file.name }) });
  }

  /** The entry of a finished upload. */
  finished(file: TestFile): Locator {
    return this.page.locator("#finished-list > li").filter({ has: this.page.locator(".file-name", { hasText: file.name }) });
  }

  /** Waits until the page's progress bar for `file` shows at least `fraction` of it sent. */
  async waitForProgress(file: TestFile, fraction: number, timeoutMs = 30_000): Promise<void> {
    const bar = this.uploading(file).locator("progress");
    await expect
      .poll(async () => Number(await bar.getAttribute("value").catch(() => "0")) / file.size, { timeout: timeoutMs, interval: 50 })
      .toBeGreaterThanOrEqual(fraction);
  }

  /** The upload's URL on the gateway, once the page knows it. */
  async uploadUrl(file: TestFile): Promise<string> {
    const row = this.uploading(file);
    await expect.poll(() => row.getAttribute("data-upload-url"), { timeout: 15_000 }).toMatch(/^http/);
    return (await row.getAttribute("data-upload-url"))!;
  }

  /**
   * Waits until `file` is listed as finished with its sha256 (computed in the
   * browser) and returns them with its download link.
   */
  async waitFinished(file: TestFile, timeoutMs = 60_000): Promise<{ sha256: string; href: string }> {
    const entry = this.finished(file);
    const sha = entry.locator(".sha256 code");
    await sha.waitFor({ timeout: timeoutMs });
    const href = await entry.getByRole("link", { name: `Download ${file.name}` }).getAttribute("href");
    return { sha256: (await sha.innerText()).trim(), href: href! };
  }

  async screenshot(name: string): Promise<string> {
    await mkdir(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, name);
    await this.page.screenshot({ path, fullPage: true });
    return path;
  }
}

/** The gateway's current offset of an upload, asked from Node (the browser may be offline). */
export async function serverOffset(uploadUrl: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(uploadUrl, { method: "HEAD", headers: { ...TUS, ...headers } });
  expect(response.status, `HEAD ${uploadUrl}`).toBe(200);
  return Number(response.headers.get("Upload-Offset"));
}

/** The test-only HS256 secret (test/fixtures): give it to a server as JWT_SECRET. */
export const JWT_SECRET = HS256_SECRET;

/** A bearer token for `subject`, valid for ten minutes, signed with JWT_SECRET (test/lib/tokens.ts). */
export function tokenFor(subject: string): string {
  return e2eTokenFor(subject);
}
