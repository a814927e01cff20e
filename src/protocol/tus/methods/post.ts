import { TusError } from "../../../errors";
import { contentDisposition, safeContentType } from "../../http/object-headers";
import { checkTusResumable, hasOffsetOctetStreamBody, parseContentLength, parseCreationLength } from "../headers";
import { decodeMetadataText, parseUploadMetadata } from "../metadata";
import { tusHeaders } from "../respond";
import type { TusContext } from "../context";

/**
 * POST on the collection (creation): a new upload, optionally with its first
 * bytes (creation-with-upload). Answers 201 with the upload's absolute URL.
 */
export async function handlePost({ request, uploads, config }: TusContext): Promise<Response> {
  const { headers } = request;
  checkTusResumable(headers);
  const creation = parseCreationLength(headers);
  const length = "length" in creation ? creation.length : undefined;
  // "If the length of the upload exceeds the maximum, which MAY be specified
  // using the Tus-Max-Size header, the Server MUST respond with 413."
  if (length !== undefined && length > config.maxUploadSize) {
    throw new TusError("upload-too-large", `Upload-Length ${length} exceeds this server's maximum of ${config.maxUploadSize} bytes (Tus-Max-Size)`);
  }
  const metadata = parseUploadMetadata(headers.get("Upload-Metadata"));
  const contentLength = parseContentLength(headers);
  const hasBody = request.body !== null && contentLength !== 0;
  if (hasBody && !hasOffsetOctetStreamBody(headers)) {
    throw new TusError("unsupported-media-type", "a POST with a body (creation-with-upload) needs Content-Type: application/offset+octet-stream");
  }
  if (length !== undefined && contentLength !== undefined && contentLength > length) {
    throw new TusError("exceeds-upload-length", `the body (${contentLength} bytes) is longer than Upload-Length ${length}`);
  }

  let info = await uploads.create({
    length,
    metadata,
    contentType: safeContentType(decodeMetadataText(metadata, "filetype")),
    contentDisposition: contentDisposition(decodeMetadataText(metadata, "filename")),
  });
  const location = new URL(`${config.basePath}${info.id}`, request.url).href;
  if (hasBody) {
    try {
      info = await uploads.append(info.id, { offset: 0, declaredLength: undefined, contentLength }, request.body);
    } catch (error) {
      // The upload exists whatever happened to its first bytes: give the
      // client its URL and the offset it holds so it can resume with PATCH.
      if (!(error instanceof TusError) || error.details.offset === undefined) throw error;
      info = { ...info, offset: error.details.offset };
    }
  }
  const response = tusHeaders({ Location: location });
  if (hasBody) response.set("Upload-Offset", String(info.offset));
  return new Response(null, { status: 201, headers: response });
}
