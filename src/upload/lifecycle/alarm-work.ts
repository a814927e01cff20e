import type { UploadContext } from "../upload-context";
import { awaitsAssembly, awaitsCompletion, awaitsConfirmation, type UploadRecord } from "../upload-record";
import { assemble } from "./assembly";
import { assemblyRetryAt, completionGivenUp, completionRetryAt, deliverDueEvents } from "./background";
import { loadFinished } from "./completion";
import { confirmationRetryAt } from "./finish-confirmation";
import { endUpload } from "./lifecycle";
import { confirm } from "./pre-finish-gate";

/**
 * After other background work failed in R2 (ending an expired or rejected
 * upload), the alarm tries again this much later; assembly steps and
 * completions back off instead, see background.ts.
 */
const STORAGE_RETRY_MS = 5000;

/**
 * The upload's alarm: delivers the outbox, then does what is due on a live
 * upload (an assembly step, asking the pre-finish hook again, a completion
 * that failed in R2, expiring it when idle), then sets the next alarm.
 */
export async function runAlarm(context: UploadContext): Promise<void> {
  const { store, sinks, telemetry, clock } = context;
  clock.alarmRan();
  await deliverDueEvents(store, sinks, Date.now(), telemetry);
  let workDueAt: number | undefined;
  const record = store.load();
  try {
    if (record && !record.ended) workDueAt = await backgroundWork(context, record);
  } catch (error) {
    // Only R2 faults get here (the work's own failures are handled in it): try again soon.
    console.error(`upload ${record?.id}: background work failed; retrying in ${STORAGE_RETRY_MS} ms`, error);
    workDueAt = Date.now() + STORAGE_RETRY_MS;
  }
  await clock.scheduleAlarm(workDueAt);
}

/** The alarm's work on a live upload; returns when more is due, if any. */
async function backgroundWork(context: UploadContext, record: UploadRecord): Promise<number | undefined> {
  const { store, lock, config, clock } = context;
  const assemblyFailures = awaitsAssembly(record) ? store.completionFailures() : undefined;
  if (assemblyFailures && !completionGivenUp(assemblyFailures)) {
    // An alarm for an event, or a partial's notice, does not cut a back-off short.
    const retryAt = assemblyRetryAt(record, assemblyFailures);
    if (retryAt !== undefined && retryAt > Date.now()) return retryAt;
    // Under the lock, so a DELETE cannot interleave with a step; a HEAD or
    // DELETE that arrives waits only for the part in flight.
    return lock.run((holder) => assemble(context, holder));
  }
  if (awaitsConfirmation(record)) {
    if ((confirmationRetryAt(record, config, Date.now()) ?? Infinity) <= Date.now()) {
      await lock.run(async () => {
        const current = store.load();
        if (current && awaitsConfirmation(current)) await confirm(context, current, "retry", "background");
      });
    }
    return undefined;
  }
  const failures = store.completionFailures();
  if (awaitsCompletion(record) && !completionGivenUp(failures)) {
    // R2 failed while completing the object and no client came back since.
    if ((completionRetryAt(record, failures, Date.now()) ?? Infinity) > Date.now()) return undefined;
    try {
      await lock.run(() => loadFinished(context));
    } catch (error) {
      // Refused (another object took the key): final, and logged where it was decided.
      if (store.load()?.ended) return undefined;
      // Counted by the writer; scheduleAlarm sets the next try, later each
      // time, or none once they are used up.
      const after = store.completionFailures();
      const next = completionGivenUp(after) ? "no more retries by the alarm; it expires unless a client completes it" : "retrying later";
      console.error(`upload ${record.id}: completing its object failed (${after.count} failed attempts; ${next})`, error);
    }
    return undefined;
  }
  if (clock.isIdlePastExpiry(record)) {
    // Taking the lock stops a stalled PATCH; one still receiving bytes
    // keeps moving the expiry on, so it is not idle.
    await lock.run(async () => {
      const current = store.load();
      if (current && !current.ended && clock.isIdlePastExpiry(current)) {
        await endUpload(context.writerDeps, current, "expired", true);
      }
    });
    await deliverDueEvents(store, context.sinks, Date.now(), context.telemetry);
  } else if (!awaitsCompletion(record) && record.finishedAt === undefined && record.expiresAt !== undefined && record.expiresAt <= Date.now()) {
    // Bytes arrived after the stored clock was last moved: catch it up.
    store.setExpiry(clock.caughtUp({ ...record, expiresAt: record.expiresAt }));
  }
  return undefined;
}
