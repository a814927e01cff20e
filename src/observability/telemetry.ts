import type { UploadEvent, UploadEventType } from "../hooks/events";
import type { LogFields, Logger, LogLevel } from "./logger";
import type { MetricPoint, MetricsWriter } from "./metrics";

/**
 * Upload events as tusd names them in its logs, so that operators who know
 * tusd find the same names. `UploadExpired`, `UploadFailed` (another
 * object took the upload's key) and `UploadRejected` (by the pre-finish
 * hook) have no tusd counterpart.
 */
export const UPLOAD_EVENT_NAMES: Readonly<Record<string, string>> = {
  created: "UploadCreated",
  finished: "UploadFinished",
  terminated: "UploadTerminated",
  expired: "UploadExpired",
  failed: "UploadFailed",
  rejected: "UploadRejected",
};

/** Events that are an upload's failure, logged as warnings. */
const FAILURES: ReadonlySet<string> = new Set(["failed", "rejected"]);

export function uploadEventName(type: UploadEventType): string {
  return UPLOAD_EVENT_NAMES[type] ?? `Upload${type.charAt(0).toUpperCase()}${type.slice(1)}`;
}

/** The upload as an event line shows it. */
export interface ObservedUpload {
  id: string;
  owner?: string | undefined;
  length?: number | undefined;
  offset: number;
}

/** What the request line says about one request (see request-observation.ts). */
export interface RequestLine {
  method: string;
  /** Without its query string, which may carry `access_token`. */
  path: string;
  status: number;
  dialect: string;
  uploadId: string | undefined;
  subject: string | undefined;
  /** The request's Content-Length; a body without one is counted by its ChunkWriteComplete line. */
  bytesReceived: number | undefined;
  durationMs: number;
  errorCode: string | undefined;
  /** A 401's or 403's cause in words (request-observation.ts); never the token. */
  reason: string | undefined;
}

/**
 * Logs and metrics, each event written to both: a log line (by level) and a
 * data point (when the METRICS binding is there). The Worker makes one per
 * request, an upload's Durable Object one for its lifetime.
 */
export class Telemetry {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: MetricsWriter,
  ) {}

  /** The one line per request (`ResponseOutgoing`, as tusd names it); server faults at error level. */
  request(line: RequestLine): void {
    const level: LogLevel = line.status >= 500 ? "error" : "info";
    this.logger.write(level, "ResponseOutgoing", { ...line });
    this.metrics.write({
      event: "ResponseOutgoing",
      method: line.method,
      status: String(line.status),
      errorCode: line.errorCode,
      dialect: line.dialect,
      uploadId: line.uploadId,
      subject: line.subject,
      bytes: line.bytesReceived,
      durationMs: line.durationMs,
    });
  }

  /** An upload's lifecycle event, at the moment its Durable Object records it. */
  uploadEvent(type: UploadEventType, upload: ObservedUpload): void {
    const event = uploadEventName(type);
    this.logger.write(FAILURES.has(type) ? "warn" : "info", event, uploadFields(upload));
    this.metrics.write({
      event,
      uploadId: upload.id,
      subject: upload.owner,
      bytes: type === "created" ? upload.length : upload.offset,
      offset: upload.offset,
    });
  }

  /** The end of an append (PATCH): the bytes it stored and the offset it left. */
  chunkWritten(upload: ObservedUpload, bytes: number): void {
    this.logger.write("info", "ChunkWriteComplete", { ...uploadFields(upload), bytesWritten: bytes });
    this.metrics.write({ event: "ChunkWriteComplete", uploadId: upload.id, subject: upload.owner, bytes, offset: upload.offset });
  }

  /**
   * An event delivery (Queue, webhook, callback, upload index) failed;
   * `dropped` when no attempt is left. The outbox also holds the index's
   * progress records, whose type is not an UploadEventType.
   */
  hookInvocationError(event: Pick<UploadEvent, "id" | "upload"> & { type: string }, attempt: number, error: unknown, dropped: boolean): void {
    this.hookFailed({
      uploadId: event.upload.id,
      subject: event.upload.subject,
      eventId: event.id,
      eventType: event.type,
      attempt,
      errorCode: dropped ? "delivery-dropped" : "delivery-failed",
      error,
      final: dropped,
    });
  }

  /**
   * The pre-finish hook gave no decision (attempt `attempt` for the upload):
   * a `HookInvocationError` like an event delivery's, with the event type
   * `pre-finish`; `gaveUp` when the fallback rule decided instead.
   */
  preFinishHookFailed(upload: ObservedUpload, attempt: number, error: unknown, gaveUp: boolean): void {
    this.hookFailed({
      uploadId: upload.id,
      subject: upload.owner,
      eventType: "pre-finish",
      attempt,
      errorCode: gaveUp ? "pre-finish-gave-up" : "pre-finish-unanswered",
      error,
      final: gaveUp,
    });
  }

  /** The one `HookInvocationError` line and data point; at error level when nothing will try again. */
  private hookFailed(failure: {
    uploadId: string;
    subject: string | undefined;
    eventId?: string;
    eventType: string;
    attempt: number;
    errorCode: string;
    error: unknown;
    final: boolean;
  }): void {
    const { uploadId, subject, eventId, eventType, attempt, errorCode, error, final } = failure;
    this.logger.write(final ? "error" : "warn", "HookInvocationError", { uploadId, subject, eventId, eventType, attempt, errorCode, error: describeError(error) });
    this.metrics.write({ event: "HookInvocationError", method: eventType, errorCode, uploadId, subject, attempt });
  }

  /**
   * What a subject's index (src/subjects) did that an operator must be able
   * to see: a quota's refusal (`QuotaExceeded`), a reservation given back,
   * a failed or dropped write to administration's D1 copy; at debug level,
   * each record applied and each batch written. A data point too, except
   * for debug lines (one per record would cost more than it tells).
   */
  subjectIndexEvent(
    level: LogLevel,
    event: string,
    fields: LogFields & { subject: string },
    point: Omit<MetricPoint, "event" | "subject"> = {},
  ): void {
    this.logger.write(level, event, fields);
    if (level !== "debug") this.metrics.write({ event, subject: fields.subject, ...point });
  }

  /** One R2 call and how long it took (see timed-bucket.ts); logged at debug level only. */
  r2Call(operation: string, durationMs: number, ok: boolean): void {
    this.logger.write("debug", "R2Call", { operation, durationMs, ok });
    this.metrics.write({ event: "R2Call", method: operation, status: ok ? "ok" : "failed", durationMs });
  }
}

function uploadFields(upload: ObservedUpload): LogFields {
  return { uploadId: upload.id, subject: upload.owner, offset: upload.offset, length: upload.length };
}

/**
 * An error's message for a log line, with URLs cut out: a webhook's URL may
 * carry a secret in its query, and a fetch failure may quote it.
 */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi, "<url>").slice(0, 500);
}
