/**
 * Shared helpers for the runtime tests: they talk to the gateway exactly as a
 * tus client would (through `SELF`, the Worker's own fetch handler), and look
 * behind it (Durable Object SQLite, R2) only to check what was stored.
 */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { tus, wireClient } from "../lib/wire";

export { OCTET, TUS } from "../lib/wire";

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Default configuration the tests rely on (src/config.ts). */
export const PART_SIZE = 8 * MiB;
export const DEFERRED_PART_SIZE = 16 * MiB;
export const MAX_UPLOAD_SIZE = 5 * 1024 * 1024 * MiB - 5 * 1024 * MiB;

export const ORIGIN = "http://tus.test";
export const COLLECTION = `${ORIGIN}/files/`;

/** Every status the gateway answered, so a test can assert it never answered 5xx. */
const seenStatuses: Array<{ request: string; status: number }> = [];

/** The gateway's fetch, recording each answer's status. */
export async function send(url: string, init: RequestInit = {}): Promise<Response> {
  const response = await SELF.fetch(url, init);
  seenStatuses.push({ request: `${init.method ?? "GET"} ${url}`, status: response.status });
  return response;
}

/** The shared wire client (test/lib/wire.ts) over `send`. */
export const wire = wireClient(send);

/** Asserts that no request since the last call was answered with a 5xx, then forgets them. */
export function expectNoServerErrors(): void {
  const serverErrors = seenStatuses.filter(({ status }) => status >= 500);
  seenStatuses.length = 0;
  expect(serverErrors, "the gateway answered 5xx").toEqual([]);
}

export interface CreateOptions {
  length?: number;
  deferred?: boolean;
  metadata?: string;
  /** First bytes of the upload (creation-with-upload). */
  body?: Uint8Array;
  headers?: Record<string, string>;
}

export interface CreatedUpload {
  response: Response;
  /** Absolute upload URL from `Location`. */
  url: string;
  id: string;
}

/** POST on the collection; asserts 201 and a well-formed Location. */
export async function createUpload(options: CreateOptions): Promise<CreatedUpload> {
  const response = await send(COLLECTION, tus.create(options));
  expect(response.status, await bodyText(response)).toBe(201);
  const url = response.headers.get("Location") ?? "";
  expect(url).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{64}$/);
  return { response, url, id: uploadIdOf(url) };
}

export function uploadIdOf(url: string): string {
  return new URL(url).pathname.split("/").pop() ?? "";
}

/** PATCH `body` at `offset`. */
export function patch(
  url: string,
  offset: number,
  body: BodyInit | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return wire.patch(url, offset, body, headers);
}

/** HEAD, with `Tus-Resumable` and `headers`. */
export function head(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return wire.head(url, headers);
}

/** The upload's offset according to HEAD. */
export async function headOffset(url: string): Promise<number> {
  const response = await head(url);
  expect(response.status).toBe(200);
  return Number(response.headers.get("Upload-Offset"));
}

/**
 * Sends `data[from..]` in PATCHes whose sizes follow `chunkSizes` in turn
 * (the list repeats), asserting each answer is 204 with the new offset.
 * `lastHeaders` go with the final PATCH (e.g. a deferred Upload-Length).
 */
export async function patchInChunks(
  url: string,
  data: Uint8Array,
  from: number,
  chunkSizes: number[],
  lastHeaders: Record<string, string> = {},
): Promise<void> {
  let offset = from;
  let turn = 0;
  while (offset < data.length) {
    const size = Math.min(chunkSizes[turn++ % chunkSizes.length]!, data.length - offset);
    const last = offset + size === data.length;
    const response = await patch(url, offset, data.slice(offset, offset + size), last ? lastHeaders : {});
    expect(response.status, `PATCH at ${offset} (${size} bytes): ${await bodyText(response)}`).toBe(204);
    expect(response.headers.get("Upload-Offset")).toBe(String(offset + size));
    offset += size;
  }
}

/** `size` pseudo-random bytes, the same for the same seed (xorshift32). */
export function randomBytes(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}

export async function sha256Hex(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** GET on the upload URL: the response and its whole body. */
export async function download(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ response: Response; bytes: Uint8Array }> {
  const response = await wire.get(url, headers);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { response, bytes };
}

/** Downloads the finished upload and asserts it is exactly `expected`. */
export async function expectDownloadEquals(url: string, expected: Uint8Array): Promise<void> {
  const { response, bytes } = await download(url);
  expect(response.status).toBe(200);
  expect(response.headers.get("Content-Length")).toBe(String(expected.length));
  expect(bytes.length).toBe(expected.length);
  expect(await sha256Hex(bytes)).toBe(await sha256Hex(expected));
}

/** The response body as text, for assertion messages; safe on consumed or empty bodies. */
export async function bodyText(response: Response): Promise<string> {
  try {
    return await response.clone().text();
  } catch {
    return "";
  }
}

export function uploadStub(id: string): DurableObjectStub {
  return env.UPLOADS.get(env.UPLOADS.idFromString(id));
}

export interface StoredState {
  offset: number;
  length: number | null;
  finishedAt: number | null;
  multipartId: string | null;
  parts: Array<{ number: number; size: number }>;
  tailRows: number;
  tailBytes: number;
}

/**
 * The upload's offset as upload-store.ts defines it, as an SQL column: while
 * the upload is live, its parts' bytes and the tail's size; once it is
 * finished or ended, the stored column.
 */
export const STORED_OFFSET =
  "CASE WHEN finished_at IS NULL AND ended IS NULL THEN (SELECT COALESCE(SUM(size), 0) FROM part) + tail_size ELSE offset END AS offset";

/** What the upload's Durable Object holds in SQLite (upload-store.ts schema). */
export function storedState(id: string): Promise<StoredState> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    const sql = state.storage.sql;
    const upload = sql
      .exec<{ offset: number; length: number | null; finished_at: number | null; multipart_id: string | null }>(
        `SELECT ${STORED_OFFSET}, length, finished_at, multipart_id FROM upload`,
      )
      .one();
    const parts = sql.exec<{ number: number; size: number }>("SELECT number, size FROM part ORDER BY number").toArray();
    const tail = sql
      .exec<{ rows: number; bytes: number }>("SELECT COUNT(*) AS rows, COALESCE(SUM(LENGTH(bytes)), 0) AS bytes FROM tail")
      .one();
    return {
      offset: upload.offset,
      length: upload.length,
      finishedAt: upload.finished_at,
      multipartId: upload.multipart_id,
      parts: parts.map(({ number, size }) => ({ number, size })),
      tailRows: tail.rows,
      tailBytes: tail.bytes,
    };
  });
}

/**
 * Asserts what a finished upload leaves behind: one R2 object of the right
 * size at `uploads/<id>`, and in SQLite only the upload row (no parts, no tail).
 */
export async function expectFinishedStorage(id: string, length: number): Promise<void> {
  const object = await env.BUCKET.head(`uploads/${id}`);
  expect(object, `R2 object uploads/${id}`).not.toBeNull();
  expect(object!.size).toBe(length);
  const state = await storedState(id);
  expect(state).toMatchObject({ offset: length, length, multipartId: null, parts: [], tailRows: 0, tailBytes: 0 });
  expect(state.finishedAt).not.toBeNull();
}

/** The upload-store invariant while unfinished: offset = parts + tail. */
export async function expectStoredInvariant(id: string, offset: number): Promise<StoredState> {
  const state = await storedState(id);
  expect(state.offset).toBe(offset);
  expect(state.parts.reduce((sum, part) => sum + part.size, 0) + state.tailBytes).toBe(offset);
  return state;
}

/** Splits `bytes` into chunks of `size` for a streamed body. */
function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

/** `bytes` as a body of unknown length (chunked), in pieces of `pieceSize`. */
export function chunkedBody(bytes: Uint8Array, pieceSize: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + pieceSize));
      at += pieceSize;
    },
  });
}

const STREAM_PIECE = 256 * KiB;

export interface StreamedBody {
  stream: ReadableStream<Uint8Array>;
  /** Resolves once the reader has taken every byte and asked for more. */
  drained: Promise<void>;
}

/**
 * A body of unknown length that delivers `bytes` and then breaks, like a
 * connection lost mid-request.
 */
export function brokenBody(bytes: Uint8Array): StreamedBody {
  const source = pieces(bytes, STREAM_PIECE);
  let markDrained!: () => void;
  const drained = new Promise<void>((resolve) => (markDrained = resolve));
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const next = source.next();
        if (!next.done) return controller.enqueue(next.value);
        markDrained();
        controller.error(new Error("connection lost (test)"));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, drained };
}

/**
 * A body of unknown length that delivers `bytes` and then neither sends more
 * nor ends, like a client whose connection went silent.
 */
export function stalledBody(bytes: Uint8Array): StreamedBody {
  const source = pieces(bytes, STREAM_PIECE);
  let markDrained!: () => void;
  const drained = new Promise<void>((resolve) => (markDrained = resolve));
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const next = source.next();
        if (!next.done) return controller.enqueue(next.value);
        markDrained();
        // Never enqueue again, never close: this pull never settles.
        return new Promise<void>(() => {});
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, drained };
}

/** A PATCH's outcome when its body may break: the response, or the error fetch raised. */
export type Settled = { response: Response; error?: undefined } | { response?: undefined; error: unknown };

export function settle(request: Promise<Response>): Promise<Settled> {
  return request.then(
    (response) => ({ response }),
    (error: unknown) => ({ error }),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects if `promise` takes longer than `ms`, naming `what`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Base64 of a UTF-8 string, as Upload-Metadata values are written. */
export function b64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** Where an upload stands with completing its object after storage faults: failed attempts, the latest, and the alarm. */
export interface RetryState {
  offset: number;
  failures: number;
  failedAt: number | null;
  alarm: number | null;
}

export function retryState(id: string): Promise<RetryState> {
  return runInDurableObject(uploadStub(id), async (_instance, state) => {
    const row = state.storage.sql
      .exec<{ offset: number; failures: number; failedAt: number | null }>(
        `SELECT ${STORED_OFFSET}, completion_failures AS failures, completion_failed_at AS failedAt FROM upload`,
      )
      .one();
    return { ...row, alarm: await state.storage.getAlarm() };
  });
}

/** Polls until `check` holds for what `read` answers (an index, an outbox, a usage); fails after `timeoutMs`, with the last value. */
export async function eventually<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last seen ${JSON.stringify(value)}`);
    await sleep(100);
    value = await read();
  }
  return value;
}
