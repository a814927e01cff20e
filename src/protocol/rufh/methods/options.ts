import type { RequestContext } from "../../shared/context";
import { limitHeaders } from "../respond";
import type { InteropRules } from "../versions";

/**
 * OPTIONS without the completion field: "the server MUST include the
 * `Upload-Limit` header field", `min-size=0` when nothing else limits.
 */
export function handleOptions(context: RequestContext, rules: InteropRules): Response {
  return new Response(null, { status: 204, headers: limitHeaders(context, rules) });
}
