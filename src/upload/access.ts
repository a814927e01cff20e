import { TusError } from "../errors";
import type { Caller } from "./call-contract";
import { objectTakenError, rejectionError } from "./lifecycle/lifecycle";
import type { UploadContext } from "./upload-context";
import type { UploadRecord } from "./upload-record";

/** Marks the object's own work (alarms, completion), which is not a caller's request. */
export const OWN_WORK = Symbol("own work");

/**
 * The upload, if it exists, has not ended, and is the caller's (the
 * object's own work may see any); otherwise the answer a request gets.
 */
export function loadLive(context: UploadContext, caller: Caller | typeof OWN_WORK = OWN_WORK): UploadRecord {
  const record = context.store.load();
  if (!record) throw new TusError("upload-not-found");
  // Another subject's upload is answered exactly like a missing one, so
  // its existence is not revealed.
  if (caller !== OWN_WORK && record.owner !== undefined && record.owner !== caller) throw new TusError("upload-not-found");
  const expired = record.ended === "expired" || (record.finishedAt === undefined && context.clock.isIdlePastExpiry(record));
  if (expired) throw new TusError("upload-gone", "this upload expired and its bytes were deleted");
  if (record.ended === "object-exists") throw objectTakenError();
  if (record.ended === "rejected" && record.confirmation?.state === "rejected") throw rejectionError(record.confirmation);
  if (record.ended) throw new TusError("upload-gone", "this upload was terminated");
  return record;
}

/** Restarts the idle clock after activity and re-arms the alarm (AlarmClock.touch); an upload that ended meanwhile answers as such. */
export async function touchLive(context: UploadContext, workDueAt?: number, activity = true): Promise<UploadRecord> {
  return (await context.clock.touch(workDueAt, activity)) ?? loadLive(context);
}
