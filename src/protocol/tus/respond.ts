import { TusError } from "../../errors";
import { TUS_VERSION } from "./headers";
import { formatUploadConcat } from "./concat";
import { serializeUploadMetadata } from "./metadata";
import type { UploadInfo } from "../../upload/upload-record";

/** Headers every tus response carries. */
export function tusHeaders(extra: Record<string, string> = {}): Headers {
  return new Headers({ "Tus-Resumable": TUS_VERSION, ...extra });
}

/**
 * The headers that describe an upload on HEAD. A final upload shows no
 * offset until it is assembled ("The Server MUST NOT include Upload-Offset
 * ... unless the concatenation has been successfully finished").
 */
export function uploadStateHeaders(info: UploadInfo, basePath: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (info.concat?.kind !== "final" || info.finished) headers["Upload-Offset"] = String(info.offset);
  if (info.length === undefined) headers["Upload-Defer-Length"] = "1";
  else headers["Upload-Length"] = String(info.length);
  const metadata = serializeUploadMetadata(info.metadata);
  if (metadata) headers["Upload-Metadata"] = metadata;
  if (info.concat) headers["Upload-Concat"] = formatUploadConcat(info.concat, basePath);
  return { ...headers, ...expiryHeaders(info) };
}

/** expiration: `Upload-Expires` while the upload can still expire (an RFC 9110 date). */
export function expiryHeaders(info: UploadInfo): Record<string, string> {
  return info.expiresAt === undefined || info.finished ? {} : { "Upload-Expires": new Date(info.expiresAt).toUTCString() };
}

/**
 * The one place errors become responses. A TusError answers with its status,
 * its message as plain text (no body for HEAD) and the headers its details
 * ask for; anything else is a bug, logged with the request, and answered 500.
 */
export function errorResponse(error: unknown, request: Request): Response {
  const tusError = error instanceof TusError ? error : new TusError("internal");
  if (!(error instanceof TusError)) {
    console.error(`unhandled error in ${request.method} ${new URL(request.url).pathname}`, error);
  }
  const headers = tusHeaders({ "Cache-Control": "no-store", ...tusError.details.headers });
  if (tusError.code === "unsupported-version") headers.set("Tus-Version", TUS_VERSION);
  if (tusError.code === "method-not-allowed") headers.set("Allow", "OPTIONS, POST, HEAD, PATCH, GET, DELETE");
  if (tusError.details.offset !== undefined) headers.set("Upload-Offset", String(tusError.details.offset));
  if (tusError.details.retryAfterSeconds !== undefined) headers.set("Retry-After", String(tusError.details.retryAfterSeconds));
  if (request.method === "HEAD") return new Response(null, { status: tusError.status, headers });
  headers.set("Content-Type", "text/plain; charset=utf-8");
  return new Response(`${tusError.message}\n`, { status: tusError.status, headers });
}

