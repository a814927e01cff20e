import type { HookAnswer } from "../../hooks/pre-finish";
import type { UploadInfo } from "../../upload/upload-record";

/**
 * The pre-finish hook's answer to the client (README, "Finishing an
 * upload"), in either dialect: the request that completed the upload, and
 * any retry of it, answers with the hook's status, headers and body; the
 * dialect's own headers (offset, location …) go on top, since the client
 * still needs them. The hook's headers are exposed to browsers, which would
 * otherwise hide them from a tus client's `onSuccess`.
 */
export function answeredResponse(answer: HookAnswer, dialectHeaders: Headers): Response {
  const headers = new Headers(answer.headers);
  for (const [name, value] of dialectHeaders) headers.set(name, value);
  exposeHeaders(headers, answer);
  return new Response(answer.body === "" ? null : answer.body, { status: answer.status, headers });
}

/** A finished upload's HEAD repeats the answer's headers, for a client that lost the completing response. */
export function withAnswerHeaders(info: UploadInfo, headers: Headers): Headers {
  if (!info.answer) return headers;
  for (const [name, value] of Object.entries(info.answer.headers)) if (!headers.has(name)) headers.set(name, value);
  exposeHeaders(headers, info.answer);
  return headers;
}

function exposeHeaders(headers: Headers, answer: HookAnswer): void {
  const names = Object.keys(answer.headers);
  // withCors (protocol/http/cors.ts) adds the gateway's own to these.
  if (names.length) headers.set("Access-Control-Expose-Headers", names.join(", "));
}
