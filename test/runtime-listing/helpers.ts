/**
 * Helpers for the listing and administration tests: tokens for subjects and
 * administrators, the listing as JSON, and a look at both homes of the
 * upload index: each subject's index (the SubjectIndex Durable Object's
 * SQLite, which the uploads' outboxes feed, normally well under a second
 * behind) and administration's D1 copy (creations and ends only, batched by
 * each subject's index about a second later).
 */
import { env, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { b64, bodyText, COLLECTION, createUpload, ORIGIN, patch, send, TUS, uploadStub, type CreatedUpload } from "../runtime/helpers";
export { eventually } from "../runtime/helpers";
import { bearer, claimsFor, signToken } from "../runtime-auth/tokens";
import type { ListedUpload, Listing } from "../../src/listing/listing-answer";
import type { SubjectIndex } from "../../src/subjects/subject-index";

export const ADMIN_COLLECTION = `${ORIGIN}/admin/uploads/`;

export type { ListedUpload, Listing } from "../../src/listing/listing-answer";

export function uniqueSubject(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A token for `subject` with `scope` (a space-separated list; none: every tus request, no administration). */
export function tokenFor(subject: string, scope?: string): Promise<string> {
  return signToken(claimsFor(subject, scope === undefined ? {} : { scope }));
}

export function adminToken(): Promise<string> {
  return tokenFor(uniqueSubject("operator"), "tus:admin");
}

/** Creates an upload as the token's subject with a `filename`; sends `sent` bytes of it. */
export async function uploadAs(token: string, filename: string, length: number, sent = length): Promise<CreatedUpload> {
  const created = await createUpload({ length, headers: { ...TUS, ...bearer(token), "Upload-Metadata": `filename ${b64(filename)}` } });
  if (sent > 0) {
    const response = await patch(created.url, 0, new Uint8Array(sent).fill(7), bearer(token));
    expect(response.status, await bodyText(response)).toBe(204);
  }
  return created;
}

/** GET on the listing URL with `token`; asserts 200 and returns the JSON. */
export async function list(token: string, query = "", base = COLLECTION): Promise<Listing> {
  const response = await send(`${base}${query}`, { headers: bearer(token) });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get("Content-Type")).toBe("application/json");
  return JSON.parse(text) as Listing;
}

/** Every page of a listing, following `next`. */
export async function listAll(token: string, query: string, base = COLLECTION): Promise<ListedUpload[]> {
  const all: ListedUpload[] = [];
  for (let cursor: string | null = null; ; ) {
    const page = await list(token, `?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, base);
    all.push(...page.uploads);
    if (page.next === null) return all;
    cursor = page.next;
  }
}


export interface IndexRowView {
  state: string;
  offset_bytes: number;
  length: number | null;
  subject: string | null;
  version: number;
}

const ROW_VIEW = "SELECT state, offset_bytes, length, subject, version FROM uploads WHERE id = ?";

/** The subject's index: its SubjectIndex Durable Object (the stub, for its RPC methods). */
export function subjectIndex(subject: string): DurableObjectStub<SubjectIndex> {
  return env.SUBJECTS.get(env.SUBJECTS.idFromName(subject));
}

/** Runs `query` on the subject index's own SQLite, inside its Durable Object. */
export function inSubjectIndex<T>(subject: string, query: (sql: SqlStorage) => T): Promise<T> {
  return runInDurableObject(subjectIndex(subject), (_instance, state) => query(state.storage.sql));
}

/** The upload's entry in its subject's index, straight from that Durable Object's SQLite; null when there is none yet. */
export function indexRow(subject: string, id: string): Promise<IndexRowView | null> {
  return inSubjectIndex(subject, (sql) => sql.exec<IndexRowView & Record<string, SqlStorageValue>>(ROW_VIEW, id).toArray()[0] ?? null);
}

/** The upload's row in administration's D1 copy (INDEX); null when there is none (yet). */
export function d1Row(id: string): Promise<IndexRowView | null> {
  return env.INDEX.prepare(ROW_VIEW).bind(id).first<IndexRowView>();
}

/** What the subject's index still has to pass on to D1 (its admin_feed table): upload id and record version. */
export function pendingForD1(subject: string): Promise<Array<{ id: string; version: number }>> {
  return inSubjectIndex(subject, (sql) => {
    const table = sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'admin_feed'").toArray();
    return table.length ? sql.exec<{ id: string; version: number }>("SELECT id, version FROM admin_feed").toArray() : [];
  });
}

/** The outbox of an upload's Durable Object: entries not delivered yet. */
export function outbox(id: string): Promise<Array<{ id: string; type: string; index?: unknown }>> {
  return runInDurableObject(uploadStub(id), (_instance, state) =>
    state.storage.sql
      .exec<{ body: string }>("SELECT body FROM event ORDER BY due_at, rowid")
      .toArray()
      .map((row) => JSON.parse(row.body) as { id: string; type: string; index?: unknown }),
  );
}

/**
 * Makes every record delivered to the subject's index fail (its `uploads`
 * table renamed inside its Durable Object) while `work` runs, so the
 * records stay in the uploads' outboxes; the table is back afterwards.
 */
export async function withIndexDown<T>(subject: string, work: () => Promise<T>): Promise<T> {
  await inSubjectIndex(subject, (sql) => void sql.exec("ALTER TABLE uploads RENAME TO uploads_down"));
  try {
    return await work();
  } finally {
    await inSubjectIndex(subject, (sql) => void sql.exec("ALTER TABLE uploads_down RENAME TO uploads"));
  }
}

/**
 * Makes every write to administration's D1 copy fail (its table renamed)
 * while `work` runs: the subject indexes keep the records in their feed and
 * retry; the table is back afterwards.
 */
export async function withAdminIndexDown<T>(work: () => Promise<T>): Promise<T> {
  await env.INDEX.exec("ALTER TABLE uploads RENAME TO uploads_down");
  try {
    return await work();
  } finally {
    await env.INDEX.exec("ALTER TABLE uploads_down RENAME TO uploads");
  }
}
