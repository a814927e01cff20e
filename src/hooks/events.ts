import { isRedirect, postToHook, redirectRefusal } from "./hook-request";
import { SIGNATURE_HEADER, signatureHeader } from "./signature";

/**
 * Upload events, for deployments (Queue, webhook) and for code that mounts
 * the gateway (callbacks). Each has a unique id: delivery is at least once,
 * so consumers de-duplicate by it.
 */
export type UploadEventType = "created" | "finished" | "terminated" | "expired" | "failed" | "rejected";

/**
 * Why an upload failed (`failed` events). `object-exists`: another object
 * was stored at the upload's key before its object could be completed, and
 * the server does not overwrite; the upload ended and its bytes were released.
 */
export type UploadFailureReason = "object-exists";

export interface UploadEvent {
  /** Unique per event; the same event delivered twice has the same id. */
  id: string;
  type: UploadEventType;
  /** ISO 8601. */
  occurredAt: string;
  /** Only on `failed`: why. */
  reason?: UploadFailureReason;
  /** Only on `rejected`: the pre-finish hook's status and message. */
  rejection?: { status: number; message: string };
  upload: {
    id: string;
    objectKey: string;
    /** Bytes received; for `finished`, the object's size. */
    size: number;
    length: number | undefined;
    /** Metadata as the client sent it (tus: Base64 values). */
    metadata: Record<string, string>;
    /** The token subject that owns the upload; undefined in open mode. */
    subject: string | undefined;
  };
}

/** Where events go. Every configured sink gets every event. */
export interface EventSinks {
  queue: Queue | undefined;
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  callback: ((event: UploadEvent) => Promise<void> | void) | undefined;
}

export function hasSinks(sinks: EventSinks): boolean {
  return Boolean(sinks.queue || sinks.webhookUrl || sinks.callback);
}

const WEBHOOK_TIMEOUT_MS = 10_000;

/** Delivers one event to every sink. Throws if any sink failed, so the event is retried. */
export async function deliverEvent(event: UploadEvent, sinks: EventSinks): Promise<void> {
  const body = JSON.stringify(event);
  if (sinks.queue) await sinks.queue.send(event, { contentType: "json" });
  if (sinks.webhookUrl) {
    const headers: Record<string, string> = { "Content-Type": "application/json", "Tus-Edge-Event-Id": event.id };
    // Signed at each attempt: a retry an hour later carries a fresh time, not a stale one.
    if (sinks.webhookSecret) headers[SIGNATURE_HEADER] = await signatureHeader(sinks.webhookSecret, body, Math.floor(Date.now() / 1000));
    const response = await postToHook(sinks.webhookUrl, { headers, body, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
    // Only the status is an answer: the body is discarded unread, whatever its size.
    await response.body?.cancel();
    if (isRedirect(response)) throw new Error(redirectRefusal("webhook", response));
    if (!response.ok) throw new Error(`webhook answered ${response.status}`);
  }
  if (sinks.callback) await sinks.callback(event);
}

/** Retry delay after `attempts` failures: 1 s doubling to at most an hour. */
export function retryDelayMs(attempts: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempts - 1), 60 * 60 * 1000);
}

/** After this many failures (about two days of hourly retries) an event is dropped, loudly. */
export const MAX_DELIVERY_ATTEMPTS = 60;
