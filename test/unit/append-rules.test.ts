/**
 * The decisions an IETF append asks the upload's Durable Object to take in
 * one call (issue 19): the protocol layer turns the request's fields into
 * a length (`lengthFromRequest`) and an intent (`appendIntent`); the object
 * replays or refuses an append to a finished upload (`replayFinished`) and
 * checks any other one before reading a byte (`checkAppend`). Run through
 * the gateway by test/runtime/rufh/; here each rule alone.
 */
import { describe, expect, it } from "vitest";
import { appendIntent, lengthFromRequest } from "../../src/protocol/rufh/body";
import type { RequestContext } from "../../src/protocol/shared/context";
import { checkAppend, replayFinished, type AppendRequest } from "../../src/upload/upload-record";
import { expectTusError } from "./expect-tus-error";
import { NO_LIMIT, uploadRecord } from "./upload-records";

/** A finished upload of 100 bytes. */
const finished = uploadRecord({ offset: 100, finishedAt: 1 });

function append(overrides: Partial<AppendRequest>): AppendRequest {
  return { offset: 40, declaredLength: undefined, contentLength: 0, lengthLimit: NO_LIMIT, ...overrides };
}

describe("replayFinished: an append to a finished upload", () => {
  it("replays the upload to an empty completing request at its final offset", () => {
    expect(replayFinished(finished, { offset: 100, contentLength: 0, completeAtEnd: true })).toBe(finished);
  });

  it("answers a wrong offset with offset-mismatch and the upload's offset, even for an empty completing request", () => {
    for (const offset of [0, 99, 101]) {
      const error = expectTusError(() => replayFinished(finished, { offset, contentLength: 0, completeAtEnd: true }), "offset-mismatch");
      expect(error.details.offset).toBe(100);
    }
  });

  it("refuses anything else at the final offset as upload-completed, with the offset", () => {
    const others = [
      { offset: 100, contentLength: 1, completeAtEnd: true }, // bytes with ?1
      { offset: 100, contentLength: 0, completeAtEnd: false }, // an empty ?0
      { offset: 100, contentLength: 0 }, // no intent to complete
      { offset: 100, contentLength: undefined, completeAtEnd: true }, // a chunked ?1: its body might bring bytes
    ];
    for (const other of others) {
      const error = expectTusError(() => replayFinished(finished, other), "upload-completed");
      expect(error.details.offset, JSON.stringify(other)).toBe(100);
    }
  });
});

describe("checkAppend: an append to a live upload, before any byte is read", () => {
  it("refuses another offset with offset-mismatch and the current offset", () => {
    const error = expectTusError(() => checkAppend(uploadRecord(), append({ offset: 39, contentLength: 1 })), "offset-mismatch");
    expect(error.details.offset).toBe(40);
  });

  it("refuses a declared length other than the one the upload has (length-conflict)", () => {
    expectTusError(() => checkAppend(uploadRecord(), append({ declaredLength: 101 })), "length-conflict");
    expect(checkAppend(uploadRecord(), append({ declaredLength: 100, contentLength: 60 }))).toBe(100);
  });

  it("sets a deferred length with the append that declares it", () => {
    expect(checkAppend(uploadRecord({ length: undefined }), append({ declaredLength: 50, contentLength: 10 }))).toBe(50);
    expect(checkAppend(uploadRecord({ length: undefined }), append({ contentLength: 10 }))).toBeUndefined();
  });

  it("refuses a declared length below the bytes already received (invalid-header)", () => {
    expectTusError(() => checkAppend(uploadRecord({ length: undefined }), append({ declaredLength: 39 })), "invalid-header");
    expect(checkAppend(uploadRecord({ length: undefined }), append({ declaredLength: 40 }))).toBe(40);
  });

  it("refuses a declared length over the size limit (upload-too-large), the upload's or the caller's", () => {
    expectTusError(() => checkAppend(uploadRecord({ length: undefined, sizeLimit: 1000 }), append({ declaredLength: 1001 })), "upload-too-large");
    expectTusError(() => checkAppend(uploadRecord({ length: undefined }), append({ declaredLength: 1001, lengthLimit: 1000 })), "upload-too-large");
    expect(checkAppend(uploadRecord({ length: undefined, sizeLimit: 1000 }), append({ declaredLength: 1000 }))).toBe(1000);
  });

  it("refuses a body past the length as exceeds-upload-length, with the offset; one that ends at the length passes", () => {
    const error = expectTusError(() => checkAppend(uploadRecord(), append({ contentLength: 61 })), "exceeds-upload-length");
    expect(error.details.offset).toBe(40);
    // Also against the length this very request declares.
    const declared = expectTusError(() => checkAppend(uploadRecord({ length: undefined }), append({ declaredLength: 50, contentLength: 11 })), "exceeds-upload-length");
    expect(declared.details.offset).toBe(40);
    expect(checkAppend(uploadRecord(), append({ contentLength: 60 }))).toBe(100);
  });

  it("refuses a body past the size limit when the length is deferred (upload-too-large, with the offset)", () => {
    const deferred = uploadRecord({ length: undefined, sizeLimit: 1000 });
    const error = expectTusError(() => checkAppend(deferred, append({ contentLength: 961 })), "upload-too-large");
    expect(error.details.offset).toBe(40);
    expectTusError(() => checkAppend(uploadRecord({ length: undefined }), append({ contentLength: 961, lengthLimit: 1000 })), "upload-too-large");
    expect(checkAppend(deferred, append({ contentLength: 960 }))).toBeUndefined();
  });

  it("leaves a chunked body (no Content-Length) to the writer, which measures it as it arrives", () => {
    expect(checkAppend(uploadRecord(), append({ contentLength: undefined }))).toBe(100);
    expect(checkAppend(uploadRecord({ length: undefined, sizeLimit: 41 }), append({ contentLength: undefined }))).toBeUndefined();
  });
});

describe("lengthFromRequest: the upload's length as an IETF request gives it", () => {
  const none = new Headers();
  const declaring = (length: number) => new Headers({ "Upload-Length": String(length) });

  it("is the offset plus Content-Length for a completing request", () => {
    expect(lengthFromRequest(none, true, 40, 10)).toBe(50);
    expect(lengthFromRequest(none, true, 40, 0)).toBe(40);
  });

  it("is Upload-Length when the request declares it, completing or not", () => {
    expect(lengthFromRequest(declaring(100), false, 40, 10)).toBe(100);
    expect(lengthFromRequest(declaring(100), true, 40, undefined)).toBe(100);
  });

  it("is unknown for an incomplete request without Upload-Length, and for a chunked completing one", () => {
    expect(lengthFromRequest(none, false, 40, 10)).toBeUndefined();
    expect(lengthFromRequest(none, true, 40, undefined)).toBeUndefined();
    // Not a non-negative Integer: as if absent.
    expect(lengthFromRequest(new Headers({ "Upload-Length": "-5" }), false, 40, 10)).toBeUndefined();
  });

  it("refuses Upload-Length that does not match what the completing request brings the upload to (length-conflict)", () => {
    expectTusError(() => lengthFromRequest(declaring(100), true, 40, 10), "length-conflict");
    expect(lengthFromRequest(declaring(50), true, 40, 10)).toBe(50);
  });

  it("gives checkAppend a length that refuses a completing append to an upload of another length", () => {
    // ?1 with 10 bytes at 40 says the upload is 50 bytes long; it is 100.
    expectTusError(() => checkAppend(uploadRecord(), append({ declaredLength: lengthFromRequest(none, true, 40, 10), contentLength: 10 })), "length-conflict");
    // On a deferred-length upload the same request sets the length.
    expect(checkAppend(uploadRecord({ length: undefined }), append({ declaredLength: lengthFromRequest(none, true, 40, 10), contentLength: 10 }))).toBe(50);
  });
});

describe("appendIntent: what an IETF append asks of the upload's object", () => {
  const context = (maxAppendSize: number | undefined) => ({ config: { maxAppendSize } }) as unknown as RequestContext;

  it("completes where the body ends for ?1 only, and always invalidates on overflow and replays when finished", () => {
    for (const complete of [true, false]) {
      expect(appendIntent(context(undefined), complete, { declaredLength: 50, contentLength: 10 })).toEqual({
        declaredLength: 50,
        contentLength: 10,
        checksum: undefined,
        appendLimit: undefined,
        completeAtEnd: complete,
        invalidateOnOverflow: true,
        replayWhenFinished: true,
      });
    }
  });

  it("holds the body to max-append-size as it arrives (a chunked body announces no length)", () => {
    const intent = appendIntent(context(1000), false, { declaredLength: undefined, contentLength: undefined });
    expect(intent.appendLimit).toBe(1000);
    expect(intent.contentLength).toBeUndefined();
  });
});
