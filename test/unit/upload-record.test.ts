import { describe, expect, it } from "vitest";
import { MiB } from "../../src/r2-limits";
import { checkAppend, sizeLimitOf } from "../../src/upload/upload-record";
import { expectTusError } from "./expect-tus-error";
import { NO_LIMIT, uploadRecord } from "./upload-records";

describe("checkAppend", () => {
  it("accepts an append at the current offset and keeps the length", () => {
    expect(checkAppend(uploadRecord(), { offset: 40, declaredLength: undefined, contentLength: 60, lengthLimit: NO_LIMIT })).toBe(100);
  });

  it("refuses another offset with 409 and tells the current one", () => {
    const error = expectTusError(() => checkAppend(uploadRecord(), { offset: 0, declaredLength: undefined, contentLength: 1, lengthLimit: NO_LIMIT }), "offset-mismatch");
    expect(error.details.offset).toBe(40);
  });

  it("refuses a body that would pass the length before reading it", () => {
    expectTusError(() => checkAppend(uploadRecord(), { offset: 40, declaredLength: undefined, contentLength: 61, lengthLimit: NO_LIMIT }), "exceeds-upload-length");
  });

  it("sets a deferred length once, and never changes it", () => {
    const deferred = uploadRecord({ length: undefined, partSize: 16 * MiB });
    expect(checkAppend(deferred, { offset: 40, declaredLength: 50, contentLength: 10, lengthLimit: NO_LIMIT })).toBe(50);
    expectTusError(() => checkAppend(uploadRecord(), { offset: 40, declaredLength: 99, contentLength: 0, lengthLimit: NO_LIMIT }), "length-conflict");
  });

  it("refuses a declared length below the bytes already received", () => {
    expectTusError(() => checkAppend(uploadRecord({ length: undefined }), { offset: 40, declaredLength: 39, contentLength: 0, lengthLimit: NO_LIMIT }), "invalid-header");
  });

  it("holds a deferred-length upload to 10,000 parts", () => {
    const deferred = uploadRecord({ length: undefined, partSize: 5 * MiB });
    expectTusError(
      () => checkAppend(deferred, { offset: 40, declaredLength: 10_000 * 5 * MiB + 1, contentLength: 0, lengthLimit: NO_LIMIT }),
      "upload-too-large",
    );
    expectTusError(
      () => checkAppend(deferred, { offset: 40, declaredLength: undefined, contentLength: 10_000 * 5 * MiB, lengthLimit: NO_LIMIT }),
      "upload-too-large",
    );
  });

  it("holds a declared length to the caller's limit (a token's max_upload_size)", () => {
    const deferred = uploadRecord({ length: undefined });
    expectTusError(() => checkAppend(deferred, { offset: 40, declaredLength: 1001, contentLength: 0, lengthLimit: 1000 }), "upload-too-large");
    expect(checkAppend(deferred, { offset: 40, declaredLength: 1000, contentLength: 0, lengthLimit: 1000 })).toBe(1000);
  });

  it("holds a deferred-length upload to the limit recorded at its creation, whatever the caller's", () => {
    const deferred = uploadRecord({ length: undefined, sizeLimit: 1000 });
    const error = expectTusError(() => checkAppend(deferred, { offset: 40, declaredLength: 1001, contentLength: 0, lengthLimit: NO_LIMIT }), "upload-too-large");
    expect(error.message).toContain("1000 bytes");
    const body = expectTusError(() => checkAppend(deferred, { offset: 40, declaredLength: undefined, contentLength: 961, lengthLimit: NO_LIMIT }), "upload-too-large");
    expect(body.message).toContain("at most 1000 bytes");
    expect(body.details.offset).toBe(40);
    expect(checkAppend(deferred, { offset: 40, declaredLength: undefined, contentLength: 960, lengthLimit: NO_LIMIT })).toBeUndefined();
  });
});

describe("sizeLimitOf", () => {
  it("is the smallest of the upload's recorded limit, the caller's and 10,000 parts", () => {
    expect(sizeLimitOf(uploadRecord({ sizeLimit: 1000 }), NO_LIMIT)).toBe(1000);
    expect(sizeLimitOf(uploadRecord({ sizeLimit: 1000 }), 500)).toBe(500);
    expect(sizeLimitOf(uploadRecord({ sizeLimit: undefined }), 700)).toBe(700);
    expect(sizeLimitOf(uploadRecord({ sizeLimit: undefined, partSize: 5 * MiB }), NO_LIMIT)).toBe(10_000 * 5 * MiB);
  });
});
