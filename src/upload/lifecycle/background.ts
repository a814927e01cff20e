import { deliverEvent, MAX_DELIVERY_ATTEMPTS, retryDelayMs, type UploadEvent } from "../../hooks/events";
import type { OutboxSinks } from "../storage/outbox";
import type { Telemetry } from "../../observability";
import { nextExpiry, type LifecyclePolicy } from "./lifecycle";
import { awaitsAssembly, awaitsCompletion, type UploadRecord } from "../upload-record";
import type { CompletionFailures, UploadStore } from "../storage/upload-store";

/**
 * Completing an upload's object is retried only after storage faults (a
 * refusal, another object at the key, is final): 5 s after the first
 * failure, doubling to at most 10 minutes, for COMPLETION_ATTEMPTS failed
 * attempts in all (about a day). Then the alarm stops trying: the upload
 * expires like an idle one, EXPIRE_AFTER_SECONDS after the last attempt,
 * unless a client's HEAD or PATCH, which tries again, completes it first.
 *
 * A final upload's assembly steps back off the same way, counted in the
 * same place, but only failures in a row: a step that commits a part shows
 * that R2 works again, so the next fault starts at 5 s (a long assembly that
 * meets a few brief faults would otherwise wait 10 minutes after each, and
 * give up on a fault count spread over days). After COMPLETION_ATTEMPTS in
 * a row it gives up like a completion: it expires the idle time after the
 * last attempt. Retrying for ever would not help: R2 aborts a multipart
 * upload left incomplete for 7 days (the bucket's lifecycle rule), after
 * which no step of it can succeed.
 */
export const COMPLETION_RETRY_FIRST_MS = 5_000;
export const COMPLETION_RETRY_MAX_MS = 10 * 60_000;
export const COMPLETION_ATTEMPTS = 150;

const NO_FAILURES: CompletionFailures = { count: 0, lastAt: undefined };

/** Delay before the next attempt after `failures` failed ones. */
export function completionRetryDelayMs(failures: number): number {
  return Math.min(COMPLETION_RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1), COMPLETION_RETRY_MAX_MS);
}

/** Whether the alarm has given up completing the upload's object. */
export function completionGivenUp(failures: CompletionFailures): boolean {
  return failures.count >= COMPLETION_ATTEMPTS;
}

/**
 * When the alarm next tries to complete the upload's object, if it does: an
 * upload that has all its bytes but no object yet, and whose retries are
 * not used up. With no failure recorded (the object was reset while
 * completing it, or an earlier version stored it), at once.
 */
export function completionRetryAt(record: UploadRecord | undefined, failures: CompletionFailures, now: number): number | undefined {
  if (!record || !awaitsCompletion(record) || completionGivenUp(failures)) return undefined;
  if (failures.lastAt === undefined) return now;
  return failures.lastAt + completionRetryDelayMs(failures.count);
}

/**
 * When the alarm next tries a final upload's assembly step after R2 failed
 * in one, if it does; undefined without a failure (the step that returned
 * says when the next is due) or once the retries are used up.
 */
export function assemblyRetryAt(record: UploadRecord | undefined, failures: CompletionFailures): number | undefined {
  if (!record || !awaitsAssembly(record) || failures.lastAt === undefined || completionGivenUp(failures)) return undefined;
  return failures.lastAt + completionRetryDelayMs(failures.count);
}

/**
 * An upload's Durable Object has one alarm for all of its background work:
 * delivering events, assembling a final upload, retrying a failed
 * completion, and expiring the upload. The alarm is set to the earliest of
 * them (`workDueAt` is the next assembly step or completion retry).
 */
export function nextAlarmAt(
  record: UploadRecord | undefined,
  nextEventDue: number | undefined,
  workDueAt: number | undefined,
  policy: LifecyclePolicy,
  completionFailures: CompletionFailures = NO_FAILURES,
): number | undefined {
  const times = [nextEventDue, workDueAt, record && expiryOf(record, policy, completionFailures)].filter(
    (time): time is number => time !== undefined,
  );
  return times.length ? Math.min(...times) : undefined;
}

/**
 * When the upload expires. An unfinished upload's idle clock is stored
 * (requests move it on); a finished upload's follows from the policy, never
 * from an idle clock left behind by a request that failed at the very end.
 * An upload whose bytes are all in does not expire while its completion is
 * retried, nor a final upload while it is assembled; once the retries are
 * used up, either expires the idle time after the last attempt.
 */
export function expiryOf(record: UploadRecord, policy: LifecyclePolicy, completionFailures = NO_FAILURES): number | undefined {
  if (record.ended) return undefined;
  if (awaitsCompletion(record) || awaitsAssembly(record)) {
    if (!completionGivenUp(completionFailures) || policy.expireAfterMs === 0) return undefined;
    return (completionFailures.lastAt ?? 0) + policy.expireAfterMs;
  }
  if (record.finishedAt !== undefined) return nextExpiry(record, record.finishedAt, policy);
  return record.expiresAt;
}

/**
 * Delivers the events that are due, oldest first. A failure is retried
 * later with back-off; an event is removed only once every sink took it.
 * Each failure is a `HookInvocationError` line (and data point).
 */
export async function deliverDueEvents(store: UploadStore, sinks: OutboxSinks, now: number, telemetry: Telemetry): Promise<void> {
  for (const { event, attempts } of store.dueEvents(now)) {
    try {
      // An event to every event sink, then its index record to the index; a progress record to the index alone.
      // The whole entry is retried if any sink failed: the index write is idempotent.
      const { index, ...upload } = event;
      if (upload.type !== "progress") await deliverEvent(upload as UploadEvent, sinks);
      if (sinks.index && index) await sinks.index(index);
      store.eventDelivered(event.id);
    } catch (error) {
      const dropped = attempts + 1 >= MAX_DELIVERY_ATTEMPTS;
      // An index progress record's failure is logged like an event's, with its type `progress`.
      telemetry.hookInvocationError(event as UploadEvent, attempts + 1, error, dropped);
      if (dropped) store.eventDelivered(event.id);
      else store.eventFailed(event.id, now + retryDelayMs(attempts + 1));
    }
  }
}
