/**
 * A final upload of a concatenation keeps the rules of an ordinary upload
 * when its object is assembled: with worker.ts's `{subject}/{filename}` keys
 * (and OVERWRITE_OBJECTS=false), another object stored at its key before the
 * assembly completes refuses it for good (409 object-exists, a `failed`
 * event, that object untouched); and assembly steps that fail in R2 back off
 * like completions (5 s, 10 s, 20 s …), give up after COMPLETION_ATTEMPTS in
 * a row, and then expire the idle time later. The faults are worker.ts's
 * `faults/<key>` markers: `createMultipartUpload` fails while one exists.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { COMPLETION_ATTEMPTS } from "../../src/upload/lifecycle/background";
import { metadataHeader } from "../runtime-auth/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { bodyText, concat, download, expectNoServerErrors, patch, randomBytes, retryState, send, TUS, uploadStub } from "../runtime/helpers";
import { allDelivered, callsAbout, COLLECTION, create, expectConsistentEventIds, headAs, TIMEOUT, upload, waitFor, type Created } from "./helpers";
import { FAULTS_PREFIX, KEY_PREFIX } from "./worker";

const EXPIRE_AFTER_MS = 86_400 * 1000;

afterEach(async () => {
  expectNoServerErrors();
  await expectConsistentEventIds();
});

function postFinal(token: string, partials: Created[], filename: string): Promise<Response> {
  const concatenation = `final;${partials.map(({ url }) => url).join(" ")}`;
  return send(COLLECTION, {
    method: "POST",
    headers: { ...TUS, ...bearer(token), "Upload-Concat": concatenation, "Upload-Metadata": metadataHeader({ filename }) },
  });
}

async function createFinal(token: string, partials: Created[], filename: string): Promise<Created> {
  const response = await postFinal(token, partials, filename);
  expect(response.status, await bodyText(response)).toBe(201);
  const url = response.headers.get("Location")!;
  return { url, id: url.slice(COLLECTION.length) };
}

/** Sets the stored failures, as if that many steps had failed in a row, the latest `agoMs` ago. */
function pretendFailures(id: string, failures: number, agoMs: number): Promise<void> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    state.storage.sql.exec("UPDATE upload SET completion_failures = ?, completion_failed_at = ?", failures, Date.now() - agoMs);
  });
}

/** Two finished partials of `subject`, and the bytes the final of them holds. */
async function finishedPartials(token: string, seed: number): Promise<{ partials: Created[]; whole: Uint8Array }> {
  const parts = [randomBytes(3000, seed), randomBytes(4000, seed + 1)];
  const partials: Created[] = [];
  for (const part of parts) partials.push(await upload(token, part, { headers: { "Upload-Concat": "partial" } }));
  return { partials, whole: concat(...parts) };
}

describe("a final upload whose key another object took before it was assembled", () => {
  it("is refused for good with 409 object-exists and a failed event; the other object and the partials are kept", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("grace");
    const filename = `concat-taken-${crypto.randomUUID().slice(0, 8)}.bin`;
    const key = `${KEY_PREFIX}grace/${filename}`;
    const finished = await upload(token, randomBytes(3000, 70), { headers: { "Upload-Concat": "partial" } });
    const unfinished = await create(token, { length: 4000, headers: { "Upload-Concat": "partial" } });
    // Created while a partial is unfinished, the key free: assembled later, by the alarm.
    const final = await createFinal(token, [finished, unfinished], filename);

    await env.BUCKET.put(key, "someone else's file");
    const last = await patch(unfinished.url, 0, randomBytes(4000, 71), bearer(token));
    expect(last.status, await bodyText(last)).toBe(204);

    // The partial's finish wakes the final's alarm, which refuses it.
    const refused = await waitFor("the final to be refused", async () => {
      const response = await headAs(token, final.url);
      return response.status === 200 ? undefined : response;
    });
    expect(refused.status).toBe(409);
    const download409 = await download(final.url, bearer(token));
    expect(download409.response.status).toBe(409);
    // The key is not told to the client: it may name another subject's file (the log names it).
    expect(new TextDecoder().decode(download409.bytes)).toMatch(/another object was stored at this upload's key/);
    expect(new TextDecoder().decode(download409.bytes)).not.toContain(key);

    const kept = await env.BUCKET.get(key);
    expect(await kept!.text()).toBe("someone else's file");
    expect(kept!.customMetadata).toEqual({});

    await allDelivered(final.id);
    const events = await callsAbout(final.id, "onEvent");
    expect(events.map((call) => call.event.type)).toEqual(["created", "failed"]);
    expect(events[1]!.event).toMatchObject({ type: "failed", reason: "object-exists", upload: { id: final.id, objectKey: key } });
    expect(await callsAbout(final.id, "onUploadFinish")).toEqual([]);
    // Ended: nothing left for an alarm to do.
    expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(false);
    expect((await retryState(final.id)).alarm).toBeNull();
    // Partials are deleted only after a successful assembly: the client can concatenate them again.
    for (const partial of [finished, unfinished]) expect((await headAs(token, partial.url)).status).toBe(200);
  });

  it("is refused before any byte is copied when the key is taken already as assembly begins", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("grace");
    const filename = `concat-taken-early-${crypto.randomUUID().slice(0, 8)}.bin`;
    const key = `${KEY_PREFIX}grace/${filename}`;
    const finished = await upload(token, randomBytes(3000, 72), { headers: { "Upload-Concat": "partial" } });
    const unfinished = await create(token, { length: 4000, headers: { "Upload-Concat": "partial" } });
    const final = await createFinal(token, [finished, unfinished], filename);
    await env.BUCKET.put(key, "someone else's file");
    // R2 would refuse to start the final's multipart upload: only a check before it can end the final.
    await env.BUCKET.put(`${FAULTS_PREFIX}${key}`, "");
    try {
      expect((await patch(unfinished.url, 0, randomBytes(4000, 73), bearer(token))).status).toBe(204);
      const refused = await waitFor("the final to be refused", async () => {
        const response = await headAs(token, final.url);
        return response.status === 200 ? undefined : response;
      });
      expect(refused.status).toBe(409);
      expect((await retryState(final.id)).failures, "no step failed: nothing was started").toBe(0);
    } finally {
      await env.BUCKET.delete(`${FAULTS_PREFIX}${key}`);
    }
  });
});

describe("an assembly step that fails in R2", () => {
  it("is retried 5 s, 10 s, then 20 s after each failure, and the final completes once R2 works", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("heidi");
    const filename = `concat-faults-${crypto.randomUUID().slice(0, 8)}.bin`;
    const marker = `${FAULTS_PREFIX}${KEY_PREFIX}heidi/${filename}`;
    const { partials, whole } = await finishedPartials(token, 80);
    await env.BUCKET.put(marker, "");

    // Its partials are finished: the POST tries the first step, which fails; the 201 comes anyway.
    const response = await postFinal(token, partials, filename);
    expect(response.status, await bodyText(response)).toBe(201);
    expect(response.headers.get("Upload-Offset")).toBeNull();
    const finalUrl = response.headers.get("Location")!;
    const final = { url: finalUrl, id: finalUrl.slice(COLLECTION.length) };
    await allDelivered(final.id);
    let state = await retryState(final.id);
    expect(state).toMatchObject({ offset: 0, failures: 1 });
    expect(state.alarm).toBe(state.failedAt! + 5_000);

    for (const [failures, delay] of [
      [2, 10_000],
      [3, 20_000],
    ] as const) {
      // An alarm before the retry is due (an event's, a partial's notice) does not try.
      expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(true);
      expect(await retryState(final.id)).toMatchObject({ failures: failures - 1, alarm: state.alarm });
      await pretendFailures(final.id, failures - 1, state.alarm! - state.failedAt!);
      expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(true);
      state = await retryState(final.id);
      expect(state.failures).toBe(failures);
      expect(state.alarm).toBe(state.failedAt! + delay);
    }
    expect((await headAs(token, final.url)).headers.get("Upload-Offset")).toBeNull();

    await env.BUCKET.delete(marker);
    await pretendFailures(final.id, 3, 20_000);
    expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(true);
    const head = await headAs(token, final.url);
    expect(head.headers.get("Upload-Offset")).toBe(String(whole.length));
    const { response: got, bytes } = await download(final.url, bearer(token));
    expect(got.status).toBe(200);
    expect(bytes).toEqual(whole);
    // The step that committed parts cleared the count.
    expect(await retryState(final.id)).toMatchObject({ failures: 0, failedAt: null });
  });

  it("stops after COMPLETION_ATTEMPTS in a row; the final then expires the idle time later and its partials can be concatenated again", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("ivan");
    const filename = `concat-gives-up-${crypto.randomUUID().slice(0, 8)}.bin`;
    const marker = `${FAULTS_PREFIX}${KEY_PREFIX}ivan/${filename}`;
    const { partials, whole } = await finishedPartials(token, 90);
    await env.BUCKET.put(marker, "");
    const final = await createFinal(token, partials, filename);
    await allDelivered(final.id);

    await pretendFailures(final.id, COMPLETION_ATTEMPTS - 1, 10 * 60_000);
    expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(true);
    let state = await retryState(final.id);
    expect(state.failures).toBe(COMPLETION_ATTEMPTS);
    // No more steps: the next alarm is the final's expiry.
    expect(state.alarm).toBe(state.failedAt! + EXPIRE_AFTER_MS);
    expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(true);
    state = await retryState(final.id);
    expect(state.failures).toBe(COMPLETION_ATTEMPTS);
    const waiting = await headAs(token, final.url);
    expect(waiting.status).toBe(200);
    expect(waiting.headers.get("Upload-Offset")).toBeNull();

    await pretendFailures(final.id, COMPLETION_ATTEMPTS, EXPIRE_AFTER_MS + 1000);
    expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(true);
    expect((await headAs(token, final.url)).status).toBe(410);
    await allDelivered(final.id);
    expect((await callsAbout(final.id, "onEvent")).map((call) => call.event.type)).toEqual(["created", "expired"]);

    // The expired final no longer holds its partials: a new final of them is assembled.
    await env.BUCKET.delete(marker);
    const again = await postFinal(token, partials, filename);
    expect(again.status, await bodyText(again)).toBe(201);
    const assembled = await headAs(token, again.headers.get("Location")!);
    expect(assembled.headers.get("Upload-Offset")).toBe(String(whole.length));
  });
});
