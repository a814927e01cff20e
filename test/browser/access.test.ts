/**
 * The page with a gateway that is not open: bearer tokens (AUTH_MODE=jwt)
 * from `?token=` or the Settings field, and an upload the gateway refuses
 * (MAX_UPLOAD_SIZE), whose plain-text reason the page shows as the gateway
 * wrote it. UPLOAD_PAGE=on serves the page on any host. A token from an
 * embedding page's postMessage: page-security.test.ts; what the page asks
 * before it uses a token from `?token=`: link-token.test.ts.
 */
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { downloadSha256, MiB } from "../e2e/server";
import { JWT_SECRET, pageSuite, tokenFor, UploadPage } from "./harness";

const MAX_UPLOAD_SIZE = 1 * MiB;

const suite = pageSuite({ AUTH_MODE: "jwt", JWT_SECRET, MAX_UPLOAD_SIZE: String(MAX_UPLOAD_SIZE), UPLOAD_PAGE: "on" });

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

describe("the upload page with access control", () => {
  it("UPLOAD_PAGE=on serves the page on any host, not only loopback", async () => {
    await expect(statusForHost(`${suite.server.url}/`, "uploads.example.com")).resolves.toBe(200);
  }, 15_000);

  it("takes a token from ?token= once the person agrees, removes it from the address bar, and puts it on uploads and download links", async () => {
    const file = await suite.files.create("with-token.txt", 300 * 1024);
    const token = tokenFor("alice");
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server, `/?token=${token}`);
    expect(page.page.url()).not.toContain("token=");
    await page.useLinkToken();
    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(finished.sha256).toBe(file.sha256);
    expect(new URL(finished.href).searchParams.get("access_token")).toBe(token);
    await expect(downloadSha256(finished.href)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 60_000);

  it("without a token shows the gateway's 401 message; with one entered under Settings, Retry uploads", async () => {
    const file = await suite.files.create("needs-token.txt", 200 * 1024);
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server);
    await page.choose(file);
    const row = page.uploading(file);
    await expect.poll(() => row.getAttribute("data-state")).toBe("failed");
    const error = row.getByRole("alert");
    await expect(error.innerText()).resolves.toContain("The gateway needs a valid access token");
    await expect(error.innerText()).resolves.toContain("The gateway answered 401:");

    await page.setAccessToken(tokenFor("bob"));
    await page.page.getByRole("button", { name: `Retry ${file.name}` }).click();
    const finished = await page.waitFinished(file);
    await expect(downloadSha256(finished.href)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 60_000);

  it("shows the gateway's own message when it refuses a file (413 over MAX_UPLOAD_SIZE)", async () => {
    const file = await suite.files.create("too-large.bin", 2 * MiB);
    const token = tokenFor("carol");
    // What the gateway says to a client that asks for this upload, for comparison.
    const refused = await fetch(suite.server.endpoint, {
      method: "POST",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size), Authorization: `Bearer ${token}` },
    });
    expect(refused.status).toBe(413);
    const message = (await refused.text()).trim();
    expect(message.length).toBeGreaterThan(10);

    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server, `/?token=${token}`);
    await page.useLinkToken();
    await page.choose(file);
    const row = page.uploading(file);
    await expect.poll(() => row.getAttribute("data-state")).toBe("failed");
    const error = row.getByRole("alert");
    await expect(error.isVisible()).resolves.toBe(true);
    await expect(error.innerText()).resolves.toContain(`The gateway answered 413: ${message}`);
    await page.screenshot("refused.png");
  }, 60_000);
});
