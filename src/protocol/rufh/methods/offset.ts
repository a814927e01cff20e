import type { UploadInfo } from "../../../upload/upload-record";
import type { RequestContext } from "../../shared/context";
import { handleGet } from "../../tus/methods/get";
import { withAnswerHeaders } from "../../shared/hook-answer";
import { stateHeaders } from "../respond";
import type { InteropRules } from "../versions";

/**
 * Offset retrieval (HEAD): where the upload stands. Asking stops any older
 * request still writing to it, so the offset answered is one the next append
 * can use ("the server MUST NOT send outdated information"). 204 is what
 * every version allows.
 */
export async function handleOffset(context: RequestContext, rules: InteropRules): Promise<Response> {
  return offsetResponse(context, rules, await context.uploads.info(context.uploadId));
}

function offsetResponse(context: RequestContext, rules: InteropRules, info: UploadInfo): Response {
  // A finished upload's HEAD repeats the pre-finish hook's headers, for a client that lost the completing answer.
  const headers = withAnswerHeaders(info, stateHeaders(context, rules, info));
  headers.set("Cache-Control", "no-store");
  return new Response(null, { status: 204, headers });
}

/**
 * GET: from the text after -11 on, "a HEAD or GET request" retrieves the
 * offset; a complete upload is downloaded as in tus, which is what GET has
 * always meant on this gateway. Earlier versions only download. One call to
 * the upload's Durable Object either way: the state it answers decides.
 */
export async function handleRetrieval(context: RequestContext, rules: InteropRules): Promise<Response> {
  if (!rules.offsetByGet) return handleGet(context);
  const info = await context.uploads.info(context.uploadId);
  return info.finished ? handleGet(context, info) : offsetResponse(context, rules, info);
}
