import { TusError } from "../../../errors";
import { parseUploadChecksum } from "../checksum";
import { checkTusResumable, hasOffsetOctetStreamBody, parseContentLength, parseUploadLength, parseUploadOffset } from "../headers";
import { expiryHeaders, tusHeaders } from "../respond";
import { answeredResponse } from "../../shared/hook-answer";
import type { RequestContext } from "../../shared/context";

/** PATCH: append the body at Upload-Offset; answer the new offset. */
export async function handlePatch({ request, uploads, uploadId }: RequestContext): Promise<Response> {
  const { headers } = request;
  checkTusResumable(headers);
  // "All PATCH requests MUST use Content-Type: application/offset+octet-stream,
  // otherwise the server SHOULD return a 415 Unsupported Media Type status."
  if (!hasOffsetOctetStreamBody(headers)) {
    throw new TusError(
      "unsupported-media-type",
      `PATCH needs Content-Type: application/offset+octet-stream, got ${JSON.stringify(headers.get("Content-Type") ?? "none")}`,
    );
  }
  const info = await uploads.append(
    uploadId,
    {
      offset: parseUploadOffset(headers),
      // creation-defer-length: the length may arrive with any PATCH.
      declaredLength: parseUploadLength(headers, uploads.maxUploadSize),
      contentLength: parseContentLength(headers, uploads.maxUploadSize),
      checksum: parseUploadChecksum(headers),
    },
    request.body,
  );
  const answer = tusHeaders({ "Upload-Offset": String(info.offset), ...expiryHeaders(info) });
  // The pre-finish hook answered the client: this PATCH completed the upload (or retries the one that did).
  if (info.answer) return answeredResponse(info.answer, answer);
  return new Response(null, { status: 204, headers: answer });
}
