/**
 * Helpers for the extension tests, on top of ../helpers.ts: checksum
 * headers, bodies the test feeds by hand, and looks behind the gateway at
 * what an upload's Durable Object and R2 hold (tombstones, alarms, expiry,
 * multipart uploads).
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { head, STORED_OFFSET, uploadStub } from "../helpers";

/** RFC 9110 §5.6.7 IMF-fixdate, the form `Upload-Expires` must take. */
export const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;

/** Web Crypto names of the algorithms `Tus-Checksum-Algorithm` lists (workerd also offers MD5). */
export const WEB_CRYPTO_NAME = { sha1: "SHA-1", sha256: "SHA-256", sha512: "SHA-512", md5: "MD5" } as const;
export type Algorithm = keyof typeof WEB_CRYPTO_NAME;

export function base64(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (let at = 0; at < view.length; at += 0x8000) binary += String.fromCharCode(...view.subarray(at, at + 0x8000));
  return btoa(binary);
}

/** `Upload-Checksum: <algorithm> <base64 digest>` of `bytes`. */
export async function checksumHeader(algorithm: Algorithm, bytes: Uint8Array): Promise<Record<string, string>> {
  const digest = await crypto.subtle.digest(WEB_CRYPTO_NAME[algorithm], bytes);
  return { "Upload-Checksum": `${algorithm} ${base64(digest)}` };
}

/** A body of unknown length that the test writes piece by piece, then closes (or never does). */
export interface FedBody {
  stream: ReadableStream<Uint8Array>;
  /** Writes `bytes` in pieces of 512 KiB, waiting for each to be taken. */
  feed(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function fedBody(): FedBody {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  return {
    stream: readable,
    async feed(bytes) {
      for (let at = 0; at < bytes.length; at += 512 * 1024) await writer.write(bytes.slice(at, at + 512 * 1024));
    },
    close: () => writer.close(),
  };
}

/** One row of the `upload` table (upload-store.ts), as stored. */
export interface UploadRow {
  offset: number;
  length: number | null;
  multipart_id: string | null;
  finished_at: number | null;
  expires_at: number | null;
  ended: string | null;
  metadata: string;
  concat: string | null;
}

/**
 * Everything an upload's Durable Object stores: its `upload` rows, every
 * `part` row and every `tail` row (bytes as SHA-256, so two snapshots compare
 * byte for byte), and its alarm.
 */
export interface StorageSnapshot {
  uploads: UploadRow[];
  parts: Array<{ number: number; etag: string; size: number }>;
  tail: Array<{ seq: number; size: number; pending: number; sha256: string }>;
  alarm: number | null;
}

export function snapshot(id: string): Promise<StorageSnapshot> {
  return runInDurableObject(uploadStub(id), async (_instance, state) => {
    const sql = state.storage.sql;
    const uploads = sql
      .exec<UploadRow & Record<string, SqlStorageValue>>(
        `SELECT ${STORED_OFFSET}, length, multipart_id, finished_at, expires_at, ended, metadata, concat FROM upload`,
      )
      .toArray()
      .map((row) => ({ ...row }));
    const parts = sql
      .exec<{ number: number; etag: string; size: number }>("SELECT number, etag, size FROM part ORDER BY number")
      .toArray()
      .map((row) => ({ ...row }));
    const rows = sql.exec<{ seq: number; bytes: ArrayBuffer; pending: number }>("SELECT seq, bytes, pending FROM tail ORDER BY seq").toArray();
    const tail = [];
    for (const row of rows) {
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", row.bytes));
      tail.push({
        seq: row.seq,
        size: row.bytes.byteLength,
        pending: row.pending,
        sha256: [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join(""),
      });
    }
    return { uploads, parts, tail, alarm: await state.storage.getAlarm() };
  });
}

/** The part and tail tables only: what a refused chunk must leave exactly as it was. */
export async function bytesOnRecord(id: string): Promise<Pick<StorageSnapshot, "parts" | "tail">> {
  const { parts, tail } = await snapshot(id);
  return { parts, tail };
}

/** Moves the upload's expiry (the `expires_at` column) to `expiresAt`, as if time had passed. */
export function setExpiresAt(id: string, expiresAt: number): Promise<void> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    state.storage.sql.exec("UPDATE upload SET expires_at = ?", expiresAt);
  });
}

/**
 * As if `ms` had passed: every time stamp the upload stores moves back by
 * `ms` (those not set stay unset). The alarm is left alone; run it with
 * `runAlarm`, which fires it whenever it is due.
 */
export function age(id: string, ms: number): Promise<void> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    state.storage.sql.exec(
      "UPDATE upload SET created_at = created_at - ?1, expires_at = expires_at - ?1, finished_at = finished_at - ?1",
      ms,
    );
  });
}

export function setAlarm(id: string, at: number): Promise<void> {
  return runInDurableObject(uploadStub(id), (_instance, state) => state.storage.setAlarm(at));
}

export function runAlarm(id: string): Promise<boolean> {
  return runDurableObjectAlarm(uploadStub(id));
}

/**
 * Asserts the upload ended (`terminated` or `expired`): the Durable Object
 * keeps one tombstone row with nothing of the upload in it, and no part or
 * tail rows.
 */
export async function expectTombstoneOnly(id: string, ended: "terminated" | "expired"): Promise<void> {
  const state = await snapshot(id);
  expect(state.uploads).toHaveLength(1);
  expect(state.uploads[0]).toMatchObject({ ended, multipart_id: null, expires_at: null, metadata: "[]", concat: null });
  expect(state.parts).toEqual([]);
  expect(state.tail).toEqual([]);
}

/**
 * Asserts R2 no longer has the multipart upload `uploadId` of `key` (it was
 * aborted): uploading a part to it fails with R2's "does not exist".
 */
export async function expectMultipartAborted(key: string, uploadId: string): Promise<void> {
  const multipart = env.BUCKET.resumeMultipartUpload(key, uploadId);
  await expect(multipart.uploadPart(1, new Uint8Array(1))).rejects.toThrow(/does not exist/);
}

/** Asserts a HEAD answer carries no body (RFC 9110 §9.3.2), whatever its status. */
export async function expectNoBody(response: Response): Promise<void> {
  expect(await response.text()).toBe("");
}

/** The upload's Upload-Offset per HEAD, or null when HEAD shows none (a final upload being assembled). */
export async function headState(url: string): Promise<{ status: number; offset: string | null; length: string | null; headers: Headers }> {
  const response = await head(url);
  return {
    status: response.status,
    offset: response.headers.get("Upload-Offset"),
    length: response.headers.get("Upload-Length"),
    headers: response.headers,
  };
}

/**
 * Moves the isolate's clock (`Date.now`, which the gateway and its Durable
 * Objects read too: they share the test's isolate) `aheadMs` into the future,
 * plus whatever `advance` adds later. Alarms the objects set then lie in the
 * real future, so the runtime does not fire them by itself: only
 * `runAlarm` runs them. Returns the controls; `restore` undoes it.
 */
export function shiftClock(aheadMs: number): { advance(ms: number): void; restore(): void } {
  const realNow = Date.now;
  let ahead = aheadMs;
  Date.now = () => realNow.call(Date) + ahead;
  return {
    advance(ms) {
      ahead += ms;
    },
    restore() {
      Date.now = realNow;
    },
  };
}

/**
 * Wraps R2's `uploadPart` for every multipart upload in the isolate (the
 * Durable Objects' too): `after` runs once each part is stored, before the
 * caller sees the answer, as if R2 answered slowly. Returns the undo.
 */
export function afterEachPartUpload(after: () => void | Promise<void>): () => void {
  const prototype = Object.getPrototypeOf(env.BUCKET.resumeMultipartUpload("hook", "hook")) as R2MultipartUpload;
  const uploadPart = prototype.uploadPart;
  prototype.uploadPart = async function (this: R2MultipartUpload, ...args: Parameters<R2MultipartUpload["uploadPart"]>) {
    const uploaded = await uploadPart.apply(this, args);
    await after();
    return uploaded;
  };
  return () => {
    prototype.uploadPart = uploadPart;
  };
}
