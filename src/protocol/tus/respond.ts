import { asTusError, errorHeaders, textErrorResponse } from "../shared/error-response";
import { TUS_VERSION } from "./headers";
import { formatUploadConcat } from "./concat";
import { serializeUploadMetadata } from "../shared/metadata";
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
export function expiryHeaders(info: Pick<UploadInfo, "expiresAt" | "finished">): Record<string, string> {
  return info.expiresAt === undefined || info.finished ? {} : { "Upload-Expires": new Date(info.expiresAt).toUTCString() };
}

/**
 * Errors become tus responses here: a TusError answers with its status, its
 * message as plain text (no body for HEAD) and the headers its details ask
 * for, plus what tus adds; anything else is a bug, answered 500.
 */
export function errorResponse(error: unknown, request: Request): Response {
  const tusError = asTusError(error, request);
  const headers = tusHeaders(errorHeaders(tusError));
  if (tusError.code === "unsupported-version") headers.set("Tus-Version", TUS_VERSION);
  if (tusError.code === "method-not-allowed") headers.set("Allow", "OPTIONS, POST, HEAD, PATCH, GET, DELETE");
  return textErrorResponse(tusError, request, headers);
}
