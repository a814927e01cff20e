import type { Principal } from "../auth/authenticate";
import type { UploadInspection } from "../listing/inspection";
import type { GatewayConfig } from "../config";
import { deserializeError, TusError } from "../errors";
import { renderObjectKey, sanitizeSegment } from "./object-key";
import { openObjectInRanges, type ObjectDownload } from "./reading/object-reader";
import { planPartSize } from "./storage/part-plan";
import { r2 } from "./storage/r2-parts";
import { newUploadId, uploadObjectId } from "./upload-id";
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
  /** The client's file name, for key templates with {filename}. */
  filename?: string;
  /** A key chosen by a pre-create hook, placed under the configured prefixes. */
  objectKey?: string;
}

/** A final upload's partials and length, checked. */
export interface FinalPlan {
  partials: PartialSource[];
  length: number;
  /** Whether every partial was finished when checked: then the final can be assembled at once. */
  partialsFinished: boolean;
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
    private readonly principal: Principal,
  ) {}

  /** The largest upload this caller may create: the server's maximum, or less by token. */
  get maxUploadSize(): number {
    return Math.min(this.config.maxUploadSize, this.principal.maxUploadSize ?? Infinity);
  }

  async create(request: CreateUpload): Promise<UploadInfo> {
    const id = newUploadId(this.env.UPLOADS);
    return this.createWithId(id, request.length, request, request.partial ? { kind: "partial", finals: [] } : undefined);
  }

  /**
   * Checks the partial uploads a final upload would be made of (concatenation):
   * they must exist, be partial and have a length; the final's length is the
   * sum. Done before the pre-create hook, which is told that length.
   */
  async planFinal(partialIds: string[]): Promise<FinalPlan> {
    const partials: PartialSource[] = [];
    let partialsFinished = true;
    for (const partialId of partialIds) {
      const partial = await this.partialInfo(partialId);
      partials.push({ id: partialId, length: partial.length });
      partialsFinished &&= partial.finished;
    }
    const length = partials.reduce((sum, partial) => sum + partial.length, 0);
    if (length > this.maxUploadSize) {
      throw new TusError("upload-too-large", `the partial uploads add up to ${length} bytes, more than the ${this.maxUploadSize} bytes allowed`);
    }
    return { partials, length, partialsFinished };
  }

  /**
   * Creates a final upload from checked partial uploads (`planFinal`), then
   * claims each of them. If a claim fails, the final is removed again, so a
   * refused request leaves every partial free for another try. Once all are
   * claimed, the final is assembled: when its partials are finished, for up
   * to CONCAT_SYNC_ASSEMBLY_MS before this returns, so that a client may
   * download it as soon as it is created (tus-js-client's parallelUploads
   * reports success right then); the rest, if any, in the background.
   */
  async createFinal(
    { partials, length, partialsFinished }: FinalPlan,
    request: Omit<CreateUpload, "length" | "partial">,
  ): Promise<UploadInfo> {
    const final = await this.createWithId(newUploadId(this.env.UPLOADS), length, request, { kind: "final", partials });
    try {
      for (const partial of partials) unwrap(await this.stub(partial.id).attachFinal(final.id, this.caller));
    } catch (error) {
      await this.stub(final.id).terminate(this.caller);
      throw error;
    }
    const budgetMs = partialsFinished ? this.config.concatSyncAssemblyMs : 0;
    try {
      return unwrap(await this.stub(final.id).startAssembly(budgetMs));
    } catch (error) {
      if (error instanceof TusError) throw error;
      // The object failed to answer (evicted, reset): the final exists and
      // its alarm starts the assembly, so the creation still succeeded.
      console.error(`final upload ${final.id}: starting its assembly failed; its alarm will start it`, error);
      return final;
    }
  }

  private async partialInfo(id: string): Promise<UploadInfo & { length: number }> {
    const url = this.config.basePath + id;
    let info: UploadInfo;
    try {
      // A made-up id is refused before any object is asked: the same answer as an upload it may not see.
      info = await this.peek(id);
    } catch (error) {
      if (!(error instanceof TusError)) throw error;
      throw new TusError("invalid-concat", `Upload-Concat: ${url} is not an upload that can be concatenated (${error.message})`);
    }
    if (info.concat?.kind !== "partial") throw new TusError("invalid-concat", `Upload-Concat: ${url} is not a partial upload (it was created without Upload-Concat: partial)`);
    if (info.length === undefined) throw new TusError("invalid-concat", `Upload-Concat: ${url} has no length yet; declare it before concatenating`);
    return { ...info, length: info.length };
  }

  private async createWithId(
    id: string,
    length: number | undefined,
    request: Omit<CreateUpload, "length" | "partial">,
    concat: Concatenation | undefined,
  ): Promise<UploadInfo> {
    const objectKey = await this.objectKeyFor(id, request);
    // A key with the upload's id in it is new by construction; others are checked.
    if (!this.config.overwriteObjects && !objectKey.includes(id) && (await r2("head", () => this.env.BUCKET.head(objectKey)))) {
      // The log may name the key; the client may not learn it: it can say what another subject stored.
      console.warn(`upload refused: an object already exists at ${objectKey}`);
      throw new TusError("object-exists", "an object already exists at this upload's key, and this server does not overwrite objects; upload it under another name");
    }
    // The first `get` of a new id places its Durable Object near this Worker,
    // which runs near the client: the upload's state lives close to its bytes' source.
    return unwrap(
      await this.stub(id).create({
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
      }),
    );
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

  async append(
    id: string,
    append: Omit<AppendCall, "caller" | "lengthLimit">,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<UploadInfo> {
    const call: AppendCall = { ...append, caller: this.caller, lengthLimit: this.maxUploadSize };
    const response = await this.stub(id).fetch("https://upload.internal/append", {
      method: "POST",
      // Header values must be ASCII: escape the rest (e.g. in a subject) the JSON way.
      headers: { [APPEND_HEADER]: JSON.stringify(call).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`) },
      body,
    });
    return unwrap((await response.json()) as Outcome<UploadInfo>);
  }

  /**
   * Ends an upload at the bytes it holds: its length becomes `offset`, which
   * must be its current offset, and its object is completed. For a client
   * that says "this is all" without having said how long the upload is.
   */
  completeAt(id: string, offset: number): Promise<UploadInfo> {
    return this.append(id, { offset, declaredLength: offset, contentLength: 0, checksum: undefined }, null);
  }

  /** The upload's state without waiting for a request still writing to it. */
  async peek(id: string): Promise<UploadInfo> {
    return unwrap(await this.stub(id).peek(this.caller));
  }

  /** A finished upload's state; an unfinished one cannot be downloaded yet. */
  async finished(id: string): Promise<UploadInfo & { length: number }> {
    const info = unwrap(await this.stub(id).peek(this.caller));
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
    const { owner } = await this.inspect(id);
    unwrap(await this.stub(id).terminate(owner ?? undefined));
  }

  private stub(id: string): DurableObjectStub<UploadObject> {
    // An id the namespace did not mint names no upload: 404 without waking an object.
    const objectId = uploadObjectId(this.env.UPLOADS, id);
    if (!objectId) throw new TusError("upload-not-found");
    return this.env.UPLOADS.get(objectId);
  }
}

function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome.value;
  throw deserializeError(outcome.error);
}
