import { describe, expect, it } from "vitest";
import { appendCompletion, completionHeader, integerItem, interopRulesOf, readCompletion, readNonNegativeInteger, uploadLimitHeader } from "../../src/protocol/rufh/fields";
import { parseConfig } from "../../src/config";
import { filenameOf } from "../../src/protocol/rufh/metadata";
import { INTEROP_VERSIONS } from "../../src/protocol/rufh/versions";
import { expectTusError } from "./expect-tus-error";

const v3 = INTEROP_VERSIONS.get(3)!;
const v6 = INTEROP_VERSIONS.get(6)!;
const v8 = INTEROP_VERSIONS.get(8)!;

describe("structured fields of the IETF dialect", () => {
  it("reads Integers only: Decimals, negatives, strings and garbage are ignored", () => {
    expect(integerItem("42")).toBe(42);
    expect(integerItem("42;a=1.5")).toBe(42);
    for (const raw of ["4.0", "\"4\"", "?1", "4 4", "abc", "", "1e3", "0x10"]) expect(integerItem(raw), raw).toBeUndefined();
    expect(readNonNegativeInteger(new Headers({ "Upload-Offset": "-1" }), "Upload-Offset")).toBeUndefined();
    expect(readNonNegativeInteger(new Headers({ "Upload-Offset": "0" }), "Upload-Offset")).toBe(0);
  });

  it("reads the completion field as a Boolean, inverted at version 3, anything else absent", () => {
    expect(readCompletion(new Headers({ "Upload-Complete": "?1" }), v8)).toBe(true);
    expect(readCompletion(new Headers({ "Upload-Complete": "?0" }), v8)).toBe(false);
    expect(readCompletion(new Headers({ "Upload-Incomplete": "?1" }), v3)).toBe(false);
    expect(readCompletion(new Headers({ "Upload-Complete": "?1" }), v3)).toBeUndefined();
    for (const raw of ["true", "1", "?2", "?1 ?0"]) expect(readCompletion(new Headers({ "Upload-Complete": raw }), v8), raw).toBeUndefined();
    expect(completionHeader(v3, true)).toEqual({ "Upload-Incomplete": "?0" });
    // An append without the field is the last one before -06; a malformed one is never taken for absent.
    expect(appendCompletion(new Headers(), v6)).toBe(true);
    expectTusError(() => appendCompletion(new Headers(), v8), "invalid-header");
    expectTusError(() => appendCompletion(new Headers({ "Upload-Complete": "yes" }), v6), "invalid-header");
    expect(completionHeader(v8, false)).toEqual({ "Upload-Complete": "?0" });
  });

  it("writes Upload-Limit with the version's age key, min-size=0 always, none before version 6", () => {
    const limits = { maxSize: 100, maxAppendSize: undefined, ageSeconds: 60 };
    expect(uploadLimitHeader(v6, limits)).toEqual({ "Upload-Limit": "max-size=100, min-size=0, expires=60" });
    expect(uploadLimitHeader(v8, { ...limits, maxAppendSize: 10 })).toEqual({ "Upload-Limit": "max-size=100, min-size=0, max-append-size=10, max-age=60" });
    expect(uploadLimitHeader(INTEROP_VERSIONS.get(5)!, limits)).toEqual({});
  });

  it("chooses the dialect by Upload-Draft-Interop-Version and names the supported versions otherwise", () => {
    const accepted = new Set([5, 6]);
    expect(interopRulesOf(new Headers(), accepted)).toBeUndefined();
    expect(interopRulesOf(new Headers({ "Upload-Draft-Interop-Version": "6" }), accepted)).toBe(v6);
    for (const raw of ["8", "6.0", "six", "-6"]) {
      const error = expectTusError(() => interopRulesOf(new Headers({ "Upload-Draft-Interop-Version": raw }), accepted), "unsupported-interop-version");
      expect(error.message).toMatch(/speaks 5, 6 /);
    }
  });

  it("takes the file name from Content-Disposition: filename* first, then filename, last path segment only", () => {
    expect(filenameOf(`inline; filename="a b.png"`)).toBe("a b.png");
    expect(filenameOf(`attachment; filename=plain.txt`)).toBe("plain.txt");
    expect(filenameOf(`inline; filename="x.jpg"; filename*=UTF-8''%C3%A9t%C3%A9.jpg`)).toBe("été.jpg");
    expect(filenameOf(`inline; filename*=UTF-8''%E0%A4%A; filename="fallback.txt"`)).toBe("fallback.txt");
    expect(filenameOf(`inline; filename="../../etc/passwd"`)).toBe("passwd");
    expect(filenameOf("inline")).toBeUndefined();
    expect(filenameOf(null)).toBeUndefined();
  });
});

describe("IETF dialect settings", () => {
  it("RUFH_INTEROP_VERSIONS narrows the versions spoken; an unsupported one stops start-up naming the supported ones", () => {
    expect([...parseConfig({ AUTH_MODE: "open" }).rufhInteropVersions]).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect([...parseConfig({ AUTH_MODE: "open", RUFH_INTEROP_VERSIONS: "5, 6" }).rufhInteropVersions]).toEqual([5, 6]);
    expect(() => parseConfig({ AUTH_MODE: "open", RUFH_INTEROP_VERSIONS: "6,12" })).toThrow(/RUFH_INTEROP_VERSIONS lists 12; the supported interop versions are 3, 4, 5, 6, 7, 8, 9/);
  });

  it("MAX_APPEND_SIZE is unset by default and a whole number of bytes when set", () => {
    expect(parseConfig({ AUTH_MODE: "open" }).maxAppendSize).toBeUndefined();
    expect(parseConfig({ AUTH_MODE: "open", MAX_APPEND_SIZE: "104857600" }).maxAppendSize).toBe(104857600);
    expect(() => parseConfig({ AUTH_MODE: "open", MAX_APPEND_SIZE: "100MB" })).toThrow(/MAX_APPEND_SIZE must be a whole number of bytes/);
  });
});
