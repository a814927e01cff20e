import type { RequestContext } from "../../shared/context";

/** Upload cancellation (DELETE): an append in flight is stopped first, then the upload and its bytes go. */
export async function handleCancel({ uploads, uploadId }: RequestContext): Promise<Response> {
  await uploads.terminate(uploadId);
  return new Response(null, { status: 204 });
}
