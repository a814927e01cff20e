import type { GatewayConfig } from "../../config";
import { TusError } from "../../errors";
import { decideCreation } from "../../hooks/pre-create";
import type { UploadInfo } from "../../upload/upload-record";
import type { AppendArguments, FinalPlan } from "../../upload/uploads";
import { contentDisposition, safeContentType } from "../http/object-headers";
import type { RequestContext } from "./context";
import { checkFiletype, checkMetadataSize } from "./limits";
import { decodeMetadataText, encodeMetadataText, serializeUploadMetadata, type UploadMetadata } from "./metadata";

/**
 * Creating an upload, the same in both dialects once their headers are read:
 * the pre-create hook decides (and may change the metadata and key), the
 * file type is checked, and the upload layer creates the upload.
 */
export interface NewUploadRequest {
  /** Undefined while the length is not known yet. */
  length: number | undefined;
  metadata: UploadMetadata;
  /** A partial upload of a tus concatenation. */
  partial?: boolean;
  /** A tus concatenation's final upload, its partials checked. */
  finalPlan?: FinalPlan;
}

/** A creation's first bytes: the request's body, appended in the same call as the creation. */
export type FirstBytes = Omit<AppendArguments, "offset">;

export async function createUpload(context: RequestContext, { length, metadata, partial, finalPlan }: NewUploadRequest, firstBytes?: FirstBytes): Promise<UploadInfo> {
  const { uploads, config } = context;
  const decision = await decideCreation(
    {
      kind: finalPlan ? "final" : partial ? "partial" : "upload",
      length: finalPlan?.length ?? length,
      metadata: textOf(metadata),
      subject: context.principal.subject,
    },
    { url: config.preCreateHookUrl, callback: context.onUploadCreate, secret: config.webhookSecret },
  );
  if (decision.metadata) metadata = hookMetadata(decision.metadata, config);
  const filetype = decodeMetadataText(metadata, "filetype");
  checkFiletype(filetype, config);
  const filename = decodeMetadataText(metadata, "filename");
  const creation = {
    metadata,
    filename,
    objectKey: decision.objectKey,
    contentType: safeContentType(filetype),
    contentDisposition: contentDisposition(filename),
  };
  if (finalPlan) return uploads.createFinal(finalPlan, creation);
  return uploads.create({ ...creation, length, partial }, firstBytes && { body: context.request.body, append: firstBytes });
}

/** The absolute URL of an upload, for `Location`. */
export function uploadUrl(context: RequestContext, id: string): string {
  return new URL(`${context.config.basePath}${id}`, context.request.url).href;
}

/**
 * A creation with a body that failed after the upload was created: the
 * upload exists whatever became of its bytes, so the answer names it in
 * `Location` (the client may resume it). Anything else is as it was.
 */
export function withLocation(context: RequestContext, error: unknown): unknown {
  if (!(error instanceof TusError) || !error.details.upload?.created) return error;
  const location = uploadUrl(context, error.details.upload.id);
  return new TusError(error.code, error.message, { ...error.details, headers: { ...error.details.headers, Location: location } });
}

/**
 * The hook's metadata, held to the size and key-count limits a client's is
 * (not to METADATA_ALLOWED_KEYS: the server's own hook may add keys). Past
 * them it is the hook's fault, not the client's: 503, like any malformed answer.
 */
function hookMetadata(values: Record<string, string>, config: GatewayConfig): UploadMetadata {
  const metadata = encodeMetadataText(values);
  try {
    checkMetadataSize(serializeUploadMetadata(metadata), metadata, config);
  } catch (error) {
    if (!(error instanceof TusError)) throw error;
    console.error(`pre-create hook answered metadata over this server's limits: ${error.message}`);
    throw new TusError("hook-unavailable", `the server's pre-create hook answered metadata over this server's limits (${error.message})`, {
      retryAfterSeconds: 1,
    });
  }
  return metadata;
}

function textOf(metadata: UploadMetadata): Record<string, string> {
  return Object.fromEntries([...metadata.keys()].map((key) => [key, decodeMetadataText(metadata, key) ?? ""]));
}
