import { TusError } from "../../errors";
import type { AppendArguments } from "../../upload/uploads";
import type { RequestContext } from "../shared/context";
import { parseContentLength } from "../tus/headers";
import { readNonNegativeInteger } from "./fields";
import { limitHeaders } from "./respond";
import type { InteropRules } from "./versions";

/**
 * The body of a creation or append request: how long it says it is (0 for
 * none), held to `max-append-size` when the server announces one. A body
 * without Content-Length (chunked) is measured as it arrives instead (see
 * `appendIntent`).
 */
export function bodyLength(context: RequestContext, rules: InteropRules): number | undefined {
  const { request, uploads, config } = context;
  if (request.body === null) return 0;
  let length: number | undefined;
  try {
    length = parseContentLength(request.headers, uploads.maxUploadSize);
  } catch (error) {
    throw withLimits(error, context, rules);
  }
  if (length !== undefined && config.maxAppendSize !== undefined && length > config.maxAppendSize) {
    throw new TusError("upload-too-large", `the body is ${length} bytes; this server takes at most ${config.maxAppendSize} bytes per request (Upload-Limit max-append-size)`, {
      headers: limitHeaders(context, rules),
    });
  }
  return length;
}

/**
 * The upload's length as this request gives it. "If the request includes the
 * `Upload-Complete` field value set to true and a valid `Content-Length`
 * header field, ... the length is then the sum of the current offset and the
 * `Content-Length`"; `Upload-Length` gives it too; "their indicated lengths
 * MUST match".
 */
export function lengthFromRequest(headers: Headers, complete: boolean, offset: number, length: number | undefined): number | undefined {
  const declared = readNonNegativeInteger(headers, "Upload-Length");
  const byCompletion = complete && length !== undefined ? offset + length : undefined;
  if (declared !== undefined && byCompletion !== undefined && declared !== byCompletion) {
    throw new TusError(
      "length-conflict",
      `Upload-Length ${declared} does not match the ${byCompletion} bytes that this completing request brings the upload to (offset ${offset} + Content-Length ${length})`,
    );
  }
  return declared ?? byCompletion;
}

/**
 * What an append or a creation's first bytes ask of the upload layer in this
 * dialect, beyond storing the body (upload/call-contract.ts `AppendIntent`),
 * so that the upload's Durable Object decides it all in one call:
 * - `?1`: complete the upload where the body ends;
 * - "If the length is known, the server MUST prevent the offset from
 *   exceeding the upload length by rejecting the request ..., marking the
 *   upload resource invalid and rejecting any further interaction with it":
 *   a body past the length ends the upload, unless it had completed
 *   meanwhile (a client resending its last append);
 * - an empty `?1` at the end of a complete upload replays its result;
 * - the body is held to `max-append-size` as it arrives (a chunked body is
 *   only measured as the upload's object reads it).
 */
export function appendIntent(context: RequestContext, complete: boolean, call: Pick<AppendArguments, "declaredLength" | "contentLength">): Omit<AppendArguments, "offset"> {
  return {
    ...call,
    checksum: undefined,
    appendLimit: context.config.maxAppendSize,
    completeAtEnd: complete,
    invalidateOnOverflow: true,
    replayWhenFinished: true,
  };
}

/**
 * From -12, "when a request is rejected because limits were violated, the
 * response SHOULD include the `Upload-Limit` header field": a size refusal,
 * wherever below it was decided, leaves with the limits the client has to
 * keep to, the upload's own where there is one (none before version 6,
 * which has no `Upload-Limit`).
 */
export function withLimits(error: unknown, context: RequestContext, rules: InteropRules): unknown {
  if (!isSizeRefusal(error)) return error;
  const { upload } = error.details;
  const limits = limitHeaders(context, rules, upload && { expiresAt: upload.expiresAt, finished: false });
  return new TusError(error.code, error.message, { ...error.details, headers: { ...limits, ...error.details.headers } });
}

function isSizeRefusal(error: unknown): error is TusError {
  return error instanceof TusError && error.code === "upload-too-large";
}
