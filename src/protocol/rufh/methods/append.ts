import { TusError } from "../../../errors";
import type { RequestContext } from "../../shared/context";
import { appendIntent, bodyLength, lengthFromRequest, withLimits } from "../body";
import { appendCompletion, completionHeader, readNonNegativeInteger } from "../fields";
import { completedResponse, limitHeaders } from "../respond";
import type { InteropRules } from "../versions";

/**
 * Upload append: PATCH with `Upload-Offset` and the completion field (and,
 * from interop version 6, `Content-Type: application/partial-upload`). `?1`
 * completes the upload once the body is in, also with no body at all; the
 * answer is then the upload's own result. An append to a complete upload
 * never changes it: the same completing request again gets that result
 * again, anything else is refused. One call to the upload's Durable Object
 * decides all of it (see `appendIntent`).
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

  let info;
  try {
    info = await uploads.append(uploadId, { offset, ...appendIntent(context, complete, { declaredLength, contentLength }) }, request.body);
  } catch (error) {
    throw withLimits(error, context, rules);
  }
  // Completed by this request, or replayed to an empty `?1` at the end of a complete upload.
  if (info.finished) return completedResponse(context, rules, info, 200);
  return new Response(null, {
    status: 204,
    headers: { "Upload-Offset": String(info.offset), ...completionHeader(rules, false), ...limitHeaders(context, rules, info) },
  });
}

function mediaType(headers: Headers): string | undefined {
  return headers.get("Content-Type")?.split(";")[0]?.trim().toLowerCase();
}
