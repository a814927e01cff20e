/**
 * How the pre-finish hook's answer is served (protocol/shared/hook-answer.ts):
 * its body's type when the hook named none, and only allowed headers, even
 * from an answer stored before the allow-list (hooks/pre-finish.ts).
 */
import { describe, expect, it } from "vitest";
import type { HookAnswer } from "../../src/hooks/pre-finish";
import { answeredResponse, withAnswerHeaders } from "../../src/protocol/shared/hook-answer";
import type { UploadInfo } from "../../src/upload/upload-record";

const tusHeaders = () => new Headers({ "Tus-Resumable": "1.0.0", "Upload-Offset": "10" });

describe("answeredResponse", () => {
  it.each([
    ['{"videoId":"v_1"}', "application/json"],
    [' [1, 2] ', "application/json"],
    ["ok", "text/plain; charset=utf-8"],
    ["42", "text/plain; charset=utf-8"],
    ["{not json", "text/plain; charset=utf-8"],
  ])("answers %j without a Content-Type from the hook as %s", async (body, type) => {
    const response = answeredResponse({ status: 200, headers: { "X-Video-Id": "v_1" }, body }, tusHeaders());
    expect(response.headers.get("Content-Type")).toBe(type);
    expect(await response.text()).toBe(body);
    expect(response.headers.get("Upload-Offset")).toBe("10");
  });

  it("keeps the hook's own Content-Type, and gives an empty body none", () => {
    const typed = answeredResponse({ status: 200, headers: { "content-type": "application/problem+json" }, body: "{}" }, tusHeaders());
    expect(typed.headers.get("Content-Type")).toBe("application/problem+json");
    const empty = answeredResponse({ status: 204, headers: {}, body: "" }, tusHeaders());
    expect(empty.headers.get("Content-Type")).toBeNull();
  });

  it("serves no header of a stored answer that the allow-list refuses, and exposes only the served ones", () => {
    const stored: HookAnswer = {
      status: 200,
      headers: { "X-Video-Id": "v_1", "Content-Security-Policy": "default-src *", Refresh: "0; url=https://evil.example", "Content-Type": "text/html" },
      body: "<script>1</script>",
    };
    const response = answeredResponse(stored, tusHeaders());
    expect(response.headers.get("Content-Security-Policy")).toBeNull();
    expect(response.headers.get("Refresh")).toBeNull();
    expect(response.headers.get("Content-Type")).toBe("text/plain; charset=utf-8");
    expect(response.headers.get("Access-Control-Expose-Headers")).toBe("X-Video-Id");

    const head = withAnswerHeaders({ answer: stored } as UploadInfo, tusHeaders());
    expect([...head.keys()].sort()).toEqual(["access-control-expose-headers", "tus-resumable", "upload-offset", "x-video-id"]);
  });
});
