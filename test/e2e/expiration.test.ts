/**
 * expiration against a real local gateway configured with a 3-second idle
 * time (EXPIRE_AFTER_SECONDS=3, through `wrangler dev --var`): idle uploads
 * are ended by their Durable Object's alarm and answer 410; uploads that keep
 * receiving bytes live on. The same server has a CORS allow-list, to check
 * the configured-origins branch that the default server (`*`) never takes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, MiB, seededBytes, sha256, sleep, startServer, type TestServer } from "./server";
import { createUpload, head, patch, pollUntil, send, slowPatch, TUS } from "./raw";

const EXPIRE_AFTER_SECONDS = 3;
const ALLOWED_ORIGIN = "https://app.example.com";

let server: TestServer;

beforeAll(async () => {
  server = await startServer({
    vars: { EXPIRE_AFTER_SECONDS: String(EXPIRE_AFTER_SECONDS), CORS_ALLOWED_ORIGINS: ALLOWED_ORIGIN },
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

/** RFC 9110 IMF-fixdate, e.g. `Wed, 25 Nov 2026 14:00:00 GMT`. */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Checks `Upload-Expires` of a response to a request sent at `sentAt` and
 * answered at `answeredAt`: a valid HTTP date about the idle time ahead.
 * Up to two seconds earlier: the date has whole seconds, and the stored
 * expiry moves at most once a second (activity within that second is
 * counted in memory, so the answer may name the expiry saved just before).
 * Returns it in milliseconds.
 */
function expectExpiry(response: { headers: Headers }, sentAt: number, answeredAt: number): number {
  const value = response.headers.get("Upload-Expires");
  expect(value, "Upload-Expires").toMatch(IMF_FIXDATE);
  const expires = Date.parse(value!);
  expect(new Date(expires).toUTCString()).toBe(value);
  expect(expires).toBeGreaterThanOrEqual(sentAt + EXPIRE_AFTER_SECONDS * 1000 - 2000);
  expect(expires).toBeLessThanOrEqual(answeredAt + EXPIRE_AFTER_SECONDS * 1000);
  return expires;
}

async function timed<T>(request: () => Promise<T>): Promise<{ value: T; sentAt: number; answeredAt: number }> {
  const sentAt = Date.now();
  const value = await request();
  return { value, sentAt, answeredAt: Date.now() };
}

describe(`expiration (EXPIRE_AFTER_SECONDS=${EXPIRE_AFTER_SECONDS})`, () => {
  it("advertises the extension", async () => {
    const options = await send("OPTIONS", server.endpoint);
    expect(options.headers.get("Tus-Extension")?.split(",")).toContain("expiration");
  }, 15_000);

  it("an idle upload expires: HEAD, PATCH and GET answer 410 once Upload-Expires has passed", async () => {
    const data = seededBytes(1 * MiB, "expire-idle");
    const created = await timed(() => fetch(server.endpoint, { method: "POST", headers: { ...TUS, "Upload-Length": String(data.length) } }));
    expect(created.value.status).toBe(201);
    expectExpiry(created.value, created.sentAt, created.answeredAt);
    const url = new URL(created.value.headers.get("Location")!, server.endpoint).href;

    const patched = await timed(() => patch(url, 0, data.subarray(0, 100_000)));
    expect(patched.value.status).toBe(204);
    const expires = expectExpiry(patched.value, patched.sentAt, patched.answeredAt);

    const alive = await head(url);
    expect(alive.status).toBe(200);
    expect(alive.headers.get("Upload-Offset")).toBe("100000");
    expect(alive.headers.get("Upload-Expires")).toBe(patched.value.headers.get("Upload-Expires"));

    // HEAD is not activity: polling must not keep the upload alive.
    const goneAt = await pollUntil("expiry", 20_000, 500, async () => ((await head(url)).status === 410 ? Date.now() : undefined));
    expect(goneAt, "not before Upload-Expires").toBeGreaterThanOrEqual(expires);
    expect(goneAt - patched.answeredAt).toBeGreaterThanOrEqual(EXPIRE_AFTER_SECONDS * 1000 - 1000);

    const gone = await head(url);
    expect(gone.status).toBe(410);
    expect(gone.headers.get("Upload-Offset")).toBeNull();
    expect((await patch(url, 100_000, data.subarray(100_000, 200_000))).status).toBe(410);
    expect((await send("GET", url)).status).toBe(410);
  }, 40_000);

  it("an upload that keeps receiving PATCHes every second does not expire, and completes intact", async () => {
    const data = seededBytes(12 * MiB + 5, "expire-active");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    const started = Date.now();
    const expiries: number[] = [];
    let offset = 0;
    for (let i = 0; i < 6; i++) {
      await sleep(1_000);
      const chunk = data.subarray(offset, offset + 2 * MiB);
      const patched = await timed(() => patch(url, offset, chunk));
      expect(patched.value.status, `PATCH ${i} at ${offset}, ${Date.now() - started} ms in`).toBe(204);
      offset += chunk.length;
      expect(patched.value.headers.get("Upload-Offset")).toBe(String(offset));
      expiries.push(expectExpiry(patched.value, patched.sentAt, patched.answeredAt));
    }
    expect(Date.now() - started).toBeGreaterThan(2 * EXPIRE_AFTER_SECONDS * 1000);
    // Each PATCH moved the expiry on.
    expect(expiries.at(-1)!).toBeGreaterThan(expiries[0]! + 3_000);

    const last = await patch(url, offset, data.subarray(offset));
    expect(last.status).toBe(204);
    expect(last.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(last.headers.get("Upload-Expires"), "a finished upload does not expire (EXPIRE_FINISHED_AFTER_SECONDS is 0)").toBeNull();

    // Finished uploads stay: wait past the idle time and read it back.
    await sleep((EXPIRE_AFTER_SECONDS + 1) * 1000);
    const finished = await head(url);
    expect(finished.status).toBe(200);
    expect(finished.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(finished.headers.get("Upload-Expires")).toBeNull();
    const stored = await download(url);
    expect(sha256(stored)).toBe(sha256(data));
  }, 40_000);

  it("a PATCH whose body is still arriving after the idle time is not cut off by expiry", async () => {
    const data = seededBytes(1 * MiB, "expire-slow-patch");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    // 16 pieces of 64 KiB, 400 ms apart: the body takes ~6.4 s, twice the idle time,
    // but bytes arrive all the time. (No HEAD meanwhile: HEAD takes a PATCH over.)
    const pieces = Array.from({ length: 16 }, (_, i) => data.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    const sentAt = Date.now();
    const response = await slowPatch(url, 0, pieces, 400);
    const elapsedMs = Date.now() - sentAt;
    const after = await head(url);

    // All facts in one comparison, so a failure shows them together.
    expect({
      status: response.status,
      offset: response.headers["upload-offset"],
      headStatus: after.status,
      headOffset: after.headers.get("Upload-Offset"),
    }, `PATCH answered after ${elapsedMs} ms with Upload-Expires ${response.headers["upload-expires"]}: ${response.body}`).toEqual({
      status: 204,
      offset: String(data.length),
      headStatus: 200,
      headOffset: String(data.length),
    });
    expect(sha256(await download(url))).toBe(sha256(data));
  }, 40_000);
});

describe(`CORS with an allow-list (CORS_ALLOWED_ORIGINS=${ALLOWED_ORIGIN})`, () => {
  it("allows the listed origin by name, varies on Origin, and gives other origins nothing", async () => {
    const preflight = { "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "tus-resumable,upload-length" };
    const allowed = await send("OPTIONS", server.endpoint, { Origin: ALLOWED_ORIGIN, ...preflight });
    expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe(ALLOWED_ORIGIN);
    expect(allowed.headers.get("Vary")?.toLowerCase()).toContain("origin");
    expect(allowed.headers.get("Access-Control-Allow-Methods")).toContain("PATCH");

    const other = await send("OPTIONS", server.endpoint, { Origin: "https://evil.example", ...preflight });
    expect(other.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(other.headers.get("Access-Control-Allow-Methods")).toBeNull();
    expect(other.headers.get("Vary")?.toLowerCase()).toContain("origin");

    const post = await fetch(server.endpoint, { method: "POST", headers: { ...TUS, Origin: ALLOWED_ORIGIN, "Upload-Length": "3" } });
    await post.arrayBuffer();
    expect(post.status).toBe(201);
    expect(post.headers.get("Access-Control-Allow-Origin")).toBe(ALLOWED_ORIGIN);
    const exposed = (post.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(["location", "upload-offset", "upload-expires"]));
  }, 15_000);
});
