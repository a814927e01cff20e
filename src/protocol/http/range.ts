/**
 * Range requests for downloads, RFC 9110 §14. Only a single byte range is
 * served partially; for anything else "a server MAY ignore the Range header
 * field" (§14.2), so the whole object is sent with 200.
 */
import { TusError } from "../../errors";

/** `bytes=first-last`, `bytes=first-` or `bytes=-suffix`; the unit is case-insensitive (§14.1). */
const SINGLE_BYTE_RANGE = /^bytes=([0-9]*)-([0-9]*)$/i;

/** Inclusive byte positions, as in Content-Range. */
export interface ByteRange {
  start: number;
  end: number;
}

export function parseRange(header: string | null, size: number): ByteRange | undefined {
  if (header === null) return undefined;
  const match = SINGLE_BYTE_RANGE.exec(header.trim());
  if (match === null) return undefined;
  const [, first = "", last = ""] = match;

  if (first === "") {
    if (last === "") return undefined;
    // §14.1.2: a suffix range is satisfiable only with a non-zero length, and an
    // empty object has no last byte to name.
    const suffixLength = Number(last);
    if (suffixLength === 0 || size === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - suffixLength), end: size - 1 };
  }

  const start = Number(first);
  const end = last === "" ? Infinity : Number(last);
  // §14.1.2: a range whose last position is before its first is invalid, not unsatisfiable.
  if (end < start) return undefined;
  // §14.1.2: it is satisfiable when its first position is inside the object.
  if (start >= size) throw unsatisfiable(size);
  return { start, end: Math.min(end, size - 1) };
}

/** §15.5.17: a 416 to a byte-range request SHOULD send Content-Range with the current length. */
function unsatisfiable(size: number): TusError {
  return new TusError("range-not-satisfiable", `the Range header asks for bytes outside the object's ${size} bytes`, {
    headers: { "Content-Range": `bytes */${size}` },
  });
}
