import { partNumberAt } from "../storage/part-plan";
import { KeyTaken, keyMayBeTaken, objectIsComplete, openMultipart, putObject, r2, refuseOverwrite, withBody } from "../storage/r2-parts";
import type { UploadRecord } from "../upload-record";
import type { WriterDeps } from "../writing/writer-deps";
import { endUpload, objectTakenError } from "./lifecycle";

/**
 * Completing an upload's R2 object once its last byte is in: its own step,
 * which the writer hands its last part to (or which takes the stored tail
 * as the last part, when a completion that failed earlier is tried again
 * with no request writing).
 */

/** The last part of an upload: what completion writes besides the parts R2 holds already. */
export interface LastPart {
  /** No part went to R2 yet (no multipart upload): the object is one `put` of these bytes. */
  readonly whole: boolean;
  /** Its size: the stored tail and the bytes in memory. */
  readonly size: number;
  /** Its bytes, in order, for a `put`. */
  pieces(): Iterable<Uint8Array>;
  /** Sends it as the multipart upload's last part and counts it. */
  send(): Promise<void>;
  /** Bytes only in memory: counted when the upload finishes, made durable (`persist`) if it does not. */
  readonly inMemory: number;
  persist(): void;
  /** Lets go of the memory, its bytes stored (`persist` first). */
  release(): void;
}

/**
 * All bytes are in: write the object. An upload that never filled a part is
 * one `put`; otherwise the last part is sent and the multipart upload
 * completed. If R2 fails, the bytes stay durable, the failure is counted,
 * and the next request for the upload (or the object's alarm, with back-off)
 * tries again. If R2 did write the object and only its answer was lost,
 * every retry would fail (the multipart upload no longer exists), so a
 * failure first looks for the upload's own, whole object. If another object
 * took the key, the upload is refused for good.
 */
export async function completeObject(deps: WriterDeps, record: UploadRecord, last: LastPart): Promise<void> {
  const { store, bucket, now } = deps;
  try {
    await writeObject(deps, record, last);
  } catch (error) {
    if (error instanceof KeyTaken) throw await refuse(deps, record, last);
    if (!(await objectIsComplete(bucket, record))) {
      last.persist();
      store.completionFailed(now());
      throw error;
    }
    console.warn(`upload ${record.id}: R2 reported a failure, but the object is whole; the answer was lost`);
  }
  store.markFinished(now(), last.inMemory);
}

/**
 * The last part as the stored tail alone: every byte of the upload is in
 * storage (its completion failed in R2 before), and no request is writing.
 */
export function storedLastPart(deps: WriterDeps, record: UploadRecord): LastPart {
  const { store } = deps;
  // Pending rows were left by a checksummed chunk that never ended (the object was reset): not part of the upload.
  store.discardPending();
  const size = store.tailSize();
  return {
    get whole() {
      return record.offset === size && record.multipartId === undefined;
    },
    size,
    pieces: () => store.tailRows(),
    async send() {
      const multipart = await openMultipart(deps, record);
      const partNumber = partNumberAt(record.offset - size, record.partSize);
      const uploaded = await r2("uploadPart", () => withBody(store.tailRows(), size, (body) => multipart.uploadPart(partNumber, body)));
      store.commitPart({ partNumber, etag: uploaded.etag, size });
    },
    inMemory: 0,
    persist() {},
    release() {},
  };
}

async function writeObject(deps: WriterDeps, record: UploadRecord, last: LastPart): Promise<void> {
  const { bucket, store } = deps;
  const guarded = keyMayBeTaken(record, deps.overwriteObjects);
  if (last.whole) {
    await putObject(bucket, record, guarded, (put) => withBody(last.pieces(), last.size, put));
    return;
  }
  // The last part first: it may be streaming already, and must not be left open.
  if (last.size > 0) await last.send();
  // `complete` takes no condition: an object stored between this check and
  // it is replaced (docs/architecture.md, "When completion fails").
  if (guarded) await refuseOverwrite(bucket, record, false);
  const multipart = await openMultipart(deps, record);
  const parts = store.parts().map(({ partNumber, etag }) => ({ partNumber, etag }));
  await r2("complete", () => multipart.complete(parts));
}

/**
 * Another object took the upload's key: it can never complete there. The
 * upload ends as refused (a `failed` event; every later request is
 * answered the same 409) and its bytes are released, the R2 multipart
 * upload aborted and the stored tail dropped, rather than kept and retried.
 * If R2 cannot abort now, the upload stays as it was (every byte counted)
 * and the refusal is made again at the next attempt. Returns the answer.
 */
async function refuse(deps: WriterDeps, record: UploadRecord, last: LastPart): Promise<Error> {
  last.persist();
  last.release();
  try {
    await endUpload(deps, record, "object-exists", false);
  } catch (error) {
    deps.store.completionFailed(deps.now());
    throw error;
  }
  console.warn(`upload ${record.id}: refused at completion: another object was stored at ${record.objectKey}; its bytes were released`);
  return objectTakenError();
}
