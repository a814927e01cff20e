/**
 * The upload page never sends files or tokens anywhere its gateway did not
 * list. Each attack of the security review, in a real Chromium against a
 * real gateway (AUTH_MODE=jwt), with fake tus servers on other loopback
 * ports that record every request they get:
 *
 *  - a link with `?endpoint=<evil>` (or the endpoint typed under Settings)
 *    used to send the dropped file's bytes there;
 *  - an upload URL on the evil server left in the browser's storage used to
 *    get `HEAD … Authorization: Bearer <token>` on every visit;
 *  - any site could frame the page, pass it the site's own token (the person
 *    then uploads into the site's account) and hear of finished uploads.
 *
 * A link with an attacker's `?token=` has a file of its own: link-token.test.ts.
 * Here a token in a test's link is the person's own, and the tests answer the
 * page's question about it with "Use this token".
 *
 * The first two run twice: as served, and with the page's
 * Content-Security-Policy removed on the way (as by an old browser or a proxy
 * that drops headers), so that the page's own checks are shown to hold
 * without the browser's help. What the operator lists (UPLOAD_PAGE_ENDPOINTS,
 * UPLOAD_PAGE_EMBED_ORIGINS) still works.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { downloadSha256, type TestServer } from "../e2e/server";
import { JWT_SECRET, launchBrowser, startPageServer, testFiles, tokenFor, UploadPage } from "./harness";

interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  bytes: number;
}

interface FakeTusServer {
  origin: string;
  endpoint: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A tus server of its own on a free loopback port (another origin than the
 * gateway's) that lets any page talk to it (CORS for every origin and
 * header) and records every request, preflights included. `hold` never
 * answers a PATCH, as an attacker's server would to keep its URL stored in
 * the browser; `complete` takes every byte.
 */
async function fakeTusServer(behaviour: "hold" | "complete"): Promise<FakeTusServer> {
  const requests: RecordedRequest[] = [];
  const offsets = new Map<string, { offset: number; length: number }>();
  let next = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const record: RecordedRequest = { method: request.method ?? "", path: request.url ?? "", authorization: request.headers.authorization, bytes: 0 };
    requests.push(record);
    response.setHeader("Access-Control-Allow-Origin", request.headers.origin ?? "*");
    response.setHeader("Access-Control-Allow-Methods", "POST, HEAD, PATCH, DELETE, OPTIONS");
    response.setHeader("Access-Control-Allow-Headers", request.headers["access-control-request-headers"] ?? "*");
    response.setHeader("Access-Control-Expose-Headers", "Location, Upload-Offset, Upload-Length, Tus-Resumable, Tus-Version, Tus-Max-Size");
    response.setHeader("Tus-Resumable", "1.0.0");
    request.on("data", (chunk: Buffer) => (record.bytes += chunk.length));
    request.on("end", () => {
      const upload = offsets.get(record.path);
      if (request.method === "OPTIONS") {
        response.writeHead(204, { "Tus-Version": "1.0.0", "Tus-Extension": "creation" }).end();
      } else if (request.method === "POST") {
        const path = `/files/${++next}`;
        offsets.set(path, { offset: 0, length: Number(request.headers["upload-length"]) });
        response.writeHead(201, { Location: `${origin}${path}` }).end();
      } else if (request.method === "HEAD" && upload) {
        response.writeHead(200, { "Upload-Offset": String(upload.offset), "Upload-Length": String(upload.length), "Cache-Control": "no-store" }).end();
      } else if (request.method === "PATCH" && upload) {
        if (behaviour === "hold") return; // the bytes arrived; the answer never does
        upload.offset += record.bytes;
        response.writeHead(204, { "Upload-Offset": String(upload.offset) }).end();
      } else {
        response.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    endpoint: `${origin}/files/`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A web server for another site's page, on a loopback port of its own; its HTML is set once the gateway's address is known. */
async function siteServer(): Promise<{ origin: string; html: string; close(): Promise<void> }> {
  const site = {
    origin: "",
    html: "",
    close: () => new Promise<void>((resolve) => web.close(() => resolve())),
  };
  const web = createServer((_request, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(site.html);
  });
  await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
  site.origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  return site;
}

/**
 * A page that frames the upload page and records every message it gets.
 * `eager` sends its token over and over to whatever is in the frame, as an
 * attacker would, instead of waiting for `tus-edge:ready`.
 */
function embeddingPage(gateway: string, token: string, eager: boolean): string {
  return `<!doctype html><title>embedder</title>
<iframe id="uploader" src="${gateway}/" style="width:100%;height:700px"></iframe>
<script>
  window.received = [];
  window.frameLoaded = false;
  const frame = document.getElementById("uploader");
  const send = () => frame.contentWindow.postMessage({ type: "tus-edge:token", token: ${JSON.stringify(token)} }, "*");
  frame.addEventListener("load", () => (window.frameLoaded = true));
  window.addEventListener("message", (event) => {
    window.received.push({ origin: event.origin, data: event.data });
    if (event.data && event.data.type === "tus-edge:ready") send();
  });
  if (${eager}) setInterval(send, 100);
</script>`;
}

let server: TestServer;
let browser: Browser;
let files: Awaited<ReturnType<typeof testFiles>>;
let context: BrowserContext | undefined;
let evil: FakeTusServer;
let listed: FakeTusServer;
let listedSite: Awaited<ReturnType<typeof siteServer>>;
let otherSite: Awaited<ReturnType<typeof siteServer>>;

beforeAll(async () => {
  [evil, listed, listedSite, otherSite, browser, files] = await Promise.all([
    fakeTusServer("hold"),
    fakeTusServer("complete"),
    siteServer(),
    siteServer(),
    launchBrowser(),
    testFiles(),
  ]);
  server = await startPageServer({
    AUTH_MODE: "jwt",
    JWT_SECRET,
    UPLOAD_PAGE_ENDPOINTS: listed.endpoint,
    UPLOAD_PAGE_EMBED_ORIGINS: listedSite.origin,
  });
}, 90_000);

afterEach(async () => {
  await context?.close();
  context = undefined;
  evil.requests.length = 0;
  listed.requests.length = 0;
}, 15_000);

afterAll(async () => {
  await Promise.all([browser?.close(), server?.stop(), files?.remove(), evil?.close(), listed?.close(), listedSite?.close(), otherSite?.close()]);
}, 30_000);

/** A fresh browser profile; with `withoutCsp`, the gateway's HTML reaches it without its Content-Security-Policy. */
async function newContext(withoutCsp = false): Promise<BrowserContext> {
  context = await browser.newContext();
  if (withoutCsp) {
    await context.route(
      (url) => url.origin === server.url && url.pathname === "/",
      async (route) => {
        const response = await route.fetch();
        const headers = response.headers();
        delete headers["content-security-policy"];
        await route.fulfill({ response, headers });
      },
    );
  }
  return context;
}

/** HEAD on an upload URL with a token, from Node: 200 only for the token's own uploads. */
async function headStatus(url: string, token: string): Promise<number> {
  const response = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${token}` } });
  return response.status;
}

describe("the upload page's Content-Security-Policy", () => {
  it("is computed from the configuration: connect-src only the page's origin and the listed endpoints', frame-ancestors only the listed sites", async () => {
    for (const path of ["/", "/page.js"]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      const csp = response.headers.get("Content-Security-Policy") ?? "";
      expect(csp, path).toContain(`connect-src 'self' ${listed.origin};`);
      expect(csp, path).toContain(`frame-ancestors ${listedSite.origin};`);
      expect(csp, path).not.toContain("*");
      expect(response.headers.get("Referrer-Policy"), path).toBe("no-referrer");
      await response.arrayBuffer();
    }
    // The page learns the same lists from its HTML.
    const html = await (await fetch(`${server.url}/`)).text();
    expect(html).toContain(`<meta name="tus-edge-page" content="{&quot;basePath&quot;:&quot;/files/&quot;,&quot;endpoints&quot;:[&quot;${listed.endpoint}&quot;]`);
  }, 15_000);
});

describe.each([
  ["as served", false],
  ["without its Content-Security-Policy", true],
])("the upload page %s", (_name, withoutCsp) => {
  it("ignores ?endpoint= of another server, says so, and uploads to its own gateway: the other server gets no byte and no token", async () => {
    const file = await files.create(`linked-${withoutCsp}.bin`, 256 * 1024);
    const token = tokenFor("victim");
    const page = await UploadPage.open(await newContext(withoutCsp), server, `/?token=${token}&endpoint=${encodeURIComponent(evil.endpoint)}`);
    await page.useLinkToken();
    const status = page.page.locator("#gateway-status");
    await expect.poll(() => status.innerText()).toContain(`Ignored the upload endpoint ${evil.endpoint} given in this page's address`);
    await expect.poll(() => status.innerText()).toContain(`Uploading to ${server.endpoint}`);
    await expect(status.getAttribute("class")).resolves.toContain("warning");

    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(finished.sha256).toBe(file.sha256);
    expect(new URL(finished.href).origin).toBe(server.url);
    await expect(headStatus(finished.href, token)).resolves.toBe(200);
    expect(evil.requests, "requests that reached the other server").toEqual([]);
  }, 60_000);

  it("never asks an upload URL of another server left in the browser's storage (no HEAD, no token), forgets it, and puts no token on its links", async () => {
    const token = tokenFor("victim");
    const page = await UploadPage.open(await newContext(withoutCsp), server);
    // An unfinished upload on the gateway, so the page has something to show once it has looked at everything stored.
    const created = await fetch(server.endpoint, {
      method: "POST",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "1000", "Upload-Metadata": `filename ${btoa("own.bin")}`, Authorization: `Bearer ${token}` },
    });
    expect(created.status).toBe(201);
    const ownUrl = created.headers.get("Location")!;
    const evilUrl = `${evil.origin}/files/planted`;
    await page.page.evaluate(
      ({ ownUrl, evilUrl }) => {
        const stored = (name: string, uploadUrl: string) =>
          JSON.stringify({ size: 1000, metadata: { filename: name }, creationTime: new Date().toString(), uploadUrl });
        localStorage.setItem("tus::tus-br-own.bin::1", stored("own.bin", ownUrl));
        localStorage.setItem("tus::tus-br-planted.bin::2", stored("planted.bin", evilUrl));
        const finished = { name: "elsewhere.bin", size: 10, url: evilUrl, sha256: "", finishedAt: new Date().toISOString() };
        localStorage.setItem("tus-edge:finished", JSON.stringify([finished]));
      },
      { ownUrl, evilUrl },
    );

    // The next visit, with a token.
    await page.goto(`/?token=${token}`);
    await page.useLinkToken();
    const offered = page.page.locator("#resumable-list > li");
    // Shown once the page has looked at every stored upload (all at once, then drawn together).
    await expect.poll(() => offered.allInnerTexts(), { timeout: 15_000 }).toEqual([expect.stringContaining("0 % (0 B) is on the gateway")]);

    expect(evil.requests, "requests that reached the other server").toEqual([]);
    const keys = await page.page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith("tus::")));
    expect(keys).toEqual(["tus::tus-br-own.bin::1"]);
    const link = await page.page.getByRole("link", { name: "Download elsewhere.bin" }).getAttribute("href");
    expect(link).toBe(evilUrl);
  }, 60_000);
});

describe("the upload page's endpoint setting", () => {
  it("refuses an endpoint on another server typed under Settings, and keeps uploading to its own gateway", async () => {
    const file = await files.create("typed.bin", 128 * 1024);
    const page = await UploadPage.open(await newContext(), server, `/?token=${tokenFor("victim")}`);
    await page.useLinkToken();
    await page.page.getByText("Settings", { exact: true }).click();
    const field = page.page.getByLabel("Upload endpoint");
    await field.fill(evil.endpoint);
    await field.press("Enter");
    await expect.poll(() => page.page.locator("#endpoint-error").innerText()).toContain("Not used: this page uploads only to the endpoints its gateway allows.");
    await expect(field.getAttribute("aria-invalid")).resolves.toBe("true");

    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(new URL(finished.href).origin).toBe(server.url);
    expect(evil.requests).toEqual([]);
    // Nor is it kept for the next visit.
    await page.reload();
    await expect.poll(() => page.page.locator("#gateway-status").innerText()).toContain(`Uploading to ${server.endpoint}`);
  }, 60_000);

  it("uploads to an endpoint the operator listed (UPLOAD_PAGE_ENDPOINTS), with the token", async () => {
    const file = await files.create("listed.bin", 300 * 1024);
    const token = tokenFor("victim");
    const page = await UploadPage.open(await newContext(), server, `/?token=${token}&endpoint=${encodeURIComponent(listed.endpoint)}`);
    await page.useLinkToken();
    const status = page.page.locator("#gateway-status");
    await expect.poll(() => status.innerText()).toBe(`Uploading to ${listed.endpoint}.`);
    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(finished.href.startsWith(`${listed.origin}/files/`)).toBe(true);
    // A link cannot send headers: on a listed server's download link the token rides along.
    expect(new URL(finished.href).searchParams.get("access_token")).toBe(token);
    const tusRequests = listed.requests.filter((request) => request.method === "POST" || request.method === "PATCH");
    expect(tusRequests.map((request) => request.authorization)).toEqual(tusRequests.map(() => `Bearer ${token}`));
    expect(tusRequests.reduce((sum, request) => sum + request.bytes, 0)).toBe(file.size);
  }, 60_000);
});

describe("embedding the upload page", () => {
  /** The gateway page inside the embedding page's frame, once it is ready. */
  async function framedUploadPage(page: Page) {
    const frame = page.frameLocator("#uploader");
    await frame.locator("html[data-ready]").waitFor({ state: "attached", timeout: 30_000 });
    return frame;
  }

  type Received = { origin: string; data: { type: string; upload?: { name: string; size: number; url: string; sha256: string } } }[];
  const received = (page: Page) => page.evaluate(() => (window as unknown as { received: Received }).received);

  it("a site that is not listed cannot frame it: the browser shows no page, so no token goes in and nothing comes out", async () => {
    otherSite.html = embeddingPage(server.url, tokenFor("attacker"), true);
    const page = await (await newContext()).newPage();
    await page.goto(otherSite.origin);
    await expect.poll(() => page.evaluate(() => (window as unknown as { frameLoaded: boolean }).frameLoaded), { timeout: 15_000 }).toBe(true);
    const frame = page.frames().find((candidate) => candidate !== page.mainFrame())!;
    await expect(frame.locator("html[data-ready]").count()).resolves.toBe(0);
    await expect(received(page)).resolves.toEqual([]);
  }, 30_000);

  it("without the frame-ancestors policy, a site that is not listed still cannot pass its token nor hear of finished uploads", async () => {
    const file = await files.create("framed-by-attacker.txt", 64 * 1024);
    const attacker = tokenFor("attacker");
    const victim = tokenFor("victim");
    otherSite.html = embeddingPage(server.url, attacker, true);
    const page = await (await newContext(true)).newPage();
    await page.goto(otherSite.origin);
    const frame = await framedUploadPage(page);
    // The person enters their own token; the site keeps sending its own, ten times a second.
    await frame.getByText("Settings", { exact: true }).click();
    await frame.getByLabel("Access token").fill(victim);
    await frame.getByLabel("Access token").press("Enter");
    await frame.locator("#file-input").setInputFiles(file.path);
    const link = frame.getByRole("link", { name: `Download ${file.name}` });
    await link.waitFor({ timeout: 30_000 });
    const url = (await link.getAttribute("href"))!.split("?")[0]!;

    await expect(frame.getByLabel("Access token").inputValue()).resolves.toBe(victim);
    await expect(headStatus(url, victim), "the upload is the person's").resolves.toBe(200);
    await expect(headStatus(url, attacker), "not the framing site's").resolves.toBe(404);
    await expect(received(page), "messages the framing site got").resolves.toEqual([]);
  }, 60_000);

  it("a listed site (UPLOAD_PAGE_EMBED_ORIGINS) passes its token and hears of each finished upload, and only it", async () => {
    const file = await files.create("embedded.txt", 100 * 1024);
    const token = tokenFor("dave");
    listedSite.html = embeddingPage(server.url, token, false);
    const page = await (await newContext()).newPage();
    await page.goto(listedSite.origin);
    const frame = await framedUploadPage(page);
    await frame.locator("#file-input").setInputFiles(file.path);
    await expect.poll(async () => (await received(page)).map((message) => message.data.type), { timeout: 30_000 }).toEqual(["tus-edge:ready", "tus-edge:finished"]);
    // A listed parent's token needs no question, unlike one in a link (link-token.test.ts).
    await expect(frame.getByRole("dialog").count()).resolves.toBe(0);
    const messages = await received(page);
    expect(messages.map((message) => message.origin)).toEqual([server.url, server.url]);
    const upload = messages[1]!.data.upload!;
    expect(upload).toMatchObject({ name: file.name, size: file.size, sha256: file.sha256 });
    // The upload is the token's subject's: it needs the token to download.
    await expect(fetch(upload.url).then((response) => response.status)).resolves.toBe(401);
    await expect(downloadSha256(`${upload.url}?access_token=${token}`)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 60_000);
});
