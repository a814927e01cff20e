/**
 * Every error a request can end in, in one table. Both layers throw these:
 * the protocol layer when a request is malformed, the upload layer when a
 * request does not fit the upload's state. They become HTTP responses in one
 * place (`errorResponse` in protocol/tus/respond.ts).
 *
 * Status codes follow tus 1.0.0 where it names one; elsewhere they are the
 * closest HTTP meaning. Only storage faults are 5xx: tus clients retry 5xx
 * (and 409/423), so a fault the client cannot fix must not be a 4xx, and a
 * fault the client can fix must never be a 5xx.
 */
export const ERRORS = {
  "unsupported-version": { status: 412, message: "Tus-Resumable must be 1.0.0" },
  "invalid-header": { status: 400, message: "a request header is malformed" },
  "unsupported-interop-version": {
    status: 400,
    message: "this server does not speak the Upload-Draft-Interop-Version of this request",
  },
  "invalid-metadata": { status: 400, message: "Upload-Metadata is malformed" },
  "metadata-too-large": { status: 413, message: "Upload-Metadata is larger than this server accepts" },
  "object-exists": { status: 409, message: "an object already exists at this upload's key and this server does not overwrite" },
  "hook-rejected": { status: 403, message: "the upload was rejected by the server's pre-create hook" },
  "hook-unavailable": { status: 503, message: "the server's pre-create hook did not answer; retry the request" },
  "missing-length": {
    status: 400,
    message: "send Upload-Length, or Upload-Defer-Length: 1 to give the length later",
  },
  "length-conflict": { status: 400, message: "the upload's length is already set and cannot change" },
  "unsupported-media-type": {
    status: 415,
    message: "a request with a body must have Content-Type: application/offset+octet-stream",
  },
  "offset-mismatch": { status: 409, message: "Upload-Offset does not match the upload's current offset" },
  unauthorized: { status: 401, message: "this server needs a valid bearer token (Authorization: Bearer <JWT>)" },
  forbidden: { status: 403, message: "the token does not allow this request" },
  "upload-not-found": { status: 404, message: "no upload exists at this URL" },
  "upload-gone": { status: 410, message: "this upload was terminated or has expired" },
  "unsupported-checksum": {
    status: 400,
    message: "Upload-Checksum must be '<algorithm> <base64 digest>' with an algorithm from Tus-Checksum-Algorithm",
  },
  "checksum-mismatch": { status: 460, message: "the body does not match Upload-Checksum; nothing of it was stored" },
  "invalid-concat": { status: 400, message: "Upload-Concat is malformed or names uploads that cannot be concatenated" },
  "final-upload-is-read-only": {
    status: 403,
    message: "a final upload is assembled from its partial uploads and takes no PATCH",
  },
  "upload-too-large": { status: 413, message: "Upload-Length exceeds the largest upload this server accepts" },
  "exceeds-upload-length": {
    status: 413,
    message: "the request body would go past the upload's Upload-Length; nothing of it was stored",
  },
  // IETF dialect: an append to an upload that is already complete; nothing of it is stored.
  "upload-completed": { status: 400, message: "this upload is complete and takes no more bytes" },
  "upload-not-finished": { status: 409, message: "the upload is not finished; it can be downloaded once all bytes have arrived" },
  "range-not-satisfiable": { status: 416, message: "the Range header does not overlap the object" },
  // A subject's quota (SUBJECT_MAX_*, or its token's claims) has no room for the new upload; nothing was created.
  "quota-exceeded": { status: 403, message: "the subject's quota has no room for this upload; nothing was created" },
  "method-not-allowed": { status: 405, message: "this method is not allowed on this URL" },
  "invalid-query": { status: 400, message: "a query parameter is malformed" },
  "upload-locked": {
    status: 423,
    message: "another request is still writing to this upload; retry in a moment",
  },
  // 423, not 503, on HEAD: tus-js-client takes a HEAD answered 5xx to mean
  // the upload is lost and uploads the whole file again, but retries a 423.
  "completion-pending": {
    status: 423,
    message: "every byte of this upload is stored, but completing its object failed in the storage backend; retry in a moment",
  },
  // The pre-finish hook refused the upload; the status is the hook's (a 4xx).
  "upload-rejected": { status: 422, message: "the server's pre-finish hook rejected this upload" },
  // Every byte is stored and the object complete, but the pre-finish hook has
  // not decided yet: retried with back-off; HEAD answers completion-pending meanwhile.
  "finish-unconfirmed": {
    status: 503,
    message: "every byte of this upload is stored, but the server's pre-finish hook has not answered yet; retry in a moment",
  },
  "storage-unavailable": { status: 503, message: "the storage backend failed; retry the request" },
  internal: { status: 500, message: "internal server error" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Values an error adds to its response, e.g. the current offset on a 409. */
export interface ErrorDetails {
  /** Sent back as `Upload-Offset` so a client can resume without an extra HEAD. */
  offset?: number;
  /** Sent back as `Retry-After` (seconds). */
  retryAfterSeconds?: number;
  /** Extra response headers, e.g. `Content-Range` on a 416. */
  headers?: Record<string, string>;
  /** A status chosen at run time, only for errors passed on from a hook (`hook-rejected`, `upload-rejected`). */
  status?: number;
  /**
   * The upload a failed write left behind, for the answer's headers, not
   * sent as such: its expiry (the IETF dialect's `Upload-Limit` max-age,
   * tus's `Upload-Expires`), and, when the same request created it
   * (creation with a body), its id: it exists whatever became of its
   * bytes, so the answer names it in `Location`.
   */
  upload?: { id: string; expiresAt: number | undefined; created: boolean };
}

export class TusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message?: string, details: ErrorDetails = {}) {
    super(message ?? ERRORS[code].message);
    this.name = "TusError";
    this.code = code;
    this.status = details.status ?? ERRORS[code].status;
    this.details = details;
  }
}

/** A plain, structured-cloneable form, to carry an error across a Durable Object call. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

export function serializeError(error: TusError): SerializedError {
  return { code: error.code, message: error.message, details: error.details };
}

export function deserializeError(error: SerializedError): TusError {
  return new TusError(error.code, error.message, error.details);
}
