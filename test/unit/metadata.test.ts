import { describe, expect, it } from "vitest";
import {
  type UploadMetadata,
  decodeMetadataText,
  parseUploadMetadata,
  serializeUploadMetadata,
} from "../../src/protocol/shared/metadata";
import { expectTusError } from "./expect-tus-error";

/** Base64 of the UTF-8 bytes of `text`, the way tus clients encode metadata. */
function base64Utf8(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** Entries in order, so comparisons do not depend on the (null) prototype. */
function entries(metadata: UploadMetadata): Array<[string, string]> {
  return [...metadata];
}

describe("parseUploadMetadata", () => {
  it.each([null, "", "   "])("reads %j as no metadata", (header) => {
    expect(entries(parseUploadMetadata(header))).toEqual([]);
  });

  it.each([
    ["filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==", [["filename", "d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg=="]]],
    [
      "filename d29ybGQ=,is_confidential",
      [
        ["filename", "d29ybGQ="],
        ["is_confidential", ""],
      ],
    ],
    [
      "a eA==, b eQ==",
      [
        ["a", "eA=="],
        ["b", "eQ=="],
      ],
    ],
    ["  a eA==  ", [["a", "eA=="]]],
    ["a ", [["a", ""]]],
    ["a eA", [["a", "eA"]]],
    ["a eHk", [["a", "eHk"]]],
    ["a+b/c eHl6", [["a+b/c", "eHl6"]]],
  ])("reads %j", (header, expected) => {
    expect(entries(parseUploadMetadata(header))).toEqual(expected);
  });

  it.each(["__proto__", "constructor", "toString", "hasOwnProperty"])(
    "stores the key %j as an ordinary key",
    (key) => {
      const metadata = parseUploadMetadata(`${key} eA==,other`);
      expect(metadata.get(key)).toBe("eA==");
      expect(entries(metadata)).toEqual([
        [key, "eA=="],
        ["other", ""],
      ]);
    },
  );

  it("does not report a key it was never sent just because the object has a prototype", () => {
    expect(parseUploadMetadata("a eA==").has("toString")).toBe(false);
    expect(decodeMetadataText(parseUploadMetadata("a eA=="), "constructor")).toBeUndefined();
  });

  it.each([
    ["an empty key from a leading comma", ",a eA==", "empty key"],
    ["an empty key from a trailing comma", "a eA==,", "empty key"],
    ["an empty key from two commas", "a eA==,,b eQ==", "empty key"],
    ["a key with a tab", "a\tb eA==", "printable ASCII"],
    ["a key with a control character", "a\u0001 eA==", "printable ASCII"],
    ["a key with non-ASCII letters", "naïve eA==", "printable ASCII"],
    ["two spaces between key and value", "a  eA==", "exactly one space"],
    ["a third field", "a eA== eQ==", "exactly one space"],
    ["a duplicate key", "a eA==,a eQ==", "more than once"],
    ["a duplicate __proto__ key", "__proto__ eA==,__proto__", "more than once"],
    ["a value with a character outside Base64", "a eA=!", "not Base64"],
    ["a URL-safe Base64 value", "a _-8=", "not Base64"],
    ["a value with one tail character", "a eHl6e", "not Base64"],
    ["a value with a single character", "a e", "not Base64"],
    ["a value with too much padding", "a eA===", "not Base64"],
    ["a value with one = after two characters", "a eHl6eA=", "not Base64"],
    ["a value with padding where none is due", "a eHl6=", "not Base64"],
    ["a value with padding in the middle", "a eA==eA==", "not Base64"],
    ["a value of only padding", "a ====", "not Base64"],
  ])("rejects %s", (_, header, messagePart) => {
    const error = expectTusError(() => parseUploadMetadata(header), "invalid-metadata");
    expect(error.status).toBe(400);
    expect(error.message).toContain(messagePart);
  });
});

describe("serializeUploadMetadata", () => {
  it.each([
    "filename d29ybGQ=",
    "filename d29ybGQ=,is_confidential",
    "a,b,c",
    "__proto__ eA==,constructor eQ==",
    `filename ${base64Utf8("résumé 履歴書 📄.pdf")},filetype ${base64Utf8("application/pdf")}`,
  ])("round-trips %j", (header) => {
    expect(serializeUploadMetadata(parseUploadMetadata(header))).toBe(header);
  });

  it("writes a key with an empty value as the key alone", () => {
    expect(serializeUploadMetadata(new Map([["a", ""], ["b", "eA=="]]))).toBe("a,b eA==");
  });

  it("writes no metadata as an empty string", () => {
    expect(serializeUploadMetadata(parseUploadMetadata(null))).toBe("");
  });

  it("normalises whitespace around pairs", () => {
    expect(serializeUploadMetadata(parseUploadMetadata(" a eA== ,  b "))).toBe("a eA==,b");
  });
});

describe("decodeMetadataText", () => {
  it.each([
    ["plain ASCII", "world_domination_plan.pdf"],
    ["accents", "résumé.pdf"],
    ["CJK", "履歴書.pdf"],
    ["an emoji outside the BMP", "📄 notes.txt"],
    ["an empty string", ""],
  ])("decodes UTF-8 text with %s", (_, text) => {
    const metadata = parseUploadMetadata(`filename ${base64Utf8(text)}`);
    expect(decodeMetadataText(metadata, "filename")).toBe(text);
  });

  it("decodes a value sent without padding", () => {
    expect(decodeMetadataText(parseUploadMetadata("a eHk"), "a")).toBe("xy");
  });

  it("decodes a key sent without a value as an empty string", () => {
    expect(decodeMetadataText(parseUploadMetadata("is_confidential"), "is_confidential")).toBe("");
  });

  it("turns bytes that are not UTF-8 into replacement characters", () => {
    const invalidUtf8 = btoa(String.fromCharCode(0x61, 0xff, 0xfe, 0x62));
    expect(decodeMetadataText(parseUploadMetadata(`a ${invalidUtf8}`), "a")).toBe("a\ufffd\ufffdb");
  });

  it("is undefined for an absent key", () => {
    expect(decodeMetadataText(parseUploadMetadata("a eA=="), "b")).toBeUndefined();
  });

  it("is undefined, not an exception, for a hand-built value that is not Base64", () => {
    expect(decodeMetadataText(new Map([["a", "not base64!"]]), "a")).toBeUndefined();
  });
});
