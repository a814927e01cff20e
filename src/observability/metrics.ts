/**
 * Metrics: one Workers Analytics Engine data point per request and per
 * upload event, written to the optional `METRICS` binding. Without the
 * binding nothing is written. The positions below are the one place the
 * layout is defined; docs/operating.md copies this table and queries
 * it with Analytics Engine's SQL API, so a position never changes meaning.
 *
 * | position | field      | value                                                                 |
 * |----------|------------|-----------------------------------------------------------------------|
 * | blob1    | event      | `ResponseOutgoing` (a request), or an upload event (telemetry.ts)      |
 * | blob2    | method     | HTTP method; for `R2Call` the R2 operation; for `HookInvocationError` the event type (`pre-finish` for the pre-finish hook) |
 * | blob3    | status     | HTTP status as text (`"204"`); for `R2Call` `ok` or `failed`           |
 * | blob4    | error code | the TusError code (`offset-mismatch`), `delivery-failed`, `delivery-dropped`, `pre-finish-unanswered`, `pre-finish-gave-up`; empty when none |
 * | blob5    | dialect    | `tus`, or `ietf-<interop version>`; empty outside requests             |
 * | blob6    | upload id  | empty when the request names none                                     |
 * | blob7    | subject    | the token's `sub`; empty in open mode                                 |
 * | double1  | bytes      | request: its Content-Length; ChunkWriteComplete: bytes stored; UploadCreated: length; UploadFinished: size |
 * | double2  | duration   | milliseconds: the request's, or the R2 call's                         |
 * | double3  | offset     | the upload's offset after the event                                   |
 * | double4  | attempt    | HookInvocationError: which delivery attempt failed                    |
 * | index1   | subject    | the token's `sub`, or `anonymous`                                     |
 */
export interface MetricPoint {
  event: string;
  method?: string;
  status?: string;
  errorCode?: string;
  dialect?: string;
  uploadId?: string;
  subject?: string;
  bytes?: number;
  durationMs?: number;
  offset?: number;
  attempt?: number;
}

/** Analytics Engine's limit for the one index (the sampling key). */
const MAX_INDEX_BYTES = 96;

export function toDataPoint(point: MetricPoint): AnalyticsEngineDataPoint {
  return {
    blobs: [point.event, point.method ?? "", point.status ?? "", point.errorCode ?? "", point.dialect ?? "", point.uploadId ?? "", point.subject ?? ""],
    doubles: [point.bytes ?? 0, point.durationMs ?? 0, point.offset ?? 0, point.attempt ?? 0],
    indexes: [truncateUtf8(point.subject ?? "anonymous", MAX_INDEX_BYTES)],
  };
}

/** Writes data points when the binding is there; a no-op without it. */
export class MetricsWriter {
  constructor(private readonly dataset: AnalyticsEngineDataset | undefined) {}

  write(point: MetricPoint): void {
    if (!this.dataset) return;
    try {
      this.dataset.writeDataPoint(toDataPoint(point));
    } catch (error) {
      // Metrics never fail a request (e.g. past the per-invocation limit of data points).
      console.warn(JSON.stringify({ level: "warn", event: "MetricsWriteError", error: String(error) }));
    }
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return text;
  // The default (not fatal) decoder turns a character cut in half into U+FFFD, dropped here.
  return new TextDecoder().decode(bytes.slice(0, maxBytes)).replace(/\uFFFD$/, "");
}
