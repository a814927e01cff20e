/**
 * Pure readers for the tus 1.0.0 request headers. Each returns a typed value
 * or throws a TusError; none of them knows about uploads or storage.
 */
import { TusError } from "../../errors";
import { R2_LIMITS } from "../../r2-limits";

export const TUS_VERSION = "1.0.0";

/** R2's largest object (5 TiB − 5 GiB): no upload can be longer, so no offset can be further. */
export const R2_MAX_OBJECT_SIZE = R2_LIMITS.maxObjectSize;

/** Checked before converting, so an absurdly long number is never handed to `Number()`. */
const MAX_DIGITS = String(Number.MAX_SAFE_INTEGER).length;

/** Quotes a client's value for an error message, short enough to log. */
export function quoteForMessage(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(shown);
}

/**
 * "The Tus-Resumable header MUST be included in every request and response
 * except for OPTIONS requests." / "If the version specified by the Client is
 * not supported by the Server, it MUST respond with the 412 Precondition Failed
 * status."
 */
export function checkTusResumable(headers: Headers): void {
  const version = headers.get("Tus-Resumable");
  if (version === null) {
    throw new TusError("unsupported-version", `Tus-Resumable is missing; send Tus-Resumable: ${TUS_VERSION}`);
  }
  if (version !== TUS_VERSION) {
    throw new TusError(
      "unsupported-version",
      `Tus-Resumable is ${quoteForMessage(version)}; this server supports only ${TUS_VERSION}`,
    );
  }
}

/**
 * Upload-Offset and Upload-Length: "The value MUST be a non-negative integer."
 * Read as plain decimal digits only, because `Number()` would also accept
 * `1e3`, `0x10`, ` 0` and `+5`, which no tus client sends. A well-formed
 * number beyond 2^53, which a double cannot hold exactly, reads as Infinity:
 * it is larger than every limit, so the caller refuses it as too large.
 */
function readDecimal(value: string, name: string): number {
  if (!/^[0-9]+$/.test(value)) {
    throw new TusError("invalid-header", `${name} must be a non-negative decimal integer, got ${quoteForMessage(value)}`);
  }
  // Leading zeros carry no value, so only the significant digits count.
  const digits = value.replace(/^0+(?=.)/, "");
  // Checked before converting, so an absurdly long number is never handed to `Number()`.
  const number = digits.length > MAX_DIGITS ? Infinity : Number(digits);
  return number > Number.MAX_SAFE_INTEGER ? Infinity : number;
}

/** A decimal header no larger than `max` (at most 2^53 − 1); anything larger is malformed here (400). */
export function parseDecimal(value: string, name: string, max: number): number {
  const number = readDecimal(value, name);
  // Above 2^53 a double rounds silently, so no caller's max may go past it.
  const largestAllowed = Math.min(max, Number.MAX_SAFE_INTEGER);
  if (number > largestAllowed) {
    throw new TusError(
      "invalid-header",
      `${name} is ${quoteForMessage(value)}, which is larger than the largest allowed, ${largestAllowed}`,
    );
  }
  return number;
}

/** A well-formed number for a message: without leading zeros, and shortened when absurdly long. */
function shownNumber(value: string): string {
  const digits = value.replace(/^0+(?=.)/, "");
  return digits.length > 40 ? `${digits.slice(0, 20)}… (${digits.length} digits)` : digits;
}

/**
 * PATCH: "The Upload-Offset header's value MUST be equal to the current offset
 * of the resource." Without it there is nothing to compare, so it is required.
 * No offset can lie past R2's largest object: a larger one is malformed (400).
 */
export function parseUploadOffset(headers: Headers): number {
  const value = headers.get("Upload-Offset");
  if (value === null) {
    throw new TusError("invalid-header", "Upload-Offset is required; send the offset this request's body starts at");
  }
  return parseDecimal(value, "Upload-Offset", R2_MAX_OBJECT_SIZE);
}

/**
 * "The Upload-Length request and response header indicates the size of the
 * entire upload in bytes." / "If the length of the upload exceeds the
 * maximum, which MAY be specified using the Tus-Max-Size header, the Server
 * MUST respond with the 413 Request Entity Too Large status." So a length
 * over `maxLength` (the caller's limit) is 413 whatever its size, also one
 * too large for a double: it is not malformed, only too large.
 */
export function parseUploadLength(headers: Headers, maxLength: number): number | undefined {
  const value = headers.get("Upload-Length");
  if (value === null) return undefined;
  const length = readDecimal(value, "Upload-Length");
  if (length > maxLength) {
    throw new TusError("upload-too-large", `Upload-Length ${shownNumber(value)} exceeds the largest upload allowed, ${maxLength} bytes`);
  }
  return length;
}

/**
 * Creation: "The request MUST include one of the following headers:
 * a) Upload-Length … b) Upload-Defer-Length: 1". Upload-Defer-Length: "Its
 * value MUST be 1. If the length of an upload is not deferred, this header
 * MUST be omitted." A length over `maxLength` is 413 (see parseUploadLength).
 */
export function parseCreationLength(headers: Headers, maxLength: number): { length: number } | { deferred: true } {
  const deferLength = headers.get("Upload-Defer-Length");
  if (deferLength !== null && deferLength !== "1") {
    throw new TusError(
      "invalid-header",
      `Upload-Defer-Length must be 1, got ${quoteForMessage(deferLength)}; omit it when the length is known`,
    );
  }
  if (deferLength !== null && headers.has("Upload-Length")) {
    throw new TusError("invalid-header", "send either Upload-Length or Upload-Defer-Length: 1, not both");
  }
  const length = parseUploadLength(headers, maxLength);
  if (length !== undefined) return { length };
  if (deferLength !== null) return { deferred: true };
  throw new TusError("missing-length");
}

/**
 * "All PATCH requests MUST use Content-Type: application/offset+octet-stream,
 * otherwise the server SHOULD return a 415 Unsupported Media Type status."
 * Media types are case-insensitive and may carry parameters (RFC 9110 §8.3.1).
 */
export function hasOffsetOctetStreamBody(headers: Headers): boolean {
  const contentType = headers.get("Content-Type");
  if (contentType === null) return false;
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return mediaType === "application/offset+octet-stream";
}

/**
 * RFC 9110 §8.6: Content-Length = 1*DIGIT. Read as strictly as the tus
 * headers. A body longer than `maxLength` (the caller's largest upload) could
 * never be stored, whatever its offset: 413, however large the number.
 */
export function parseContentLength(headers: Headers, maxLength: number): number | undefined {
  const value = headers.get("Content-Length");
  if (value === null) return undefined;
  const length = readDecimal(value, "Content-Length");
  if (length > maxLength) {
    throw new TusError("upload-too-large", `the body (Content-Length ${shownNumber(value)}) is larger than the largest upload allowed, ${maxLength} bytes`);
  }
  return length;
}
