import { answerHeaderRefusal, type HookAnswer } from "../../hooks/pre-finish";
import type { UploadInfo } from "../../upload/upload-record";

/**
 * The pre-finish hook's answer to the client (docs/hooks.md, "Finishing an
 * upload"), in either dialect: the request that completed the upload, and
 * any retry of it, answers with the hook's status, headers and body; the
 * dialect's own headers (offset, location …) go on top, since the client
 * still needs them. The hook's headers are exposed to browsers, which would
 * otherwise hide them from a tus client's `onSuccess`.
 */
export function answeredResponse(answer: HookAnswer, dialectHeaders: Headers): Response {
  const headers = new Headers(servedHeaders(answer));
  for (const [name, value] of dialectHeaders) headers.set(name, value);
  exposeHeaders(headers, answer);
  if (answer.body === "") return new Response(null, { status: answer.status, headers });
  // Without a type, Response would label every body text/plain, and a client
  // reading the documented JSON answer would have to know better.
  if (!headers.has("Content-Type")) headers.set("Content-Type", isJsonDocument(answer.body) ? "application/json" : "text/plain; charset=utf-8");
  return new Response(answer.body, { status: answer.status, headers });
}

/** A finished upload's HEAD repeats the answer's headers, for a client that lost the completing response. */
export function withAnswerHeaders(info: UploadInfo, headers: Headers): Headers {
  if (!info.answer) return headers;
  for (const [name, value] of Object.entries(servedHeaders(info.answer))) if (!headers.has(name)) headers.set(name, value);
  exposeHeaders(headers, info.answer);
  return headers;
}

/**
 * The answer's headers that may be served. New answers were checked
 * (hooks/pre-finish.ts parseDecision); an answer stored before the
 * allow-list may hold others, which are dropped, since its upload is decided
 * and its answer cannot be refused any more.
 */
function servedHeaders(answer: HookAnswer): Record<string, string> {
  return Object.fromEntries(Object.entries(answer.headers).filter(([name, value]) => answerHeaderRefusal(name, value) === undefined));
}

/** A JSON object or array: what an application's answer body is when it is JSON (a bare `42` or `"x"` is as likely text). */
function isJsonDocument(body: string): boolean {
  const text = body.trim();
  if (!text.startsWith("{") && !text.startsWith("[")) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function exposeHeaders(headers: Headers, answer: HookAnswer): void {
  const names = Object.keys(servedHeaders(answer));
  // withCors (protocol/http/cors.ts) adds the gateway's own to these.
  if (names.length) headers.set("Access-Control-Expose-Headers", names.join(", "));
}
