import { TusError } from "../errors";
import { isUploadId } from "../upload-id";
import type { RequestLine } from "./telemetry";

/**
 * What the Worker learns about a request while handling it, for its one
 * request line. Only chosen fields are kept: the path without its query
 * string (a download link carries `?access_token=`), the method, and the
 * subject of a verified token; never a header's value.
 */
export class RequestObservation {
  private readonly startedAt = Date.now();
  private readonly path: string;
  private readonly uploadId: string | undefined;
  private readonly bytesReceived: number | undefined;
  /** After X-HTTP-Method-Override. */
  method: string;
  dialect = "tus";
  subject: string | undefined;
  errorCode: string | undefined;
  /** Why access was refused (401, 403): the one thing an operator needs to answer "why was I refused?". */
  reason: string | undefined;

  constructor(request: Request, basePath: string) {
    const path = new URL(request.url).pathname;
    // Paths are the client's to choose: a long one is cut rather than logged whole.
    this.path = path.length > MAX_PATH_LENGTH ? `${path.slice(0, MAX_PATH_LENGTH)}…` : path;
    const rest = path.startsWith(basePath) ? path.slice(basePath.length) : "";
    // A malformed id (404) is not an upload's: none is logged.
    this.uploadId = isUploadId(rest) ? rest : undefined;
    this.method = request.method;
    const length = request.headers.get("Content-Length");
    this.bytesReceived = length !== null && /^[0-9]{1,16}$/.test(length) ? Number(length) : undefined;
  }

  /** The dialect the request was served in: `tus`, or `ietf-<interop version>`. */
  setDialect(isTus: boolean, request: Request): void {
    const version = Number.parseInt(request.headers.get("Upload-Draft-Interop-Version") ?? "", 10);
    this.dialect = isTus ? "tus" : `ietf-${version}`;
  }

  /**
   * The error a request ended in: a TusError's code, anything else
   * `internal` (it was answered 500). A refusal of access also keeps its
   * message, which says why (expired, bad signature, wrong audience, no
   * token, a link's token valid too long, a missing scope): the code alone,
   * `unauthorized`, cannot tell these apart. The messages are the gateway's
   * own (src/auth) and quote no token; URLs are cut out all the same.
   */
  setError(error: unknown): void {
    this.errorCode = error instanceof TusError ? error.code : "internal";
    if (error instanceof TusError && ACCESS_REFUSALS.has(error.code)) this.reason = describeReason(error.message);
  }

  /** The request's line, once `response` is its answer; a creation's line names the upload it created. */
  line(response: Response): RequestLine {
    return {
      method: this.method,
      path: this.path,
      status: response.status,
      dialect: this.dialect,
      uploadId: this.uploadId ?? createdUploadId(response),
      subject: this.subject,
      bytesReceived: this.bytesReceived,
      durationMs: Date.now() - this.startedAt,
      errorCode: this.errorCode,
      reason: this.reason,
    };
  }
}

const MAX_PATH_LENGTH = 512;

/** The error codes whose message is logged as the request's `reason`. */
const ACCESS_REFUSALS: ReadonlySet<string> = new Set(["unauthorized", "forbidden"]);

/**
 * A refusal's message for the log: URLs out, at most 300 characters (a
 * token's kid is the client's to choose), and "bearer token" said as
 * "token", so that no log line looks like it could hold an Authorization
 * header (the log checks search for the word).
 */
function describeReason(message: string): string {
  const text = message.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi, "<url>").replace(/\bbearer token\b/gi, "token");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function createdUploadId(response: Response): string | undefined {
  const location = response.status === 201 ? response.headers.get("Location") : null;
  const id = location?.slice(location.lastIndexOf("/") + 1);
  return id !== undefined && isUploadId(id) ? id : undefined;
}
