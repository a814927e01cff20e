/**
 * The pre-finish hook's decisions (hooks/pre-finish.ts) and its retry
 * schedule (upload/lifecycle/finish-confirmation.ts): pure rules, checked one by one.
 */
import { describe, expect, it } from "vitest";
import { HookUnanswered, MAX_ANSWER_BODY_BYTES, parseDecision } from "../../src/hooks/pre-finish";
import { CONFIRM_RETRY_MAX_MS, confirmationRetryAt } from "../../src/upload/lifecycle/finish-confirmation";
import type { UploadRecord } from "../../src/upload/upload-record";

describe("parseDecision", () => {
  it.each([
    [{}, { kind: "accept" }],
    [{ note: "ignored" }, { kind: "accept" }],
    [{ response: {} }, { kind: "answer", answer: { status: 200, headers: {}, body: "" } }],
    [
      { response: { status: 201, headers: { "X-Video-Id": "v_1", "content-type": "application/json" }, body: "{}" } },
      { kind: "answer", answer: { status: 201, headers: { "X-Video-Id": "v_1", "content-type": "application/json" }, body: "{}" } },
    ],
    [{ response: { status: 204 } }, { kind: "answer", answer: { status: 204, headers: {}, body: "" } }],
    ...[
      { "X-Video-Id": "v_1", "x-trace": "t" },
      { "Content-Type": "application/json" },
      { "content-type": "application/json; charset=utf-8" },
      { "Content-Type": "Application/Problem+JSON" },
      { "Content-Type": "text/plain;charset=UTF-8" },
    ].map((headers): [unknown, unknown] => [{ response: { headers, body: "{}" } }, { kind: "answer", answer: { status: 200, headers, body: "{}" } }]),
    [{ reject: { message: "no" } }, { kind: "reject", status: 422, message: "no" }],
    [{ reject: { status: 403, message: "not yours" } }, { kind: "reject", status: 403, message: "not yours" }],
  ])("reads %j", (value, decision) => {
    expect(parseDecision(value, "hook")).toEqual(decision);
  });

  it.each<[unknown, string]>([
    [null, "not a JSON object"],
    [[], "not a JSON object"],
    ["{}", "not a JSON object"],
    [{ response: { status: 199 } }, "response.status must be a 2xx"],
    [{ response: { status: 300 } }, "response.status must be a 2xx"],
    [{ response: { status: 200.5 } }, "response.status must be a 2xx"],
    [{ response: { status: "200" } }, "response.status must be a 2xx"],
    [{ response: { body: 1 } }, "response.body must be a string"],
    [{ response: { body: "x".repeat(MAX_ANSWER_BODY_BYTES + 1) } }, "response.body is over"],
    [{ response: { status: 205, body: "x" } }, "a 205 has no body"],
    [{ response: { headers: [] } }, "response.headers must be an object"],
    [{ response: { headers: { "Bad Name": "x" } } }, "is not a header name"],
    [{ response: { headers: { "X-A": "é" } } }, "needs a printable ASCII value"],
    [{ response: { headers: { "X-A": 1 } } }, "needs a printable ASCII value"],
    ...["Upload-Offset", "tus-resumable", "Location", "Content-Length", "Set-Cookie", "Access-Control-Allow-Origin", "Retry-After"].map(
      (name): [unknown, string] => [{ response: { headers: { [name]: "1" } } }, `header ${name} may not be set by the hook: allowed are X-* headers`],
    ),
    // Security issue 18: each reached the client, and HEAD, through the deny-list this allow-list replaced.
    ...["Content-Security-Policy", "Refresh", "Clear-Site-Data", "Content-Location", "CDN-Cache-Control", "Link", "Content-Disposition", "X-Frame-Options", "x-content-type-options"].map(
      (name): [unknown, string] => [{ response: { headers: { [name]: "1" } } }, `header ${name} may not be set by the hook: allowed are X-* headers`],
    ),
    ...["text/html", "text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml", "application/javascript", "text/plain+html", "application/jsonp"].map(
      (type): [unknown, string] => [
        { response: { headers: { "Content-Type": type }, body: "{}" } },
        `header Content-Type must be application/json, application/*+json or text/plain, not ${JSON.stringify(type)}`,
      ],
    ),
    [{ response: { headers: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`X-H${i}`, "y".repeat(50)])) } }, "response.headers are over"],
    [{ reject: "no" }, "reject is not an object"],
    [{ reject: { status: 500, message: "no" } }, "reject.status must be a 4xx other than 409 and 423"],
    [{ reject: { status: 409, message: "no" } }, "reject.status must be a 4xx other than 409 and 423"],
    [{ reject: { status: 423, message: "no" } }, "reject.status must be a 4xx other than 409 and 423"],
    [{ reject: { status: 422 } }, "reject.message must be a non-empty string"],
    [{ reject: { message: "" } }, "reject.message must be a non-empty string"],
    [{ reject: { message: "x".repeat(1025) } }, "reject.message is over 1024 bytes"],
    [{ reject: { message: "no" }, response: {} }, "both response and reject"],
  ])("refuses %j: no decision, never a guess", (value, why) => {
    const parse = () => parseDecision(value, "PRE_FINISH_HOOK_URL");
    expect(parse).toThrow(HookUnanswered);
    expect(parse).toThrow("PRE_FINISH_HOOK_URL answered a malformed decision: ");
    expect(parse).toThrow(why);
  });
});

describe("confirmationRetryAt", () => {
  const policy = { preFinishGiveUpMs: 24 * 60 * 60 * 1000, preFinishFallback: "accept" as const, preFinishRejectDeletesObject: true };
  const finished = (confirmation: UploadRecord["confirmation"]): UploadRecord => ({
    id: "u",
    objectKey: "uploads/u",
    length: 10,
    partSize: 8 * 1024 * 1024,
    metadata: new Map(),
    contentType: "application/octet-stream",
    contentDisposition: "attachment",
    createdAt: 0,
    offset: 10,
    multipartId: undefined,
    finishedAt: 1000,
    expiresAt: undefined,
    ended: undefined,
    confirmation,
  });

  it("asks at once when the hook was never asked (or the asking request died)", () => {
    expect(confirmationRetryAt(finished({ state: "pending", since: 1000, attempts: 0 }), policy, 5000)).toBe(5000);
  });

  it("backs off from 1 s, doubling, to at most 5 minutes after the last attempt", () => {
    const after = (attempts: number) => confirmationRetryAt(finished({ state: "pending", since: 0, attempts, lastAttemptAt: 10_000 }), policy, 10_000)! - 10_000;
    expect([1, 2, 3, 4, 9, 10, 40].map(after)).toEqual([1000, 2000, 4000, 8000, 256_000, CONFIRM_RETRY_MAX_MS, CONFIRM_RETRY_MAX_MS]);
  });

  it("never later than the give-up time, when the fallback decides", () => {
    const since = 0;
    const lastAttemptAt = policy.preFinishGiveUpMs - 1000;
    expect(confirmationRetryAt(finished({ state: "pending", since, attempts: 30, lastAttemptAt }), policy, lastAttemptAt)).toBe(policy.preFinishGiveUpMs);
  });

  it("is nothing to do for an upload that is decided, unfinished or ended", () => {
    expect(confirmationRetryAt(finished({ state: "accepted" }), policy, 0)).toBeUndefined();
    expect(confirmationRetryAt(finished(undefined), policy, 0)).toBeUndefined();
    expect(confirmationRetryAt({ ...finished({ state: "pending", since: 0, attempts: 0 }), finishedAt: undefined }, policy, 0)).toBeUndefined();
    expect(confirmationRetryAt({ ...finished({ state: "pending", since: 0, attempts: 0 }), ended: "terminated" }, policy, 0)).toBeUndefined();
    expect(confirmationRetryAt(undefined, policy, 0)).toBeUndefined();
  });
});
