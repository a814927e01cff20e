/**
 * The page with a gateway that is not open: bearer tokens (AUTH_MODE=jwt)
 * from `?token=`, the Settings field or an embedding page's postMessage, and
 * an upload the gateway refuses (MAX_UPLOAD_SIZE), whose plain-text reason the
 * page shows as the gateway wrote it. UPLOAD_PAGE=on serves the page on any host.
 */
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { downloadSha256, MiB, type TestServer } from "../e2e/server";
import { JWT_SECRET, launchBrowser, startPageServer, testFiles, tokenFor, UploadPage } from "./harness";

const MAX_UPLOAD_SIZE = 1 * MiB;

let server: TestServer;
let browser: Browser;
let files: Awaited<ReturnType<typeof testFiles>>;
let context: BrowserContext | undefined;

beforeAll(async () => {
  [server, browser, files] = await Promise.all([
    startPageServer({ AUTH_MODE: "jwt", JWT_SECRET, MAX_UPLOAD_SIZE: String(MAX_UPLOAD_SIZE), UPLOAD_PAGE: "on" }),
    launchBrowser(),
    testFiles(),
  ]);
}, 90_000);

/** Run after each test: servers a test started. */
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await context?.close();
  context = undefined;
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
}, 15_000);

afterAll(async () => {
  await Promise.all([browser?.close(), server?.stop(), files?.remove()]);
}, 30_000);

/** GET / with another Host header than the loopback address the server listens on. */
function statusForHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Host: host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

/** A one-page web server on 127.0.0.1 (a real loopback origin: Chromium lets it frame local pages). */
async function serveHtml(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const web = createServer((_request, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(html);
  });
  await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
  const { port } = web.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => web.close(() => resolve())),
  };
}

describe("the upload page with access control", () => {
  it("UPLOAD_PAGE=on serves the page on any host, not only loopback", async () => {
    await expect(statusForHost(`${server.url}/`, "uploads.example.com")).resolves.toBe(200);
  }, 15_000);

  it("takes a token from ?token=, removes it from the address bar, and puts it on uploads and download links", async () => {
    const file = await files.create("with-token.txt", 300 * 1024);
    const token = tokenFor("alice");
    context = await browser.newContext();
    const page = await UploadPage.open(context, server, `/?token=${token}`);
    expect(page.page.url()).not.toContain("token=");
    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(finished.sha256).toBe(file.sha256);
    expect(new URL(finished.href).searchParams.get("access_token")).toBe(token);
    await expect(downloadSha256(finished.href)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 60_000);

  it("without a token shows the gateway's 401 message; with one entered under Settings, Retry uploads", async () => {
    const file = await files.create("needs-token.txt", 200 * 1024);
    context = await browser.newContext();
    const page = await UploadPage.open(context, server);
    await page.choose(file);
    const row = page.uploading(file);
    await expect.poll(() => row.getAttribute("data-state")).toBe("failed");
    const error = row.getByRole("alert");
    await expect(error.innerText()).resolves.toContain("The gateway needs a valid access token");
    await expect(error.innerText()).resolves.toContain("The gateway answered 401:");

    await page.page.getByText("Settings", { exact: true }).click();
    await page.page.getByLabel("Access token").fill(tokenFor("bob"));
    await page.page.getByLabel("Access token").press("Enter");
    await page.page.getByRole("button", { name: `Retry ${file.name}` }).click();
    const finished = await page.waitFinished(file);
    await expect(downloadSha256(finished.href)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 60_000);

  it("shows the gateway's own message when it refuses a file (413 over MAX_UPLOAD_SIZE)", async () => {
    const file = await files.create("too-large.bin", 2 * MiB);
    const token = tokenFor("carol");
    // What the gateway says to a client that asks for this upload, for comparison.
    const refused = await fetch(server.endpoint, {
      method: "POST",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size), Authorization: `Bearer ${token}` },
    });
    expect(refused.status).toBe(413);
    const message = (await refused.text()).trim();
    expect(message.length).toBeGreaterThan(10);

    context = await browser.newContext();
    const page = await UploadPage.open(context, server, `/?token=${token}`);
    await page.choose(file);
    const row = page.uploading(file);
    await expect.poll(() => row.getAttribute("data-state")).toBe("failed");
    const error = row.getByRole("alert");
    await expect(error.isVisible()).resolves.toBe(true);
    await expect(error.innerText()).resolves.toContain(`The gateway answered 413: ${message}`);
    await page.screenshot("refused.png");
  }, 60_000);

  it("an embedding page passes the token with postMessage and hears of each finished upload", async () => {
    const file = await files.create("embedded.txt", 100 * 1024);
    const token = tokenFor("dave");
    context = await browser.newContext();
    // Another site that embeds the page: a small server of its own on another port, so another origin.
    const embedder = await serveHtml(`<!doctype html><title>embedder</title>
<iframe id="uploader" src="${server.url}/" style="width:100%;height:600px"></iframe>
<script>
  window.received = [];
  window.addEventListener("message", (event) => {
    if (event.origin !== ${JSON.stringify(server.url)}) return;
    if (event.data.type === "tus-edge:ready") {
      document.getElementById("uploader").contentWindow.postMessage({ type: "tus-edge:token", token: ${JSON.stringify(token)} }, ${JSON.stringify(server.url)});
    }
    if (event.data.type === "tus-edge:finished") window.received.push(event.data.upload);
  });
</script>`);
    cleanups.push(embedder.close);
    const page = await context.newPage();
    await page.goto(embedder.url);
    const frame = page.frameLocator("#uploader");
    await frame.locator("html[data-ready]").waitFor({ state: "attached", timeout: 30_000 });
    await frame.locator("#file-input").setInputFiles(file.path);
    await expect.poll(() => page.evaluate(() => (window as unknown as { received: unknown[] }).received.length), { timeout: 30_000 }).toBe(1);
    const [upload] = await page.evaluate(() => (window as unknown as { received: { name: string; size: number; url: string; sha256: string }[] }).received);
    expect(upload).toMatchObject({ name: file.name, size: file.size, sha256: file.sha256 });
    // The upload is the token's subject's: it needs the token to download.
    await expect(fetch(upload!.url).then((response) => response.status)).resolves.toBe(401);
    await expect(downloadSha256(`${upload!.url}?access_token=${token}`)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 60_000);
});
