/**
 * A token in the page's address (`?token=`) is not used until the person,
 * shown whose token it is, says so. Anyone can send a link: one carrying an
 * attacker's token used to make whoever opened it upload into the attacker's
 * account, where the attacker lists and downloads the files (security
 * review, issue 18).
 *
 * In a real Chromium against a real gateway (AUTH_MODE=jwt). Which account an
 * upload went to is the gateway's answer: it lets a token's subject HEAD its
 * own uploads only (200) and answers 404 to anyone else. Every request the
 * browser sends is recorded too, so no header or URL carrying the link's
 * token goes unnoticed.
 */
import { describe, expect, it } from "vitest";
import { JWT_SECRET, pageSuite, tokenFor, UploadPage } from "./harness";

const suite = pageSuite({ AUTH_MODE: "jwt", JWT_SECRET });

interface SentRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

/**
 * A fresh browser profile and every request its pages send, as sent. The
 * navigations are left out: they are the links the test opens, the token's
 * way in (the page's Referrer-Policy keeps its address from going further).
 */
async function recordingContext(): Promise<SentRequest[]> {
  const sent: SentRequest[] = [];
  suite.context = await suite.browser.newContext();
  suite.context.on("request", (request) => {
    if (!request.isNavigationRequest()) sent.push({ method: request.method(), url: request.url(), authorization: request.headers().authorization });
  });
  return sent;
}

/** The tus requests that create an upload or send its bytes. */
const tusWrites = (sent: SentRequest[]) => sent.filter((request) => request.url.startsWith(suite.server.endpoint) && ["POST", "PATCH"].includes(request.method));

/** Requests that carried `token` in any way: as a bearer header or anywhere in their URL (e.g. `?access_token=`). */
const carrying = (sent: SentRequest[], token: string) => sent.filter((request) => request.authorization?.includes(token) || request.url.includes(token));

/** HEAD on an upload URL from Node: the gateway answers 200 only to the upload's owner. */
async function headStatus(url: string, token: string): Promise<number> {
  const response = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${token}` } });
  return response.status;
}

/** The page's token as kept for this tab. */
const storedToken = (page: UploadPage) => page.page.evaluate(() => sessionStorage.getItem("tus-edge:token"));

describe("a token in the page's address", () => {
  it("is not used: the page names the token's subject and asks, and an upload made meanwhile goes into the account the tab already had", async () => {
    const file = await suite.files.create("meant-for-victim.bin", 200 * 1024);
    const victim = tokenFor("victim");
    const attacker = tokenFor("mallory");
    const sent = await recordingContext();
    const page = await UploadPage.open(suite.context!, suite.server);
    await page.setAccessToken(victim);

    // The attacker's link, opened in the same tab, and a file chosen before answering.
    await page.goto(`/?token=${attacker}`);
    expect(page.page.url()).toBe(`${suite.server.url}/`);
    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(finished.sha256).toBe(file.sha256);
    const uploadUrl = finished.href.split("?")[0]!;
    await expect(headStatus(uploadUrl, attacker), "the attacker cannot see the upload").resolves.toBe(404);
    await expect(headStatus(uploadUrl, victim), "the victim owns it").resolves.toBe(200);
    expect(new URL(finished.href).searchParams.get("access_token")).toBe(victim);
    expect(tusWrites(sent).map((request) => request.authorization)).toEqual(tusWrites(sent).map(() => `Bearer ${victim}`));
    expect(carrying(sent, attacker), "requests that carried the link's token").toEqual([]);
    await expect(storedToken(page)).resolves.toBe(victim);

    const dialog = page.linkTokenDialog();
    await expect(dialog.isVisible(), "still waiting for an answer").resolves.toBe(true);
    const question = await dialog.innerText();
    expect(question).toContain("This link signs you in as mallory. Files you upload go to that account.");
    expect(question).toMatch(/The token is valid until \w+ \d+, \d{4}/);
    expect(question).toContain("If you don't use it, the page keeps your current token.");
    await page.screenshot("link-token.png");
  }, 60_000);

  it("is not used in a tab without a token either: the upload gets the gateway's 401, and nothing carries the link's token", async () => {
    const file = await suite.files.create("no-token-yet.bin", 64 * 1024);
    const attacker = tokenFor("mallory");
    const sent = await recordingContext();
    const page = await UploadPage.open(suite.context!, suite.server, `/?token=${attacker}`);
    expect(page.page.url()).toBe(`${suite.server.url}/`);
    await page.choose(file);
    const row = page.uploading(file);
    // A finished upload leaves the list: "gone" is the link's token at work.
    const state = () => row.getAttribute("data-state", { timeout: 1_000 }).catch(() => "gone");
    await expect.poll(state, { timeout: 15_000 }).toMatch(/^(failed|gone)$/);
    await expect(state()).resolves.toBe("failed");
    await expect(row.getByRole("alert").innerText()).resolves.toContain("The gateway answered 401:");
    expect(tusWrites(sent).length).toBeGreaterThan(0);
    expect(tusWrites(sent).map((request) => request.authorization)).toEqual(tusWrites(sent).map(() => undefined));
    expect(carrying(sent, attacker)).toEqual([]);
    await expect(storedToken(page)).resolves.toBeNull();
    await expect(page.linkTokenDialog().innerText()).resolves.toContain("If you don't use it, the page has no token.");
  }, 60_000);

  it("once the person chooses Use this token, is the page's token: uploads and download links carry it", async () => {
    const file = await suite.files.create("confirmed.bin", 300 * 1024);
    const token = tokenFor("alice");
    const sent = await recordingContext();
    const page = await UploadPage.open(suite.context!, suite.server, `/?token=${token}`);
    await expect(page.linkTokenDialog().innerText()).resolves.toContain("This link signs you in as alice.");
    expect(carrying(sent, token), "before the answer").toEqual([]);

    await page.useLinkToken();
    expect(page.page.url()).toBe(`${suite.server.url}/`);
    await expect(storedToken(page)).resolves.toBe(token);
    await page.page.getByText("Settings", { exact: true }).click();
    await expect(page.page.getByLabel("Access token").inputValue()).resolves.toBe(token);

    await page.choose(file);
    const finished = await page.waitFinished(file);
    expect(new URL(finished.href).searchParams.get("access_token")).toBe(token);
    await expect(headStatus(finished.href.split("?")[0]!, token)).resolves.toBe(200);
    const writes = tusWrites(sent);
    expect(writes.map((request) => request.method)).toContain("PATCH");
    expect(writes.map((request) => request.authorization)).toEqual(writes.map(() => `Bearer ${token}`));
  }, 60_000);

  it("is forgotten after Don't use it, the button that has the focus (Enter); the tab keeps its own token, also after a reload", async () => {
    const file = await suite.files.create("refused-link.bin", 100 * 1024);
    const victim = tokenFor("victim");
    const attacker = tokenFor("mallory");
    const sent = await recordingContext();
    const page = await UploadPage.open(suite.context!, suite.server);
    await page.setAccessToken(victim);
    await page.goto(`/?token=${attacker}`);
    const dialog = page.linkTokenDialog();
    const discard = dialog.getByRole("button", { name: "Don't use it" });
    await expect(discard.evaluate((button) => button === document.activeElement), "the safe answer has the focus").resolves.toBe(true);
    await page.page.keyboard.press("Enter");
    await dialog.waitFor({ state: "hidden" });
    expect(page.page.url()).toBe(`${suite.server.url}/`);
    await expect(storedToken(page)).resolves.toBe(victim);

    await page.reload();
    await expect(dialog.count(), "asked once: the address no longer has the token").resolves.toBe(0);
    await page.choose(file);
    const finished = await page.waitFinished(file);
    await expect(headStatus(finished.href.split("?")[0]!, victim)).resolves.toBe(200);
    expect(carrying(sent, attacker)).toEqual([]);
  }, 60_000);

  it("is forgotten when the person presses Escape", async () => {
    const attacker = tokenFor("mallory");
    const sent = await recordingContext();
    const page = await UploadPage.open(suite.context!, suite.server, `/?token=${attacker}`);
    await page.linkTokenDialog().waitFor();
    await page.page.keyboard.press("Escape");
    await page.linkTokenDialog().waitFor({ state: "hidden" });
    await expect(storedToken(page)).resolves.toBeNull();
    await page.page.getByText("Settings", { exact: true }).click();
    await expect(page.page.getByLabel("Access token").inputValue()).resolves.toBe("");
    expect(carrying(sent, attacker)).toEqual([]);
  }, 30_000);

  it("shows the subject as text: markup in it is not run or drawn", async () => {
    const subject = `<img src="x" onerror="window.pwned = true">mallory`;
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server, `/?token=${tokenFor(subject)}`);
    const dialog = page.linkTokenDialog();
    await expect(dialog.locator(".token-subject").innerText()).resolves.toBe(subject);
    await expect(dialog.locator("img").count()).resolves.toBe(0);
    await expect(page.page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned)).resolves.toBeUndefined();
  }, 30_000);

  it("that is not a readable JWT is said to be one whose account is unknown, and still waits for an answer", async () => {
    const sent = await recordingContext();
    const page = await UploadPage.open(suite.context!, suite.server, "/?token=not-a-jwt");
    const dialog = page.linkTokenDialog();
    await expect(dialog.innerText()).resolves.toContain("This link carries an access token that this page cannot read, so it cannot tell whose account it signs you in to.");
    await expect(dialog.locator(".token-subject").count()).resolves.toBe(0);
    expect(carrying(sent, "not-a-jwt")).toEqual([]);
    await page.useLinkToken();
    await expect(storedToken(page)).resolves.toBe("not-a-jwt");
  }, 30_000);

  it("that has expired says so", async () => {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const expired = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub: "old", exp: Math.floor(Date.now() / 1000) - 3600 })}.signature`;
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server, `/?token=${expired}`);
    await expect(page.linkTokenDialog().innerText()).resolves.toMatch(/The token expired on .+: the gateway will refuse it\./);
  }, 30_000);
});

describe("a token from the Settings field", () => {
  it("is used without a question", async () => {
    const file = await suite.files.create("typed-token.bin", 64 * 1024);
    const token = tokenFor("typed");
    suite.context = await suite.browser.newContext();
    const page = await UploadPage.open(suite.context, suite.server);
    await page.setAccessToken(token);
    await expect(page.linkTokenDialog().count()).resolves.toBe(0);
    await page.choose(file);
    const finished = await page.waitFinished(file);
    await expect(headStatus(finished.href.split("?")[0]!, token)).resolves.toBe(200);
  }, 60_000);
});
