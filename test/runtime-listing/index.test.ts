/**
 * The upload index, in its two homes. Each subject's index (a SubjectIndex
 * Durable Object) is kept by each upload's Durable Object through its
 * outbox: it catches up on its own, a redelivered older record never rolls
 * an entry back, entries survive the upload's object being reset before
 * delivery, and the subject's running quota use always equals a recount.
 * Administration's D1 copy hears only of state changes (creation, ends),
 * batched by the subject's index, and catches up after D1 failed.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { IndexRecord } from "../../src/upload/index-record";
import { b64, bodyText, createUpload, MiB, patch, send, sleep, TUS, uploadStub } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import {
  ADMIN_COLLECTION,
  adminToken,
  d1Row,
  eventually,
  inSubjectIndex,
  indexRow,
  list,
  outbox,
  pendingForD1,
  subjectIndex,
  tokenFor,
  uniqueSubject,
  uploadAs,
  withAdminIndexDown,
  withIndexDown,
} from "./helpers";

afterEach(() => vi.restoreAllMocks());

describe("each subject's index", () => {
  it("follows an upload from creation through every PATCH to finished, with no event for the other sinks", async () => {
    const subject = uniqueSubject("alice");
    const token = await tokenFor(subject);
    const created = await uploadAs(token, "clip.mp4", 3 * MiB, 0);
    const first = await eventually("created in the subject's index", () => indexRow(subject, created.id), (row) => row?.state === "unfinished");
    expect(first).toMatchObject({ subject, offset_bytes: 0, length: 3 * MiB });

    const one = await patch(created.url, 0, new Uint8Array(MiB), bearer(token));
    expect(one.status, await bodyText(one)).toBe(204);
    // The PATCH's end records its offset: the subject's index shows it without another event.
    const progressed = await eventually("progress", () => indexRow(subject, created.id), (row) => row?.offset_bytes === MiB);
    expect(progressed).toMatchObject({ state: "unfinished", length: 3 * MiB });

    const two = await patch(created.url, MiB, new Uint8Array(MiB), bearer(token));
    expect(two.status, await bodyText(two)).toBe(204);
    await eventually("second progress", () => indexRow(subject, created.id), (row) => row?.offset_bytes === 2 * MiB && row.state === "unfinished");

    const rest = await patch(created.url, 2 * MiB, new Uint8Array(MiB), bearer(token));
    expect(rest.status, await bodyText(rest)).toBe(204);
    await eventually("finished", () => indexRow(subject, created.id), (row) => row?.state === "finished" && row.offset_bytes === 3 * MiB);
    // Delivered and gone from the outbox; no queue, webhook or callback is configured here, so
    // progress records are the index's alone and nothing else waits.
    await eventually("outbox drained", () => outbox(created.id), (entries) => entries.length === 0);
    // Another subject's index knows nothing of it.
    expect(await indexRow(uniqueSubject("stranger"), created.id)).toBeNull();
  });

  it("keeps the newest state when older records are delivered again, in any order", async () => {
    const subject = uniqueSubject("bob");
    const token = await tokenFor(subject);
    // With the subject's index down, every record of the upload stays in its outbox, where the test can copy them.
    const { created, entries } = await withIndexDown(subject, async () => {
      const created = await uploadAs(token, "report.pdf", 2 * MiB, MiB);
      const rest = await patch(created.url, MiB, new Uint8Array(MiB), bearer(token));
      expect(rest.status, await bodyText(rest)).toBe(204);
      return { created, entries: await outbox(created.id) };
    });
    expect(entries.map((entry) => entry.type)).toEqual(expect.arrayContaining(["created", "finished", "progress"]));
    await eventually("finished after the index came back", () => indexRow(subject, created.id), (row) => row?.state === "finished");
    await eventually("finished in D1", () => d1Row(created.id), (row) => row?.state === "finished");

    // Every record again through the subject index's own entry point, each twice, the oldest
    // (created, offset 0) last, as at-least-once delivery may.
    const records = entries.filter((entry) => entry.index !== undefined).map((entry) => entry.index as IndexRecord);
    expect(records.map((record) => record.offset)).toContain(0);
    const stub = subjectIndex(subject);
    for (const record of records.concat([...records].reverse())) await stub.record(record);
    expect(await indexRow(subject, created.id)).toMatchObject({ state: "finished", offset_bytes: 2 * MiB, length: 2 * MiB });
    const count = await inSubjectIndex(subject, (sql) => sql.exec<{ count: number }>("SELECT COUNT(*) AS count FROM uploads WHERE id = ?", created.id).one().count);
    expect(count).toBe(1);
    // An old record changes no state, so nothing goes to D1 for it either; D1 stays finished.
    expect(await pendingForD1(subject)).toEqual([]);
    expect(await d1Row(created.id)).toMatchObject({ state: "finished", offset_bytes: 2 * MiB });
    expect((await list(token)).uploads).toEqual([expect.objectContaining({ id: created.id, state: "finished", offset: 2 * MiB })]);
  });

  it("delivers what was in the outbox after the upload's object was reset before delivery", async () => {
    const subject = uniqueSubject("carol");
    const token = await tokenFor(subject);
    const created = await withIndexDown(subject, async () => {
      const created = await uploadAs(token, "photo.png", 512 * 1024, 100_000);
      expect((await outbox(created.id)).map((entry) => entry.type)).toEqual(["created", "progress"]);
      // Evicted: the instance and its memory are gone; only its SQLite storage remains.
      await runInDurableObject(uploadStub(created.id), (_instance, state) => {
        state.abort("evicted by the test");
      }).catch(() => {});
      return created;
    });
    expect(await indexRow(subject, created.id)).toBeNull();
    const row = await eventually("delivered by a new instance's alarm", () => indexRow(subject, created.id), (value) => value !== null && value.offset_bytes === 100_000);
    expect(row).toMatchObject({ state: "unfinished", length: 512 * 1024 });
  });

  it("keeps the subject's running quota use equal to a recount of its entries through creations, progress, finishes and terminations", async () => {
    const subject = uniqueSubject("quinn");
    const token = await tokenFor(subject);
    const finished = await uploadAs(token, "done.bin", 300);
    const partial = await uploadAs(token, "partial.bin", 1000, 100);
    const empty = await uploadAs(token, "empty.bin", 500, 0);
    const doomed = await uploadAs(token, "doomed.bin", 800, 50);
    const deferred = await createUpload({ deferred: true, headers: { ...TUS, ...bearer(token), "Upload-Metadata": `filename ${b64("stream.bin")}` } });
    const sent = await patch(deferred.url, 0, new Uint8Array(70), bearer(token));
    expect(sent.status, await bodyText(sent)).toBe(204);
    expect((await send(doomed.url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
    // A finished upload's bytes are stored, but it is no longer active; a terminated one counts for nothing.
    const grown = await patch(partial.url, 100, new Uint8Array(100), bearer(token));
    expect(grown.status, await bodyText(grown)).toBe(204);

    const uploads = [finished, partial, empty, doomed, deferred];
    for (const upload of uploads) await eventually("outbox drained", () => outbox(upload.id), (entries) => entries.length === 0);
    expect(await indexRow(subject, finished.id)).toMatchObject({ state: "finished", offset_bytes: 300 });
    expect(await indexRow(subject, partial.id)).toMatchObject({ state: "unfinished", offset_bytes: 200 });
    expect(await indexRow(subject, doomed.id)).toMatchObject({ state: "terminated" });
    expect(await indexRow(subject, deferred.id)).toMatchObject({ state: "unfinished", offset_bytes: 70, length: null });

    const { running, counted } = await subjectIndex(subject).usage();
    expect(running).toEqual(counted);
    // Unfinished: partial (1000), empty (500), the deferred one by what arrived (70); stored adds the finished 300.
    expect(running).toEqual({ activeUploads: 3, activeBytes: 1570, storedBytes: 1870 });

    // Finishing and terminating move it again, and still to the recount.
    const rest = await patch(partial.url, 200, new Uint8Array(800), bearer(token));
    expect(rest.status, await bodyText(rest)).toBe(204);
    expect((await send(empty.url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
    for (const upload of [partial, empty]) await eventually("outbox drained", () => outbox(upload.id), (entries) => entries.length === 0);
    const after = await subjectIndex(subject).usage();
    expect(after.running).toEqual(after.counted);
    expect(after.running).toEqual({ activeUploads: 1, activeBytes: 70, storedBytes: 300 + 1000 + 70 });
  });
});

describe("ended uploads in the index", () => {
  it("keep no metadata once ended: the entry says only that the upload was terminated, and the filename filter no longer finds it", async () => {
    const subject = uniqueSubject("nora");
    const token = await tokenFor(subject);
    const upload = await uploadAs(token, "salary-2026.xlsx", 1000, 10);
    await eventually("indexed", () => indexRow(subject, upload.id), (row) => row?.state === "unfinished");
    expect((await list(token, "?filename=salary-2026.xlsx")).uploads.map((entry) => entry.id)).toEqual([upload.id]);

    expect((await send(upload.url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
    await eventually("terminated in the subject's index", () => indexRow(subject, upload.id), (row) => row?.state === "terminated");
    const stored = await inSubjectIndex(subject, (sql) =>
      sql.exec<{ metadata: string; filename: string | null }>("SELECT metadata, filename FROM uploads WHERE id = ?", upload.id).one(),
    );
    expect({ ...stored }).toEqual({ metadata: "{}", filename: null });
    expect((await list(token)).uploads).toEqual([expect.objectContaining({ id: upload.id, state: "terminated", metadata: {} })]);
    expect((await list(token, "?filename=salary-2026.xlsx")).uploads).toEqual([]);
    // Administration's copy keeps no name either.
    await eventually("terminated in D1", () => d1Row(upload.id), (row) => row?.state === "terminated");
    const inD1 = await env.INDEX.prepare("SELECT metadata, filename FROM uploads WHERE id = ?").bind(upload.id).first();
    expect(inD1).toEqual({ metadata: "{}", filename: null });
  });

  it("are removed after INDEX_RETENTION_SECONDS (30 days by default): by the subject index's alarm, and by a listing, which never shows them; finished and unfinished ones stay", async () => {
    const subject = uniqueSubject("olaf");
    const token = await tokenFor(subject);
    const day = 24 * 60 * 60 * 1000;
    const now = Date.now();
    const insert = (rows: Array<[id: string, state: string, updatedAt: number]>) =>
      inSubjectIndex(subject, (sql) => {
        for (const [id, state, updatedAt] of rows) {
          sql.exec(
            "INSERT INTO uploads (id, subject, state, offset_bytes, length, metadata, filename, object_key, created_at, updated_at, expires_at, finished_at, version) VALUES (?, ?, ?, 10, 10, '{}', NULL, ?, ?, ?, NULL, NULL, 0)",
            id,
            subject,
            state,
            `uploads/${id}`,
            updatedAt - 1000,
            updatedAt,
          );
        }
      });
    const ids = { oldExpired: "a".repeat(64), oldTerminated: "b".repeat(64), recentFailed: "c".repeat(64), oldFinished: "d".repeat(64), oldUnfinished: "e".repeat(64) };
    await insert([
      [ids.oldExpired, "expired", now - 31 * day],
      [ids.oldTerminated, "terminated", now - 30 * day - 60_000],
      [ids.recentFailed, "failed", now - 29 * day],
      [ids.oldFinished, "finished", now - 400 * day],
      [ids.oldUnfinished, "unfinished", now - 400 * day],
    ]);
    // Any record the subject's index hears sets its alarm for the oldest ended entry's retention,
    // long past here: the alarm removes them, with no listing asked.
    const live = await uploadAs(token, "live.bin", 100, 10);
    await eventually("indexed", () => indexRow(subject, live.id), (row) => row?.offset_bytes === 10);
    for (const gone of [ids.oldExpired, ids.oldTerminated]) await eventually(`${gone} removed by the alarm`, () => indexRow(subject, gone), (row) => row === null);
    for (const kept of [ids.recentFailed, ids.oldFinished, ids.oldUnfinished]) expect(await indexRow(subject, kept), kept).not.toBeNull();
    // Once the live upload's creation went to D1, the next alarm is the failed entry's 30 days, a day from now.
    await eventually("D1 fed", () => pendingForD1(subject), (pending) => pending.length === 0);
    const alarm = () => runInDurableObject(subjectIndex(subject), (_instance, state) => state.storage.getAlarm());
    await eventually("alarm a day away", alarm, (at) => at !== null && at > Date.now() + day / 2 && at < Date.now() + 2 * day);

    // Entries that went past retention since (the alarm is a day away): a listing neither shows nor keeps them.
    const later = { oldExpired: "f".repeat(64), oldTerminated: "0".repeat(64) };
    await insert([
      [later.oldExpired, "expired", now - 45 * day],
      [later.oldTerminated, "terminated", now - 31 * day],
    ]);
    const listed = (await list(token)).uploads.map((entry) => entry.id).sort();
    expect(listed).toEqual([live.id, ids.recentFailed, ids.oldFinished, ids.oldUnfinished].sort());
    for (const gone of Object.values(later)) expect(await indexRow(subject, gone), gone).toBeNull();
    expect(await indexRow(subject, ids.recentFailed)).not.toBeNull();
  });

  it("are removed from administration's D1 copy after INDEX_RETENTION_SECONDS too, by its listing across subjects", async () => {
    const subject = uniqueSubject("petra");
    const day = 24 * 60 * 60 * 1000;
    const now = Date.now();
    const row = (id: string, state: string, updatedAt: number) =>
      env.INDEX.prepare(
        "INSERT INTO uploads (id, subject, state, offset_bytes, length, metadata, filename, object_key, created_at, updated_at, expires_at, finished_at, version) VALUES (?, ?, ?, 10, 10, '{}', NULL, ?, ?, ?, NULL, NULL, 0)",
      ).bind(id, subject, state, `uploads/${id}`, updatedAt - 1000, updatedAt);
    const ids = { oldExpired: "1".repeat(64), oldTerminated: "2".repeat(64), recentFailed: "3".repeat(64), oldFinished: "4".repeat(64) };
    await env.INDEX.batch([
      row(ids.oldExpired, "expired", now - 31 * day),
      row(ids.oldTerminated, "terminated", now - 30 * day - 60_000),
      row(ids.recentFailed, "failed", now - 29 * day),
      row(ids.oldFinished, "finished", now - 400 * day),
    ]);
    const admin = await adminToken();
    const listed = (await list(admin, `?created_before=${now - 20 * day}&limit=200`, ADMIN_COLLECTION)).uploads
      .filter((entry) => entry.subject === subject)
      .map((entry) => entry.id)
      .sort();
    expect(listed).toEqual([ids.recentFailed, ids.oldFinished].sort());
    for (const gone of [ids.oldExpired, ids.oldTerminated]) expect(await d1Row(gone), gone).toBeNull();
    expect(await d1Row(ids.recentFailed)).not.toBeNull();
  });
});

describe("administration's D1 copy", () => {
  it("receives the creation and the end of an upload, never its progress", async () => {
    const subject = uniqueSubject("rita");
    const token = await tokenFor(subject);
    const upload = await uploadAs(token, "half.bin", 1000, 400);
    await eventually("progress in the subject's index", () => indexRow(subject, upload.id), (row) => row?.offset_bytes === 400);
    // The progress record changed no state: nothing of it waits for D1.
    expect((await pendingForD1(subject)).filter((pending) => pending.id === upload.id && pending.version > 0)).toEqual([]);
    await eventually("created in D1", () => d1Row(upload.id), (row) => row !== null);
    // Well past the feed's batch delay (1 s), D1 still has the creation's offset, the subject's index the progress.
    await sleep(2500);
    expect(await d1Row(upload.id)).toMatchObject({ state: "unfinished", offset_bytes: 0, length: 1000, subject });
    expect(await indexRow(subject, upload.id)).toMatchObject({ state: "unfinished", offset_bytes: 400 });
    expect(await pendingForD1(subject)).toEqual([]);

    const rest = await patch(upload.url, 400, new Uint8Array(600), bearer(token));
    expect(rest.status, await bodyText(rest)).toBe(204);
    const finished = await eventually("finished in D1", () => d1Row(upload.id), (row) => row?.state === "finished");
    expect(finished).toMatchObject({ offset_bytes: 1000, length: 1000 });
  });

  it("gets a subject's creations of one second in one batch, about a second after the first", async () => {
    const subject = uniqueSubject("sven");
    const token = await tokenFor(subject);
    const inD1 = () => env.INDEX.prepare("SELECT id FROM uploads WHERE subject = ? ORDER BY id").bind(subject).all<{ id: string }>();
    // Three creations spread over about half a second, well within the feed's second (FEED_BATCH_DELAY_MS).
    const started = Date.now();
    const uploads = [];
    for (const name of ["a.bin", "b.bin", "c.bin"]) {
      if (uploads.length) await sleep(200);
      uploads.push(await uploadAs(token, name, 100, 0));
    }
    const spread = Date.now() - started;
    const ids = uploads.map((upload) => upload.id).sort();
    // Watched closely: the rows arrive all at once (one db.batch), never one by one.
    const seen: number[] = [];
    let arrived = 0;
    const deadline = Date.now() + 15_000;
    while (!arrived && Date.now() < deadline) {
      const rows = (await inD1()).results;
      if (seen.at(-1) !== rows.length) seen.push(rows.length);
      if (rows.length === ids.length) {
        arrived = Date.now();
        expect(rows.map((row) => row.id)).toEqual(ids);
      } else await sleep(20);
    }
    expect(arrived, "all three rows in D1").toBeGreaterThan(0);
    expect(seen, `row counts seen in D1, creations spread over ${spread} ms`).toEqual([0, 3]);
    // Not before the feed's delay (1 s) after the first record.
    expect(arrived - started).toBeGreaterThanOrEqual(950);
    expect(await pendingForD1(subject)).toEqual([]);
  });

  it("is retried when D1 fails (AdminFeedError), and catches up once D1 is back; the subject's own listing never waited for it", async () => {
    const subject = uniqueSubject("tove");
    const token = await tokenFor(subject);
    const warnings = vi.spyOn(console, "warn");
    const feedErrors = () =>
      warnings.mock.calls
        .map(([line]) => String(line))
        .filter((line) => line.includes('"AdminFeedError"') && line.includes(subject))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const upload = await withAdminIndexDown(async () => {
      const upload = await uploadAs(token, "meanwhile.bin", 100, 10);
      await eventually("AdminFeedError logged", async () => feedErrors(), (lines) => lines.length > 0);
      expect(feedErrors()[0]).toMatchObject({ level: "warn", event: "AdminFeedError", subject, rows: 1, attempt: 1, dropped: false });
      // Still waiting in the subject index's feed, and its own listing unaffected.
      expect((await pendingForD1(subject)).map((pending) => pending.id)).toEqual([upload.id]);
      expect((await list(token)).uploads).toEqual([expect.objectContaining({ id: upload.id, offset: 10 })]);
      const inRenamed = await env.INDEX.prepare("SELECT COUNT(*) AS count FROM uploads_down WHERE id = ?").bind(upload.id).first<{ count: number }>();
      expect(inRenamed?.count).toBe(0);
      return upload;
    });
    await eventually("in D1 after the retry", () => d1Row(upload.id), (row) => row !== null);
    expect(await d1Row(upload.id)).toMatchObject({ subject, state: "unfinished" });
    expect(await pendingForD1(subject)).toEqual([]);
  });
});
