/**
 * Helpers for the library-API tests: requests to the Worker in worker.ts
 * (`SELF`), the callback calls it recorded in R2, and the event outbox of an
 * upload's Durable Object (the `event` table of upload-store.ts).
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import type { UploadEvent } from "../../src/index";
import { metadataHeader } from "../runtime-auth/helpers";
import { bearer } from "../runtime-auth/tokens";
import { bodyText, patch, send, TUS, uploadStub } from "../runtime/helpers";
import { BASE_PATH, type RecordedCall } from "./worker";

export const TIMEOUT = 30_000;
export const COLLECTION = `http://library.test${BASE_PATH}`;

export interface Created {
  url: string;
  id: string;
}

export interface CreateOptions {
  length?: number;
  deferred?: boolean;
  metadata?: Record<string, string>;
  headers?: Record<string, string>;
}

export function post(token: string, options: CreateOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...TUS, ...bearer(token), ...options.headers };
  if (options.length !== undefined) headers["Upload-Length"] = String(options.length);
  if (options.deferred) headers["Upload-Defer-Length"] = "1";
  if (options.metadata) headers["Upload-Metadata"] = metadataHeader(options.metadata);
  return send(COLLECTION, { method: "POST", headers });
}

/** POST on the collection; asserts 201 and a Location under the library's base path. */
export async function create(token: string, options: CreateOptions = {}): Promise<Created> {
  const response = await post(token, options);
  expect(response.status, await bodyText(response)).toBe(201);
  const url = response.headers.get("Location") ?? "";
  expect(url.startsWith(COLLECTION), url).toBe(true);
  return { url, id: url.slice(COLLECTION.length) };
}

/** Creates an upload of `data` and sends it in one PATCH. */
export async function upload(token: string, data: Uint8Array, options: Omit<CreateOptions, "length" | "deferred"> = {}): Promise<Created> {
  const created = await create(token, { ...options, length: data.length });
  if (data.length > 0) {
    const response = await patch(created.url, 0, data, bearer(token));
    expect(response.status, await bodyText(response)).toBe(204);
  }
  return created;
}

export async function headAs(token: string, url: string): Promise<Response> {
  return send(url, { method: "HEAD", headers: { ...TUS, ...bearer(token) } });
}

/** Every recorded call of onEvent and onUploadFinish, in the order they were made per event. */
export async function recordedCalls(): Promise<RecordedCall[]> {
  const calls: RecordedCall[] = [];
  let cursor: string | undefined;
  do {
    const listing = await env.BUCKET.list({ prefix: "calls/on", cursor });
    for (const { key } of listing.objects) {
      if (key.startsWith("calls/onUploadCreate/")) continue;
      calls.push(JSON.parse(await (await env.BUCKET.get(key))!.text()) as RecordedCall);
    }
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
  return calls;
}

/** The recorded calls of one hook about one upload, oldest first. */
export async function callsAbout(uploadId: string, hook: RecordedCall["hook"]): Promise<RecordedCall[]> {
  const calls = (await recordedCalls()).filter((call) => call.hook === hook && call.event.upload.id === uploadId);
  return calls.sort((a, b) => a.event.occurredAt.localeCompare(b.event.occurredAt) || a.attempt - b.attempt);
}

export interface OutboxRow {
  id: string;
  event: UploadEvent;
  attempts: number;
  dueAt: number;
}

/** The upload's undelivered events. */
export function outbox(uploadId: string): Promise<OutboxRow[]> {
  return runInDurableObject(uploadStub(uploadId), (_instance, state) =>
    state.storage.sql
      .exec<{ id: string; body: string; attempts: number; due_at: number }>("SELECT id, body, attempts, due_at FROM event ORDER BY due_at, rowid")
      .toArray()
      .map((row) => ({ id: row.id, event: JSON.parse(row.body) as UploadEvent, attempts: row.attempts, dueAt: row.due_at })),
  );
}

/**
 * Waits for the outbox row of the upload's `type` event to show `attempts`
 * failed deliveries, then holds it: its retry is moved an hour ahead, so the
 * runtime's own alarm cannot deliver it before the test says so. Read and
 * move happen in one synchronous step inside the object, so no alarm slips
 * in between. Answers the row as it was when the failure was seen.
 */
export async function holdAfterFailure(uploadId: string, type: UploadEvent["type"], attempts: number): Promise<OutboxRow> {
  return waitFor(`the ${type} event of ${uploadId} to have failed ${attempts} time(s)`, () =>
    runInDurableObject(uploadStub(uploadId), (_instance, state) => {
      const sql = state.storage.sql;
      const rows = sql
        .exec<{ id: string; body: string; attempts: number; due_at: number }>("SELECT id, body, attempts, due_at FROM event")
        .toArray()
        .map((row) => ({ id: row.id, event: JSON.parse(row.body) as UploadEvent, attempts: row.attempts, dueAt: row.due_at }));
      const row = rows.find((candidate) => candidate.event.type === type);
      if (row?.attempts !== attempts) return undefined;
      sql.exec("UPDATE event SET due_at = ? WHERE id = ?", Date.now() + 60 * 60 * 1000, row.id);
      return row;
    }),
  );
}

/** Makes the upload's held events due now and runs its alarm, which delivers them. */
export async function retryNow(uploadId: string): Promise<void> {
  await runInDurableObject(uploadStub(uploadId), (_instance, state) => {
    state.storage.sql.exec("UPDATE event SET due_at = ?", Date.now() - 1);
  });
  expect(await runDurableObjectAlarm(uploadStub(uploadId)), "an alarm was scheduled for the held event").toBe(true);
}

/** Waits until every event of the upload was delivered (its outbox is empty). */
export async function allDelivered(uploadId: string): Promise<void> {
  await waitFor(`every event of ${uploadId} to be delivered`, async () => ((await outbox(uploadId)).length === 0 ? true : undefined));
}

/** Polls `check` until it answers something other than undefined. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined) return result;
    if (Date.now() > giveUp) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * At-least-once delivery may repeat an event, but an event id must always
 * mean the same event, and one event (an upload's creation, its finish, its
 * end) must never be reported under two ids.
 */
export async function expectConsistentEventIds(): Promise<void> {
  const byId = new Map<string, UploadEvent>();
  const idsByHappening = new Map<string, Set<string>>();
  for (const { event } of await recordedCalls()) {
    const seen = byId.get(event.id);
    if (seen) expect(event, `event ${event.id} reported twice with different content`).toEqual(seen);
    else byId.set(event.id, event);
    const happening = `${event.upload.id} ${event.type}`;
    idsByHappening.set(happening, (idsByHappening.get(happening) ?? new Set()).add(event.id));
  }
  for (const [happening, ids] of idsByHappening) expect([...ids], `${happening} reported under several ids`).toHaveLength(1);
}
