import type { GatewayConfig } from "../../config";
import { TusError } from "../../errors";
import { decideCreation } from "../../hooks/pre-create";
import type { UploadInfo } from "../../upload/upload-record";
import type { AppendCall } from "../../upload/upload-object";
import type { FinalPlan } from "../../upload/uploads";
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

export async function createUpload(context: RequestContext, { length, metadata, partial, finalPlan }: NewUploadRequest): Promise<UploadInfo> {
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
  return finalPlan ? uploads.createFinal(finalPlan, creation) : uploads.create({ ...creation, length, partial });
}

/** The absolute URL of an upload, for `Location`. */
export function uploadUrl(context: RequestContext, id: string): string {
  return new URL(`${context.config.basePath}${id}`, context.request.url).href;
}

/**
 * The body of a creating request. The upload exists whatever happens to its
 * first bytes. If they were refused (checksum mismatch, too long) the client
 * gets that error, with the upload's URL in `Location`; if the connection or
 * storage failed, the offset actually stored, to resume from. Every byte in
 * but no decision from the pre-finish hook yet is not a success either: the
 * 503 goes out, with `Location` for a client that asks again there.
 */
export async function appendFirstBytes(
  context: RequestContext,
  info: UploadInfo,
  body: Pick<AppendCall, "contentLength" | "checksum" | "declaredLength">,
): Promise<UploadInfo> {
  try {
    return await context.uploads.append(info.id, { offset: 0, ...body }, context.request.body);
  } catch (error) {
    if (!(error instanceof TusError) || error.details.offset === undefined) throw error;
    if (error.status < 500 || error.code === "finish-unconfirmed") {
      const location = uploadUrl(context, info.id);
      throw new TusError(error.code, error.message, { ...error.details, headers: { ...error.details.headers, Location: location } });
    }
    return { ...info, offset: error.details.offset };
  }
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
