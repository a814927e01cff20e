import { TusError } from "../../errors";

/**
 * The part of turning an error into a response that both dialects share:
 * anything that is not a TusError is a bug, logged with the request and
 * answered as `internal` (500); a TusError's details become headers.
 */
export function asTusError(error: unknown, request: Request): TusError {
  if (error instanceof TusError) return error;
  console.error(`unhandled error in ${request.method} ${new URL(request.url).pathname}`, error);
  return new TusError("internal");
}

/** The headers every error response carries, whatever the dialect: no caching, and what the error's details ask for. */
export function errorHeaders(error: TusError): Record<string, string> {
  const headers: Record<string, string> = { "Cache-Control": "no-store", ...error.details.headers };
  if (error.details.offset !== undefined) headers["Upload-Offset"] = String(error.details.offset);
  if (error.details.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.details.retryAfterSeconds);
  return headers;
}

/** The error's message as plain text (no body for HEAD). */
export function textErrorResponse(error: TusError, request: Request, headers: Headers): Response {
  if (request.method === "HEAD") return new Response(null, { status: error.status, headers });
  headers.set("Content-Type", "text/plain; charset=utf-8");
  return new Response(`${error.message}\n`, { status: error.status, headers });
}
