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
    expect(parseUploadLength(new Headers())).toBeUndefined();
  });

  it.each([
    ["0", 0],
    ["100", 100],
    [String(R2_MAX_OBJECT_SIZE), R2_MAX_OBJECT_SIZE],
  ])("reads Upload-Length %j as %d", (value, expected) => {
    expect(parseUploadLength(new Headers({ "Upload-Length": value }))).toBe(expected);
  });

  it("reads an Upload-Length beyond R2's largest object, for the caller to refuse as too large (413)", () => {
    expect(parseUploadLength(new Headers({ "Upload-Length": String(R2_MAX_OBJECT_SIZE + 1) }))).toBe(R2_MAX_OBJECT_SIZE + 1);
  });

  it.each(["", "1.5", "0x10", "9007199254740992", "12345678901234567"])(
    "rejects Upload-Length %j",
    (value) => {
      expectTusError(() => parseUploadLength(new Headers({ "Upload-Length": value })), "invalid-header");
    },
  );
});

describe("parseCreationLength", () => {
  it.each([
    [{ "Upload-Length": "42" }, { length: 42 }],
    [{ "Upload-Length": "0" }, { length: 0 }],
    [{ "Upload-Defer-Length": "1" }, { deferred: true }],
  ])("reads %j as %j", (headers, expected) => {
    expect(parseCreationLength(new Headers(headers))).toEqual(expected);
  });

  it.each([
    ["Upload-Defer-Length other than 1", { "Upload-Defer-Length": "0" }, "invalid-header"],
    ["Upload-Defer-Length: true", { "Upload-Defer-Length": "true" }, "invalid-header"],
    ["Upload-Defer-Length: 01", { "Upload-Defer-Length": "01" }, "invalid-header"],
    ["both headers", { "Upload-Length": "42", "Upload-Defer-Length": "1" }, "invalid-header"],
    ["a malformed Upload-Length", { "Upload-Length": "4 2" }, "invalid-header"],
    ["neither header", {}, "missing-length"],
  ] as const)("rejects %s", (_, headers, code) => {
    expectTusError(() => parseCreationLength(new Headers(headers)), code);
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
    expect(parseContentLength(new Headers())).toBeUndefined();
  });

  it.each([
    ["0", 0],
    ["1024", 1024],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])("reads Content-Length %j as %d", (value, expected) => {
    expect(parseContentLength(new Headers({ "Content-Length": value }))).toBe(expected);
  });

  it.each(["1e3", "+5", "0x10", "1.5", "-1", "9007199254740992", "12345678901234567"])(
    "rejects Content-Length %j",
    (value) => {
      expectTusError(() => parseContentLength(new Headers({ "Content-Length": value })), "invalid-header");
    },
  );
});
