import { checkTusResumable } from "../headers";
import { tusHeaders, uploadStateHeaders } from "../respond";
import { withAnswerHeaders } from "../../shared/hook-answer";
import type { RequestContext } from "../../shared/context";

/**
 * HEAD: where the upload stands. Asking stops any older PATCH still writing
 * to it, so a client that lost its connection learns the true offset at once.
 */
export async function handleHead({ request, uploads, uploadId, config }: RequestContext): Promise<Response> {
  checkTusResumable(request.headers);
  const info = await uploads.info(uploadId);
  // "The Server MUST prevent the client and/or proxies from caching the response."
  return new Response(null, {
    status: 200,
    headers: withAnswerHeaders(info, tusHeaders({ ...uploadStateHeaders(info, config.basePath), "Cache-Control": "no-store" })),
  });
}
