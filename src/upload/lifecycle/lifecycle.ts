import { TusError } from "../../errors";
import type { Confirmation, UploadRecord, UploadEnd } from "../upload-record";
import type { UploadStore } from "../storage/upload-store";
import { deleteOwnObject, r2 } from "../storage/r2-parts";
import type { WriteBuffers } from "../writing/write-buffers";

/** How long uploads live; see EXPIRE_AFTER_SECONDS and friends in config.ts. */
export interface LifecyclePolicy {
  /** Idle time after which an unfinished upload expires; 0: never. */
  expireAfterMs: number;
  /** Time after finishing at which a finished upload expires; 0: never. */
  expireFinishedAfterMs: number;
  /** Whether terminating a finished upload deletes its R2 object. */
  terminateDeletesObject: boolean;
}

/**
 * When the upload should expire, as of `now`. An unfinished upload's idle
 * clock restarts with each request that writes to it; a final upload being
 * assembled does not expire (its partials do, while idle).
 */
export function nextExpiry(record: Pick<UploadRecord, "concat"> & Partial<Pick<UploadRecord, "ended" | "finishedAt">>, now: number, policy: LifecyclePolicy): number | undefined {
  if (record.ended) return undefined;
  if (record.finishedAt !== undefined) {
    return policy.expireFinishedAfterMs > 0 ? record.finishedAt + policy.expireFinishedAfterMs : undefined;
  }
  if (record.concat?.kind === "final") return undefined;
  return policy.expireAfterMs > 0 ? now + policy.expireAfterMs : undefined;
}

/**
 * The answer for an upload refused at completion, the same to every request
 * from then on: another object took its key, and it cannot complete.
 */
export function objectTakenError(): TusError {
  // The key is not named: it may say what another subject stored (a file name).
  return new TusError(
    "object-exists",
    "another object was stored at this upload's key before this upload could be completed, and this server does not overwrite objects: " +
      "the upload cannot complete under that key. It has ended and its bytes were released; upload the file again under another name",
  );
}

/**
 * The answer for an upload the pre-finish hook rejected, the same to every
 * request from then on: the hook's status and message. A HEAD has no body,
 * so the message also travels in `Tus-Edge-Rejection` (percent-encoded
 * where it is not printable ASCII).
 */
export function rejectionError(rejection: Extract<Confirmation, { state: "rejected" }>): TusError {
  const headerValue = rejection.message.replace(/[^\x20-\x7e]|%/gu, (char) => (/^[\ud800-\udfff]$/u.test(char) ? "%EF%BF%BD" : encodeURIComponent(char)));
  return new TusError("upload-rejected", rejection.message, { status: rejection.status, headers: { "Tus-Edge-Rejection": headerValue } });
}

/**
 * Ends an upload (DELETE, expiry, a refused completion, or a rejection by
 * the pre-finish hook): aborts its R2 multipart upload, deletes
 * a finished object when asked to, and leaves only a tombstone in storage.
 * R2 goes first: if it fails, the upload is still whole and the caller can
 * retry, rather than leaving parts nobody knows about.
 */
export async function endUpload(
  deps: { store: UploadStore; bucket: R2Bucket; buffers: WriteBuffers },
  record: UploadRecord,
  reason: UploadEnd,
  deleteObject: boolean,
  rejection?: Extract<Confirmation, { state: "rejected" }>,
): Promise<void> {
  const { store, bucket } = deps;
  if (record.multipartId !== undefined) {
    const multipart = bucket.resumeMultipartUpload(record.objectKey, record.multipartId);
    await r2("abortMultipartUpload", () => multipart.abort());
  }
  if (record.finishedAt !== undefined && deleteObject) await deleteOwnObject(bucket, record);
  store.markEnded(reason, rejection);
  deps.buffers.release();
}
