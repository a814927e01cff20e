import { TusError } from "../../errors";
import { loadLive } from "../access";
import type { UploadContext } from "../upload-context";
import { awaitsConfirmation, type UploadRecord } from "../upload-record";
import { confirmationRetryAt, confirmFinish } from "./finish-confirmation";
import { notifyFinals } from "./peers";

/**
 * The gate an upload whose object is complete passes before it is finished
 * for anyone: the pre-finish hook's decision (finish-confirmation.ts).
 *
 * Asks the hook, if the upload awaits a decision; returns the upload
 * decided, or throws what the request answers while it is not: the
 * rejection; for the request that completed the upload (`completing`,
 * always asked at once) 503 with Retry-After and the offset; for a later
 * request (`retry`, asked only when the back-off allows) 423 like a pending
 * completion, which tus clients keep retrying. The object's own work
 * (`background`) throws nothing but a rejection's R2 faults: the alarm
 * tries again.
 */
export async function confirm(
  context: UploadContext,
  record: UploadRecord,
  when: "completing" | "retry",
  caller: "request" | "background" = "request",
): Promise<UploadRecord> {
  if (!awaitsConfirmation(record)) return record;
  const { config, clock } = context;
  let decided: UploadRecord = record;
  const now = Date.now();
  if (when === "completing" || (confirmationRetryAt(record, config, now) ?? Infinity) <= now) {
    decided = await confirmFinish(
      { ...context.writerDeps, hooks: context.finishingHooks, policy: config, telemetry: context.telemetry, now: Date.now },
      record,
    );
  }
  await clock.scheduleAlarm();
  if (decided.ended === "rejected") return caller === "background" ? decided : loadLive(context);
  if (!awaitsConfirmation(decided)) {
    if (decided.concat?.kind === "partial") await notifyFinals(context, decided.concat.finals);
    return decided;
  }
  if (caller === "background") return decided;
  const nextAt = confirmationRetryAt(decided, config, Date.now()) ?? Date.now();
  const retryAfterSeconds = Math.max(1, Math.ceil((nextAt - Date.now()) / 1000));
  if (when === "completing") throw new TusError("finish-unconfirmed", undefined, { retryAfterSeconds, offset: decided.offset });
  throw new TusError(
    "completion-pending",
    "every byte of this upload is stored and its object is complete, but the server's pre-finish hook has not decided about it yet; retry in a moment",
    { retryAfterSeconds },
  );
}
