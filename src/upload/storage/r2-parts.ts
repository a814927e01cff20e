import { TusError } from "../../errors";
import type { UploadRecord } from "../upload-record";
import type { UploadStore } from "./upload-store";

/** R2 calls shared by the writer (client bytes) and the assembler (concatenation). */

/**
 * Custom metadata key naming the upload an object was written for. It lets
 * the gateway recognise its own object when R2 did what was asked but the
 * answer was lost (a `complete` or `put` that succeeded and then failed on
 * the way back), and tell it from an object another upload put at the key.
 */
export const UPLOAD_ID_METADATA = "tus-edge-upload";

/** How the upload's object is stored: its HTTP metadata and the id of the upload that wrote it. */
export function objectOptions(record: UploadRecord): R2PutOptions & R2MultipartOptions {
  return {
    httpMetadata: { contentType: record.contentType, contentDisposition: record.contentDisposition },
    customMetadata: { [UPLOAD_ID_METADATA]: record.id },
  };
}

/** Whether `object` was written by upload `record` (or the upload with that id). */
export function isUploadsObject(object: R2Object | null, record: Pick<UploadRecord, "id"> | string): boolean {
  return object?.customMetadata?.[UPLOAD_ID_METADATA] === (typeof record === "string" ? record : record.id);
}

/**
 * Deletes the upload's object only if it is still the one this upload
 * wrote. A key without the upload id (`{filename}`, a pre-create hook's
 * key) may hold another upload's object by now (OVERWRITE_OBJECTS, or one
 * completed after this one was refused): that object is not this upload's
 * to delete. R2 deletes take no condition, so this is a check then a
 * delete; only a key that another upload overwrites in the instant between
 * them can lose its new object. Returns whether anything was deleted.
 */
export async function deleteOwnObject(bucket: R2Bucket, record: UploadRecord): Promise<boolean> {
  const existing = await r2("head", () => bucket.head(record.objectKey));
  if (!existing) return false;
  if (!isUploadsObject(existing, record)) {
    console.warn(`upload ${record.id}: the object at ${record.objectKey} was written by another upload; it is left as it is`);
    return false;
  }
  await r2("delete", () => bucket.delete(record.objectKey));
  return true;
}

/**
 * Whether the upload's whole object is already in R2: after a failed
 * completion, R2 may have completed it and only the answer was lost. An
 * object counts only if this upload wrote it and it has the upload's length
 * (R2 writes an object at once or not at all). If R2 cannot say, the answer
 * is no, and the completion is tried again later.
 */
export async function objectIsComplete(bucket: R2Bucket, record: UploadRecord): Promise<boolean> {
  try {
    const object = await bucket.head(record.objectKey);
    return isUploadsObject(object, record) && object!.size === record.length;
  } catch {
    return false;
  }
}

/**
 * Whether another upload may hold the upload's key: keys without the
 * upload's id (e.g. from {filename}) were free when the upload was created,
 * but may have been taken since. Never when the server overwrites objects.
 */
export function keyMayBeTaken(record: UploadRecord, overwriteObjects: boolean): boolean {
  return !overwriteObjects && !record.objectKey.includes(record.id);
}

/** Another object is at the upload's key: completing there is refused for good. */
export class KeyTaken extends Error {
  constructor(objectKey: string) {
    super(`another object is stored at ${objectKey}`);
  }
}

/**
 * Throws `KeyTaken` if an object that this upload did not write is at its
 * key. One this upload wrote itself (an earlier answer lost) is no
 * obstacle. After a conditional put was refused (`putRefused`), an object
 * was there: if it is gone by now, R2 is asked again later.
 */
export async function refuseOverwrite(bucket: R2Bucket, record: UploadRecord, putRefused: boolean): Promise<void> {
  const { objectKey } = record;
  const existing = await r2("head", () => bucket.head(objectKey));
  if (existing && !isUploadsObject(existing, record)) throw new KeyTaken(objectKey);
  if (putRefused && !existing) {
    console.warn(`upload ${record.id}: the object at ${objectKey} changed while the upload was being completed`);
    throw new TusError("storage-unavailable", "the object at this upload's key changed while it was being completed; retry the request", {
      retryAfterSeconds: 1,
    });
  }
}

/**
 * Puts the upload's whole object in one request. Where the key may be taken
 * (`guarded`), only if no object is there, so there is no check-then-write
 * race; a refused put throws `KeyTaken` unless the object there is the
 * upload's own.
 */
export async function putObject(
  bucket: R2Bucket,
  record: UploadRecord,
  guarded: boolean,
  sendBody: (put: (body: Uint8Array | ReadableStream) => Promise<R2Object | null>) => Promise<R2Object | null>,
): Promise<void> {
  const options = guarded ? { ...objectOptions(record), onlyIf: { etagDoesNotMatch: "*" } } : objectOptions(record);
  const written = await r2("put", () => sendBody((body) => bucket.put(record.objectKey, body, options)));
  if (written === null) await refuseOverwrite(bucket, record, true);
}

/** The upload's R2 multipart upload, created on first use and remembered in storage. */
export async function openMultipart(deps: { bucket: R2Bucket; store: UploadStore }, record: UploadRecord): Promise<R2MultipartUpload> {
  const { bucket, store } = deps;
  if (record.multipartId !== undefined) return bucket.resumeMultipartUpload(record.objectKey, record.multipartId);
  const created = await r2("createMultipartUpload", () => bucket.createMultipartUpload(record.objectKey, objectOptions(record)));
  store.setMultipartId(created.uploadId);
  record.multipartId = created.uploadId;
  return created;
}

/**
 * Hands `send` a body of `size` bytes made of `pieces`: a lone array as it is
 * (R2 takes it in one go), several as a stream of known length, written piece
 * by piece so they are never all in memory at once. R2 may answer without
 * reading the whole body (a conditional put it refused): the answer is
 * returned then, without waiting for pieces nobody will read.
 */
export async function withBody<T>(
  pieces: Iterable<Uint8Array>,
  size: number,
  send: (body: Uint8Array | ReadableStream) => Promise<T>,
): Promise<T> {
  if (Array.isArray(pieces) && pieces.length === 1) return send(pieces[0] as Uint8Array);
  const { readable, writable } = new FixedLengthStream(size);
  const writing = (async () => {
    const writer = writable.getWriter();
    for (const piece of pieces) if (piece.length) await writer.write(piece);
    await writer.close();
  })();
  const sending = send(readable);
  const [result] = await Promise.all([sending, Promise.race([writing, sending])]);
  return result;
}

/**
 * Runs one R2 operation; a failure becomes a retryable 503. The bytes the
 * operation carried are still durable or still in memory, so nothing
 * acknowledged is lost and the client resumes from the reported offset.
 */
export async function r2<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TusError) throw error;
    console.error(`R2 ${operation} failed`, error);
    throw new TusError("storage-unavailable", `the storage backend failed (${operation}); retry the request`, {
      retryAfterSeconds: 1,
    });
  }
}
