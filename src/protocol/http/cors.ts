/**
 * CORS for browser clients (tus-js-client, Uppy). Every tus (or IETF draft) response header a
 * client reads must be exposed, or the browser hides it and the upload cannot
 * resume; a preflight must allow every header tus clients send.
 */
import type { AllowedOrigins } from "../../config";

const ALLOWED_METHODS = "POST, PUT, GET, HEAD, PATCH, DELETE, OPTIONS";

const ALLOWED_HEADERS = [
  "Authorization",
  "Content-Type",
  "Tus-Resumable",
  "Upload-Checksum",
  "Upload-Complete",
  "Upload-Concat",
  "Upload-Defer-Length",
  "Upload-Draft-Interop-Version",
  "Upload-Incomplete",
  "Upload-Length",
  "Upload-Metadata",
  "Upload-Offset",
  "X-HTTP-Method-Override",
  "X-Requested-With",
].join(", ");

const EXPOSED_HEADERS = [
  "Location",
  "Tus-Resumable",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Tus-Checksum-Algorithm",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Defer-Length",
  "Upload-Metadata",
  "Upload-Concat",
  "Upload-Expires",
  "Upload-Complete",
  "Upload-Incomplete",
  "Upload-Limit",
  "Retry-After",
  "Content-Range",
  "Content-Disposition",
  "WWW-Authenticate",
  "Tus-Edge-Rejection",
].join(", ");

/** A CORS preflight: OPTIONS naming the method it asks about. */
export function isPreflight(request: Request): boolean {
  return (
    request.method === "OPTIONS" &&
    request.headers.has("Origin") &&
    request.headers.has("Access-Control-Request-Method")
  );
}

/**
 * Adds CORS headers to a response. A request without an Origin, or from an
 * origin that is not allowed, gets none: the browser then refuses the
 * response, which is the point. With a list of origins the answer depends on
 * the Origin, so caches are told (`Vary: Origin`).
 */
export function withCors(response: Response, request: Request, allowed: AllowedOrigins): Response {
  const origin = request.headers.get("Origin");
  const isAllowed = origin !== null && (allowed === "*" || allowed.has(origin));
  if (!isAllowed && allowed === "*") return response;
  // Responses from fetch() or R2 may have immutable headers: copy.
  const cors = new Response(response.body, response);
  const headers = cors.headers;
  if (allowed !== "*") headers.append("Vary", "Origin");
  if (!isAllowed) return cors;
  headers.set("Access-Control-Allow-Origin", allowed === "*" ? "*" : origin!);
  if (isPreflight(request)) {
    headers.set("Access-Control-Allow-Methods", ALLOWED_METHODS);
    // Echo what the page asks for: an embedding page may add its own headers.
    headers.set("Access-Control-Allow-Headers", request.headers.get("Access-Control-Request-Headers") ?? ALLOWED_HEADERS);
    headers.append("Vary", "Access-Control-Request-Headers");
    headers.set("Access-Control-Max-Age", "86400");
  } else {
    // A response may name headers of its own to expose (a pre-finish hook's answer).
    const own = headers.get("Access-Control-Expose-Headers");
    headers.set("Access-Control-Expose-Headers", own ? `${EXPOSED_HEADERS}, ${own}` : EXPOSED_HEADERS);
  }
  return cors;
}
