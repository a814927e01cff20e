/**
 * When completing an upload's object keeps failing in R2, the completion is
 * retried with back-off (5 s, 10 s, 20 s, … at most 10 minutes), not every
 * 5 s for ever; once COMPLETION_ATTEMPTS attempts have failed, the alarm
 * stops and the upload expires the idle time (EXPIRE_AFTER_SECONDS, 24 h
 * here) after the last attempt. The fault is a real one: the upload's R2
 * multipart upload is aborted behind its back (as R2's lifecycle rule does
 * after 7 days), so every `complete` fails.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { COMPLETION_ATTEMPTS } from "../../src/upload/lifecycle/background";
import { bodyText, createUpload, head, MiB, patch, randomBytes, retryState, uploadStub } from "./helpers";

const TIMEOUT = 60_000;
const EXPIRE_AFTER_MS = 86_400 * 1000;

/** The latest failure happened `ms` earlier than stored: time passes, and the retry it set is due. */
function rewind(id: string, ms: number): Promise<void> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    state.storage.sql.exec("UPDATE upload SET completion_failed_at = completion_failed_at - ?", ms);
  });
}

/** Sets the stored failures, as if that many attempts had failed, the latest `agoMs` ago. */
function pretendFailures(id: string, failures: number, agoMs: number): Promise<void> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    state.storage.sql.exec("UPDATE upload SET completion_failures = ?, completion_failed_at = ?", failures, Date.now() - agoMs);
  });
}

/** An upload of 9 MiB + 5 whose last PATCH finds its multipart upload gone: all bytes stored, no object. */
async function uploadThatCannotComplete(): Promise<{ url: string; id: string; length: number }> {
  const data = randomBytes(9 * MiB + 5, 1101);
  const { url, id } = await createUpload({ length: data.length });
  // A first PATCH of 3 MiB keeps the 8 MiB part size; the second sends part 1 to R2.
  for (const [from, to] of [
    [0, 3 * MiB],
    [3 * MiB, 8 * MiB + 1],
  ] as const) {
    const response = await patch(url, from, data.slice(from, to));
    expect(response.status, await bodyText(response)).toBe(204);
  }
  const multipartId = await runInDurableObject(uploadStub(id), (_instance, state) =>
    state.storage.sql.exec<{ id: string }>("SELECT multipart_id AS id FROM upload").one().id,
  );
  await env.BUCKET.resumeMultipartUpload(`uploads/${id}`, multipartId).abort();
  const last = await patch(url, 8 * MiB + 1, data.slice(8 * MiB + 1));
  // R2 failed: a retryable 503 carrying the offset, which counts every byte.
  expect(last.status, await bodyText(last)).toBe(503);
  expect(last.headers.get("Upload-Offset")).toBe(String(data.length));
  return { url, id, length: data.length };
}

describe("a completion that keeps failing in R2", () => {
  it("is retried by the alarm 5 s, 10 s, then 20 s after each failure", { timeout: TIMEOUT }, async () => {
    const { id, length } = await uploadThatCannotComplete();
    let state = await retryState(id);
    expect(state).toMatchObject({ offset: length, failures: 1 });
    expect(state.alarm).toBe(state.failedAt! + 5_000);
    for (const [failures, delay] of [
      [2, 10_000],
      [3, 20_000],
    ] as const) {
      // An alarm that runs before the retry is due (e.g. for an event) does not retry.
      expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
      expect((await retryState(id)).failures).toBe(failures - 1);
      await rewind(id, state.alarm! - state.failedAt!);
      expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
      state = await retryState(id);
      expect(state.failures).toBe(failures);
      expect(state.alarm).toBe(state.failedAt! + delay);
    }
  });

  it("waits at most 10 minutes between attempts", { timeout: TIMEOUT }, async () => {
    const { id } = await uploadThatCannotComplete();
    await pretendFailures(id, 40, 10 * 60_000);
    expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
    const state = await retryState(id);
    expect(state.failures).toBe(41);
    expect(state.alarm).toBe(state.failedAt! + 10 * 60_000);
  });

  it("stops after the last attempt; the upload then expires the idle time later, unless a HEAD completes it", { timeout: TIMEOUT }, async () => {
    const { url, id, length } = await uploadThatCannotComplete();
    await pretendFailures(id, COMPLETION_ATTEMPTS - 1, 10 * 60_000);
    expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
    let state = await retryState(id);
    expect(state.failures).toBe(COMPLETION_ATTEMPTS);
    // No more retries: the next alarm is the upload's expiry.
    expect(state.alarm).toBe(state.failedAt! + EXPIRE_AFTER_MS);

    // A client still gets its retry: every byte is stored, the object is not (423).
    const stillPending = await head(url);
    expect(stillPending.status).toBe(423);
    state = await retryState(id);
    expect(state.failures).toBe(COMPLETION_ATTEMPTS + 1);

    // A day after the last attempt, the alarm expires it and its bytes are released.
    // A minute past it: activity this instance counted but did not store (the idle clock) may add a little.
    await pretendFailures(id, COMPLETION_ATTEMPTS + 1, EXPIRE_AFTER_MS + 60_000);
    expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
    const gone = await head(url);
    expect(gone.status).toBe(410);
    const stored = await runInDurableObject(uploadStub(id), (_instance, state) =>
      state.storage.sql.exec<{ ended: string; offset: number }>("SELECT ended, offset FROM upload").one(),
    );
    expect(stored).toEqual({ ended: "expired", offset: length });
    expect((await retryState(id)).alarm).toBeNull();
  });
});
