import { describe, expect, it } from "vitest";
import {
  R2_MAX_OBJECT_SIZE,
  TUS_VERSION,
  checkTusResumable,
  hasOffsetOctetStreamBody,
  parseContentLength,
  parseCreationLength,
  parseDecimal,
  parseUploadLength,
  parseUploadOffset,
} from "../../src/protocol/tus/headers";
import { expectTusError } from "./expect-tus-error";

describe("checkTusResumable", () => {
  it("accepts Tus-Resumable: 1.0.0", () => {
    expect(TUS_VERSION).toBe("1.0.0");
    expect(() => checkTusResumable(new Headers({ "Tus-Resumable": "1.0.0" }))).not.toThrow();
  });

  it("rejects a request without Tus-Resumable and says it is missing", () => {
    const error = expectTusError(() => checkTusResumable(new Headers()), "unsupported-version");
    expect(error.status).toBe(412);
    expect(error.message).toContain("missing");
  });

  it.each(["0.2.2", "1.0", "1.0.0, 1.0.0", "2.0.0", "1.0.0-beta"])(
    "rejects Tus-Resumable %j and names the value received",
    (version) => {
      const error = expectTusError(
        () => checkTusResumable(new Headers({ "Tus-Resumable": version })),
        "unsupported-version",
      );
      expect(error.message).toContain(JSON.stringify(version));
    },
  );
});

describe("parseDecimal", () => {
  it.each([
    ["0", 0],
    ["1", 1],
    ["007", 7],
    ["1048576", 1_048_576],
    ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ["00000000000000000012", 12],
  ])("reads %j as %d", (value, expected) => {
    expect(parseDecimal(value, "Upload-Offset", Number.MAX_VALUE)).toBe(expected);
  });

  it.each(["1e3", "+5", " 0", "0 ", "0x10", "1.5", "-1", "", "1_000", "١٢", "Infinity", "NaN", "5,5"])(
    "rejects %j as not a plain decimal, naming the header and the value",
    (value) => {
      const error = expectTusError(() => parseDecimal(value, "Upload-Offset", 100), "invalid-header");
      expect(error.message).toContain("Upload-Offset");
      expect(error.message).toContain(JSON.stringify(value));
    },
  );

  it("truncates a long bad value in the message", () => {
    const value = `x${"9".repeat(500)}`;
    const error = expectTusError(() => parseDecimal(value, "Upload-Length", 100), "invalid-header");
    expect(error.message).toContain(`${JSON.stringify(value.slice(0, 40) + "…")}`);
    expect(error.message.length).toBeLessThan(150);
  });

  it.each([
    ["17 digits", "12345678901234567"],
    ["2^53 + 1, which a double cannot hold", "9007199254740993"],
    ["16 nines, which round to 10^16", "9999999999999999"],
    ["a number that overflows to Infinity", "9".repeat(400)],
  ])("rejects %s as larger than the largest allowed", (_, value) => {
    const error = expectTusError(() => parseDecimal(value, "Upload-Length", Number.MAX_VALUE), "invalid-header");
    expect(error.message).toContain("larger than the largest allowed");
  });

  it("accepts the maximum itself and rejects one more", () => {
    expect(parseDecimal(String(R2_MAX_OBJECT_SIZE), "Upload-Length", R2_MAX_OBJECT_SIZE)).toBe(R2_MAX_OBJECT_SIZE);
    const error = expectTusError(
      () => parseDecimal(String(R2_MAX_OBJECT_SIZE + 1), "Upload-Length", R2_MAX_OBJECT_SIZE),
      "invalid-header",
    );
    expect(error.message).toContain(`larger than the largest allowed, ${R2_MAX_OBJECT_SIZE}`);
  });
});

describe("R2_MAX_OBJECT_SIZE", () => {
  it("is 5 TiB minus 5 GiB", () => {
    expect(R2_MAX_OBJECT_SIZE).toBe(5_492_189_429_760);
  });
});

describe("parseUploadOffset", () => {
  it("reads the offset", () => {
    expect(parseUploadOffset(new Headers({ "Upload-Offset": "5242880" }))).toBe(5_242_880);
  });

  it("requires the header", () => {
    const error = expectTusError(() => parseUploadOffset(new Headers()), "invalid-header");
    expect(error.message).toContain("Upload-Offset is required");
  });

  it.each(["-1", "1e3", "abc", String(R2_MAX_OBJECT_SIZE + 1)])("rejects Upload-Offset %j", (value) => {
    expectTusError(() => parseUploadOffset(new Headers({ "Upload-Offset": value })), "invalid-header");
  });
});

describe("parseUploadLength", () => {
  it("is undefined when the header is absent", () => {
    expect(parseUploadLength(new Headers(), 100)).toBeUndefined();
  });

  it.each([
    ["0", 0],
    ["100", 100],
    [String(R2_MAX_OBJECT_SIZE), R2_MAX_OBJECT_SIZE],
  ])("reads Upload-Length %j as %d", (value, expected) => {
    expect(parseUploadLength(new Headers({ "Upload-Length": value }), R2_MAX_OBJECT_SIZE)).toBe(expected);
  });

  it("reads an Upload-Length up to the caller's limit", () => {
    expect(parseUploadLength(new Headers({ "Upload-Length": "1000" }), 1000)).toBe(1000);
  });

  it.each(["", "1.5", "0x10", "-1", "1e3", "+5"])("rejects the malformed Upload-Length %j with 400", (value) => {
    const error = expectTusError(() => parseUploadLength(new Headers({ "Upload-Length": value }), R2_MAX_OBJECT_SIZE), "invalid-header");
    expect(error.status).toBe(400);
  });

  // "If the length of the upload exceeds the maximum ... the Server MUST respond with 413", however large.
  it.each([
    ["one byte over the limit", "1001", "1001"],
    ["2^53, which a double cannot tell from 2^53 + 1", "9007199254740992", "9007199254740992"],
    ["17 digits", "12345678901234567", "12345678901234567"],
    ["20 nines", "99999999999999999999", "99999999999999999999"],
    ["leading zeros before a large number", "0000099999999999999999999", "99999999999999999999"],
    ["400 digits", "9".repeat(400), `${"9".repeat(20)}… (400 digits)`],
  ])("refuses an Upload-Length of %s with 413 naming the value and the limit", (_, value, shown) => {
    const error = expectTusError(() => parseUploadLength(new Headers({ "Upload-Length": value }), 1000), "upload-too-large");
    expect(error.status).toBe(413);
    expect(error.message).toBe(`Upload-Length ${shown} exceeds the largest upload allowed, 1000 bytes`);
  });
});

describe("parseCreationLength", () => {
  it.each([
    [{ "Upload-Length": "42" }, { length: 42 }],
    [{ "Upload-Length": "0" }, { length: 0 }],
    [{ "Upload-Defer-Length": "1" }, { deferred: true }],
  ])("reads %j as %j", (headers, expected) => {
    expect(parseCreationLength(new Headers(headers), 100)).toEqual(expected);
  });

  it.each([
    ["Upload-Defer-Length other than 1", { "Upload-Defer-Length": "0" }, "invalid-header"],
    ["Upload-Defer-Length: true", { "Upload-Defer-Length": "true" }, "invalid-header"],
    ["Upload-Defer-Length: 01", { "Upload-Defer-Length": "01" }, "invalid-header"],
    ["both headers", { "Upload-Length": "42", "Upload-Defer-Length": "1" }, "invalid-header"],
    ["both headers, with a length over the limit", { "Upload-Length": "9".repeat(30), "Upload-Defer-Length": "1" }, "invalid-header"],
    ["a malformed Upload-Length", { "Upload-Length": "4 2" }, "invalid-header"],
    ["an Upload-Length over the limit", { "Upload-Length": "101" }, "upload-too-large"],
    ["an Upload-Length too large for a double", { "Upload-Length": "9".repeat(30) }, "upload-too-large"],
    ["neither header", {}, "missing-length"],
  ] as const)("rejects %s", (_, headers, code) => {
    expectTusError(() => parseCreationLength(new Headers(headers), 100), code);
  });
});

describe("hasOffsetOctetStreamBody", () => {
  it.each([
    ["application/offset+octet-stream", true],
    ["Application/Offset+Octet-Stream", true],
    ["application/offset+octet-stream; charset=binary", true],
    ["application/offset+octet-stream ;x=y", true],
    ["application/octet-stream", false],
    ["application/offset+octet-streamx", false],
    ["text/plain; application/offset+octet-stream", false],
    ["", false],
  ])("says %j is %s", (contentType, expected) => {
    expect(hasOffsetOctetStreamBody(new Headers({ "Content-Type": contentType }))).toBe(expected);
  });

  it("is false without Content-Type", () => {
    expect(hasOffsetOctetStreamBody(new Headers())).toBe(false);
  });
});

describe("parseContentLength", () => {
  it("is undefined when the header is absent", () => {
    expect(parseContentLength(new Headers(), 100)).toBeUndefined();
  });

  it.each([
    ["0", 0],
    ["1024", 1024],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])("reads Content-Length %j as %d", (value, expected) => {
    expect(parseContentLength(new Headers({ "Content-Length": value }), Number.MAX_SAFE_INTEGER)).toBe(expected);
  });

  it.each(["1e3", "+5", "0x10", "1.5", "-1"])("rejects the malformed Content-Length %j with 400", (value) => {
    expectTusError(() => parseContentLength(new Headers({ "Content-Length": value }), R2_MAX_OBJECT_SIZE), "invalid-header");
  });

  it.each(["1025", "9007199254740992", "12345678901234567", "9".repeat(400)])(
    "refuses a body of Content-Length %j, more than any upload may hold, with 413 naming the limit",
    (value) => {
      const error = expectTusError(() => parseContentLength(new Headers({ "Content-Length": value }), 1024), "upload-too-large");
      expect(error.status).toBe(413);
      expect(error.message).toMatch(/Content-Length .* largest upload allowed, 1024 bytes/);
    },
  );
});
