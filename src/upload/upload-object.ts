import { DurableObject } from "cloudflare:workers";
import { configFromEnv, type GatewayConfig } from "../config";
import { TusError } from "../errors";
import { hasSinks, type UploadEvent } from "../hooks/events";
import { hasFinishingHook, type FinishingCallback } from "../hooks/pre-finish";
import { inspectionOf, type UploadInspection } from "./inspection";
import { Logger, MetricsWriter, Telemetry, timedBucket } from "../observability";
import { loadLive } from "./access";
import { readWriteCall, settle, type Caller, type Outcome } from "./call-contract";
import { AlarmClock } from "./lifecycle/alarm-clock";
import { runAlarm } from "./lifecycle/alarm-work";
import { expiryOf } from "./lifecycle/background";
import { settledState } from "./lifecycle/completion";
import { attachFinal, createFinal, partialFinished, planFinal } from "./lifecycle/concatenation";
import { createUpload } from "./lifecycle/creation";
import { terminate } from "./lifecycle/termination";
import type { QuotaGate } from "./quota-gate";
import type { IndexSink, OutboxSinks } from "./storage/outbox";
import { UploadStore } from "./storage/upload-store";
import type { UploadContext } from "./upload-context";
import { toInfo, type NewUpload, type PartialSource, type UploadInfo, type UploadRecord } from "./upload-record";
import { append } from "./writing/append";
import { isolateBufferBudget, WriteBuffers } from "./writing/write-buffers";
import { WriteLock } from "./writing/write-lock";

export interface UploadObjectEnv {
  BUCKET: R2Bucket;
  /** Also plain, as a Worker's hand-written env declares it (see GatewayEnv). */
  UPLOADS: DurableObjectNamespace | DurableObjectNamespace<UploadObject>;
  /** Optional Queue producer binding for upload events. */
  EVENTS?: Queue;
  /** Optional Workers Analytics Engine dataset for metrics. */
  METRICS?: AnalyticsEngineDataset;
}

/**
 * One Durable Object per upload. It owns the upload's state and serialises
 * the requests that change it. This class only wires: it builds the
 * upload's context once (upload-context.ts) and hands each runtime entry
 * point to the module of its idea — writing/append.ts for writes,
 * lifecycle/ for creation, concatenation, completion, termination and the
 * alarm's work — each of which receives the context, never the class.
 *
 * Writes arrive through `fetch` because the request body must stream in
 * (and a broken connection must surface as a failed read, so the bytes that
 * did arrive are kept); everything else is an RPC method. The call contract
 * is call-contract.ts.
 *
 * `createTusGateway` subclasses it to add in-process callbacks and
 * configuration; the default Worker exports it as is.
 */
export class UploadObject extends DurableObject<UploadObjectEnv> {
  private readonly context: UploadContext;

  constructor(ctx: DurableObjectState, env: UploadObjectEnv) {
    super(ctx, env);
    const config = this.configure(env);
    const telemetry = new Telemetry(new Logger(config.logLevel), new MetricsWriter(this.metricsOf(env)));
    const sinks: OutboxSinks = {
      queue: env.EVENTS,
      webhookUrl: config.webhookUrl,
      webhookSecret: config.webhookSecret,
      callback: this.eventCallback(),
      index: this.indexSinkOf(env),
    };
    const finishingHooks = {
      url: config.preFinishHookUrl,
      callback: this.finishingCallback(),
      secret: config.webhookSecret,
      timeoutMs: config.preFinishHookTimeoutMs,
    };
    const store = new UploadStore(
      ctx.storage,
      hasSinks(sinks) || sinks.index !== undefined,
      (type, record) => telemetry.uploadEvent(type, record),
      sinks.index !== undefined,
      hasFinishingHook(finishingHooks),
    );
    const clock = new AlarmClock(ctx.storage, store, config, sinks.index !== undefined);
    this.context = {
      config,
      store,
      lock: new WriteLock(config.lockTimeoutMs),
      clock,
      sinks,
      finishingHooks,
      telemetry,
      uploads: env.UPLOADS as DurableObjectNamespace,
      quotaGate: this.quotaGateOf(env),
      writerDeps: {
        store,
        bucket: timedBucket(this.bucketOf(env), telemetry),
        partBufferLimit: config.partBufferLimit,
        overwriteObjects: config.overwriteObjects,
        now: Date.now,
        onBytes: () => {
          clock.keepAlive();
          clock.deliverProgressSoon();
        },
        buffers: new WriteBuffers(isolateBufferBudget(config.isolateBufferBudget)),
      },
    };
  }

  /** The configuration; `createTusGateway` overrides this with its options. */
  protected configure(env: UploadObjectEnv): GatewayConfig {
    return configFromEnv(env);
  }

  /** The R2 bucket; `createTusGateway` may wrap it (instrumentation, fault injection). */
  protected bucketOf(env: UploadObjectEnv): R2Bucket {
    return env.BUCKET;
  }

  /** The metrics dataset, if bound; `createTusGateway` may wrap it. */
  protected metricsOf(env: UploadObjectEnv): AnalyticsEngineDataset | undefined {
    return env.METRICS;
  }

  /**
   * Where the upload index's records go, if the index is on;
   * `createTusGateway` wires in the index (src/listing), which this layer
   * does not import.
   */
  protected indexSinkOf(_env: UploadObjectEnv): IndexSink | undefined {
    return undefined;
  }

  /**
   * Where the subjects' quotas are kept, if anywhere; `createTusGateway`
   * wires in each subject's index (src/subjects), which this layer does not import.
   */
  protected quotaGateOf(_env: UploadObjectEnv): QuotaGate | undefined {
    return undefined;
  }

  /** In-process event handler; `createTusGateway` overrides this with its callbacks. */
  protected eventCallback(): ((event: UploadEvent) => Promise<void> | void) | undefined {
    return undefined;
  }

  /** In-process pre-finish hook; `createTusGateway` overrides this with `onUploadFinishing`. */
  protected finishingCallback(): FinishingCallback | undefined {
    return undefined;
  }

  /** Creates the upload, without bytes (a creation with a body is a write: `fetch`). */
  async create(upload: NewUpload): Promise<Outcome<UploadInfo>> {
    return settle(async () => toInfo(await createUpload(this.context, upload)));
  }

  /** The first of a final POST's two calls, on the final's object before it exists (lifecycle/concatenation.ts). */
  async planFinal(partialIds: string[], caller: Caller): Promise<Outcome<{ partials: PartialSource[]; partialsFinished: boolean }>> {
    return settle(() => planFinal(this.context, partialIds, caller));
  }

  /** The second call of a final POST: creates the final, claims its partials, assembles what it can at once. */
  async createFinal(upload: NewUpload, caller: Caller, budgetMs: number): Promise<Outcome<UploadInfo>> {
    return settle(() => createFinal(this.context, upload, caller, budgetMs));
  }

  /** The upload's state, after any older request has let go of it (HEAD). */
  async info(caller: Caller): Promise<Outcome<UploadInfo>> {
    return settle(() => settledState(this.context, caller));
  }

  /**
   * Everything stored about the upload, for an administrator (docs/listing.md,
   * "Listing and administration"): read only, any owner, ended uploads too.
   */
  async inspect(): Promise<Outcome<UploadInspection>> {
    return settle(async () => {
      const { store, config } = this.context;
      const record = store.load();
      if (!record) throw new TusError("upload-not-found");
      return inspectionOf(record, {
        parts: store.parts(),
        tailBytes: record.ended ? 0 : store.tailSize(),
        expiresAt: expiryOf(record, config, store.completionFailures()),
        undelivered: store.dueEvents(Infinity).map(({ event, attempts }) => ({ type: event.type, attempts, occurredAt: event.occurredAt })),
      });
    });
  }

  /** The upload's state without waiting for writers: for downloads and concatenation. */
  async peek(caller: Caller): Promise<Outcome<UploadInfo>> {
    return settle(async () => toInfo(loadLive(this.context, caller)));
  }

  /** DELETE: stops any PATCH in flight, then removes the upload and its bytes. */
  async terminate(caller: Caller): Promise<Outcome<null>> {
    return settle(() => terminate(this.context, caller));
  }

  /** An administrator's DELETE: the same as the owner's, whoever owns the upload (the Worker checked the scope). */
  async terminateAny(): Promise<Outcome<null>> {
    return this.terminate(this.context.store.load()?.owner);
  }

  /** A final upload claims this partial upload (lifecycle/concatenation.ts). */
  async attachFinal(finalId: string, caller: Caller): Promise<Outcome<null>> {
    return settle(() => attachFinal(this.context, finalId, caller));
  }

  /** A partial upload of this final one finished: assemble now rather than at the next poll. */
  async partialFinished(): Promise<void> {
    await partialFinished(this.context);
  }

  /**
   * A write (call-contract.ts): the request's body appended to the upload,
   * which the same call may create first. Either way one call: the client's
   * request crosses into the object once, and what it asks (append, then
   * complete; create with these bytes) is decided here under the lock.
   */
  override async fetch(request: Request): Promise<Response> {
    const { create, append: call } = readWriteCall(request);
    let created: UploadRecord | undefined;
    const outcome = await settle(async () => {
      if (create) created = await createUpload(this.context, create);
      loadLive(this.context, call.caller);
      return this.context.lock.run((holder) => append(this.context, call, request.body, holder));
    });
    const record = outcome.ok ? undefined : this.context.store.load();
    if (!outcome.ok && record && (created || (outcome.error.code === "upload-too-large" && !record.ended))) {
      // The answer names the upload this request created (Location), and the limits of one that lives on.
      outcome.error.details.upload = { id: record.id, expiresAt: record.ended ? undefined : record.expiresAt, created: created !== undefined };
    }
    return Response.json(outcome);
  }

  override async alarm(): Promise<void> {
    await runAlarm(this.context);
  }
}
