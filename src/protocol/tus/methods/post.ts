import type { GatewayConfig } from "../../../config";
import { TusError } from "../../../errors";
import { decideCreation } from "../../../hooks/pre-create";
import type { UploadInfo } from "../../../upload/upload-record";
import { contentDisposition, safeContentType } from "../../http/object-headers";
import { parseUploadChecksum } from "../checksum";
import { parseUploadConcat } from "../concat";
import { checkTusResumable, hasOffsetOctetStreamBody, parseContentLength, parseCreationLength } from "../headers";
import { checkFiletype, checkMetadataLimits, checkMetadataSize } from "../limits";
import { decodeMetadataText, encodeMetadataText, parseUploadMetadata, serializeUploadMetadata, type UploadMetadata } from "../metadata";
import { expiryHeaders, tusHeaders } from "../respond";
import type { TusContext } from "../context";

/**
 * POST on the collection (creation): a new upload, optionally with its first
 * bytes (creation-with-upload), or a final upload made of partial ones
 * (concatenation). Answers 201 with the upload's absolute URL.
 */
export async function handlePost(context: TusContext): Promise<Response> {
  const { request, uploads, config } = context;
  const { headers } = request;
  checkTusResumable(headers);
  const concat = parseUploadConcat(headers, request.url, config.basePath, config.maxConcatPartials);
  const metadataHeader = headers.get("Upload-Metadata");
  const contentLength = parseContentLength(headers, uploads.maxUploadSize);
  const hasBody = request.body !== null && contentLength !== 0;
  const length = concat?.kind === "final" ? checkFinal(headers, hasBody) : lengthOf(parseCreationLength(headers, uploads.maxUploadSize));
  let metadata = parseUploadMetadata(metadataHeader);
  checkMetadataLimits(metadataHeader, metadata, config);
  if (hasBody && !hasOffsetOctetStreamBody(headers)) {
    throw new TusError("unsupported-media-type", "a POST with a body (creation-with-upload) needs Content-Type: application/offset+octet-stream");
  }
  if (length !== undefined && contentLength !== undefined && contentLength > length) {
    throw new TusError("exceeds-upload-length", `the body (${contentLength} bytes) is longer than Upload-Length ${length}`);
  }
  const checksum = parseUploadChecksum(headers);
  // A final's partials are checked before the hook is asked, which then knows the final's length.
  const finalPlan = concat?.kind === "final" ? await uploads.planFinal(concat.partialIds) : undefined;

  const decision = await decideCreation(
    {
      kind: finalPlan ? "final" : concat ? "partial" : "upload",
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

  let info = finalPlan
    ? await uploads.createFinal(finalPlan, creation)
    : await uploads.create({ ...creation, length, partial: concat?.kind === "partial" });
  const location = new URL(`${config.basePath}${info.id}`, request.url).href;
  if (hasBody) info = await appendFirstBytes(info, { contentLength, checksum }, context, location);
  const response = tusHeaders({ Location: location, ...expiryHeaders(info) });
  if (hasBody) response.set("Upload-Offset", String(info.offset));
  return new Response(null, { status: 201, headers: response });
}

/** creation: the length, or undefined while it is deferred. */
function lengthOf(creation: ReturnType<typeof parseCreationLength>): number | undefined {
  return "length" in creation ? creation.length : undefined;
}

/** concatenation: "The Client MUST NOT include the Upload-Length header in the final upload creation." */
function checkFinal(headers: Headers, hasBody: boolean): undefined {
  if (headers.has("Upload-Length") || headers.has("Upload-Defer-Length")) {
    throw new TusError("invalid-concat", "a final upload takes its length from its partial uploads: send no Upload-Length");
  }
  if (hasBody) throw new TusError("final-upload-is-read-only", "a final upload is made of its partial uploads and takes no body");
  return undefined;
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

/**
 * creation-with-upload. The upload exists whatever happens to its first
 * bytes. If they were refused (checksum mismatch, too long) the client gets
 * that error, with the upload's URL in `Location`; if the connection or
 * storage failed, 201 with the offset actually stored, to resume with PATCH.
 */
async function appendFirstBytes(
  info: UploadInfo,
  body: { contentLength: number | undefined; checksum: ReturnType<typeof parseUploadChecksum> },
  { request, uploads }: TusContext,
  location: string,
): Promise<UploadInfo> {
  try {
    return await uploads.append(info.id, { offset: 0, declaredLength: undefined, ...body }, request.body);
  } catch (error) {
    if (!(error instanceof TusError) || error.details.offset === undefined) throw error;
    if (error.status < 500) {
      throw new TusError(error.code, error.message, { ...error.details, headers: { ...error.details.headers, Location: location } });
    }
    return { ...info, offset: error.details.offset };
  }
}
