import { TusError } from "../../errors";
import { TUS_VERSION } from "./headers";
import { serializeUploadMetadata } from "./metadata";
import type { UploadInfo } from "../../upload/upload-record";

/** Headers every tus response carries. */
export function tusHeaders(extra: Record<string, string> = {}): Headers {
  return new Headers({ "Tus-Resumable": TUS_VERSION, ...extra });
}

/** The headers that describe an upload's progress (HEAD, and the offset after PATCH/POST). */
export function uploadStateHeaders(info: UploadInfo): Record<string, string> {
  const headers: Record<string, string> = { "Upload-Offset": String(info.offset) };
  if (info.length === undefined) headers["Upload-Defer-Length"] = "1";
  else headers["Upload-Length"] = String(info.length);
  const metadata = serializeUploadMetadata(info.metadata);
  if (metadata) headers["Upload-Metadata"] = metadata;
  return headers;
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
  if (tusError.code === "method-not-allowed") headers.set("Allow", "OPTIONS, POST, HEAD, PATCH, GET");
  if (tusError.details.offset !== undefined) headers.set("Upload-Offset", String(tusError.details.offset));
  if (tusError.details.retryAfterSeconds !== undefined) headers.set("Retry-After", String(tusError.details.retryAfterSeconds));
  if (request.method === "HEAD") return new Response(null, { status: tusError.status, headers });
  headers.set("Content-Type", "text/plain; charset=utf-8");
  return new Response(`${tusError.message}\n`, { status: tusError.status, headers });
}

