/**
 * A quota's room comes back when an upload stops counting: it finished (no
 * longer active; its bytes stay stored), was terminated, expired (by its
 * object's alarm; time simulated as in the expiration tests), or was
 * rejected by the pre-finish hook. The release travels through the upload's
 * outbox to its subject's index, so the tests wait for the index to hear it
 * (well under a second), then create again.
 */
import { afterEach, describe, expect, it } from "vitest";
import { age, DAY, HOUR, runAlarm } from "../runtime/extensions/helpers";
import { bodyText, expectNoServerErrors, head, send, TUS } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import {
  ACTIVE_UPLOADS,
  create,
  entriesOf,
  expectRefusal,
  post,
  STORED_BYTES,
  TIMEOUT,
  tokenFor,
  uniqueSubject,
  upload,
  usageBecomes,
  usageOf,
} from "./helpers";

afterEach(() => expectNoServerErrors());

/** A subject whose token allows one unfinished upload at a time. */
async function oneAtATime(name: string, claims: Record<string, unknown> = {}): Promise<{ subject: string; token: string }> {
  const subject = uniqueSubject(name);
  return { subject, token: await tokenFor(subject, { max_active_uploads: 1, ...claims }) };
}

async function terminate(url: string, token: string): Promise<void> {
  const response = await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } });
  expect(response.status, await bodyText(response)).toBe(204);
}

async function stateOf(subject: string, id: string): Promise<string | undefined> {
  return (await entriesOf(subject)).find((entry) => entry.id === id)?.state;
}

describe("the room an upload held comes back", () => {
  it("when it finishes: no longer active, while its bytes still count as stored", { timeout: TIMEOUT }, async () => {
    const { subject, token } = await oneAtATime("finish");
    const first = await upload(token, 1000);
    expect(first.finish.status, await bodyText(first.finish)).toBe(204);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 1000 });
    const second = await create(token, { length: 10 });
    expect(await usageOf(subject)).toEqual({ activeUploads: 1, activeBytes: 10, storedBytes: 1010 });
    await expectRefusal(await post(token, { length: 10 }), { ...ACTIVE_UPLOADS, limit: 1, used: 1 });
    expect(await stateOf(subject, second.id)).toBe("unfinished");
  });

  it("when it is terminated (DELETE)", { timeout: TIMEOUT }, async () => {
    const { subject, token } = await oneAtATime("terminate");
    const first = await create(token, { length: 5000 });
    await expectRefusal(await post(token, { length: 1 }), { ...ACTIVE_UPLOADS, limit: 1, used: 1 });
    await terminate(first.url, token);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 0 });
    expect(await stateOf(subject, first.id)).toBe("terminated");
    await create(token, { length: 1 });
  });

  it("when it expires (its object's alarm)", { timeout: TIMEOUT }, async () => {
    const { subject, token } = await oneAtATime("expire");
    const first = await create(token, { length: 5000 });
    await expectRefusal(await post(token, { length: 1 }), { ...ACTIVE_UPLOADS, limit: 1, used: 1 });
    await age(first.id, DAY + HOUR);
    expect(await runAlarm(first.id)).toBe(true);
    expect((await head(first.url, bearer(token))).status).toBe(410);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 0 });
    expect(await stateOf(subject, first.id)).toBe("expired");
    await create(token, { length: 1 });
  });

  it("when the pre-finish hook rejects it: a rejected upload counts for nothing", { timeout: TIMEOUT }, async () => {
    const { subject, token } = await oneAtATime("reject", { max_stored_bytes: 1500 });
    const rejected = await upload(token, 1000, { reject: "yes" });
    const text = await bodyText(rejected.finish);
    expect(rejected.finish.status, text).toBe(422);
    expect(text).toMatch(/rejected by the test's pre-finish hook/);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 0 });
    expect(await stateOf(subject, rejected.id)).toBe("failed");
    // Its 1000 bytes are not stored: 1000 more fit the 1500 of the token's stored quota.
    const accepted = await upload(token, 1000);
    expect(accepted.finish.status, await bodyText(accepted.finish)).toBe(204);
    await usageBecomes(subject, { activeUploads: 0, storedBytes: 1000 });
  });
});

describe("stored bytes (SUBJECT_MAX_STORED_BYTES)", () => {
  it("count a finished upload until it is terminated", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("stored");
    const token = await tokenFor(subject, { max_stored_bytes: 1000 });
    const kept = await upload(token, 600);
    expect(kept.finish.status, await bodyText(kept.finish)).toBe(204);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 600 });
    const text = await expectRefusal(await post(token, { length: 500 }), { ...STORED_BYTES, limit: 1000, used: 600 });
    expect(text).toContain("this upload needs 500 more");
    // 400 still fit.
    const fits = await create(token, { length: 400 });
    await terminate(fits.url, token);
    await usageBecomes(subject, { storedBytes: 600 });

    await terminate(kept.url, token);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 0 });
    await create(token, { length: 1000 });
  });

  it("count a finished upload until it expires (EXPIRE_FINISHED_AFTER_SECONDS)", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("stored-expiry");
    const token = await tokenFor(subject, { max_stored_bytes: 1000 });
    const kept = await upload(token, 700);
    expect(kept.finish.status, await bodyText(kept.finish)).toBe(204);
    await usageBecomes(subject, { storedBytes: 700 });
    await expectRefusal(await post(token, { length: 301 }), { ...STORED_BYTES, limit: 1000, used: 700 });
    await age(kept.id, 2 * HOUR);
    expect(await runAlarm(kept.id)).toBe(true);
    expect((await head(kept.url, bearer(token))).status).toBe(410);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 0 });
    expect(await stateOf(subject, kept.id)).toBe("expired");
    await create(token, { length: 1000 });
  });
});
