import { TusError } from "../../../errors";
import type { RequestContext } from "../../shared/context";
import { appendBody, bodyLength, lengthFromRequest } from "../body";
import { appendCompletion, completionHeader, readNonNegativeInteger } from "../fields";
import { completedResponse, limitHeaders } from "../respond";
import type { InteropRules } from "../versions";

/**
 * Upload append: PATCH with `Upload-Offset` and the completion field (and,
 * from interop version 6, `Content-Type: application/partial-upload`). `?1`
 * completes the upload once the body is in, also with no body at all; the
 * answer is then the upload's own result. An append to a complete upload
 * never changes it: the same completing request again gets that result
 * again, anything else is refused.
 */
export async function handleAppend(context: RequestContext, rules: InteropRules): Promise<Response> {
  const { request, uploads, uploadId } = context;
  const { headers } = request;
  if (rules.appendMediaType && mediaType(headers) !== rules.appendMediaType) {
    throw new TusError(
      "unsupported-media-type",
      `at Upload-Draft-Interop-Version ${rules.version} an append (PATCH) needs Content-Type: ${rules.appendMediaType}, got ${JSON.stringify(headers.get("Content-Type") ?? "none")}`,
    );
  }
  const complete = appendCompletion(headers, rules);
  const offset = readNonNegativeInteger(headers, "Upload-Offset");
  if (offset === undefined) {
    throw new TusError("invalid-header", `an append (PATCH) needs Upload-Offset, a non-negative structured Integer; got ${JSON.stringify(headers.get("Upload-Offset")?.slice(0, 40) ?? "none")}`);
  }
  const contentLength = bodyLength(context, rules);
  const declaredLength = lengthFromRequest(headers, complete, offset, contentLength);

  const before = await uploads.peek(uploadId);
  if (before.finished) return appendToComplete(context, rules, { offset, complete, contentLength }, before);
  let info = await appendBody(context, rules, uploadId, { offset, declaredLength, contentLength });
  if (complete && !info.finished) info = await uploads.completeAt(uploadId, info.offset);
  if (info.finished) return completedResponse(context, rules, info, 200);
  return new Response(null, {
    status: 204,
    headers: { "Upload-Offset": String(info.offset), ...completionHeader(rules, false), ...limitHeaders(context, rules, info) },
  });
}

/**
 * "The server can choose to replay the final response to the client if the
 * request to append to the completed upload is valid": an empty `?1` at the
 * upload's end is. A wrong offset is still a 409 with the right one.
 */
function appendToComplete(
  context: RequestContext,
  rules: InteropRules,
  request: { offset: number; complete: boolean; contentLength: number | undefined },
  info: Awaited<ReturnType<RequestContext["uploads"]["peek"]>>,
): Response {
  if (request.offset !== info.offset) {
    throw new TusError("offset-mismatch", `Upload-Offset is ${request.offset} but the upload is complete at ${info.offset}`, { offset: info.offset });
  }
  if (request.complete && request.contentLength === 0) return completedResponse(context, rules, info, 200);
  throw new TusError("upload-completed", `this upload is complete at ${info.offset} bytes and takes no more; nothing of this request was stored`, {
    offset: info.offset,
  });
}

function mediaType(headers: Headers): string | undefined {
  return headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase();
}
