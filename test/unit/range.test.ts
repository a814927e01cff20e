import { describe, expect, it } from "vitest";
import { parseRange } from "../../src/protocol/http/range";
import { expectTusError } from "./expect-tus-error";

describe("parseRange", () => {
  it.each([
    ["bytes=0-499", 1000, { start: 0, end: 499 }],
    ["bytes=500-999", 1000, { start: 500, end: 999 }],
    ["bytes=0-0", 1000, { start: 0, end: 0 }],
    ["bytes=999-999", 1000, { start: 999, end: 999 }],
    ["bytes=500-", 1000, { start: 500, end: 999 }],
    ["bytes=0-", 1, { start: 0, end: 0 }],
    ["bytes=-1", 1000, { start: 999, end: 999 }],
    ["bytes=-500", 1000, { start: 500, end: 999 }],
    ["BYTES=1-2", 1000, { start: 1, end: 2 }],
    ["bytes=007-009", 1000, { start: 7, end: 9 }],
  ])("reads %j on a %d-byte object as %j", (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it.each([
    ["an end past the object", "bytes=500-5000", 1000, { start: 500, end: 999 }],
    ["an end beyond any safe integer", `bytes=0-${"9".repeat(30)}`, 1000, { start: 0, end: 999 }],
    ["a suffix longer than the object", "bytes=-5000", 1000, { start: 0, end: 999 }],
    ["a suffix exactly the object's size", "bytes=-1000", 1000, { start: 0, end: 999 }],
  ])("clamps %s", (_, header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it.each([
    ["an absent header", null],
    ["an empty header", ""],
    ["another unit", "items=0-5"],
    ["no unit", "0-5"],
    ["a range with neither end", "bytes=-"],
    ["a last position before the first", "bytes=5-1"],
    ["several ranges", "bytes=0-1,5-6"],
    ["a range followed by an empty list element", "bytes=0-1,"],
    ["a negative position", "bytes=--5"],
    ["a non-decimal position", "bytes=0x10-20"],
    ["spaces inside the range", "bytes= 0-5"],
    ["a fractional position", "bytes=1.5-2"],
  ])("ignores %s and serves the whole object", (_, header) => {
    expect(parseRange(header, 1000)).toBeUndefined();
  });

  it.each([
    ["a start at the end of the object", "bytes=1000-", 1000],
    ["a start past the end of the object", "bytes=2000-3000", 1000],
    ["a zero-length suffix", "bytes=-0", 1000],
    ["any range of an empty object", "bytes=0-", 0],
    ["a suffix of an empty object", "bytes=-10", 0],
    ["a huge start", `bytes=${"9".repeat(30)}-`, 1000],
  ])("rejects %s as unsatisfiable, with Content-Range naming the size", (_, header, size) => {
    const error = expectTusError(() => parseRange(header, size), "range-not-satisfiable");
    expect(error.status).toBe(416);
    expect(error.details.headers).toEqual({ "Content-Range": `bytes */${size}` });
  });
});
