import { TusError } from "../../../errors";
import { createUpload, uploadUrl, withLocation } from "../../shared/creation";
import { checkMetadataLimits } from "../../shared/limits";
import { parseUploadMetadata } from "../../shared/metadata";
import type { RequestContext } from "../../shared/context";
import type { UploadInfo } from "../../../upload/upload-record";
import { parseUploadChecksum } from "../checksum";
import { parseUploadConcat } from "../concat";
import { checkTusResumable, hasOffsetOctetStreamBody, parseContentLength, parseCreationLength } from "../headers";
import { expiryHeaders, tusHeaders } from "../respond";
import { answeredResponse } from "../../shared/hook-answer";

/**
 * POST on the collection (creation): a new upload, optionally with its first
 * bytes (creation-with-upload), or a final upload made of partial ones
 * (concatenation). Answers 201 with the upload's absolute URL.
 */
export async function handlePost(context: RequestContext): Promise<Response> {
  const { request, uploads, config } = context;
  const { headers } = request;
  checkTusResumable(headers);
  const concat = parseUploadConcat(headers, request.url, config.basePath, config.maxConcatPartials);
  const metadataHeader = headers.get("Upload-Metadata");
  const contentLength = parseContentLength(headers, uploads.maxUploadSize);
  const hasBody = request.body !== null && contentLength !== 0;
  const length = concat?.kind === "final" ? checkFinal(headers, hasBody) : lengthOf(parseCreationLength(headers, uploads.maxUploadSize));
  const metadata = parseUploadMetadata(metadataHeader);
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

  let info: Pick<UploadInfo, "id" | "offset" | "expiresAt" | "finished" | "answer">;
  try {
    const firstBytes = hasBody ? { contentLength, checksum, declaredLength: undefined } : undefined;
    info = await createUpload(context, { length, metadata, partial: concat?.kind === "partial", finalPlan }, firstBytes);
  } catch (error) {
    info = createdDespite(context, error);
  }
  const response = tusHeaders({ Location: uploadUrl(context, info.id), ...expiryHeaders(info) });
  if (hasBody) response.set("Upload-Offset", String(info.offset));
  // Completed by this POST (creation-with-upload, length 0, or a final assembled at once): the pre-finish hook's answer.
  if (info.answer) return answeredResponse(info.answer, response);
  return new Response(null, { status: 201, headers: response });
}

/**
 * A creation with a body whose bytes failed after the upload was created.
 * If they were refused (checksum mismatch, too long) the client gets that
 * error, with the upload's URL in `Location`; if the connection or storage
 * failed, 201 with the offset actually stored, to resume from. Every byte in
 * but no decision from the pre-finish hook yet is not a success either: the
 * 503 goes out, with `Location` for a client that asks again there.
 */
function createdDespite(context: RequestContext, error: unknown): Pick<UploadInfo, "id" | "offset" | "expiresAt" | "finished"> {
  const upload = error instanceof TusError ? error.details.upload : undefined;
  if (!(error instanceof TusError) || !upload?.created || error.details.offset === undefined) throw error;
  if (error.status < 500 || error.code === "finish-unconfirmed") throw withLocation(context, error);
  return { id: upload.id, offset: error.details.offset, expiresAt: upload.expiresAt, finished: false };
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
