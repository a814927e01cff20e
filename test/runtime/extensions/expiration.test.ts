/**
 * expiration extension: an unfinished upload carries `Upload-Expires` (an
 * RFC 9110 IMF-fixdate) on POST, PATCH and HEAD, 24 hours after its last
 * PATCH; its Durable Object's alarm then expires it: the multipart upload is
 * aborted and only a tombstone answering 410 remains. Finished uploads never
 * expire with the default configuration.
 *
 * Time is simulated, not waited for: a test moves the stored `expires_at`
 * (or the alarm) and runs the alarm with `runDurableObjectAlarm`.
 */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import {
  bodyText,
  createUpload,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  expectStoredInvariant,
  head,
  headOffset,
  MiB,
  OCTET,
  patch,
  patchInChunks,
  randomBytes,
  send,
  settle,
  sleep,
  stalledBody,
  TUS,
  within,
} from "../helpers";
import {
  age,
  DAY,
  expectMultipartAborted,
  expectNoBody,
  expectTombstoneOnly,
  fedBody,
  HOUR,
  IMF_FIXDATE,
  runAlarm,
  setAlarm,
  setExpiresAt,
  snapshot,
} from "./helpers";

const TIMEOUT = 30_000;
/** Time for bytes the client sent to cross Worker → Durable Object before we interrupt. */
const SETTLE_MS = 300;

/** Reads `Upload-Expires`, asserting it is an IMF-fixdate; returns it in ms since the epoch. */
function expiresOf(response: Response): number {
  const value = response.headers.get("Upload-Expires");
  expect(value, "Upload-Expires").toMatch(IMF_FIXDATE);
  return Date.parse(value!);
}

/** Asserts `expires` is 24 hours after a moment between `from` and now (the header has whole seconds). */
function expectAboutADayAfter(expires: number, from: number): void {
  expect(expires).toBeGreaterThanOrEqual(Math.floor(from / 1000) * 1000 + DAY);
  expect(expires).toBeLessThanOrEqual(Date.now() + DAY);
}

/** The stored expiry, the alarm, and what HEAD says about them. */
async function expiryState(url: string, id: string): Promise<{ stored: number | null; alarm: number | null; head: Response }> {
  const state = await snapshot(id);
  return { stored: state.uploads[0]!.expires_at, alarm: state.alarm, head: await head(url) };
}

/** Polls until the upload's multipart upload exists (a part reached R2); returns its id. */
async function waitForMultipart(id: string): Promise<string> {
  for (let tries = 0; tries < 50; tries++) {
    const multipartId = (await snapshot(id)).uploads[0]!.multipart_id;
    if (multipartId !== null) return multipartId;
    await sleep(100);
  }
  throw new Error("no part reached R2");
}

describe("Upload-Expires", () => {
  afterEach(() => expectNoServerErrors());

  it("POST, PATCH and HEAD of an unfinished upload carry Upload-Expires, an IMF-fixdate 24 hours ahead", { timeout: TIMEOUT }, async () => {
    const started = Date.now();
    const { response: created, url, id } = await createUpload({ length: 12 * MiB + 5, body: randomBytes(10, 2100) });
    expectAboutADayAfter(expiresOf(created), started);

    const patched = await patch(url, 10, randomBytes(MiB, 2101));
    expect(patched.status).toBe(204);
    const expires = expiresOf(patched);
    expectAboutADayAfter(expires, started);

    const { stored, alarm, head: state } = await expiryState(url, id);
    expect(state.status).toBe(200);
    expect(expiresOf(state)).toBe(expires);
    // The header is the stored expiry to the second. The alarm is set no later: a PATCH that
    // moves the expiry on leaves an earlier alarm alone, and the alarm re-arms when it fires.
    expect(Math.floor(stored! / 1000) * 1000).toBe(expires);
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(stored!);
  });

  it("each PATCH moves the expiry on to 24 hours after it; the alarm stays at or before it", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 100 });
    expect((await patch(url, 0, new Uint8Array(10))).status).toBe(204);
    // As if the last PATCH had been an hour ago.
    const { stored } = await expiryState(url, id);
    await setExpiresAt(id, stored! - HOUR);
    const aged = await head(url);
    expect(expiresOf(aged)).toBe(Math.floor((stored! - HOUR) / 1000) * 1000);

    const started = Date.now();
    const patched = await patch(url, 10, new Uint8Array(10));
    expect(patched.status).toBe(204);
    const moved = expiresOf(patched);
    expectAboutADayAfter(moved, started);
    expect(moved).toBeGreaterThan(expiresOf(aged));
    const after = await expiryState(url, id);
    expect(expiresOf(after.head)).toBe(moved);
    expect(after.alarm).not.toBeNull();
    expect(after.alarm!).toBeLessThanOrEqual(after.stored!);
    // When that alarm fires, it finds the upload alive and moves on to the stored expiry.
    await setAlarm(id, Date.now() + 60_000);
    expect(await runAlarm(id)).toBe(true);
    const rearmed = await expiryState(url, id);
    expect(rearmed.head.status).toBe(200);
    expect(rearmed.alarm).toBe(rearmed.stored);
  });

  it("a PATCH soon after the last leaves the stored expiry where it was: Upload-Expires reports it, at most 1 % of the day early", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 100 });
    const first = await patch(url, 0, new Uint8Array(10));
    expect(first.status).toBe(204);
    const { stored } = await expiryState(url, id);
    expect(expiresOf(first)).toBe(Math.floor(stored! / 1000) * 1000);

    // Over a second later (the stored expiry used to move at least that often), well under 864 s.
    await sleep(1500);
    const started = Date.now();
    const second = await patch(url, 10, new Uint8Array(10));
    expect(second.status).toBe(204);
    // Not moved: a row written per PATCH for a few seconds of a day is not worth it.
    expect(expiresOf(second)).toBe(expiresOf(first));
    const after = await expiryState(url, id);
    expect(after.stored).toBe(stored);
    expect(expiresOf(after.head)).toBe(expiresOf(first));
    // Earlier than a day after this PATCH, by less than 1 % of a day: never later.
    expect(expiresOf(second)).toBeLessThan(started + DAY);
    expect(expiresOf(second)).toBeGreaterThanOrEqual(started + DAY - DAY / 100 - 1000);
    expect(after.alarm!).toBeLessThanOrEqual(after.stored!);

    // The alarm at the stored expiry finds the upload active (the move is counted in memory):
    // it moves the stored expiry on rather than expiring the upload.
    await setExpiresAt(id, Date.now() - 100);
    await setAlarm(id, Date.now());
    expect(await runAlarm(id)).toBe(true);
    const caughtUp = await expiryState(url, id);
    expect(caughtUp.head.status).toBe(200);
    expect(caughtUp.stored!).toBeGreaterThan(Date.now() - 100);
    expect(await headOffset(url)).toBe(20);
  });

  it("a finished upload carries no Upload-Expires and keeps neither an expiry nor an alarm", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(11 * MiB + 1, 2102);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data.subarray(0, 6 * MiB), 0, [6 * MiB]);
    const last = await patch(url, 6 * MiB, data.slice(6 * MiB));
    expect(last.status, await bodyText(last)).toBe(204);
    expect(last.headers.get("Upload-Expires")).toBeNull();
    const { stored, alarm, head: state } = await expiryState(url, id);
    expect(state.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(state.headers.get("Upload-Expires")).toBeNull();
    expect(stored).toBeNull();
    expect(alarm).toBeNull();
  });

  it.for([
    { name: "of length 0", length: 0, body: undefined },
    { name: "completed by its creation-with-upload body", length: 5, body: randomBytes(5, 2103) },
  ])("a POST creating an upload $name carries no Upload-Expires", { timeout: TIMEOUT }, async ({ length, body }) => {
    const { response, url } = await createUpload({ length, body });
    expect(response.headers.get("Upload-Expires")).toBeNull();
    const state = await head(url);
    expect(state.headers.get("Upload-Offset")).toBe(String(length));
    expect(state.headers.get("Upload-Expires")).toBeNull();
  });
});

describe("expiry by the alarm", () => {
  afterEach(() => expectNoServerErrors());

  it("an upload past its expiry is expired by its alarm: multipart aborted, only a tombstone left, 410 saying it expired", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(12 * MiB + 5, 2200);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data.subarray(0, 9 * MiB + 3), 0, [9 * MiB + 3]);
    const before = await expectStoredInvariant(id, 9 * MiB + 3);
    expect(before.parts).toHaveLength(1);

    await age(id, DAY + HOUR);
    expect(await runAlarm(id)).toBe(true);

    const state = await head(url);
    expect(state.status).toBe(410);
    await expectNoBody(state);
    const appended = await patch(url, 9 * MiB + 3, data.slice(9 * MiB + 3));
    expect(appended.status).toBe(410);
    expect(await appended.text()).toMatch(/expired/);
    const downloaded = await send(url);
    expect(downloaded.status).toBe(410);
    expect(await downloaded.text()).toMatch(/expired/);
    const deleted = await send(url, { method: "DELETE", headers: TUS });
    expect(deleted.status).toBe(410);
    await deleted.arrayBuffer();

    await expectTombstoneOnly(id, "expired");
    await expectMultipartAborted(`uploads/${id}`, before.multipartId!);
    expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
  });

  it("an alarm that fires while the expiry is still ahead (a PATCH moved it) leaves the upload intact and re-arms", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(11 * MiB + 7, 2201);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data.subarray(0, 3 * MiB), 0, [3 * MiB]);
    // The alarm set by an earlier PATCH, due before the expiry the last PATCH set.
    await setAlarm(id, Date.now() + 60_000);
    expect(await runAlarm(id)).toBe(true);

    expect(await headOffset(url)).toBe(3 * MiB);
    const { stored, alarm } = await expiryState(url, id);
    expect(stored).toBeGreaterThan(Date.now() + DAY - HOUR);
    expect(alarm).toBe(stored);
    await patchInChunks(url, data, 3 * MiB, [5 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("an alarm that fires while a PATCH is streaming (expiry ahead) does not disturb it", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(12 * MiB + 5, 2202);
    const { url, id } = await createUpload({ length: data.length });
    const body = fedBody();
    const streaming = settle(patch(url, 0, body.stream));
    await body.feed(data.subarray(0, 9 * MiB + 1));
    await waitForMultipart(id);

    expect(await within(5_000, "the alarm during a streaming PATCH", runAlarm(id))).toBe(true);
    await body.feed(data.subarray(9 * MiB + 1));
    await body.close();
    const outcome = await within(8_000, "the streaming PATCH", streaming);
    expect(outcome.error).toBeUndefined();
    expect(outcome.response!.status, await bodyText(outcome.response!)).toBe(204);
    expect(outcome.response!.headers.get("Upload-Offset")).toBe(String(data.length));
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("with the expiry forced into the past, the alarm stops a stalled PATCH and expires the upload, without 5xx or hanging", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(12 * MiB + 5, 2203);
    const { url, id } = await createUpload({ length: data.length });
    const body = stalledBody(data.slice(0, 9 * MiB + 1));
    const stalled = settle(patch(url, 0, body.stream));
    await body.drained;
    const multipartId = await waitForMultipart(id);
    await sleep(SETTLE_MS);

    await setExpiresAt(id, Date.now() - 1000);
    expect(await within(8_000, "the alarm during a stalled PATCH", runAlarm(id))).toBe(true);
    const outcome = await within(8_000, "the stalled PATCH", stalled);
    if (outcome.response) expect(outcome.response.status, await bodyText(outcome.response)).toBeLessThan(500);

    const state = await head(url);
    expect(state.status).toBe(410);
    await expectTombstoneOnly(id, "expired");
    await expectMultipartAborted(`uploads/${id}`, multipartId);
  });
});

describe("finished uploads and the alarm", () => {
  afterEach(() => expectNoServerErrors());

  it("a finished upload is not expired by a stray alarm", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(11 * MiB + 3, 2300);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data, 0, [8 * MiB]);
    await setAlarm(id, Date.now() + 60_000);
    expect(await runAlarm(id)).toBe(true);
    expect(await headOffset(url)).toBe(data.length);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it(
    "a finished upload whose completion was retried by a HEAD (after R2 failed once) is not expired a day later",
    { timeout: TIMEOUT },
    async () => {
      const data = randomBytes(11 * MiB + 3, 2301);
      const { url, id } = await createUpload({ length: data.length });
      await patchInChunks(url, data.subarray(0, 6 * MiB), 0, [6 * MiB]);

      // R2's multipart complete() fails once, as a storage fault would: the last PATCH answers 503
      // (the one 5xx this file expects, sent past `send` so it is not counted as a server fault).
      const prototype = Object.getPrototypeOf(env.BUCKET.resumeMultipartUpload("probe", "probe")) as R2MultipartUpload;
      const complete = prototype.complete;
      prototype.complete = function () {
        prototype.complete = complete;
        return Promise.reject(new Error("injected R2 fault"));
      };
      let last: Response;
      try {
        last = await SELF.fetch(url, {
          method: "PATCH",
          headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": String(6 * MiB) },
          body: data.slice(6 * MiB),
        });
      } finally {
        prototype.complete = complete;
      }
      expect(last.status, await bodyText(last)).toBe(503);

      // The client asks where it stands; HEAD completes the object and reports it finished.
      const state = await head(url);
      expect(state.headers.get("Upload-Offset")).toBe(String(data.length));
      expect(state.headers.get("Upload-Expires")).toBeNull();
      await expectFinishedStorage(id, data.length);

      // A day passes, and any alarm the object still has fires.
      await age(id, DAY + HOUR);
      await runAlarm(id);
      expect((await head(url)).status, "a finished upload never expires by default").toBe(200);
      expect(await env.BUCKET.head(`uploads/${id}`), "the finished object is still stored").not.toBeNull();
      await expectDownloadEquals(url, data);
    },
  );
});
