import { TusError } from "../../errors";
import { describeError } from "../../observability/telemetry";
import { hasQuotas } from "../../quotas";
import { quotaExceededError } from "../quota-gate";
import type { UploadContext } from "../upload-context";
import type { NewUpload, UploadRecord } from "../upload-record";

/**
 * Stores a new upload (`store`, one synchronous transaction) only once its
 * subject's quotas made room for it: the subject's index reserves the room
 * first and answers, and a refusal stores nothing. This is a second call
 * from the upload's object, to its subject's index, and only for a subject
 * with quotas: the index decides atomically, which no single upload can.
 * A deferred length is held to the room it reserved until it is declared.
 * If storing fails after all, the room is given back (and, should even
 * that fail, the subject's index gives it back itself once it finds the
 * upload missing: subjects/subject-index.ts).
 */
export async function storeWithinQuota(context: UploadContext, upload: NewUpload, store: (admitted: NewUpload) => UploadRecord): Promise<UploadRecord> {
  const { owner, quota } = upload;
  if (owner === undefined || !quota || !hasQuotas(quota)) return store(upload);
  if (!context.quotaGate) {
    throw new TusError("internal", "quotas are configured (or a token claims them) but the gateway has no SUBJECTS binding to keep them");
  }
  const request = { uploadId: upload.id, length: upload.length, sizeLimit: upload.sizeLimit ?? Number.MAX_SAFE_INTEGER, limits: quota };
  const answer = await context.quotaGate.reserve(owner, request).catch((error: unknown) => {
    // Nothing is stored without the quota's answer: a 503 the client retries, as for a storage fault.
    context.telemetry.subjectIndexEvent(
      "error",
      "QuotaCheckFailed",
      { subject: owner, uploadId: upload.id, error: describeError(error) },
      { uploadId: upload.id, errorCode: "quota-check-failed" },
    );
    throw new TusError("storage-unavailable", "the subject's quota could not be checked (its index did not answer), so nothing was created; retry the request", {
      retryAfterSeconds: 1,
    });
  });
  if (!answer.granted) throw quotaExceededError(answer);
  const admitted = upload.length === undefined && answer.bytes > 0 ? { ...upload, sizeLimit: Math.min(upload.sizeLimit ?? answer.bytes, answer.bytes) } : upload;
  try {
    return store(admitted);
  } catch (error) {
    await context.quotaGate.release(owner, upload.id).catch(() => undefined);
    throw error;
  }
}
