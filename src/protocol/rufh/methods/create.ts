import { TusError } from "../../../errors";
import type { RequestContext } from "../../shared/context";
import { createUpload, uploadUrl, withLocation } from "../../shared/creation";
import { appendIntent, bodyLength, lengthFromRequest, withLimits } from "../body";
import { completionHeader, requireCompletion } from "../fields";
import { creationMetadata } from "../metadata";
import { completedResponse, limitHeaders } from "../respond";
import type { InteropRules } from "../versions";

/**
 * Upload creation: POST or PUT on the collection with the completion field.
 * `?1` with a body is a whole file in one request; `?0` creates the upload
 * resource, with or without first bytes, to append to later. No 104 comes
 * first (workerd cannot send one, docs/protocol.md): the URL arrives in the final
 * answer, so only a request that ends, or a `?0` creation, can be resumed.
 */
export async function handleCreation(context: RequestContext, rules: InteropRules): Promise<Response> {
  const { request, uploads } = context;
  const complete = requireCompletion(request.headers, rules, "a request creating a resumable upload");
  const contentLength = bodyLength(context, rules);
  const length = lengthFromRequest(request.headers, complete, 0, contentLength);
  if (length !== undefined && length > uploads.maxUploadSize) {
    throw new TusError("upload-too-large", `the upload would be ${length} bytes; this server accepts at most ${uploads.maxUploadSize}`, {
      headers: limitHeaders(context, rules),
    });
  }
  if (length !== undefined && contentLength !== undefined && contentLength > length) {
    throw new TusError("length-conflict", `the body (${contentLength} bytes) is longer than Upload-Length ${length}`);
  }
  let info;
  try {
    // The first bytes go with the creation, in one call; a body of 0 bytes needs none.
    const firstBytes = contentLength !== 0 ? appendIntent(context, complete, { declaredLength: undefined, contentLength }) : undefined;
    info = await createUpload(context, { length, metadata: creationMetadata(request.headers, context.config) }, firstBytes);
  } catch (error) {
    // The upload exists whatever became of its bytes: the client may resume it.
    throw withLocation(context, withLimits(error, context, rules));
  }
  const location = uploadUrl(context, info.id);
  if (info.finished) return completedResponse(context, rules, info, 201);
  return new Response(null, {
    status: 201,
    headers: { Location: location, "Upload-Offset": String(info.offset), ...completionHeader(rules, false), ...limitHeaders(context, rules, info) },
  });
}
