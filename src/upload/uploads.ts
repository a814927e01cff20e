import type { Principal } from "../auth/authenticate";
import type { UploadInspection } from "./inspection";
import type { GatewayConfig } from "../config";
import { deserializeError, TusError } from "../errors";
import { renderObjectKey, sanitizeSegment } from "./object-key";
import { openObjectInRanges, type ObjectDownload } from "./reading/object-reader";
import { planPartSize } from "./storage/part-plan";
import { r2 } from "./storage/r2-parts";
import { newUploadId, uploadObjectId } from "../upload-id";
import { writeRequest, type AppendCall, type Outcome, type WriteCall } from "./call-contract";
import type { UploadObject } from "./upload-object";
import type { Concatenation, NewUpload, PartialSource, UploadInfo, UploadMetadata } from "./upload-record";

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
  /** The client's file name, for key templates with {filename}. */
  filename?: string;
  /** A key chosen by a pre-create hook, placed under the configured prefixes. */
  objectKey?: string;
}

/** A final upload's partials and length, checked by the final's own Durable Object before it exists. */
export interface FinalPlan {
  /** The final upload's id, minted for the check: its object checked the partials and will create it. */
  id: string;
  partials: PartialSource[];
  length: number;
  /** Whether every partial was finished when checked: then the final can be assembled at once. */
  partialsFinished: boolean;
}

/** An append as the protocol layer asks for it; who asks and their limit are the Uploads' own. */
export type AppendArguments = Omit<AppendCall, "caller" | "lengthLimit">;

/**
 * The upload layer as the protocol layer sees it: create, inspect, append to
 * and download uploads by id. It hides that each upload is a Durable Object
 * and that bytes live in R2.
 */
export class Uploads {
  constructor(
    private readonly env: UploadsEnv,
    private readonly config: GatewayConfig,
    private readonly principal: Principal,
  ) {}

  /** The largest upload this caller may create: the server's maximum, or less by token. */
  get maxUploadSize(): number {
    return Math.min(this.config.maxUploadSize, this.principal.maxUploadSize ?? Infinity);
  }

  /**
   * Creates an upload, in one call to its Durable Object: with `firstBytes`
   * the same call appends them (creation with a body) and does what the
   * append intends. If the append fails after the upload was created, the
   * error says so (`details.upload.created`): the upload exists whatever
   * became of its bytes.
   */
  async create(request: CreateUpload, firstBytes?: { body: ReadableStream<Uint8Array> | null; append: Omit<AppendArguments, "offset"> }): Promise<UploadInfo> {
    const id = newUploadId(this.env.UPLOADS);
    const upload = await this.newUpload(id, request.length, request, request.partial ? { kind: "partial", finals: [] } : undefined);
    if (!firstBytes) return unwrap(await this.stub(id).create(upload));
    return this.write({ create: upload, append: this.appendCall({ ...firstBytes.append, offset: 0 }) }, id, firstBytes.body);
  }

  /**
   * Checks the partial uploads a final upload would be made of (concatenation):
   * they must exist, be partial, be the caller's and have a length; the
   * final's length is the sum. Done before the pre-create hook, which is
   * told that length, by the final's own Durable Object (the first of the
   * final POST's two calls: the hook runs in the Worker between them).
   */
  async planFinal(partialIds: string[]): Promise<FinalPlan> {
    const id = newUploadId(this.env.UPLOADS);
    const { partials, partialsFinished } = unwrap(await this.stub(id).planFinal(partialIds, this.caller));
    const length = partials.reduce((sum, partial) => sum + partial.length, 0);
    if (length > this.maxUploadSize) {
      throw new TusError("upload-too-large", `the partial uploads add up to ${length} bytes, more than the ${this.maxUploadSize} bytes allowed`);
    }
    return { id, partials, length, partialsFinished };
  }

  /**
   * Creates a final upload from checked partial uploads (`planFinal`), in
   * the second call to its Durable Object, which claims each partial and,
   * when they are finished, assembles it for up to CONCAT_SYNC_ASSEMBLY_MS
   * before answering, so that a client may download it as soon as it is
   * created (tus-js-client's parallelUploads reports success right then);
   * the rest, if any, in the background.
   */
  async createFinal(plan: FinalPlan, request: Omit<CreateUpload, "length" | "partial">): Promise<UploadInfo> {
    const upload = await this.newUpload(plan.id, plan.length, request, { kind: "final", partials: plan.partials });
    const budgetMs = plan.partialsFinished ? this.config.concatSyncAssemblyMs : 0;
    return unwrap(await this.stub(plan.id).createFinal(upload, this.caller, budgetMs));
  }

  /** A new upload as its Durable Object will store it: its key checked, its part size planned, its owner and limit fixed. */
  private async newUpload(
    id: string,
    length: number | undefined,
    request: Omit<CreateUpload, "length" | "partial">,
    concat: Concatenation | undefined,
  ): Promise<NewUpload> {
    const objectKey = await this.objectKeyFor(id, request);
    // A key with the upload's id in it is new by construction; others are checked.
    if (!this.config.overwriteObjects && !objectKey.includes(id) && (await r2("head", () => this.env.BUCKET.head(objectKey)))) {
      // The log may name the key; the client may not learn it: it can say what another subject stored.
      console.warn(`upload refused: an object already exists at ${objectKey}`);
      throw new TusError("object-exists", "an object already exists at this upload's key, and this server does not overwrite objects; upload it under another name");
    }
    return {
      id,
      objectKey,
      length,
      partSize: planPartSize(length, this.config),
      metadata: request.metadata,
      contentType: request.contentType,
      contentDisposition: request.contentDisposition,
      createdAt: Date.now(),
      concat,
      owner: this.principal.subject,
      // Fixed now: a later PATCH, whatever its token, cannot raise it.
      sizeLimit: this.maxUploadSize,
      ...(this.principal.subject !== undefined && { quota: { ...this.config.subjectQuotas, ...this.principal.quotas } }),
    };
  }

  private objectKeyFor(id: string, request: Omit<CreateUpload, "length" | "partial">): Promise<string> {
    const { objectKeyPrefix, objectKeyTemplate } = this.config;
    const tokenPrefix = this.principal.keyPrefix;
    if (request.objectKey !== undefined) {
      const chosen = request.objectKey.split("/").filter(Boolean).map(sanitizeSegment).join("/");
      return renderObjectKey(objectKeyPrefix, chosen || "{id}", { id, subject: undefined, filename: undefined, now: new Date(), tokenPrefix });
    }
    return renderObjectKey(objectKeyPrefix, objectKeyTemplate, {
      id,
      subject: this.principal.subject,
      filename: request.filename,
      now: new Date(),
      tokenPrefix,
    });
  }

  /** Removes the upload and its bytes (DELETE), stopping any PATCH in flight. */
  async terminate(id: string): Promise<void> {
    unwrap(await this.stub(id).terminate(this.caller));
  }

  private get caller(): string | undefined {
    return this.principal.subject;
  }

  /** The upload's state once any request still writing to it has let go. */
  async info(id: string): Promise<UploadInfo> {
    return unwrap(await this.stub(id).info(this.caller));
  }

  /** Appends `body` at the call's offset, and does what the call intends (call-contract.ts), in one call. */
  append(id: string, append: AppendArguments, body: ReadableStream<Uint8Array> | null): Promise<UploadInfo> {
    return this.write({ append: this.appendCall(append) }, id, body);
  }

  private appendCall(append: AppendArguments): AppendCall {
    return { ...append, caller: this.caller, lengthLimit: this.maxUploadSize };
  }

  private async write(call: WriteCall, id: string, body: ReadableStream<Uint8Array> | null): Promise<UploadInfo> {
    // The first `get` of a new id places its Durable Object near this Worker,
    // which runs near the client: the upload's state lives close to its bytes' source.
    const response = await this.stub(id).fetch(writeRequest(call, body));
    return unwrap((await response.json()) as Outcome<UploadInfo>);
  }

  /** A finished upload's state, without waiting for a request still writing to it; an unfinished one cannot be downloaded yet. */
  async finished(id: string): Promise<UploadInfo & { length: number }> {
    return requireFinished(unwrap(await this.stub(id).peek(this.caller)));
  }

  /** Opens a finished upload's object for reading, whole or one inclusive byte range, in ranges of bounded size. */
  openObject(info: UploadInfo & { length: number }, range?: { start: number; end: number }): Promise<ObjectDownload> {
    return openObjectInRanges(this.env.BUCKET, { key: info.objectKey, uploadId: info.id }, range ?? { start: 0, end: info.length - 1 });
  }

  /** Everything stored about an upload, whoever owns it: for administrators only (the caller checks the scope). */
  async inspect(id: string): Promise<UploadInspection> {
    return unwrap(await this.stub(id).inspect());
  }

  /** Terminates an upload whoever owns it, by the path DELETE takes for its owner: for administrators only. */
  async terminateAny(id: string): Promise<void> {
    unwrap(await this.stub(id).terminateAny());
  }

  private stub(id: string): DurableObjectStub<UploadObject> {
    // An id the namespace did not mint names no upload: 404 without waking an object.
    const objectId = uploadObjectId(this.env.UPLOADS, id);
    if (!objectId) throw new TusError("upload-not-found");
    return this.env.UPLOADS.get(objectId);
  }
}

/** A finished upload's state, for a download; an unfinished one cannot be downloaded yet. */
export function requireFinished(info: UploadInfo): UploadInfo & { length: number } {
  if (!info.finished && info.length !== undefined && info.offset === info.length) {
    throw new TusError("upload-not-finished", "every byte of the upload is stored, but it is not finished yet (its object is being completed, or the server's pre-finish hook has not decided about it); download it once it is");
  }
  if (!info.finished || info.length === undefined) {
    throw new TusError(
      "upload-not-finished",
      `the upload is not finished (${info.offset} of ${info.length ?? "an unknown number of"} bytes received); download it once it is`,
    );
  }
  return { ...info, length: info.length };
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw deserializeError(outcome.error);
}
