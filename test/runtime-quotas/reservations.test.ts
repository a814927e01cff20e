/**
 * The subject's index keeps a reservation for each upload being created,
 * until the upload's created record confirms it. Asked again for the same
 * upload it answers the same (no second reservation). A reservation whose
 * upload was never stored (its creation failed between reserve and store and
 * could not give the room back) is given back by the index's alarm once the
 * upload's Durable Object says it does not exist (log
 * `QuotaReservationReleased`), while confirmed entries stay.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { newUploadId } from "../../src/upload-id";
import { RESERVATION_CHECK_MS } from "../../src/subjects/subject-index";
import { COLLECTION, expectNoServerErrors, send } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import { captureLogs, create, entriesOf, eventually, MiB, subjectIndex, TIMEOUT, tokenFor, uniqueSubject, usageOf } from "./helpers";

const { logLines } = captureLogs();

afterEach(() => expectNoServerErrors());

const LIMITS = { activeUploads: 3, activeBytes: 40 * MiB, storedBytes: 64 * MiB };

describe("reservations", () => {
  it("are confirmed by the upload's created record (listed from then on), and reserving again answers the same", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("confirm");
    const token = await tokenFor(subject);
    const created = await create(token, { deferred: true });
    const confirmed = await eventually("the created record", () => entriesOf(subject), (entries) => entries[0]?.version !== undefined && entries[0].version >= 0);
    expect(confirmed).toEqual([{ id: created.id, state: "unfinished", version: confirmed[0]!.version, reserved: 40 * MiB, length: null }]);
    // The same upload asking again (a retried call) gets its reservation back, not a second one.
    const again = await subjectIndex(subject).reserve(subject, { uploadId: created.id, length: undefined, sizeLimit: 1e12, limits: LIMITS });
    expect(again).toEqual({ granted: true, bytes: 40 * MiB });
    expect(await usageOf(subject)).toEqual({ activeUploads: 1, activeBytes: 40 * MiB, storedBytes: 40 * MiB });
  });

  it("of an upload never stored is given back by the index's alarm after RESERVATION_CHECK_MS, and logged", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("orphan");
    const token = await tokenFor(subject);
    const kept = await create(token, { length: 1000 });
    await eventually("the kept upload confirmed", () => entriesOf(subject), (entries) => entries.every((entry) => entry.version >= 0));
    // A reservation as a creation makes it, for an upload whose object then never stores it.
    const orphan = newUploadId(env.UPLOADS);
    const index = subjectIndex(subject);
    expect(await index.reserve(subject, { uploadId: orphan, length: 5000, sizeLimit: 1e12, limits: LIMITS })).toEqual({ granted: true, bytes: 5000 });
    expect(await usageOf(subject)).toEqual({ activeUploads: 2, activeBytes: 6000, storedBytes: 6000 });

    // A reservation is not listed.
    const listing = await send(COLLECTION, { headers: bearer(token) });
    const listed = JSON.parse(await listing.text()) as { uploads: Array<{ id: string }> };
    expect(listed.uploads.map((upload) => upload.id)).toEqual([kept.id]);

    // Not yet due: the alarm leaves a fresh reservation alone.
    await runInDurableObject(index, (_instance, state) => state.storage.setAlarm(Date.now()));
    expect(await runDurableObjectAlarm(index)).toBe(true);
    expect((await entriesOf(subject)).map((entry) => entry.id).sort()).toEqual([kept.id, orphan].sort());

    // As if RESERVATION_CHECK_MS had passed.
    await runInDurableObject(index, (_instance, state) => {
      state.storage.sql.exec("UPDATE uploads SET created_at = created_at - ? WHERE id = ?", RESERVATION_CHECK_MS + 1000, orphan);
      return state.storage.setAlarm(Date.now());
    });
    expect(await runDurableObjectAlarm(index)).toBe(true);
    expect((await entriesOf(subject)).map((entry) => entry.id)).toEqual([kept.id]);
    expect(await usageOf(subject)).toEqual({ activeUploads: 1, activeBytes: 1000, storedBytes: 1000 });
    expect(logLines("QuotaReservationReleased")).toEqual([
      expect.objectContaining({ level: "warn", subject, uploadId: orphan, reason: "upload never stored" }),
    ]);
  });

  it("are given back at once by the release a failed store sends, and only unconfirmed ones", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("release");
    const token = await tokenFor(subject);
    const kept = await create(token, { length: 1000 });
    await eventually("the kept upload confirmed", () => entriesOf(subject), (entries) => entries.every((entry) => entry.version >= 0));
    const index = subjectIndex(subject);
    const orphan = newUploadId(env.UPLOADS);
    await index.reserve(subject, { uploadId: orphan, length: 7, sizeLimit: 1e12, limits: LIMITS });
    await index.release(orphan);
    // A confirmed entry is not a reservation: release leaves it.
    await index.release(kept.id);
    expect((await entriesOf(subject)).map((entry) => entry.id)).toEqual([kept.id]);
    expect(await usageOf(subject)).toEqual({ activeUploads: 1, activeBytes: 1000, storedBytes: 1000 });
  });
});
