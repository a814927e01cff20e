import { TusError } from "../../errors";

const OVERRIDABLE = new Set(["PATCH", "DELETE", "HEAD", "GET", "OPTIONS", "POST"]);

/**
 * tus 1.0.0: "The X-HTTP-Method-Override request header MUST be a string which
 * MUST be interpreted as the request's method by the Server, if the header is
 * presented." Some proxies and old browsers only pass GET and POST, so it is
 * honoured on POST, and the request continues as if sent with that method.
 */
export function applyMethodOverride(request: Request): Request {
  const override = request.headers.get("X-HTTP-Method-Override");
  if (request.method !== "POST" || override === null) return request;
  const method = override.trim().toUpperCase();
  if (!OVERRIDABLE.has(method)) {
    throw new TusError("invalid-header", `X-HTTP-Method-Override must be one of ${[...OVERRIDABLE].join(", ")}, got ${JSON.stringify(override)}`);
  }
  const bodyless = method === "HEAD" || method === "GET";
  return new Request(request.url, {
    method,
    headers: request.headers,
    body: bodyless ? null : request.body,
  });
}
