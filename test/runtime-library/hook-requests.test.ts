/**
 * What the gateway does with its hook URLs' answers (security issue 18):
 * it reads at most MAX_HOOK_ANSWER_BYTES of an answer and cancels the rest,
 * and it never follows a redirect, which would carry the upload's details
 * (signed, with WEBHOOK_SECRET) to a host nobody configured. The hooks are
 * hook-server.ts, scripted by each upload's `webhooks` metadata; a redirect
 * they answer points at elsewhere.test, which records whatever reaches it.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_HOOK_ANSWER_BYTES } from "../../src/hooks/hook-request";
import { MiB, patch, randomBytes } from "../runtime/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { allDelivered, create, headAs, holdAfterFailure, outbox, post, retryNow, TIMEOUT, waitFor } from "./helpers";
import { hookRequests, hookStreams, REDIRECT_TARGET_ORIGIN, type WebhookScript } from "./hook-server";

/** The error of each HookInvocationError line about the upload (the Worker, its Durable Objects and the tests share the console). */
let hookErrors: Array<{ uploadId: string; error: string }> = [];

beforeEach(() => {
  hookErrors = [];
  vi.spyOn(console, "warn").mockImplementation((line: unknown) => {
    try {
      const parsed = JSON.parse(String(line)) as { event?: string; uploadId?: string; error?: string };
      if (parsed.event === "HookInvocationError") hookErrors.push({ uploadId: parsed.uploadId ?? "", error: parsed.error ?? "" });
    } catch {
      // Not a structured line.
    }
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function webhooks(script: Omit<WebhookScript, "tag">): { tag: string; metadata: Record<string, string> } {
  const tag = crypto.randomUUID();
  return { tag, metadata: { webhooks: JSON.stringify({ tag, ...script }) } };
}

function requestsTagged(tag: string) {
  const tagged = hookRequests.filter((request) => request.tag === tag);
  return {
    toHook: (hook: string) => tagged.filter((request) => new URL(request.url).pathname === `/${hook}`),
    elsewhere: tagged.filter((request) => request.url.startsWith(REDIRECT_TARGET_ORIGIN)),
  };
}

/** HEAD until the pre-finish decision is made (not 423). */
async function decided(token: string, url: string): Promise<Response> {
  return waitFor("the pre-finish decision", async () => {
    const head = await headAs(token, url);
    return head.status === 423 ? undefined : head;
  });
}

describe("an answer over the cap is not read", () => {
  it("a pre-finish hook answering 100 MB: the stream is cancelled after the cap, no decision (503), asked again", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("hana");
    const { tag, metadata } = webhooks({ preFinish: [{ stream: 100 * 1000 * 1000 }, { json: {} }] });
    const data = randomBytes(100, 21);
    const { url, id } = await create(token, { length: data.length, metadata });
    const completing = await patch(url, 0, data, bearer(token));
    expect(completing.status).toBe(503);
    await completing.body?.cancel();

    const [stream] = hookStreams.filter((seen) => seen.tag === tag);
    expect(stream, "the hook answered its stream").toBeDefined();
    expect(stream!.cancelled, "the gateway cancelled the answer's body").toBe(true);
    expect(stream!.readWhole).toBe(false);
    expect(stream!.pulledBytes, "pulled no more than the cap and a chunk or two").toBeLessThan(MAX_HOOK_ANSWER_BYTES + 3 * 64 * 1024);
    expect(hookErrors.filter((line) => line.uploadId === id).map((line) => line.error)).toEqual([
      `HookUnanswered: PRE_FINISH_HOOK_URL answered a malformed decision: the answer is over ${MAX_HOOK_ANSWER_BYTES} bytes`,
    ]);

    expect((await decided(token, url)).status, "the retry's answer ({}) accepts").toBe(200);
    expect(requestsTagged(tag).toHook("preFinish")).toHaveLength(2);
  });

  it("a pre-create hook answering 100 MB: 503, as for any malformed answer, after reading no more than the cap", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("hana");
    const { tag, metadata } = webhooks({ preCreate: [{ stream: 100 * 1000 * 1000 }] });
    const response = await post(token, { length: 10, metadata });
    expect(response.status).toBe(503);
    expect(await response.text()).toContain("the server's pre-create hook answered with a malformed decision");
    expect(response.headers.get("Location")).toBeNull();
    const [stream] = hookStreams.filter((seen) => seen.tag === tag);
    expect(stream!.cancelled).toBe(true);
    expect(stream!.pulledBytes).toBeLessThan(MAX_HOOK_ANSWER_BYTES + 3 * 64 * 1024);
  });
});

describe("a redirect is not followed", () => {
  it.each([301, 302, 303, 307, 308])("pre-create hook answering %i: 503 and the redirect's target receives nothing", { timeout: TIMEOUT }, async (status) => {
    const token = await tokenFor("hana");
    const { tag, metadata } = webhooks({ preCreate: [{ redirect: status }] });
    const response = await post(token, { length: 10, metadata });
    expect(response.status).toBe(503);
    await response.body?.cancel();
    expect(requestsTagged(tag).toHook("preCreate"), "the hook itself was asked").toHaveLength(1);
    expect(requestsTagged(tag).elsewhere).toEqual([]);
  });

  it("pre-finish hook answering 307: no decision (503, saying why), the target receives nothing, and the hook is asked again", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("hana");
    const { tag, metadata } = webhooks({ preFinish: [{ redirect: 307 }, { json: {} }] });
    const data = randomBytes(50, 22);
    const { url, id } = await create(token, { length: data.length, metadata });
    const completing = await patch(url, 0, data, bearer(token));
    expect(completing.status).toBe(503);
    await completing.body?.cancel();
    expect(requestsTagged(tag).elsewhere).toEqual([]);
    expect(hookErrors.filter((line) => line.uploadId === id).map((line) => line.error)).toEqual([
      expect.stringContaining("PRE_FINISH_HOOK_URL answered 307, a redirect, which the gateway does not follow"),
    ]);

    expect((await decided(token, url)).status).toBe(200);
    expect(requestsTagged(tag).toHook("preFinish")).toHaveLength(2);
    expect(requestsTagged(tag).elsewhere, "nor on the retry").toEqual([]);
  });

  it("event webhook answering 307: the delivery failed and is retried as any failed delivery; the target receives nothing", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("hana");
    const { tag, metadata } = webhooks({ events: [{ redirect: 307 }, { json: {} }] });
    const { id } = await create(token, { length: 1 * MiB, metadata });
    const failed = await holdAfterFailure(id, "created", 1);
    expect(requestsTagged(tag).toHook("events").map((request) => JSON.parse(request.body).id)).toEqual([failed.id]);
    expect(requestsTagged(tag).elsewhere).toEqual([]);

    await retryNow(id);
    await allDelivered(id);
    expect(await outbox(id)).toEqual([]);
    expect(requestsTagged(tag).toHook("events").map((request) => JSON.parse(request.body).id), "delivered on the retry, same event").toEqual([failed.id, failed.id]);
    expect(requestsTagged(tag).elsewhere).toEqual([]);
  });
});
