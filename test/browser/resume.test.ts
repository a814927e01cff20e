/**
 * Uploads that are interrupted in the browser continue on the gateway where
 * they stopped: after the network drops (Chromium's offline emulation) and
 * after the page is reloaded (tus-js-client's stored upload URL, found again
 * by the file's fingerprint). The gateway's offset is read from Node, which
 * the browser's offline mode does not affect.
 */
import { describe, expect, it } from "vitest";
import { downloadSha256, MiB, sleep } from "../e2e/server";
import { pageSuite, serverOffset, UploadPage } from "./harness";

const suite = pageSuite();

describe("resuming in the browser", () => {
  it("goes offline mid-upload, says so, and continues from the gateway's offset when the network is back", async () => {
    const file = await suite.files.create("offline-32MiB.bin", 32 * MiB);
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server);
    // Small chunks: several requests, so the network drops in the middle of the upload.
    await page.setChunkSizeMiB(1);
    await page.choose(file);
    const url = await page.uploadUrl(file);
    await page.waitForProgress(file, 0.25);

    await suite.context.setOffline(true);
    const row = page.uploading(file);
    await expect.poll(() => row.getAttribute("data-state"), { timeout: 20_000 }).toBe("offline");
    await expect(row.locator(".upload-note").innerText()).resolves.toContain("You are offline");
    const offlineAt = await serverOffset(url);
    expect(offlineAt).toBeGreaterThan(0);
    expect(offlineAt).toBeLessThan(file.size);
    await sleep(1000);
    expect(await serverOffset(url), "nothing arrives while offline").toBe(offlineAt);

    await suite.context.setOffline(false);
    // The page asks the gateway (HEAD) and continues from exactly what it holds.
    await expect.poll(() => row.getAttribute("data-resumed-from"), { timeout: 20_000 }).toBe(String(offlineAt));
    const finished = await page.waitFinished(file);
    expect(finished.href, "the same upload, not a new one").toBe(url);
    expect(finished.sha256).toBe(file.sha256);
    await expect(downloadSha256(finished.href)).resolves.toEqual({ sha256: file.sha256, size: file.size });
  }, 90_000);

  it("after a reload mid-upload, offers the unfinished upload and continues it when the file is chosen again", async () => {
    const file = await suite.files.create("reload-32MiB.bin", 32 * MiB);
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server);
    await page.setChunkSizeMiB(1);
    await page.choose(file);
    const url = await page.uploadUrl(file);
    await page.waitForProgress(file, 0.25);

    await page.reload();
    // A reload ends the request in flight; whatever arrived of it is kept.
    await sleep(500);
    const storedAt = await serverOffset(url);
    expect(storedAt).toBeGreaterThan(0);
    expect(storedAt).toBeLessThan(file.size);

    // The page remembers the upload and says how far the gateway got.
    const offered = page.page.locator("#resumable-list > li").filter({ hasText: file.name });
    await expect.poll(() => offered.count(), { timeout: 10_000 }).toBe(1);
    await expect(offered.innerText()).resolves.toMatch(/\d+ % \([0-9.]+ MiB\) is on the gateway/);
    await expect(offered.getByRole("button", { name: `Choose ${file.name} again to continue` }).isVisible()).resolves.toBe(true);
    await page.screenshot("resumable.png");

    await page.choose(file);
    const row = page.uploading(file);
    await expect.poll(() => row.getAttribute("data-resumed-from"), { timeout: 20_000 }).toBe(String(storedAt));
    const finished = await page.waitFinished(file);
    expect(finished.href, "the same upload, not a new one").toBe(url);
    expect(finished.sha256).toBe(file.sha256);
    await expect(downloadSha256(finished.href)).resolves.toEqual({ sha256: file.sha256, size: file.size });
    // Finished: no longer offered for resuming.
    await expect.poll(() => offered.count()).toBe(0);
  }, 90_000);
});
