import { DurableObject } from "cloudflare:workers";
import { configFromEnv, type GatewayConfig } from "../config";
import { deserializeError, TusError } from "../errors";
import { hasSinks, type EventSinks, type UploadEvent } from "../hooks/events";
import { hasFinishingHook, type FinishingCallback, type FinishingHooks } from "../hooks/pre-finish";
import { Logger, MetricsWriter, Telemetry, timedBucket } from "../observability";
import { assemblyRetryAt, completionGivenUp, completionRetryAt, deliverDueEvents, expiryOf, nextAlarmAt } from "./lifecycle/background";
import { readWriteCall, settle, type AppendCall, type Caller, type Outcome } from "./call-contract";
import { assembleStep, type PartialState } from "./lifecycle/concat-assembler";
import { confirmationRetryAt, confirmFinish } from "./lifecycle/finish-confirmation";
import { IdleClock } from "./lifecycle/idle-clock";
import { endUpload, nextExpiry, objectTakenError, rejectionError } from "./lifecycle/lifecycle";
import { partSizeForChunk } from "./storage/part-plan";
import {
  awaitsAssembly,
  awaitsCompletion,
  awaitsConfirmation,
  checkAppend,
  replayFinished,
  sizeLimitOf,
  toInfo,
  type NewUpload,
  type PartialSource,
  type UploadInfo,
  type UploadRecord,
} from "./upload-record";
import { inspectionOf, type UploadInspection } from "../listing/inspection";
import { PROGRESS_INTERVAL_MS, UploadStore } from "./storage/upload-store";
import { isRefusedBody, UploadWriter, type BodyEnding, type WriterDeps } from "./writing/upload-writer";
import { isolateBufferBudget, WriteBuffers } from "./writing/write-buffers";
import { WriteLock, type LockHolder } from "./writing/write-lock";
import { uploadObjectId } from "./upload-id";

export interface UploadObjectEnv {
  BUCKET: R2Bucket;
  /** Also plain, as a Worker's hand-written env declares it (see GatewayEnv). */
  UPLOADS: DurableObjectNamespace | DurableObjectNamespace<UploadObject>;
  /** Optional Queue producer binding for upload events. */
  EVENTS?: Queue;
  /** Optional D1 database of the upload index (README, "Listing and administration"). */
  INDEX?: D1Database;
  /** Optional Workers Analytics Engine dataset for metrics. */
  METRICS?: AnalyticsEngineDataset;
}

/** Marks the object's own work (alarms, completion), which is not a caller's request. */
const OWN_WORK = Symbol("own work");
/** A final upload waiting for partials polls this often, in case a partial's notice was lost. */
const PARTIAL_POLL_MS = 30_000;
/**
 * Wall time one assembly step may take before the next alarm continues.
 * Short, because locally every Durable Object shares one runtime thread and a
 * step holds up other uploads' requests while it streams.
 */
const ASSEMBLY_STEP_MS = 2000;
/**
 * After other background work failed in R2 (ending an expired or rejected
 * upload), the alarm tries again this much later; assembly steps and
 * completions back off instead, see background.ts.
 */
const STORAGE_RETRY_MS = 5000;

/**
 * One Durable Object per upload. It owns the upload's state and serialises
 * the requests that change it; the rules live in the upload layer's modules,
 * this class only wires runtime entry points to them.
 *
 * Appends arrive through `fetch` because the request body must stream in
 * (and a broken connection must surface as a failed read, so the bytes that
 * did arrive are kept); everything else is an RPC method. The alarm does the
 * background work: delivering events, assembling final uploads, expiring
 * idle uploads.
 *
 * `createTusGateway` subclasses it to add in-process callbacks and
 * configuration; the default Worker exports it as is.
 */
export class UploadObject extends DurableObject<UploadObjectEnv> {
  private readonly config: GatewayConfig;
  private readonly store: UploadStore;
  private readonly lock: WriteLock;
  private readonly writerDeps: WriterDeps;
  private readonly sinks: EventSinks;
  /** The pre-finish hook (webhook and/or callback), if any: it decides about each upload whose object is complete. */
  private readonly finishingHooks: FinishingHooks;
  /** Lifecycle lines and data points (observability/): UploadCreated, ChunkWriteComplete, R2 latency … */
  private readonly telemetry: Telemetry;
  /** The idle clock: when the stored expiry moves, and the activity not stored yet (lifecycle/idle-clock.ts). */
  private readonly idleClock: IdleClock;
  /** The alarm this instance set, if any; "unknown" until it sets or clears one. */
  private alarmAt: number | undefined | "unknown" = "unknown";
  /** When a PATCH in flight last looked for progress to deliver (`deliverProgressSoon`). */
  private progressCheckedAt = 0;

  constructor(ctx: DurableObjectState, env: UploadObjectEnv) {
    super(ctx, env);
    this.config = this.configure(env);
    this.idleClock = new IdleClock(this.config.expireAfterMs);
    this.telemetry = new Telemetry(new Logger(this.config.logLevel), new MetricsWriter(this.metricsOf(env)));
    this.sinks = {
      queue: env.EVENTS,
      webhookUrl: this.config.webhookUrl,
      webhookSecret: this.config.webhookSecret,
      callback: this.eventCallback(),
      index: env.INDEX,
    };
    this.finishingHooks = {
      url: this.config.preFinishHookUrl,
      callback: this.finishingCallback(),
      secret: this.config.webhookSecret,
      timeoutMs: this.config.preFinishHookTimeoutMs,
    };
    this.store = new UploadStore(
      ctx.storage,
      hasSinks(this.sinks),
      (type, record) => this.telemetry.uploadEvent(type, record),
      env.INDEX !== undefined,
      hasFinishingHook(this.finishingHooks),
    );
    this.lock = new WriteLock(this.config.lockTimeoutMs);
    this.writerDeps = {
      store: this.store,
      bucket: timedBucket(this.bucketOf(env), this.telemetry),
      partBufferLimit: this.config.partBufferLimit,
      overwriteObjects: this.config.overwriteObjects,
      now: Date.now,
      onBytes: () => {
        this.keepAlive();
        this.deliverProgressSoon();
      },
      buffers: new WriteBuffers(isolateBufferBudget(this.config.isolateBufferBudget)),
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
    return settle(async () => toInfo(await this.createUpload(upload)));
  }

  private async createUpload(upload: NewUpload): Promise<UploadRecord> {
    if (this.store.load()) throw new Error(`upload ${upload.id} already exists`);
    // The first expiry is stored with the upload's row: a row written less than setting it after.
    const record = this.store.create(upload, nextExpiry(upload, Date.now(), this.config));
    // An upload of length 0 is complete the moment it exists.
    if (record.concat?.kind !== "final") {
      await this.finishIfDue(record);
      await this.lock.run(() => this.confirm(this.store.load()!, "completing"));
    }
    // A final upload is assembled once its partials are claimed (`createFinal`);
    // should that call never come, the alarm starts it after a poll interval.
    return this.touch(record.concat?.kind === "final" ? Date.now() + PARTIAL_POLL_MS : undefined);
  }

  /**
   * Concatenation, the first of a final POST's two calls, made to the final
   * upload's object before the final exists (the pre-create hook, which runs
   * in the Worker, is told the final's length between the two): checks each
   * partial (it exists, is the caller's, is partial, has a length). Writes nothing.
   */
  async planFinal(partialIds: string[], caller: Caller): Promise<Outcome<{ partials: PartialSource[]; partialsFinished: boolean }>> {
    return settle(async () => {
      const partials: PartialSource[] = [];
      let partialsFinished = true;
      for (const id of partialIds) {
        const partial = await this.partialInfo(id, caller);
        partials.push({ id, length: partial.length });
        partialsFinished &&= partial.finished;
      }
      return { partials, partialsFinished };
    });
  }

  private async partialInfo(id: string, caller: Caller): Promise<UploadInfo & { length: number }> {
    const url = this.config.basePath + id;
    // A made-up id is refused before any object is asked: the same answer as an upload the caller may not see.
    const objectId = uploadObjectId(this.env.UPLOADS, id);
    const outcome = objectId ? await this.uploadStub(objectId).peek(caller) : undefined;
    if (!outcome?.ok) {
      const why = outcome ? outcome.error.message : new TusError("upload-not-found").message;
      throw new TusError("invalid-concat", `Upload-Concat: ${url} is not an upload that can be concatenated (${why})`);
    }
    const info = outcome.value;
    if (info.concat?.kind !== "partial") throw new TusError("invalid-concat", `Upload-Concat: ${url} is not a partial upload (it was created without Upload-Concat: partial)`);
    if (info.length === undefined) throw new TusError("invalid-concat", `Upload-Concat: ${url} has no length yet; declare it before concatenating`);
    return { ...info, length: info.length };
  }

  /**
   * Concatenation, the second call of a final POST: creates the final upload
   * from its checked partials, then claims each of them. If a claim fails,
   * the final is removed again, so a refused request leaves every partial
   * free for another try. Once all are claimed it is assembled: up to
   * `budgetMs` of that happens here, while the creating POST waits, so that
   * a small final can be downloaded as soon as it is created; whatever is
   * left, and any fault, goes on in the alarm. A budget of 0 (or partials
   * still unfinished) leaves everything to the alarm.
   */
  async createFinal(upload: NewUpload, caller: Caller, budgetMs: number): Promise<Outcome<UploadInfo>> {
    return settle(async () => {
      const final = await this.createUpload(upload);
      try {
        for (const partial of upload.concat?.kind === "final" ? upload.concat.partials : []) {
          const claim = await this.uploadStub(partial.id).attachFinal(final.id, caller);
          if (!claim.ok) throw deserializeError(claim.error);
        }
      } catch (error) {
        await this.lock.run(() => endUpload(this.writerDeps, this.loadLive(), "terminated", this.config.terminateDeletesObject));
        await this.scheduleAlarm();
        throw error;
      }
      let workDueAt: number | undefined = Date.now();
      if (budgetMs > 0) {
        // R2's faults are counted in `assemble`, and the alarm tries again with back-off.
        workDueAt = await this.lock.run((holder) => this.assemble(holder, budgetMs));
      }
      const record = this.store.load();
      if (record?.ended === "terminated") {
        throw new TusError("invalid-concat", "a partial upload of this final upload was removed while it was being assembled; create the final upload again");
      }
      // Assembled within the budget: the creating POST answers with the hook's
      // decision, if it gives one now; if not, HEAD tells it later.
      if (record && awaitsConfirmation(record)) await this.lock.run(() => this.confirm(record, "completing", "background"));
      await this.scheduleAlarm(workDueAt);
      return toInfo(this.loadLive());
    });
  }

  /** The upload's state, after any older request has let go of it (HEAD). */
  async info(caller: Caller): Promise<Outcome<UploadInfo>> {
    return settle(() => {
      this.loadLive(caller);
      return this.lock.run(async () => {
        try {
          return toInfo(await this.confirm(await this.loadFinished(), "retry"));
        } catch (error) {
          if (!(error instanceof TusError && error.code === "storage-unavailable")) throw error;
          // The client's part is done; answering 5xx would make it start over.
          throw new TusError("completion-pending", undefined, { retryAfterSeconds: error.details.retryAfterSeconds });
        }
      });
    });
  }

  /**
   * Everything stored about the upload, for an administrator (README,
   * "Listing and administration"): read only, any owner, ended uploads too.
   */
  async inspect(): Promise<Outcome<UploadInspection>> {
    return settle(async () => {
      const record = this.store.load();
      if (!record) throw new TusError("upload-not-found");
      return inspectionOf(record, {
        parts: this.store.parts(),
        tailBytes: record.ended ? 0 : this.store.tailSize(),
        expiresAt: expiryOf(record, this.config, this.store.completionFailures()),
        undelivered: this.store.dueEvents(Infinity).map(({ event, attempts }) => ({ type: event.type, attempts, occurredAt: event.occurredAt })),
      });
    });
  }

  /** The upload's state without waiting for writers: for downloads and concatenation. */
  async peek(caller: Caller): Promise<Outcome<UploadInfo>> {
    return settle(async () => toInfo(this.loadLive(caller)));
  }

  /** DELETE: stops any PATCH in flight, then removes the upload and its bytes. */
  async terminate(caller: Caller): Promise<Outcome<null>> {
    return settle(() => {
      this.loadLive(caller);
      return this.lock.run(async () => {
        await endUpload(this.writerDeps, this.loadLive(), "terminated", this.config.terminateDeletesObject);
        await this.scheduleAlarm();
        return null;
      });
    });
  }

  /** An administrator's DELETE: the same as the owner's, whoever owns the upload (the Worker checked the scope). */
  async terminateAny(): Promise<Outcome<null>> {
    const record = this.store.load();
    return this.terminate(record?.owner);
  }

  /**
   * A final upload claims this partial upload. A partial belongs to one live
   * final only, since partials are deleted after assembly; a claim by a final
   * that was since removed does not count. Asking whether earlier claimants
   * still live takes awaits, during which another final may claim: so the
   * claim itself is a check-and-set in one synchronous transaction, which
   * refuses any claimant not found gone here.
   */
  async attachFinal(finalId: string, caller: Caller): Promise<Outcome<null>> {
    return settle(async () => {
      const record = this.loadLive(caller);
      if (record.concat?.kind !== "partial") throw new TusError("invalid-concat", `upload ${record.id} is not a partial upload`);
      const gone: string[] = [];
      for (const other of record.concat.finals) {
        if (other !== finalId && !(await this.uploadStub(other).peek(record.owner)).ok) gone.push(other);
      }
      this.loadLive(caller); // terminated or expired meanwhile: say so, not "claimed"
      if (!this.store.claimPartial(finalId, gone)) {
        throw new TusError("invalid-concat", `partial upload ${record.id} already belongs to another final upload`);
      }
      return null;
    });
  }

  /** A partial upload of this final one finished: assemble now rather than at the next poll. */
  async partialFinished(): Promise<void> {
    const record = this.store.load();
    if (record?.concat?.kind === "final" && record.finishedAt === undefined && !record.ended) {
      await this.scheduleAlarm(Date.now());
    }
  }

  /**
   * A write (call-contract.ts): the request's body appended to the upload,
   * which the same call may create first. Either way one call: the client's
   * request crosses into the object once, and what it asks (append, then
   * complete; create with these bytes) is decided here under the lock.
   */
  override async fetch(request: Request): Promise<Response> {
    const { create, append } = readWriteCall(request);
    let created: UploadRecord | undefined;
    const outcome = await settle(async () => {
      if (create) created = await this.createUpload(create);
      this.loadLive(append.caller);
      return this.lock.run((holder) => this.append(append, request.body, holder));
    });
    const record = outcome.ok ? undefined : this.store.load();
    if (!outcome.ok && record && (created || (outcome.error.code === "upload-too-large" && !record.ended))) {
      // The answer names the upload this request created (Location), and the limits of one that lives on.
      outcome.error.details.upload = { id: record.id, expiresAt: record.ended ? undefined : record.expiresAt, created: created !== undefined };
    }
    return Response.json(outcome);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = undefined;
    await deliverDueEvents(this.store, this.sinks, Date.now(), this.telemetry);
    let workDueAt: number | undefined;
    const record = this.store.load();
    try {
      if (record && !record.ended) workDueAt = await this.backgroundWork(record);
    } catch (error) {
      // Only R2 faults get here (the work's own failures are handled in it): try again soon.
      console.error(`upload ${record?.id}: background work failed; retrying in ${STORAGE_RETRY_MS} ms`, error);
      workDueAt = Date.now() + STORAGE_RETRY_MS;
    }
    await this.scheduleAlarm(workDueAt);
  }

  /** The alarm's work on a live upload; returns when more is due, if any. */
  private async backgroundWork(record: UploadRecord): Promise<number | undefined> {
    const assemblyFailures = awaitsAssembly(record) ? this.store.completionFailures() : undefined;
    if (assemblyFailures && !completionGivenUp(assemblyFailures)) {
      // An alarm for an event, or a partial's notice, does not cut a back-off short.
      const retryAt = assemblyRetryAt(record, assemblyFailures);
      if (retryAt !== undefined && retryAt > Date.now()) return retryAt;
      // Under the lock, so a DELETE cannot interleave with a step; a HEAD or
      // DELETE that arrives waits only for the part in flight.
      return this.lock.run((holder) => this.assemble(holder));
    }
    if (awaitsConfirmation(record)) {
      if ((confirmationRetryAt(record, this.config, Date.now()) ?? Infinity) <= Date.now()) {
        await this.lock.run(async () => {
          const current = this.store.load();
          if (current && awaitsConfirmation(current)) await this.confirm(current, "retry", "background");
        });
      }
      return undefined;
    }
    const failures = this.store.completionFailures();
    if (awaitsCompletion(record) && !completionGivenUp(failures)) {
      // R2 failed while completing the object and no client came back since.
      if ((completionRetryAt(record, failures, Date.now()) ?? Infinity) > Date.now()) return undefined;
      try {
        await this.lock.run(() => this.loadFinished());
      } catch (error) {
        // Refused (another object took the key): final, and logged where it was decided.
        if (this.store.load()?.ended) return undefined;
        // Counted by the writer; scheduleAlarm sets the next try, later each
        // time, or none once they are used up.
        const after = this.store.completionFailures();
        const next = completionGivenUp(after) ? "no more retries by the alarm; it expires unless a client completes it" : "retrying later";
        console.error(`upload ${record.id}: completing its object failed (${after.count} failed attempts; ${next})`, error);
      }
      return undefined;
    }
    if (this.isIdlePastExpiry(record)) {
      // Taking the lock stops a stalled PATCH; one still receiving bytes
      // keeps moving the expiry on, so it is not idle.
      await this.lock.run(async () => {
        const current = this.store.load();
        if (current && !current.ended && this.isIdlePastExpiry(current)) {
          await endUpload(this.writerDeps, current, "expired", true);
        }
      });
      await deliverDueEvents(this.store, this.sinks, Date.now(), this.telemetry);
    } else if (!awaitsCompletion(record) && record.finishedAt === undefined && record.expiresAt !== undefined && record.expiresAt <= Date.now()) {
      // Bytes arrived after the stored clock was last moved: catch it up.
      this.store.setExpiry(record.expiresAt + this.idleClock.catchUp());
    }
    return undefined;
  }

  /**
   * An append and what it intends (call-contract.ts `AppendIntent`): a
   * finished upload replays or refuses, the body is written, the upload is
   * completed where the body ends, and a body past the length invalidates
   * the upload, each as the call asks; all under the lock the caller holds.
   */
  private async append(call: AppendCall, body: ReadableStream<Uint8Array> | null, holder: LockHolder): Promise<UploadInfo> {
    const record = await this.loadFinished();
    if (call.replayWhenFinished && toInfo(record).finished) return toInfo(replayFinished(record, call));
    try {
      const info = await this.appendBody(call, body, holder, record);
      if (!call.completeAtEnd || info.finished) return info;
      // Complete where the body ended: the length becomes the offset reached.
      const completion = { ...call, offset: info.offset, declaredLength: info.offset, contentLength: 0, checksum: undefined };
      return await this.appendBody(completion, null, holder, await this.loadFinished());
    } catch (error) {
      if (!call.invalidateOnOverflow || !(error instanceof TusError && error.code === "exceeds-upload-length")) throw error;
      return this.invalidate(error);
    }
  }

  /**
   * A body past the upload's length: "the server MUST prevent the offset
   * from exceeding the upload length by rejecting the request ..., marking
   * the upload resource invalid": it is terminated. Unless it completed
   * meanwhile (a client resending its last append): a complete upload is
   * never altered, and the client is told it is complete.
   */
  private async invalidate(error: TusError): Promise<never> {
    const current = this.loadLive();
    if (toInfo(current).finished) throw new TusError("upload-completed");
    await endUpload(this.writerDeps, current, "terminated", this.config.terminateDeletesObject);
    await this.scheduleAlarm();
    throw new TusError("exceeds-upload-length", `${error.message}; the upload is now invalid: create a new one`);
  }

  private async appendBody(call: AppendCall, body: ReadableStream<Uint8Array> | null, holder: LockHolder, record: UploadRecord): Promise<UploadInfo> {
    // A retry of the request that completed the upload asks the hook again, when its back-off allows.
    const wasAwaitingConfirmation = awaitsConfirmation(record);
    if (record.concat?.kind === "final") throw new TusError("final-upload-is-read-only");
    const length = checkAppend(record, call);
    if (length !== record.length) this.store.setLength(length!);
    const partSize = this.partSizeFor(record, call.contentLength, length);
    if (partSize !== record.partSize) this.store.setPartSize(partSize);
    await this.touch();
    const writer = new UploadWriter(this.writerDeps, { ...record, partSize }, length);
    let ending: BodyEnding = "complete";
    let writeError: unknown;
    const { buffers } = this.writerDeps;
    buffers.beginWrite();
    try {
      ending = await writer.write(body, holder, {
        checksum: call.checksum,
        contentLength: call.contentLength,
        sizeLimit: sizeLimitOf({ ...record, partSize }, call.lengthLimit),
        appendLimit: call.appendLimit,
      });
    } catch (error) {
      writeError = error;
      ending = isRefusedBody(error) ? "refused" : "interrupted";
    }
    try {
      await writer.settle(ending);
    } catch (error) {
      writeError ??= error;
    } finally {
      buffers.endWrite();
    }
    // A body cut short is not new activity: its bytes already kept the upload alive as they came.
    this.store.recordProgress(); // for the upload index, if on; delivered by the alarm touch sets
    const after = await this.touch(undefined, ending !== "interrupted");
    this.telemetry.chunkWritten(after, after.offset - record.offset);
    if (after.finishedAt !== undefined) buffers.release();
    if (writeError) throw withOffset(writeError, after.offset);
    if (awaitsConfirmation(after)) return toInfo(await this.confirm(after, wasAwaitingConfirmation ? "retry" : "completing"));
    if (after.finishedAt !== undefined && after.concat?.kind === "partial") await this.notifyFinals(after.concat.finals);
    return toInfo(after);
  }

  /**
   * The upload's part size: until its first byte is stored (no R2 multipart
   * upload exists yet), one that the PATCH's announced length is a multiple
   * of, when R2's rules allow one (see `partSizeForChunk`).
   */
  private partSizeFor(record: UploadRecord, contentLength: number | undefined, length: number | undefined): number {
    if (record.offset > 0 || record.multipartId !== undefined || contentLength === undefined) return record.partSize;
    return partSizeForChunk(record.partSize, contentLength, length, this.config.partBufferLimit);
  }

  /**
   * One assembly step of a final upload, of at most about `budgetMs`; returns
   * when the next step is due, if any. A fault (R2, or a partial's Durable
   * Object) is counted, and the next step waits for the back-off.
   */
  private async assemble(holder: LockHolder, budgetMs = ASSEMBLY_STEP_MS): Promise<number | undefined> {
    const record = this.store.load();
    if (!record || !awaitsAssembly(record)) return undefined;
    try {
      return await this.runAssemblyStep(record, holder, budgetMs);
    } catch (error) {
      const current = this.store.load();
      if (!current || !awaitsAssembly(current)) {
        // Assembled (or ended) already: what failed was deleting the partials, which is not retried.
        console.error(`final upload ${record.id}: after its assembly ended, deleting its partials failed`, error);
        return undefined;
      }
      this.forgetFailuresAfterProgress(record);
      this.store.completionFailed(Date.now());
      const failures = this.store.completionFailures();
      const retryAt = assemblyRetryAt(current, failures);
      const next = retryAt === undefined ? "no more retries; it expires the idle time after this attempt" : `retrying in ${retryAt - Date.now()} ms`;
      console.error(`final upload ${record.id}: an assembly step failed (${failures.count} in a row; ${next})`, error);
      return retryAt;
    }
  }

  /**
   * Assembly failures count in a row only (see background.ts): a step that
   * stored parts since `before`, whether it then failed or not, shows that
   * R2 works, and the back-off starts afresh at the next fault.
   */
  private forgetFailuresAfterProgress(before: UploadRecord): void {
    const current = this.store.load();
    if (current && current.offset > before.offset && this.store.completionFailures().count > 0) this.store.clearCompletionFailures();
  }

  private async runAssemblyStep(record: UploadRecord, holder: LockHolder, budgetMs: number): Promise<number | undefined> {
    const result = await assembleStep(
      {
        store: this.store,
        bucket: this.writerDeps.bucket,
        now: Date.now,
        stepBudgetMs: budgetMs,
        shouldYield: () => holder.stopped,
        locatePartial: (id) => this.locatePartial(id, record.owner),
        overwriteObjects: this.config.overwriteObjects,
      },
      record,
    );
    this.forgetFailuresAfterProgress(record);
    switch (result.state) {
      case "waiting":
        return Date.now() + PARTIAL_POLL_MS;
      case "continue":
        return Date.now();
      case "failed":
        console.error(`final upload ${record.id} cannot be assembled: ${result.reason}`);
        await endUpload(this.writerDeps, this.store.load()!, "terminated", true);
        return undefined;
      case "object-exists":
        // As an ordinary upload's completion is refused (UploadWriter's `refuse`):
        // for good, with a `failed` event; its partials stay, as after any failed assembly.
        await endUpload(this.writerDeps, this.store.load()!, "object-exists", false);
        console.warn(`final upload ${record.id}: refused: another object was stored at ${record.objectKey}; its parts were released`);
        return undefined;
      case "finished":
        if (this.config.concatDeletesPartials && record.concat?.kind === "final") {
          await Promise.all(record.concat.partials.map(({ id }) => this.uploadStub(id).terminate(record.owner)));
        }
        return undefined;
    }
  }

  private async locatePartial(id: string, owner: Caller): Promise<PartialState> {
    const outcome = await this.uploadStub(id).peek(owner);
    if (!outcome.ok) return { state: "gone" };
    return outcome.value.finished ? { state: "finished", objectKey: outcome.value.objectKey } : { state: "unfinished" };
  }

  private async notifyFinals(finalIds: string[]): Promise<void> {
    await Promise.all(finalIds.map((id) => this.uploadStub(id).partialFinished()));
  }

  /** Another upload's object: by an id from this upload's own storage (minted by the namespace), or an id already checked. */
  private uploadStub(id: string | DurableObjectId): DurableObjectStub<UploadObject> {
    const uploads = this.env.UPLOADS as DurableObjectNamespace<UploadObject>;
    return uploads.get(typeof id === "string" ? uploads.idFromString(id) : id);
  }

  private isIdlePastExpiry(record: UploadRecord): boolean {
    const waitsForStorage = awaitsCompletion(record) || awaitsAssembly(record);
    const expiresAt = expiryOf(record, this.config, waitsForStorage ? this.store.completionFailures() : undefined);
    if (expiresAt === undefined) return false;
    return Date.now() >= expiresAt + (record.finishedAt === undefined ? this.idleClock.pendingMs : 0);
  }

  /** Bytes are arriving: the upload is not idle (the idle clock decides when that is a row written). */
  private keepAlive(): void {
    const expiresAt = this.idleClock.bytesArrived(Date.now());
    if (expiresAt !== undefined) this.store.setExpiry(expiresAt);
  }

  /**
   * While a PATCH runs, a progress record written for the upload index is
   * delivered by the alarm at once, not at the PATCH's end (checked at most
   * every PROGRESS_INTERVAL_MS).
   */
  private deliverProgressSoon(): void {
    if (!this.sinks.index || Date.now() - this.progressCheckedAt < PROGRESS_INTERVAL_MS) return;
    this.progressCheckedAt = Date.now();
    this.scheduleAlarm().catch((error) => console.error("setting the alarm for the upload index failed", error));
  }

  /** Restarts the upload's idle clock after activity and re-arms the alarm; returns the current record. */
  private async touch(workDueAt?: number, activity = true): Promise<UploadRecord> {
    // Not loadLive: a PATCH that ran past the old expiry is activity, not an expired upload.
    const record = this.store.load();
    if (!record || record.ended) {
      // Ended while this request ran (terminated, or refused at completion): its event is due.
      await this.scheduleAlarm();
      return this.loadLive();
    }
    const now = Date.now();
    const expiresAt = record.finishedAt !== undefined ? undefined : activity ? nextExpiry(record, now, this.config) : record.expiresAt;
    // Each move is a row written: a small one is held by the idle clock.
    const stores = this.idleClock.touched(record.expiresAt, expiresAt, now, activity);
    if (stores && expiresAt !== record.expiresAt) this.store.setExpiry(expiresAt);
    await this.scheduleAlarm(workDueAt);
    return stores ? { ...record, expiresAt } : record;
  }

  /**
   * Sets the alarm to the earliest work due. An alarm already set earlier is
   * left alone: the alarm handler finds nothing due yet and sets the next
   * one. So an upload in progress, whose expiry moves later with every
   * PATCH, does not move its alarm twice per PATCH.
   */
  private async scheduleAlarm(workDueAt?: number): Promise<void> {
    const record = this.store.load();
    const failures = this.store.completionFailures();
    const now = Date.now();
    const retryAt = completionRetryAt(record, failures, now) ?? assemblyRetryAt(record, failures) ?? confirmationRetryAt(record, this.config, now);
    const at = nextAlarmAt(record, this.store.nextEventDue(), workDueAt ?? retryAt, this.config, failures);
    if (at === undefined) {
      if (this.alarmAt !== undefined) await this.ctx.storage.deleteAlarm();
    } else if (this.alarmAt === undefined || this.alarmAt === "unknown" || at < this.alarmAt) {
      await this.ctx.storage.setAlarm(at);
    } else {
      return;
    }
    this.alarmAt = at;
  }

  /** Loads the upload, first completing its object if all bytes are in but R2 failed last time. */
  private async loadFinished(): Promise<UploadRecord> {
    const record = this.loadLive();
    if (!awaitsCompletion(record)) return record;
    await this.finishIfDue(record);
    return this.touch();
  }

  /**
   * Asks the pre-finish hook about an upload whose object is complete, if it
   * awaits a decision; returns the upload decided, or throws what the
   * request answers while it is not: the rejection; for the request that
   * completed the upload (`completing`, always asked at once) 503 with
   * Retry-After and the offset; for a later request (`retry`, asked only
   * when the back-off allows) 423 like a pending completion, which tus
   * clients keep retrying. The object's own work (`background`) throws
   * nothing but a rejection's R2 faults: the alarm tries again.
   */
  private async confirm(record: UploadRecord, when: "completing" | "retry", caller: "request" | "background" = "request"): Promise<UploadRecord> {
    if (!awaitsConfirmation(record)) return record;
    let decided: UploadRecord = record;
    const now = Date.now();
    if (when === "completing" || (confirmationRetryAt(record, this.config, now) ?? Infinity) <= now) {
      decided = await confirmFinish(
        { ...this.writerDeps, hooks: this.finishingHooks, policy: this.config, telemetry: this.telemetry, now: Date.now },
        record,
      );
    }
    await this.scheduleAlarm();
    if (decided.ended === "rejected") return caller === "background" ? decided : this.loadLive();
    if (!awaitsConfirmation(decided)) {
      if (decided.concat?.kind === "partial") await this.notifyFinals(decided.concat.finals);
      return decided;
    }
    if (caller === "background") return decided;
    const nextAt = confirmationRetryAt(decided, this.config, Date.now()) ?? Date.now();
    const retryAfterSeconds = Math.max(1, Math.ceil((nextAt - Date.now()) / 1000));
    if (when === "completing") throw new TusError("finish-unconfirmed", undefined, { retryAfterSeconds, offset: decided.offset });
    throw new TusError(
      "completion-pending",
      "every byte of this upload is stored and its object is complete, but the server's pre-finish hook has not decided about it yet; retry in a moment",
      { retryAfterSeconds },
    );
  }

  /**
   * Completes the upload's object if every byte is in. If R2 fails, the
   * alarm retries, should no client come back; if the completion is
   * refused, the alarm delivers the `failed` event.
   */
  private async finishIfDue(record: UploadRecord): Promise<void> {
    try {
      await new UploadWriter(this.writerDeps, record, record.length).finishIfDue();
    } catch (error) {
      await this.scheduleAlarm();
      throw error;
    }
  }

  /** The upload, if it exists, has not ended, and is the caller's (the object's own work may see any). */
  private loadLive(caller: Caller | typeof OWN_WORK = OWN_WORK): UploadRecord {
    const record = this.store.load();
    if (!record) throw new TusError("upload-not-found");
    // Another subject's upload is answered exactly like a missing one, so
    // its existence is not revealed.
    if (caller !== OWN_WORK && record.owner !== undefined && record.owner !== caller) throw new TusError("upload-not-found");
    const expired = record.ended === "expired" || (record.finishedAt === undefined && this.isIdlePastExpiry(record));
    if (expired) throw new TusError("upload-gone", "this upload expired and its bytes were deleted");
    if (record.ended === "object-exists") throw objectTakenError();
    if (record.ended === "rejected" && record.confirmation?.state === "rejected") throw rejectionError(record.confirmation);
    if (record.ended) throw new TusError("upload-gone", "this upload was terminated");
    return record;
  }
}

function withOffset(error: unknown, offset: number): unknown {
  return error instanceof TusError ? new TusError(error.code, error.message, { ...error.details, offset }) : error;
}
