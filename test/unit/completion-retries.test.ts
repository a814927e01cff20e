/**
 * The schedule of retries after a completion failed in R2 (background.ts):
 * 5 s doubling to 10 minutes, COMPLETION_ATTEMPTS attempts (about a day),
 * then no more retries and expiry the idle time after the last attempt; and
 * the same schedule for a final upload's assembly steps.
 */
import { describe, expect, it } from "vitest";
import { assemblyRetryAt, COMPLETION_ATTEMPTS, completionRetryAt, completionRetryDelayMs, expiryOf } from "../../src/upload/lifecycle/background";
import type { UploadRecord } from "../../src/upload/upload-record";

const MINUTE = 60_000;
const policy = { expireAfterMs: 24 * 60 * MINUTE, expireFinishedAfterMs: 0, terminateDeletesObject: true };

/** An upload with every byte stored and no object yet. */
const awaiting: UploadRecord = {
  id: "u",
  objectKey: "uploads/u",
  length: 100,
  partSize: 8 * 1024 * 1024,
  metadata: new Map(),
  contentType: "application/octet-stream",
  contentDisposition: "attachment",
  createdAt: 0,
  offset: 100,
  multipartId: undefined,
  finishedAt: undefined,
  expiresAt: 1000,
  ended: undefined,
};

describe("completion retries", () => {
  it("wait 5 s after the first failure, doubling to at most 10 minutes", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 100].map(completionRetryDelayMs)).toEqual([
      5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 10 * MINUTE, 10 * MINUTE, 10 * MINUTE,
    ]);
  });

  it("end after about a day of attempts", () => {
    let total = 0;
    for (let failures = 1; failures < COMPLETION_ATTEMPTS; failures++) total += completionRetryDelayMs(failures);
    expect(total).toBeGreaterThan(23 * 60 * MINUTE);
    expect(total).toBeLessThan(25 * 60 * MINUTE);
  });

  it("are due after the delay of the failures so far, at once with none recorded, never once used up", () => {
    expect(completionRetryAt(awaiting, { count: 0, lastAt: undefined }, 7)).toBe(7);
    expect(completionRetryAt(awaiting, { count: 3, lastAt: 1_000 }, 7)).toBe(1_000 + 20_000);
    expect(completionRetryAt(awaiting, { count: COMPLETION_ATTEMPTS, lastAt: 1_000 }, 7)).toBeUndefined();
    expect(completionRetryAt({ ...awaiting, offset: 99 }, { count: 3, lastAt: 1_000 }, 7)).toBeUndefined();
    expect(completionRetryAt({ ...awaiting, ended: "object-exists" }, { count: 3, lastAt: 1_000 }, 7)).toBeUndefined();
  });

  it("keep the upload from expiring until they are used up; then it expires the idle time after the last attempt", () => {
    expect(expiryOf(awaiting, policy, { count: COMPLETION_ATTEMPTS - 1, lastAt: 5_000 })).toBeUndefined();
    expect(expiryOf(awaiting, policy, { count: COMPLETION_ATTEMPTS, lastAt: 5_000 })).toBe(5_000 + policy.expireAfterMs);
    expect(expiryOf(awaiting, { ...policy, expireAfterMs: 0 }, { count: COMPLETION_ATTEMPTS, lastAt: 5_000 })).toBeUndefined();
  });
});

/** A final upload of a concatenation, not assembled yet (it never expires while it is). */
const assembling: UploadRecord = {
  ...awaiting,
  offset: 0,
  expiresAt: undefined,
  concat: { kind: "final", partials: [{ id: "p", length: 100 }] },
};

describe("assembly retries", () => {
  it("are due after the delay of the failures in a row; none without a failure, once used up, or once the final is assembled or ended", () => {
    expect(assemblyRetryAt(assembling, { count: 1, lastAt: 1_000 })).toBe(1_000 + 5_000);
    expect(assemblyRetryAt(assembling, { count: 3, lastAt: 1_000 })).toBe(1_000 + 20_000);
    expect(assemblyRetryAt(assembling, { count: 0, lastAt: undefined })).toBeUndefined();
    expect(assemblyRetryAt(assembling, { count: COMPLETION_ATTEMPTS, lastAt: 1_000 })).toBeUndefined();
    expect(assemblyRetryAt({ ...assembling, finishedAt: 2_000, offset: 100 }, { count: 3, lastAt: 1_000 })).toBeUndefined();
    expect(assemblyRetryAt({ ...assembling, ended: "object-exists" }, { count: 3, lastAt: 1_000 })).toBeUndefined();
    // An ordinary upload's completion has its own schedule (completionRetryAt).
    expect(assemblyRetryAt(awaiting, { count: 3, lastAt: 1_000 })).toBeUndefined();
    expect(completionRetryAt(assembling, { count: 3, lastAt: 1_000 }, 7)).toBeUndefined();
  });

  it("keep the final from expiring until they are used up; then it expires the idle time after the last attempt", () => {
    expect(expiryOf(assembling, policy, { count: 0, lastAt: undefined })).toBeUndefined();
    expect(expiryOf(assembling, policy, { count: COMPLETION_ATTEMPTS - 1, lastAt: 5_000 })).toBeUndefined();
    expect(expiryOf(assembling, policy, { count: COMPLETION_ATTEMPTS, lastAt: 5_000 })).toBe(5_000 + policy.expireAfterMs);
    expect(expiryOf(assembling, { ...policy, expireAfterMs: 0 }, { count: COMPLETION_ATTEMPTS, lastAt: 5_000 })).toBeUndefined();
  });
});
