import { TusError } from "../../../errors";
import type { UploadInfo } from "../../../upload/upload-record";
import { contentDisposition, safeContentType } from "../../http/object-headers";
import { parseUploadChecksum } from "../checksum";
import { parseUploadConcat } from "../concat";
import { checkTusResumable, hasOffsetOctetStreamBody, parseContentLength, parseCreationLength } from "../headers";
import { decodeMetadataText, parseUploadMetadata } from "../metadata";
import { expiryHeaders, tusHeaders } from "../respond";
import type { TusContext } from "../context";

/**
 * POST on the collection (creation): a new upload, optionally with its first
 * bytes (creation-with-upload), or a final upload made of partial ones
 * (concatenation). Answers 201 with the upload's absolute URL.
 */
export async function handlePost({ request, uploads, config }: TusContext): Promise<Response> {
  const { headers } = request;
  checkTusResumable(headers);
  const concat = parseUploadConcat(headers, request.url, config.basePath);
  const metadata = parseUploadMetadata(headers.get("Upload-Metadata"));
  const objectHeaders = {
    metadata,
    contentType: safeContentType(decodeMetadataText(metadata, "filetype")),
    contentDisposition: contentDisposition(decodeMetadataText(metadata, "filename")),
  };
  const contentLength = parseContentLength(headers);
  const hasBody = request.body !== null && contentLength !== 0;

  let info: UploadInfo;
  if (concat?.kind === "final") {
    // "The Client MUST NOT include the Upload-Length header in the final upload creation."
    if (headers.has("Upload-Length") || headers.has("Upload-Defer-Length")) {
      throw new TusError("invalid-concat", "a final upload takes its length from its partial uploads: send no Upload-Length");
    }
    if (hasBody) throw new TusError("final-upload-is-read-only", "a final upload is made of its partial uploads and takes no body");
    info = await uploads.createFinal(concat.partialIds, objectHeaders);
  } else {
    const creation = parseCreationLength(headers);
    const length = "length" in creation ? creation.length : undefined;
    // "If the length of the upload exceeds the maximum, which MAY be specified
    // using the Tus-Max-Size header, the Server MUST respond with 413."
    if (length !== undefined && length > config.maxUploadSize) {
      throw new TusError("upload-too-large", `Upload-Length ${length} exceeds this server's maximum of ${config.maxUploadSize} bytes (Tus-Max-Size)`);
    }
    if (hasBody && !hasOffsetOctetStreamBody(headers)) {
      throw new TusError("unsupported-media-type", "a POST with a body (creation-with-upload) needs Content-Type: application/offset+octet-stream");
    }
    if (length !== undefined && contentLength !== undefined && contentLength > length) {
      throw new TusError("exceeds-upload-length", `the body (${contentLength} bytes) is longer than Upload-Length ${length}`);
    }
    const checksum = parseUploadChecksum(headers);
    info = await uploads.create({ length, partial: concat?.kind === "partial", ...objectHeaders });
    if (hasBody) info = await appendFirstBytes(info, { contentLength, checksum }, request, uploads, uploadUrl(request, config.basePath, info.id));
  }

  const response = tusHeaders({ Location: uploadUrl(request, config.basePath, info.id), ...expiryHeaders(info) });
  if (hasBody) response.set("Upload-Offset", String(info.offset));
  return new Response(null, { status: 201, headers: response });
}

function uploadUrl(request: Request, basePath: string, id: string): string {
  return new URL(`${basePath}${id}`, request.url).href;
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
  request: Request,
  uploads: TusContext["uploads"],
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
