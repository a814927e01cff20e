import { parseRange } from "../../http/range";
import { tusHeaders } from "../respond";
import type { RequestContext } from "../../shared/context";
import type { UploadInfo } from "../../../upload/upload-record";
import { requireFinished } from "../../../upload/uploads";

/**
 * GET on a finished upload: the stored object, whole or one byte range. Not a
 * tus request (any browser may follow the link), so Tus-Resumable is not required.
 * `known`: the upload's state, when the caller asked for it already.
 */
export async function handleGet({ request, uploads, uploadId }: RequestContext, known?: UploadInfo): Promise<Response> {
  const info = known ? requireFinished(known) : await uploads.finished(uploadId);
  const range = parseRange(request.headers.get("Range"), info.length);
  const object = await uploads.openObject(info, range);
  const headers = tusHeaders({
    "Content-Type": object.httpMetadata?.contentType ?? "application/octet-stream",
    "Content-Disposition": object.httpMetadata?.contentDisposition ?? "attachment",
    "Accept-Ranges": "bytes",
    ETag: object.httpEtag,
    // Uploaded bytes are the client's, not ours: never let a browser run them as this origin.
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    // A token unlocked these bytes for one client: no shared cache may keep them, nor a browser's disk.
    "Cache-Control": "private, no-store",
  });
  if (!range) {
    headers.set("Content-Length", String(object.size));
    return new Response(object.body, { status: 200, headers });
  }
  headers.set("Content-Length", String(range.end - range.start + 1));
  headers.set("Content-Range", `bytes ${range.start}-${range.end}/${object.size}`);
  return new Response(object.body, { status: 206, headers });
}
