import { TusError } from "../errors";
import type { HookAnswer } from "../hooks/pre-finish";
import type { QuotaLimits } from "../quotas";
import { maxLengthForPartSize } from "./storage/part-plan";

/**
 * An upload's state as the upload layer sees it. Nothing here knows HTTP
 * headers: the protocol layer translates a dialect's headers into these
 * values and back.
 */

/** Client-supplied metadata, kept opaque and in order: key → value exactly as the dialect carries it. */
export type UploadMetadata = Map<string, string>;

/**
 * Why an upload is gone: its tombstone answers 410, or, for `object-exists`
 * (refused at completion: another object took its key), 409, or, for
 * `rejected` (the pre-finish hook refused it), the hook's status.
 */
export type UploadEnd = "terminated" | "expired" | "object-exists" | "rejected";

/**
 * Where a finished upload stands with the pre-finish hook (hooks/pre-finish.ts).
 * `pending`: the object is complete, the hook has not decided yet (it failed
 * `attempts` times, the last at `lastAttemptAt`); the upload is not finished
 * for anyone until it does. `rejected` stays on the tombstone, to answer
 * every later request the same way.
 */
export type Confirmation =
  | { state: "pending"; since: number; attempts: number; lastAttemptAt?: number }
  | { state: "accepted" }
  | { state: "answered"; answer: HookAnswer }
  | { state: "rejected"; status: number; message: string };

/**
 * Concatenation: a partial upload is an ordinary upload that a final one
 * will be assembled from; a final upload has no bytes of its own until its
 * partials are finished, then it is assembled from their objects.
 */
export type Concatenation =
  | { kind: "partial"; finals: string[] }
  | { kind: "final"; partials: PartialSource[] };

export interface PartialSource {
  id: string;
  length: number;
}

export interface NewUpload {
  id: string;
  objectKey: string;
  /** Undefined while the length is deferred. */
  length: number | undefined;
  partSize: number;
  metadata: UploadMetadata;
  /** Content-Type and Content-Disposition the finished object is stored with. */
  contentType: string;
  contentDisposition: string;
  createdAt: number;
  concat?: Concatenation;
  /** The subject that created the upload; only it may use the upload. Undefined in open mode. */
  owner?: string;
  /**
   * The most bytes the upload may hold: the smaller of the server's maximum
   * and the creating token's `max_upload_size`, fixed at creation so that no
   * later request, whatever its token, can raise it. Undefined for uploads
   * created before it was recorded.
   */
  sizeLimit?: number;
  /**
   * The creating subject's quotas (server settings, or its token's claims),
   * checked once, before the upload is stored (lifecycle/quota.ts); not stored.
   */
  quota?: QuotaLimits;
}

export interface UploadRecord extends NewUpload {
  offset: number;
  /** The R2 multipart upload, once the first part is sent. */
  multipartId: string | undefined;
  /** Set once the R2 object is complete. */
  finishedAt: number | undefined;
  /** When the upload expires unless a PATCH comes first; undefined: never. */
  expiresAt: number | undefined;
  /** Set when the upload was terminated or expired; only this tombstone remains. */
  ended: UploadEnd | undefined;
  /** Only with a pre-finish hook, once the object is complete. */
  confirmation?: Confirmation;
}

/** The object is complete, but the pre-finish hook has not decided about it yet. */
export function awaitsConfirmation(record: UploadRecord): record is UploadRecord & { confirmation: { state: "pending" } } {
  return record.ended === undefined && record.finishedAt !== undefined && record.confirmation?.state === "pending";
}

/**
 * Every byte is in and counted, but the R2 object is not complete yet: R2
 * failed while completing it, and the completion is retried. Such an upload
 * does not expire, since all it holds is acknowledged. (A final upload of a
 * concatenation is assembled instead, see concat-assembler.ts.)
 */
export function awaitsCompletion(record: UploadRecord): boolean {
  return record.ended === undefined && record.finishedAt === undefined && record.offset === record.length && record.concat?.kind !== "final";
}

/** A final upload of a concatenation whose object is not assembled yet (it may still wait for partials). */
export function awaitsAssembly(record: UploadRecord): boolean {
  return record.ended === undefined && record.finishedAt === undefined && record.concat?.kind === "final";
}

/** What the upload layer tells the protocol layer about an upload. */
export interface UploadInfo {
  id: string;
  offset: number;
  length: number | undefined;
  metadata: UploadMetadata;
  objectKey: string;
  finished: boolean;
  expiresAt: number | undefined;
  /** For concatenation: `partial`, or `final` with the partial uploads' ids in order. */
  concat: { kind: "partial" } | { kind: "final"; partials: string[] } | undefined;
  /** The pre-finish hook's answer to the client, once it gave one: the completing request answers it, HEAD repeats its headers. */
  answer?: HookAnswer;
}

export function toInfo(record: UploadRecord): UploadInfo {
  const { concat } = record;
  return {
    id: record.id,
    offset: record.offset,
    length: record.length,
    metadata: record.metadata,
    objectKey: record.objectKey,
    // Not before the pre-finish hook decided: until then nobody may take the object as final.
    finished: record.finishedAt !== undefined && !awaitsConfirmation(record),
    expiresAt: record.expiresAt,
    concat:
      concat?.kind === "final"
        ? { kind: "final", partials: concat.partials.map((partial) => partial.id) }
        : concat && { kind: "partial" },
    ...(record.confirmation?.state === "answered" && { answer: record.confirmation.answer }),
  };
}

/**
 * The most bytes an append may bring the upload to: the upload's own limit,
 * the caller's (a later token may be stricter, never looser), and what
 * 10,000 parts of the upload's part size hold.
 */
export function sizeLimitOf(record: UploadRecord, callerLimit: number): number {
  return Math.min(maxLengthForPartSize(record.partSize), callerLimit, record.sizeLimit ?? Infinity);
}

/** An append request in the upload layer's terms. */
export interface AppendRequest {
  /** Where the client believes the upload stands. */
  offset: number;
  /** A length declared with this request (deferred-length uploads). */
  declaredLength: number | undefined;
  /** The body's length when the client announced it. */
  contentLength: number | undefined;
  /** The largest length this caller may give the upload (server maximum, or less by token). */
  lengthLimit: number;
}

/**
 * Checks an append against the upload before any byte is read, and returns
 * the upload's length after it (a deferred length may be set by it).
 */
export function checkAppend(record: UploadRecord, append: AppendRequest): number | undefined {
  // tus 1.0.0, PATCH: "If the offsets do not match, the Server MUST respond
  // with the 409 Conflict status without modifying the upload resource."
  if (append.offset !== record.offset) {
    throw new TusError(
      "offset-mismatch",
      `Upload-Offset is ${append.offset} but the upload's current offset is ${record.offset}; resume from ${record.offset}`,
      { offset: record.offset },
    );
  }
  let length = record.length;
  if (append.declaredLength !== undefined) {
    // creation-defer-length: once set, the length "MUST NOT be changed".
    if (length !== undefined && append.declaredLength !== length) {
      throw new TusError("length-conflict", `Upload-Length is already ${length} and cannot change to ${append.declaredLength}`);
    }
    if (append.declaredLength < record.offset) {
      throw new TusError("invalid-header", `Upload-Length ${append.declaredLength} is less than the bytes already received (${record.offset})`);
    }
    const limit = sizeLimitOf(record, append.lengthLimit);
    if (append.declaredLength > limit) {
      throw new TusError(
        "upload-too-large",
        `Upload-Length ${append.declaredLength} exceeds this upload's limit of ${limit} bytes (the server's maximum, the token's max_upload_size, or the room its subject's quota reserved when the length was deferred)`,
      );
    }
    length = append.declaredLength;
  }
  if (length !== undefined && append.contentLength !== undefined && record.offset + append.contentLength > length) {
    throw new TusError(
      "exceeds-upload-length",
      `the body (${append.contentLength} bytes at offset ${record.offset}) would go past Upload-Length ${length}; nothing of it was stored`,
      { offset: record.offset },
    );
  }
  if (length === undefined && append.contentLength !== undefined) {
    const limit = sizeLimitOf(record, append.lengthLimit);
    if (record.offset + append.contentLength > limit) {
      throw new TusError(
        "upload-too-large",
        `the body (${append.contentLength} bytes at offset ${record.offset}) would go past this upload's limit: it may hold at most ${limit} bytes (the server's maximum, the token's max_upload_size, or the room its subject's quota reserved); nothing of it was stored`,
        { offset: record.offset },
      );
    }
  }
  return length;
}

/**
 * An append to a finished upload whose call asks for a replay (the IETF
 * dialect): "The server can choose to replay the final response to the
 * client if the request to append to the completed upload is valid": an
 * empty completing request at the upload's end is, and gets the finished
 * upload again. A wrong offset is a 409 with the right one; anything else is
 * refused, nothing of it stored. tus has no such rule (see `checkAppend`).
 */
export function replayFinished(record: UploadRecord, append: Pick<AppendRequest, "offset" | "contentLength"> & { completeAtEnd?: boolean }): UploadRecord {
  if (append.offset !== record.offset) {
    throw new TusError("offset-mismatch", `Upload-Offset is ${append.offset} but the upload is complete at ${record.offset}`, { offset: record.offset });
  }
  if (append.completeAtEnd && append.contentLength === 0) return record;
  throw new TusError("upload-completed", `this upload is complete at ${record.offset} bytes and takes no more; nothing of this request was stored`, {
    offset: record.offset,
  });
}
