import { TusError } from "../errors";
import type { UploadRecord } from "./upload-record";
import type { UploadStore } from "./upload-store";

/** R2 calls shared by the writer (client bytes) and the assembler (concatenation). */

export function httpMetadataOf(record: UploadRecord): R2HTTPMetadata {
  return { contentType: record.contentType, contentDisposition: record.contentDisposition };
}

/** The upload's R2 multipart upload, created on first use and remembered in storage. */
export async function openMultipart(deps: { bucket: R2Bucket; store: UploadStore }, record: UploadRecord): Promise<R2MultipartUpload> {
  const { bucket, store } = deps;
  if (record.multipartId !== undefined) return bucket.resumeMultipartUpload(record.objectKey, record.multipartId);
  const created = await r2("createMultipartUpload", () =>
    bucket.createMultipartUpload(record.objectKey, { httpMetadata: httpMetadataOf(record) }),
  );
  store.setMultipartId(created.uploadId);
  record.multipartId = created.uploadId;
  return created;
}

/**
 * Hands `send` a body of `size` bytes made of `pieces`: a lone array as it is
 * (R2 takes it in one go), several as a stream of known length, written piece
 * by piece so they are never all in memory at once.
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
  const [result] = await Promise.all([send(readable), writing]);
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
