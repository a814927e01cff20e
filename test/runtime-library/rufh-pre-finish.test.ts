/**
 * The pre-finish hook in the IETF dialect: the request that completes an
 * upload (`Upload-Complete: ?1`: a whole file in one creation, or the last
 * append) answers the hook's answer instead of the upload's own result; a
 * later offset retrieval repeats its headers; a rejection and "no decision
 * yet" reach the client as in tus. The hook is worker.ts's
 * `onUploadFinishing`, driven by each upload's `finishing` metadata.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, randomBytes, send } from "../runtime/helpers";
import { completion, interop, isComplete, VERSIONS, type Version } from "../runtime/rufh/helpers";
import { metadataHeader } from "../runtime-auth/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { COLLECTION, expectConsistentEventIds, TIMEOUT, waitFor } from "./helpers";

afterEach(async () => {
  await expectConsistentEventIds();
});

const ANSWER = { response: { status: 200, headers: { "X-Video-Id": "v_ietf", "Content-Type": "application/json" }, body: '{"videoId":"v_ietf"}' } };

function finishing(...steps: unknown[]): Record<string, string> {
  return { "Upload-Metadata": metadataHeader({ finishing: JSON.stringify(steps) }) };
}

function appendHeaders(version: Version, offset: number, complete: boolean): Record<string, string> {
  return {
    ...interop(version),
    ...completion(version, complete),
    "Upload-Offset": String(offset),
    ...(version >= 6 ? { "Content-Type": "application/partial-upload" } : {}),
  };
}

describe.each(VERSIONS)("interop version %i", (version) => {
  it("a whole file in one ?1 creation answers the hook's answer, with Location and the completion field", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("iris");
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, true), ...bearer(token), ...finishing(ANSWER) },
      body: randomBytes(300, version),
    });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get("X-Video-Id")).toBe("v_ietf");
    expect(response.headers.get("Location")).toMatch(/^http:\/\/library\.test\/api\/uploads\//);
    expect(isComplete(version, response)).toBe(true);
    expect(JSON.parse(await response.text())).toEqual({ videoId: "v_ietf" });

    const head = await send(response.headers.get("Location")!, { method: "HEAD", headers: { ...interop(version), ...bearer(token) } });
    expect(head.headers.get("X-Video-Id"), "offset retrieval repeats the answer's headers").toBe("v_ietf");
  });

  it("create, append, complete: the completing append answers the hook's answer; the same empty ?1 again replays it", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("iris");
    const created = await send(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, false), ...bearer(token), ...finishing(ANSWER) },
    });
    expect(created.status, await bodyText(created)).toBe(201);
    const url = created.headers.get("Location")!;
    const data = randomBytes(1000, 100 + version);
    const first = await send(url, { method: "PATCH", headers: { ...appendHeaders(version, 0, false), ...bearer(token) }, body: data.subarray(0, 400) });
    expect(first.status).toBe(204);
    const last = await send(url, { method: "PATCH", headers: { ...appendHeaders(version, 400, true), ...bearer(token) }, body: data.subarray(400) });
    expect(last.status).toBe(200);
    expect(last.headers.get("X-Video-Id")).toBe("v_ietf");
    expect(JSON.parse(await last.text())).toEqual({ videoId: "v_ietf" });
    const again = await send(url, { method: "PATCH", headers: { ...appendHeaders(version, 1000, true), ...bearer(token) }, body: new Uint8Array(0) });
    expect(again.status).toBe(200);
    expect(JSON.parse(await again.text())).toEqual({ videoId: "v_ietf" });
  });

  it("a rejection answers the hook's status and message; no decision yet is 503, then the answer on offset retrieval", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("iris");
    const rejected = await send(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, true), ...bearer(token), ...finishing({ reject: { status: 415, message: "not a video" } }) },
      body: randomBytes(10, 200 + version),
    });
    expect(rejected.status).toBe(415);
    expect(await rejected.text()).toContain("not a video");

    const unanswered = await send(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, true), ...bearer(token), ...finishing("throw", ANSWER) },
      body: randomBytes(10, 300 + version),
    });
    expect(unanswered.status).toBe(503);
    expect(unanswered.headers.get("Retry-After")).not.toBeNull();
    const url = unanswered.headers.get("Location");
    expect(url, "the upload exists: where to ask").not.toBeNull();
    await unanswered.body?.cancel();
    const head = await waitFor("the decision", async () => {
      const response = await send(url!, { method: "HEAD", headers: { ...interop(version), ...bearer(token) } });
      return response.status === 423 ? undefined : response;
    });
    expect(head.status).toBe(204);
    expect(head.headers.get("X-Video-Id")).toBe("v_ietf");
  });
});
