/**
 * The upload index (D1) is kept by each upload's Durable Object through its
 * outbox: it catches up on its own, a redelivered older record never rolls a
 * row back, and entries survive the object being reset before delivery.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { writeIndexRecords } from "../../src/listing/d1-index";
import type { IndexRecord } from "../../src/upload/index-record";
import { bodyText, MiB, patch, send, TUS, uploadStub } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import { eventually, indexRow, list, outbox, tokenFor, uniqueSubject, uploadAs, withIndexDown } from "./helpers";

describe("the upload index", () => {
  it("follows an upload from creation through every PATCH to finished, with no event for the other sinks", async () => {
    const token = await tokenFor(uniqueSubject("alice"));
    const created = await uploadAs(token, "clip.mp4", 3 * MiB, 0);
    await eventually("created in the index", () => indexRow(created.id), (row) => row?.state === "unfinished" && row.offset_bytes === 0);

    const first = await patch(created.url, 0, new Uint8Array(MiB), bearer(token));
    expect(first.status, await bodyText(first)).toBe(204);
    // The PATCH's end records its offset: the index shows it without another event.
    const progressed = await eventually("progress", () => indexRow(created.id), (row) => row?.offset_bytes === MiB);
    expect(progressed).toMatchObject({ state: "unfinished", length: 3 * MiB });

    const rest = await patch(created.url, MiB, new Uint8Array(2 * MiB), bearer(token));
    expect(rest.status, await bodyText(rest)).toBe(204);
    await eventually("finished", () => indexRow(created.id), (row) => row?.state === "finished" && row.offset_bytes === 3 * MiB);
    // Delivered and gone from the outbox; no queue, webhook or callback is configured here, so
    // progress records are the index's alone and nothing else waits.
    await eventually("outbox drained", () => outbox(created.id), (entries) => entries.length === 0);
  });

  it("keeps the newest state when older records are delivered again, in any order", async () => {
    const token = await tokenFor(uniqueSubject("bob"));
    // With the index down, every record of the upload stays in its outbox, where the test can copy them.
    const { created, entries } = await withIndexDown(async () => {
      const created = await uploadAs(token, "report.pdf", 2 * MiB, MiB);
      const rest = await patch(created.url, MiB, new Uint8Array(MiB), bearer(token));
      expect(rest.status, await bodyText(rest)).toBe(204);
      return { created, entries: await outbox(created.id) };
    });
    expect(entries.map((entry) => entry.type)).toEqual(expect.arrayContaining(["created", "finished", "progress"]));
    await eventually("finished after the index came back", () => indexRow(created.id), (row) => row?.state === "finished");

    // Every record again, each twice, the oldest (created, offset 0) last, as at-least-once delivery may.
    const records = entries.map((entry) => entry.index as IndexRecord);
    for (const record of records.concat([...records].reverse())) await writeIndexRecords(env.INDEX, [record]);
    expect(await indexRow(created.id)).toMatchObject({ state: "finished", offset_bytes: 2 * MiB, length: 2 * MiB });
    const { count } = (await env.INDEX.prepare("SELECT COUNT(*) AS count FROM uploads WHERE id = ?").bind(created.id).first<{ count: number }>())!;
    expect(count).toBe(1);
  });

  it("delivers what was in the outbox after the upload's object was reset before delivery", async () => {
    const token = await tokenFor(uniqueSubject("carol"));
    const created = await withIndexDown(async () => {
      const created = await uploadAs(token, "photo.png", 512 * 1024, 100_000);
      expect((await outbox(created.id)).map((entry) => entry.type)).toEqual(["created", "progress"]);
      // Evicted: the instance and its memory are gone; only its SQLite storage remains.
      await runInDurableObject(uploadStub(created.id), (_instance, state) => {
        state.abort("evicted by the test");
      }).catch(() => {});
      return created;
    });
    expect(await indexRow(created.id)).toBeNull();
    const row = await eventually("delivered by a new instance's alarm", () => indexRow(created.id), (value) => value !== null && value.offset_bytes === 100_000);
    expect(row).toMatchObject({ state: "unfinished", length: 512 * 1024 });
  });
});

describe("ended uploads in the index", () => {
  it("keep no metadata once ended: the row says only that the upload was terminated, and the filename filter no longer finds it", async () => {
    const subject = uniqueSubject("nora");
    const token = await tokenFor(subject);
    const upload = await uploadAs(token, "salary-2026.xlsx", 1000, 10);
    await eventually("indexed", () => indexRow(upload.id), (row) => row?.state === "unfinished");
    expect((await list(token, "?filename=salary-2026.xlsx")).uploads.map((entry) => entry.id)).toEqual([upload.id]);

    expect((await send(upload.url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
    await eventually("terminated in the index", () => indexRow(upload.id), (row) => row?.state === "terminated");
    const stored = await env.INDEX.prepare("SELECT metadata, filename FROM uploads WHERE id = ?").bind(upload.id).first<{ metadata: string; filename: string | null }>();
    expect(stored).toEqual({ metadata: "{}", filename: null });
    expect((await list(token)).uploads).toEqual([expect.objectContaining({ id: upload.id, state: "terminated", metadata: {} })]);
    expect((await list(token, "?filename=salary-2026.xlsx")).uploads).toEqual([]);
  });

  it("are removed after INDEX_RETENTION_SECONDS (30 days by default): listing neither shows nor keeps them; finished and unfinished ones stay", async () => {
    const subject = uniqueSubject("olaf");
    const day = 24 * 60 * 60 * 1000;
    const now = Date.now();
    const row = (id: string, state: string, updatedAt: number) =>
      env.INDEX.prepare(
        "INSERT INTO uploads (id, subject, state, offset_bytes, length, metadata, filename, object_key, created_at, updated_at, expires_at, finished_at, version) VALUES (?, ?, ?, 10, 10, '{}', NULL, ?, ?, ?, NULL, NULL, 0)",
      ).bind(id, subject, state, `uploads/${id}`, updatedAt - 1000, updatedAt);
    const ids = { oldExpired: "a".repeat(64), oldTerminated: "b".repeat(64), recentFailed: "c".repeat(64), oldFinished: "d".repeat(64), oldUnfinished: "e".repeat(64) };
    await env.INDEX.batch([
      row(ids.oldExpired, "expired", now - 31 * day),
      row(ids.oldTerminated, "terminated", now - 30 * day - 60_000),
      row(ids.recentFailed, "failed", now - 29 * day),
      row(ids.oldFinished, "finished", now - 400 * day),
      row(ids.oldUnfinished, "unfinished", now - 400 * day),
    ]);
    const listed = (await list(await tokenFor(subject))).uploads.map((entry) => entry.id).sort();
    expect(listed).toEqual([ids.recentFailed, ids.oldFinished, ids.oldUnfinished].sort());
    for (const gone of [ids.oldExpired, ids.oldTerminated]) expect(await indexRow(gone), gone).toBeNull();
    expect(await indexRow(ids.recentFailed)).not.toBeNull();
  });
});
