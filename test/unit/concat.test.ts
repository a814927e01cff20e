import { describe, expect, it } from "vitest";
import { formatUploadConcat, parseUploadConcat } from "../../src/protocol/tus/concat";
import { expectTusError } from "./expect-tus-error";

const REQUEST_URL = "https://tus.example/files/";
const BASE = "/files/";
const id = (n: number) => `${"a".repeat(62)}${String(n).padStart(2, "0")}`;

function parse(value: string, maxPartials = 100) {
  return parseUploadConcat(new Headers({ "Upload-Concat": value }), REQUEST_URL, BASE, maxPartials);
}

describe("parseUploadConcat", () => {
  it("is undefined without the header, and reads a partial", () => {
    expect(parseUploadConcat(new Headers(), REQUEST_URL, BASE, 100)).toBeUndefined();
    expect(parse("partial")).toEqual({ kind: "partial" });
  });

  it("reads a final's absolute and relative URLs in order", () => {
    expect(parse(`final;https://tus.example/files/${id(1)} /files/${id(2)}`)).toEqual({ kind: "final", partialIds: [id(1), id(2)] });
  });

  it("accepts exactly the most partials allowed", () => {
    const urls = Array.from({ length: 5 }, (_, n) => `/files/${id(n)}`);
    expect(parse(`final;${urls.join(" ")}`, 5)).toEqual({ kind: "final", partialIds: urls.map((_, n) => id(n)) });
  });

  it("refuses one partial more than the most allowed with 400 naming the count and the cap, before reading any URL", () => {
    // Not even URLs: the count is checked first, so a long header costs nothing more.
    const error = expectTusError(() => parse(`final;${Array(6).fill("x").join(" ")}`, 5), "invalid-concat");
    expect(error.status).toBe(400);
    expect(error.message).toBe("Upload-Concat: final names 6 partial uploads; this server joins at most 5 (MAX_CONCAT_PARTIALS) into one final upload");
  });

  it.each([
    ["no URL", "final;"],
    ["neither partial nor final", "both"],
    ["an upload of another origin", `final;https://other.example/files/${id(1)}`],
    ["a URL outside the base path", `final;/elsewhere/${id(1)}`],
    ["the same partial twice", `final;/files/${id(1)} https://tus.example/files/${id(1)}`],
  ])("refuses %s with 400", (_, value) => {
    expect(expectTusError(() => parse(value), "invalid-concat").status).toBe(400);
  });
});

describe("formatUploadConcat", () => {
  it("echoes a final's partials as paths", () => {
    expect(formatUploadConcat({ kind: "final", partials: [id(1), id(2)] }, BASE)).toBe(`final;/files/${id(1)} /files/${id(2)}`);
    expect(formatUploadConcat({ kind: "partial" }, BASE)).toBe("partial");
  });
});
