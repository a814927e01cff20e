import { TusError } from "../../errors";
import { loadLive, touchLive } from "../access";
import type { Caller } from "../call-contract";
import type { UploadContext } from "../upload-context";
import { awaitsCompletion, toInfo, type UploadInfo, type UploadRecord } from "../upload-record";
import { completeObject, storedLastPart } from "./object-completion";
import { confirm } from "./pre-finish-gate";

/**
 * Completes the upload's object if every byte is in. If R2 fails, the
 * alarm retries, should no client come back; if the completion is refused,
 * the alarm delivers the `failed` event.
 */
export async function finishIfDue(context: UploadContext, record: UploadRecord): Promise<void> {
  if (record.length === undefined || record.offset !== record.length || record.finishedAt !== undefined || record.ended) return;
  try {
    await completeObject(context.writerDeps, record, storedLastPart(context.writerDeps, record));
  } catch (error) {
    await context.clock.scheduleAlarm();
    throw error;
  }
}

/** Loads the upload, first completing its object if all bytes are in but R2 failed last time. */
export async function loadFinished(context: UploadContext): Promise<UploadRecord> {
  const record = loadLive(context);
  if (!awaitsCompletion(record)) return record;
  await finishIfDue(context, record);
  return touchLive(context);
}

/**
 * The upload's state once any older request has let go of it (HEAD),
 * completing its object if that is due and asking the pre-finish hook again
 * if its back-off allows.
 */
export function settledState(context: UploadContext, caller: Caller): Promise<UploadInfo> {
  loadLive(context, caller);
  return context.lock.run(async () => {
    try {
      return toInfo(await confirm(context, await loadFinished(context), "retry"));
    } catch (error) {
      if (!(error instanceof TusError && error.code === "storage-unavailable")) throw error;
      // The client's part is done; answering 5xx would make it start over.
      throw new TusError("completion-pending", undefined, { retryAfterSeconds: error.details.retryAfterSeconds });
    }
  });
}
