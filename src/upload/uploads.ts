import type { GatewayConfig } from "../config";
import { deserializeError, TusError } from "../errors";
import { planPartSize } from "./part-plan";
import { isUploadId, newUploadId } from "./upload-id";
import { APPEND_HEADER, type Outcome, type UploadObject } from "./upload-object";
import type { AppendRequest, UploadInfo, UploadMetadata } from "./upload-record";

export interface UploadsEnv {
  UPLOADS: DurableObjectNamespace<UploadObject>;
  BUCKET: R2Bucket;
}

export interface CreateUpload {
  length: number | undefined;
  metadata: UploadMetadata;
  contentType: string;
  contentDisposition: string;
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
    // The first `get` of a new id places its Durable Object near this Worker,
    // which runs near the client: the upload's state lives close to its bytes' source.
    return unwrap(
      await this.stub(id).create({
        id,
        objectKey: this.config.objectKeyPrefix + id,
        length: request.length,
        partSize: planPartSize(request.length, this.config),
        metadata: request.metadata,
        contentType: request.contentType,
        contentDisposition: request.contentDisposition,
        createdAt: Date.now(),
      }),
    );
  }

  /** The upload's state once any request still writing to it has let go. */
  async info(id: string): Promise<UploadInfo> {
    return unwrap(await this.stub(id).info());
  }

  async append(id: string, append: AppendRequest, body: ReadableStream<Uint8Array> | null): Promise<UploadInfo> {
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
