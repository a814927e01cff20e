import { describe, expect, it } from "vitest";
import { parseUploadChecksum, TUS_CHECKSUM_ALGORITHMS } from "../../src/protocol/tus/checksum";
import { expectTusError } from "./expect-tus-error";

/** Digest lengths in bytes; the parser checks the form, not the bytes, so any bytes of that length do. */
const DIGEST_BYTES: Record<string, number> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** Base64 of `bytes` bytes (values 0, 7, 14, …), the way a client writes a digest. */
function digestOf(algorithm: string): string {
  const bytes = Array.from({ length: DIGEST_BYTES[algorithm]! }, (_, index) => (index * 7) % 256);
  return btoa(String.fromCharCode(...bytes));
}

function parse(value: string) {
  return parseUploadChecksum(new Headers({ "Upload-Checksum": value }));
}

describe("parseUploadChecksum", () => {
  it("is undefined without the header", () => {
    expect(parseUploadChecksum(new Headers())).toBeUndefined();
  });

  it("advertises sha1 (which the spec makes mandatory), sha256, sha512 and md5", () => {
    expect(TUS_CHECKSUM_ALGORITHMS).toBe("sha1,sha256,sha512,md5");
  });

  it.each(["sha1", "sha256", "sha512", "md5"])("reads a %s digest", (algorithm) => {
    const digest = digestOf(algorithm);
    expect(parse(`${algorithm} ${digest}`)).toEqual({ algorithm, digest });
  });

  it("reads the algorithm case-insensitively", () => {
    expect(parse(`SHA1 ${digestOf("sha1")}`)?.algorithm).toBe("sha1");
  });

  // Well-formed Base64 that no body of this algorithm can match: a mismatch
  // (460) found when the chunk is verified, so the parser lets it through.
  it.each([
    ["a sha1 header carrying a sha256 digest", `sha1 ${digestOf("sha256")}`],
    ["an md5 header carrying a sha1 digest", `md5 ${digestOf("sha1")}`],
    ["a sha256 digest cut to 40 characters (30 bytes)", `sha256 ${digestOf("sha256").slice(0, 40)}`],
    ["a one-byte digest", "sha1 AA=="],
  ])("passes %s on, to be found a mismatch", (_, value) => {
    const [algorithm, digest] = value.split(" ");
    expect(parse(value)).toEqual({ algorithm, digest });
  });

  it.each([
    ["an unknown algorithm", `crc32 ${btoa("\x01\x02\x03\x04")}`],
    ["sha384, which this server does not offer", `sha384 ${digestOf("sha384")}`],
    ["an algorithm inherited from Object.prototype", `constructor ${digestOf("sha1")}`],
    ["an extra field after the digest", `sha1 ${digestOf("sha1")} extra`],
    ["two spaces between the fields", `sha1  ${digestOf("sha1")}`],
  ])("refuses %s as unsupported (400), naming the algorithms offered", (_, value) => {
    const error = expectTusError(() => parse(value), "unsupported-checksum");
    expect(error.status).toBe(400);
    expect(error.message).toContain(TUS_CHECKSUM_ALGORITHMS);
  });

  it.each([
    ["no digest", "sha1"],
    ["an empty digest", "sha1 "],
    ["characters outside Base64", "sha1 !!!!"],
    ["URL-safe Base64 (- and _)", `sha1 -_${digestOf("sha1").slice(2)}`],
    ["missing padding", `sha1 ${digestOf("sha1").replace(/=+$/, "")}`],
    ["padding in the middle", "sha1 AA==AAAA"],
    ["three padding characters", "sha1 A==="],
  ])("refuses a digest with %s as malformed (400)", (_, value) => {
    const error = expectTusError(() => parse(value), "unsupported-checksum");
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/Upload-Checksum/);
  });
});
