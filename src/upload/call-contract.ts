/**
 * What crosses from the Worker into an upload's Durable Object, and back:
 * the calls' arguments and outcomes in forms that survive the boundary. The
 * Worker's side (uploads.ts) and the object's (upload-object.ts) both import
 * this module; neither imports the other for it.
 *
 * A client request crosses once: it says what it wants (append these bytes
 * at this offset and then complete; create with this body; …) and the
 * object decides and answers atomically, under the upload's lock.
 */
import { serializeError, TusError, type SerializedError } from "../errors";
import type { ExpectedChecksum } from "./writing/chunk-digest";
import type { AppendRequest, NewUpload } from "./upload-record";

/** A call's outcome, in a form that crosses the Durable Object boundary intact. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/**
 * Who makes a call: the token's subject, undefined in open mode. An upload
 * with an owner answers only its owner; to anyone else it does not exist.
 */
export type Caller = string | undefined;

/**
 * What an append asks of the upload beyond storing its body, where the
 * dialects differ (the IETF draft's rules; tus has none of them).
 */
export interface AppendIntent {
  /**
   * Once the body is in, the upload is complete at the offset reached: its
   * length becomes that offset, if it was not known (IETF `Upload-Complete: ?1`).
   */
  completeAtEnd?: boolean;
  /**
   * A body that would go past the upload's length makes the upload invalid:
   * it is terminated ("marking the upload resource invalid"), unless it had
   * completed meanwhile. Without it, the body is refused and the upload stays.
   */
  invalidateOnOverflow?: boolean;
  /**
   * An append to a finished upload: an empty completing request at its end
   * gets the finished state again ("replay the final response"), anything
   * else is refused as `upload-completed`. Without it, tus's rules.
   */
  replayWhenFinished?: boolean;
}

/** An append as it travels to the object: the request, its body's checksum, who sends it and what it intends. */
export interface AppendCall extends AppendRequest, AppendIntent {
  checksum: ExpectedChecksum | undefined;
  caller: Caller;
  /**
   * The most bytes this request's body may bring (MAX_APPEND_SIZE, IETF
   * dialect), counted as they arrive: a chunked body announces no length
   * that the Worker could check. None: no such cap.
   */
  appendLimit?: number;
}

/**
 * A request that writes: an append to an existing upload, or (`create`) a
 * new upload created with its first bytes, both in one call. The body
 * streams in as the request's body, so it travels as `fetch`, not RPC: a
 * broken connection then surfaces as a failed read, and the bytes that did
 * arrive are kept.
 */
export interface WriteCall {
  create?: NewUpload;
  append: AppendCall;
}

/** Header that carries a `WriteCall` on the internal write request. */
const WRITE_CALL_HEADER = "x-tus-edge-write";

/** The internal request carrying `call` and `body` to the upload's object. */
export function writeRequest(call: WriteCall, body: ReadableStream<Uint8Array> | null): Request {
  // A new upload's metadata is a Map, which JSON would turn into `{}`: it travels as its entries.
  const json = JSON.stringify(call, (_key, value: unknown) => (value instanceof Map ? { [MAP_ENTRIES]: [...value] } : value));
  // Header values must be ASCII: escape the rest (e.g. in a subject or metadata) the JSON way.
  const header = json.replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return new Request("https://upload.internal/write", { method: "POST", headers: { [WRITE_CALL_HEADER]: header }, body });
}

/** The `WriteCall` of an internal write request. */
export function readWriteCall(request: Request): WriteCall {
  return JSON.parse(request.headers.get(WRITE_CALL_HEADER) ?? "null", (_key, value: unknown) =>
    value !== null && typeof value === "object" && MAP_ENTRIES in value ? new Map((value as Record<string, [string, string][]>)[MAP_ENTRIES]) : value,
  ) as WriteCall;
}

/** Marks a Map's entries in a write call's JSON. */
const MAP_ENTRIES = "$map";

/** Runs a call's work; a TusError becomes a failed outcome, anything else an internal one (logged). */
export async function settle<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (error instanceof TusError) return { ok: false, error: serializeError(error) };
    console.error("upload object failed", error);
    return { ok: false, error: serializeError(new TusError("internal")) };
  }
}
