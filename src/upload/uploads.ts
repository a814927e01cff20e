import type { GatewayConfig } from "../config";
import { deserializeError, TusError } from "../errors";
import { planPartSize } from "./part-plan";
import { isUploadId, newUploadId } from "./upload-id";
import { APPEND_HEADER, type AppendCall, type Outcome, type UploadObject } from "./upload-object";
import type { Concatenation, PartialSource, UploadInfo, UploadMetadata } from "./upload-record";

export interface UploadsEnv {
  UPLOADS: DurableObjectNamespace<UploadObject>;
  BUCKET: R2Bucket;
}

export interface CreateUpload {
  length: number | undefined;
  metadata: UploadMetadata;
  contentType: string;
  contentDisposition: string;
  /** A partial upload, to be concatenated into a final one later. */
  partial?: boolean;
}

/**
 * The upload layer as the protocol layer sees it: create, inspect, append to
 * and download uploads by id. It hides that each upload is a Durable Object
 * and that bytes live in R2.
 */
export class Uploads {
  constructor(
    private readonly env: UploadsEnv,
    private readonly config: GatewayConfig,
  ) {}

  async create(request: CreateUpload): Promise<UploadInfo> {
    const id = newUploadId();
    return this.createWithId(id, request.length, request, request.partial ? { kind: "partial", finals: [] } : undefined);
  }

  /**
   * Creates a final upload from partial uploads (concatenation). The
   * partials are checked first (they must exist, be partial and have a
   * length; the final's length is the sum), then the final is created and
   * claims each of them. If a claim fails, the final is removed again, so a
   * refused request leaves every partial free for another try.
   */
  async createFinal(partialIds: string[], request: Omit<CreateUpload, "length" | "partial">): Promise<UploadInfo> {
    const partials: PartialSource[] = [];
    for (const partialId of partialIds) {
      partials.push({ id: partialId, length: await this.partialLength(partialId) });
    }
    const length = partials.reduce((sum, partial) => sum + partial.length, 0);
    if (length > this.config.maxUploadSize) {
      throw new TusError("upload-too-large", `the partial uploads add up to ${length} bytes, more than this server's maximum of ${this.config.maxUploadSize}`);
    }
    const final = await this.createWithId(newUploadId(), length, request, { kind: "final", partials });
    try {
      for (const partial of partials) unwrap(await this.stub(partial.id).attachFinal(final.id));
    } catch (error) {
      await this.stub(final.id).terminate();
      throw error;
    }
    return final;
  }

  private async partialLength(id: string): Promise<number> {
    const outcome = await this.stub(id).peek();
    const url = this.config.basePath + id;
    if (!outcome.ok) throw new TusError("invalid-concat", `Upload-Concat: ${url} is not an upload that can be concatenated (${outcome.error.message})`);
    const info = outcome.value;
    if (info.concat?.kind !== "partial") throw new TusError("invalid-concat", `Upload-Concat: ${url} is not a partial upload (it was created without Upload-Concat: partial)`);
    if (info.length === undefined) throw new TusError("invalid-concat", `Upload-Concat: ${url} has no length yet; declare it before concatenating`);
    return info.length;
  }

  private async createWithId(
    id: string,
    length: number | undefined,
    request: Omit<CreateUpload, "length" | "partial">,
    concat: Concatenation | undefined,
  ): Promise<UploadInfo> {
    // The first `get` of a new id places its Durable Object near this Worker,
    // which runs near the client: the upload's state lives close to its bytes' source.
    return unwrap(
      await this.stub(id).create({
        id,
        objectKey: this.config.objectKeyPrefix + id,
        length,
        partSize: planPartSize(length, this.config),
        metadata: request.metadata,
        contentType: request.contentType,
        contentDisposition: request.contentDisposition,
        createdAt: Date.now(),
        concat,
      }),
    );
  }

  /** Removes the upload and its bytes (DELETE), stopping any PATCH in flight. */
  async terminate(id: string): Promise<void> {
    unwrap(await this.stub(id).terminate());
  }

  /** The upload's state once any request still writing to it has let go. */
  async info(id: string): Promise<UploadInfo> {
    return unwrap(await this.stub(id).info());
  }

  async append(id: string, append: AppendCall, body: ReadableStream<Uint8Array> | null): Promise<UploadInfo> {
    const response = await this.stub(id).fetch("https://upload.internal/append", {
      method: "POST",
      headers: { [APPEND_HEADER]: JSON.stringify(append) },
      body,
    });
    return unwrap((await response.json()) as Outcome<UploadInfo>);
  }

  /** A finished upload's state; an unfinished one cannot be downloaded yet. */
  async finished(id: string): Promise<UploadInfo & { length: number }> {
    const info = unwrap(await this.stub(id).peek());
    if (!info.finished || info.length === undefined) {
      throw new TusError(
        "upload-not-finished",
        `the upload is not finished (${info.offset} of ${info.length ?? "an unknown number of"} bytes received); download it once it is`,
      );
    }
    return { ...info, length: info.length };
  }

  /** Opens a finished upload's object for reading, whole or one inclusive byte range. */
  async openObject(info: UploadInfo, range?: { start: number; end: number }): Promise<R2ObjectBody> {
    const object = await this.env.BUCKET.get(
      info.objectKey,
      range ? { range: { offset: range.start, length: range.end - range.start + 1 } } : {},
    );
    if (!object) throw new TusError("upload-not-found", "the upload's object is no longer stored");
    return object;
  }

  private stub(id: string): DurableObjectStub<UploadObject> {
    // A malformed id cannot name an upload: answer 404 without waking an object.
    if (!isUploadId(id)) throw new TusError("upload-not-found");
    return this.env.UPLOADS.get(this.env.UPLOADS.idFromName(id));
  }
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw deserializeError(outcome.error);
}
