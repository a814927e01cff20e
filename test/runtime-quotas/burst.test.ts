/**
 * Quotas per subject hold under a burst of parallel creations: each
 * creation's Durable Object asks the subject's index to reserve room before
 * it stores anything, and the index decides one reservation at a time, so
 * exactly as many uploads as the quota allows are created, the rest are
 * refused (403, naming the quota, its limit and the use), nothing is created
 * for them, and another subject is not affected. Each refusal is logged
 * (`QuotaExceeded`).
 */
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, COLLECTION, expectNoServerErrors, send, TUS } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import {
  ACTIVE_BYTES,
  ACTIVE_UPLOADS,
  captureLogs,
  create,
  entriesOf,
  eventually,
  expectRefusal,
  MAX_ACTIVE_BYTES,
  MAX_ACTIVE_UPLOADS,
  MiB,
  post,
  TIMEOUT,
  tokenFor,
  uniqueSubject,
  usageOf,
} from "./helpers";

const { logLines } = captureLogs();

afterEach(() => expectNoServerErrors());

/** The subject's listing (GET on the collection), once it shows `count` uploads. */
async function listedIds(token: string, count: number): Promise<string[]> {
  const listing = await eventually(
    `a listing of ${count} uploads`,
    async () => {
      const response = await send(COLLECTION, { headers: bearer(token) });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      return JSON.parse(text) as { uploads: Array<{ id: string }> };
    },
    (page) => page.uploads.length >= count,
  );
  return listing.uploads.map((listed) => listed.id).sort();
}

describe("a burst of parallel creations", () => {
  it("creates exactly SUBJECT_MAX_ACTIVE_UPLOADS uploads; every other is refused with 403 naming the quota, its limit and the use, and creates nothing", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("burst");
    const token = await tokenFor(subject);
    const answers = await Promise.all(Array.from({ length: 12 }, () => post(token, { length: 1000 })));
    const created = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter((answer) => answer.status !== 201);
    expect(created).toHaveLength(MAX_ACTIVE_UPLOADS);
    expect(refused).toHaveLength(12 - MAX_ACTIVE_UPLOADS);
    for (const answer of refused) await expectRefusal(answer, { ...ACTIVE_UPLOADS, limit: MAX_ACTIVE_UPLOADS, used: MAX_ACTIVE_UPLOADS });

    // The subject's index holds the three uploads and nothing of the refused ones (not even a reservation).
    const ids = created.map((answer) => answer.headers.get("Location")!.split("/").pop()!).sort();
    expect((await entriesOf(subject)).map((entry) => entry.id).sort()).toEqual(ids);
    expect(await usageOf(subject)).toEqual({ activeUploads: 3, activeBytes: 3000, storedBytes: 3000 });
    // The listing shows just those three.
    expect(await listedIds(token, 3)).toEqual(ids);

    // Each refusal was logged once, as a warning naming the subject and the quota.
    const refusals = logLines("QuotaExceeded");
    expect(refusals).toHaveLength(9);
    for (const line of refusals) expect(line).toMatchObject({ level: "warn", subject, quota: "SUBJECT_MAX_ACTIVE_UPLOADS", limit: 3, used: 3, requested: 1 });
    expect(new Set(refusals.map((line) => line.uploadId)).size).toBe(9);
    for (const line of refusals) expect(ids).not.toContain(line.uploadId);

    // And each request line says why (errorCode), with its 403.
    const answered = logLines("ResponseOutgoing").filter((line) => line.subject === subject);
    expect(answered.filter((line) => line.status === 403 && line.errorCode === "quota-exceeded")).toHaveLength(9);
    expect(answered.filter((line) => line.status === 201)).toHaveLength(3);

    // The refused uploads' ids (from the log lines) name no upload: their objects stored nothing.
    for (const line of refusals) {
      const response = await send(`${COLLECTION}${line.uploadId as string}`, { method: "HEAD", headers: { ...TUS, ...bearer(token) } });
      expect(response.status).toBe(404);
    }

    // And the one after the burst is refused as well.
    await expectRefusal(await post(token, { length: 1 }), { ...ACTIVE_UPLOADS, limit: 3, used: 3 });
  });

  it("never overshoots SUBJECT_MAX_ACTIVE_BYTES: the lengths created add up to at most the limit", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("bytes-burst");
    // The count quota lifted for this token (its claim), so that only the bytes quota decides.
    const token = await tokenFor(subject, { max_active_uploads: 100 });
    const lengths = [7, 11, 13, 9, 5, 17, 3, 6, 14, 8, 12, 10].map((mebibytes) => mebibytes * MiB + 1);
    const answers = await Promise.all(lengths.map((length) => post(token, { length })));
    const createdLengths = lengths.filter((_, at) => answers[at]!.status === 201);
    const total = createdLengths.reduce((sum, length) => sum + length, 0);
    expect(total).toBeLessThanOrEqual(MAX_ACTIVE_BYTES);
    // Something was created, and what was refused did not fit beside what was.
    expect(createdLengths.length).toBeGreaterThan(0);
    for (const [at, answer] of answers.entries()) {
      if (answer.status === 201) continue;
      const text = await bodyText(answer);
      expect(answer.status, text).toBe(403);
      expect(text).toContain(ACTIVE_BYTES.variable);
      expect(text).toContain(`allows ${MAX_ACTIVE_BYTES} `);
      const used = Number(/this subject has (\d+)/.exec(text)![1]);
      expect(used).toBeLessThanOrEqual(total);
      expect(used + lengths[at]!).toBeGreaterThan(MAX_ACTIVE_BYTES);
      expect(text).toContain(`this upload needs ${lengths[at]} more`);
    }
    expect(await usageOf(subject)).toEqual({ activeUploads: createdLengths.length, activeBytes: total, storedBytes: total });
    expect((await entriesOf(subject)).length).toBe(createdLengths.length);
    // Whatever room is left is less than the smallest refused length.
    const refusedLengths = lengths.filter((_, at) => answers[at]!.status !== 201);
    if (refusedLengths.length) expect(MAX_ACTIVE_BYTES - total).toBeLessThan(Math.min(...refusedLengths));
  });

  it("never overshoots with deferred lengths in the burst: the reservations and lengths add up to at most the limit", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("mixed-burst");
    const token = await tokenFor(subject, { max_active_uploads: 100 });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, at) => (at % 2 === 0 ? post(token, { deferred: true }) : post(token, { length: (at + 3) * MiB }))),
    );
    for (const answer of answers) expect([201, 403], await bodyText(answer)).toContain(answer.status);
    const entries = await entriesOf(subject);
    expect(entries).toHaveLength(answers.filter((answer) => answer.status === 201).length);
    const held = entries.reduce((sum, entry) => sum + (entry.length ?? entry.reserved), 0);
    expect(held).toBeLessThanOrEqual(MAX_ACTIVE_BYTES);
    expect(await usageOf(subject)).toMatchObject({ activeBytes: held });
    // Each deferred length that got in reserved at least a byte.
    for (const entry of entries) if (entry.length === null) expect(entry.reserved).toBeGreaterThan(0);
  });

  it("counts per subject: one subject at its quota leaves another subject's creations alone, in the same burst", { timeout: TIMEOUT }, async () => {
    const [full, other] = [uniqueSubject("full"), uniqueSubject("other")];
    const [fullToken, otherToken] = await Promise.all([tokenFor(full), tokenFor(other)]);
    for (let i = 0; i < 3; i++) await create(fullToken, { length: 10 });
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => post(fullToken, { length: 10 })),
      ...Array.from({ length: 3 }, () => post(otherToken, { length: 10 })),
    ]);
    for (const answer of answers.slice(0, 4)) await expectRefusal(answer, { ...ACTIVE_UPLOADS, limit: 3, used: 3 });
    for (const answer of answers.slice(4)) expect(answer.status, await bodyText(answer)).toBe(201);
    expect(await usageOf(other)).toEqual({ activeUploads: 3, activeBytes: 30, storedBytes: 30 });
    expect(await usageOf(full)).toEqual({ activeUploads: 3, activeBytes: 30, storedBytes: 30 });
    expect(logLines("QuotaExceeded").every((line) => line.subject === full)).toBe(true);
  });
});
