import { DurableObject } from "cloudflare:workers";
import { configFromEnv } from "../config";
import { serializeError, TusError, type SerializedError } from "../errors";
import { checkAppend, toInfo, type AppendRequest, type NewUpload, type UploadInfo, type UploadRecord } from "./upload-record";
import { UploadStore } from "./upload-store";
import { UploadWriter, type WriterDeps } from "./upload-writer";
import { WriteLock, type LockHolder } from "./write-lock";

export interface UploadObjectEnv {
  BUCKET: R2Bucket;
}

/** A call's outcome, in a form that crosses the Durable Object boundary intact. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/** Header that carries an `AppendRequest` on the internal append call. */
export const APPEND_HEADER = "x-tus-edge-append";

/**
 * One Durable Object per upload. It owns the upload's state and serialises
 * the requests that change it; the rules live in the upload layer's modules,
 * this class only wires runtime entry points to them.
 *
 * Appends arrive through `fetch` because the request body must stream in
 * (and a broken connection must surface as a failed read, so the bytes that
 * did arrive are kept); everything else is an RPC method.
 */
export class UploadObject extends DurableObject<UploadObjectEnv> {
  private readonly store: UploadStore;
  private readonly lock: WriteLock;
  private readonly writerDeps: WriterDeps;

  constructor(ctx: DurableObjectState, env: UploadObjectEnv) {
    super(ctx, env);
    const config = configFromEnv(env);
    this.store = new UploadStore(ctx.storage);
    this.lock = new WriteLock(config.lockTimeoutMs);
    this.writerDeps = { store: this.store, bucket: env.BUCKET, partBufferLimit: config.partBufferLimit, now: Date.now };
  }

  async create(upload: NewUpload): Promise<Outcome<UploadInfo>> {
    return settle(async () => {
      if (this.store.load()) throw new Error(`upload ${upload.id} already exists`);
      const record = this.store.create(upload);
      // An upload of length 0 is complete the moment it exists.
      await new UploadWriter(this.writerDeps, record, record.length).finishIfDue();
      return toInfo(this.loadOrThrow());
    });
  }

  /** The upload's state, after any older request has let go of it (HEAD). */
  async info(): Promise<Outcome<UploadInfo>> {
    return settle(() => this.lock.run(async () => toInfo(await this.loadFinished())));
  }

  /** The upload's state without waiting for writers: for downloads of finished uploads. */
  async peek(): Promise<Outcome<UploadInfo>> {
    return settle(async () => toInfo(this.loadOrThrow()));
  }

  override async fetch(request: Request): Promise<Response> {
    const outcome = await settle(() => {
      const append = JSON.parse(request.headers.get(APPEND_HEADER) ?? "null") as AppendRequest;
      return this.lock.run((holder) => this.append(append, request.body, holder));
    });
    return Response.json(outcome);
  }

  private async append(append: AppendRequest, body: ReadableStream<Uint8Array> | null, holder: LockHolder): Promise<UploadInfo> {
    const record = await this.loadFinished();
    const length = checkAppend(record, append);
    if (length !== record.length) this.store.setLength(length!);
    const writer = new UploadWriter(this.writerDeps, record, length);
    let writeError: unknown;
    try {
      if (body) await writer.write(body, holder);
    } catch (error) {
      writeError = error;
    }
    if (writeError instanceof TusError && writeError.code === "exceeds-upload-length") {
      writer.discardMemory();
    }
    await writer.settle();
    if (writeError) throw withCurrentOffset(writeError, this.loadOrThrow().offset);
    return toInfo(this.loadOrThrow());
  }

  /** Loads the upload, first completing its object if all bytes are in but R2 failed last time. */
  private async loadFinished(): Promise<UploadRecord> {
    const record = this.loadOrThrow();
    if (record.finishedAt === undefined && record.offset === record.length) {
      await new UploadWriter(this.writerDeps, record, record.length).finishIfDue();
      return this.loadOrThrow();
    }
    return record;
  }

  private loadOrThrow(): UploadRecord {
    const record = this.store.load();
    if (!record) throw new TusError("upload-not-found");
    return record;
  }
}

function withCurrentOffset(error: unknown, offset: number): unknown {
  return error instanceof TusError ? new TusError(error.code, error.message, { ...error.details, offset }) : error;
}

async function settle<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (error instanceof TusError) return { ok: false, error: serializeError(error) };
    console.error("upload object failed", error);
    return { ok: false, error: serializeError(new TusError("internal")) };
  }
}
