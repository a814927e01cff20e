import type { UploadInfo } from "../../upload/upload-record";
import type { RequestContext } from "../shared/context";
import { uploadUrl } from "../shared/creation";
import { asTusError, errorHeaders, textErrorResponse } from "../shared/error-response";
import { answeredResponse } from "../shared/hook-answer";
import { completionHeader, readNonNegativeInteger, uploadLimitHeader } from "./fields";
import type { InteropRules, ProblemType } from "./versions";

/** The limits as `Upload-Limit` states them, for one upload or (without one) for uploads to come. */
export function limitHeaders(context: RequestContext, rules: InteropRules, info?: Pick<UploadInfo, "expiresAt" | "finished">): Record<string, string> {
  const { config, uploads } = context;
  let ageSeconds: number | undefined;
  if (info) {
    if (info.expiresAt !== undefined && !info.finished) ageSeconds = Math.max(0, Math.floor((info.expiresAt - Date.now()) / 1000));
  } else if (config.expireAfterMs > 0) {
    ageSeconds = Math.floor(config.expireAfterMs / 1000);
  }
  return uploadLimitHeader(rules, { maxSize: uploads.maxUploadSize, maxAppendSize: config.maxAppendSize, ageSeconds });
}

/** Where an upload stands: offset, completeness, length when known, limits. */
export function stateHeaders(context: RequestContext, rules: InteropRules, info: UploadInfo): Headers {
  const headers = new Headers({
    "Upload-Offset": String(info.offset),
    ...completionHeader(rules, info.finished),
    ...limitHeaders(context, rules, info),
  });
  if (info.length !== undefined) headers.set("Upload-Length", String(info.length));
  return headers;
}

/**
 * The answer to the request that completed an upload: the drafts want the
 * response "the resource ... would have generated if it had processed the
 * entire representation in the initial request", marked `Upload-Complete: ?1`.
 * For this gateway that is the stored upload: where to download it and how
 * long it is; or, when the pre-finish hook answered the client, its answer
 * (docs/hooks.md, "Finishing an upload"). Also replayed to a client that completes
 * a complete upload again.
 */
export function completedResponse(context: RequestContext, rules: InteropRules, info: UploadInfo, status: 200 | 201): Response {
  const url = uploadUrl(context, info.id);
  const headers = stateHeaders(context, rules, info);
  headers.set("Location", url);
  headers.set("Cache-Control", "no-store");
  if (info.answer) return answeredResponse(info.answer, headers);
  headers.set("Content-Type", "application/json");
  return new Response(JSON.stringify({ url, length: info.offset }), { status, headers });
}

/** The problem type each error is, where the version defines one. */
const PROBLEMS: Partial<Record<string, ProblemType>> = {
  "offset-mismatch": "mismatching-upload-offset",
  "length-conflict": "inconsistent-upload-length",
  "exceeds-upload-length": "inconsistent-upload-length",
  "upload-completed": "completed-upload",
};

/**
 * Errors become responses of this dialect here. A TusError answers with its
 * status and message like in tus, without the tus headers; where the
 * version defines a problem type for it, the body is that problem
 * (`application/problem+json`, RFC 9457) and a length conflict is 400.
 */
export function rufhErrorResponse(error: unknown, request: Request, rules: InteropRules): Response {
  const tusError = asTusError(error, request);
  const headers = new Headers(errorHeaders(tusError));
  if (rules.errorsCarryCompletion) for (const [name, value] of Object.entries(completionHeader(rules, false))) headers.set(name, value);
  if (tusError.code === "method-not-allowed") headers.set("Allow", "OPTIONS, POST, PUT, HEAD, PATCH, GET, DELETE");
  const problem = PROBLEMS[tusError.code];
  if (!problem || !rules.problemTypes.has(problem)) return textErrorResponse(tusError, request, headers);
  const status = problem === "inconsistent-upload-length" || problem === "completed-upload" ? 400 : tusError.status;
  if (request.method === "HEAD") return new Response(null, { status, headers });
  const body: Record<string, unknown> = { type: `https://iana.org/assignments/http-problem-types#${problem}`, title: tusError.message };
  if (problem === "mismatching-upload-offset") {
    body["expected-offset"] = tusError.details.offset;
    body["provided-offset"] = readNonNegativeInteger(request.headers, "Upload-Offset");
  }
  headers.set("Content-Type", "application/problem+json");
  return new Response(JSON.stringify(body), { status, headers });
}
