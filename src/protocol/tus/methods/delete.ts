import { checkTusResumable } from "../headers";
import { tusHeaders } from "../respond";
import type { RequestContext } from "../../shared/context";

/**
 * DELETE (termination): "the Server SHOULD free associated resources" and
 * answer 204; afterwards the upload answers 410. A PATCH still in flight is
 * stopped first, so no byte lands after the upload is gone.
 */
export async function handleDelete({ request, uploads, uploadId }: RequestContext): Promise<Response> {
  checkTusResumable(request.headers);
  await uploads.terminate(uploadId);
  return new Response(null, { status: 204, headers: tusHeaders() });
}
