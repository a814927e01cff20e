import type { GatewayConfig } from "../config";
import type { FinishingHooks } from "../hooks/pre-finish";
import type { Telemetry } from "../observability";
import type { AlarmClock } from "./lifecycle/alarm-clock";
import type { QuotaGate } from "./quota-gate";
import type { OutboxSinks } from "./storage/outbox";
import type { UploadStore } from "./storage/upload-store";
import type { WriterDeps } from "./writing/writer-deps";
import type { WriteLock } from "./writing/write-lock";

/**
 * Everything one upload's Durable Object holds, handed as one value to the
 * modules that do its work (writing/, lifecycle/), so that none of them
 * needs the class: the class (upload-object.ts) builds it once and wires
 * the runtime's entry points to them.
 */
export interface UploadContext {
  readonly config: GatewayConfig;
  /** The upload's durable state (storage/upload-store.ts). */
  readonly store: UploadStore;
  /** One writer at a time, with take-over (writing/write-lock.ts). */
  readonly lock: WriteLock;
  /** What the writer and the endings use: the store, R2, the part buffers. */
  readonly writerDeps: WriterDeps;
  /** When the upload expires and when its alarm runs. */
  readonly clock: AlarmClock;
  /** Where the outbox's entries go: upload events, and the upload index's records. */
  readonly sinks: OutboxSinks;
  /** The pre-finish hook (webhook and/or callback), if any. */
  readonly finishingHooks: FinishingHooks;
  /** Lifecycle lines and data points. */
  readonly telemetry: Telemetry;
  /** The namespace of every upload's Durable Object: for the other uploads of a concatenation. */
  readonly uploads: DurableObjectNamespace;
  /** Quotas per subject, kept by each subject's index (src/subjects); undefined when it is not bound. */
  readonly quotaGate: QuotaGate | undefined;
}
