import { deliverEvent, MAX_DELIVERY_ATTEMPTS, retryDelayMs, type EventSinks } from "../hooks/events";
import { nextExpiry, type LifecyclePolicy } from "./lifecycle";
import { awaitsCompletion, type UploadRecord } from "./upload-record";
import type { UploadStore } from "./upload-store";

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
): number | undefined {
  const times = [nextEventDue, workDueAt, record && expiryOf(record, policy)].filter((time): time is number => time !== undefined);
  return times.length ? Math.min(...times) : undefined;
}

/**
 * When the upload expires. An unfinished upload's idle clock is stored
 * (requests move it on); a finished upload's follows from the policy, never
 * from an idle clock left behind by a request that failed at the very end.
 */
export function expiryOf(record: UploadRecord, policy: LifecyclePolicy): number | undefined {
  if (record.ended || awaitsCompletion(record)) return undefined;
  if (record.finishedAt !== undefined) return nextExpiry(record, record.finishedAt, policy);
  return record.expiresAt;
}

/**
 * Delivers the events that are due, oldest first. A failure is retried
 * later with back-off; an event is removed only once every sink took it.
 */
export async function deliverDueEvents(store: UploadStore, sinks: EventSinks, now: number): Promise<void> {
  for (const { event, attempts } of store.dueEvents(now)) {
    try {
      await deliverEvent(event, sinks);
      store.eventDelivered(event.id);
    } catch (error) {
      if (attempts + 1 >= MAX_DELIVERY_ATTEMPTS) {
        console.error(`dropping upload event ${event.id} (${event.type} of ${event.upload.id}) after ${attempts + 1} failed deliveries`, error);
        store.eventDelivered(event.id);
      } else {
        console.warn(`upload event ${event.id} not delivered (attempt ${attempts + 1}); retrying`, error);
        store.eventFailed(event.id, now + retryDelayMs(attempts + 1));
      }
    }
  }
}
