/**
 * The pre-finish hook, in its library form `onUploadFinishing` (worker.ts):
 * asked once an upload's object is complete, before the completing request
 * is answered. It accepts, answers the client (status, headers, body; the
 * headers repeated on HEAD), or rejects (the object deleted, every later
 * request told why); when it gives no decision (throws, too slow, malformed)
 * the completing request gets 503, HEAD 423, and the hook is asked again
 * with back-off until it decides or the fallback does. `finished` is
 * reported only once it accepted or answered, `rejected` otherwise.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import type { FinishingQuestion } from "../../src/index";
import { bodyText, patch, randomBytes, send, sha256Hex, TUS, uploadStub } from "../runtime/helpers";
import { metadataHeader } from "../runtime-auth/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { allDelivered, callsAbout, COLLECTION, create, expectConsistentEventIds, headAs, TIMEOUT, waitFor } from "./helpers";
import { recordedPoints } from "./recorded-metrics";
import { FINISHING_TIMEOUT_MS, KEY_PREFIX } from "./worker";

afterEach(async () => {
  await expectConsistentEventIds();
});

const OCTET = { "Content-Type": "application/offset+octet-stream" };

/** What onUploadFinishing was asked about the upload, oldest first. */
async function questionsAbout(uploadId: string): Promise<FinishingQuestion[]> {
  const listing = await env.BUCKET.list({ prefix: `finishing/${uploadId}/` });
  const questions: FinishingQuestion[] = [];
  for (const { key } of listing.objects.sort((a, b) => a.key.localeCompare(b.key))) {
    questions.push(JSON.parse(await (await env.BUCKET.get(key))!.text()) as FinishingQuestion);
  }
  return questions;
}

/** The upload's events as onEvent received them (each once, in order). */
async function eventTypes(uploadId: string): Promise<string[]> {
  await allDelivered(uploadId);
  const calls = await callsAbout(uploadId, "onEvent");
  return calls.filter((call) => call.outcome === "returned").map((call) => call.event.type);
}

function script(...steps: unknown[]): Record<string, string> {
  return { finishing: JSON.stringify(steps) };
}

const ANSWER = {
  response: { status: 200, headers: { "X-Video-Id": "v_123", "Content-Type": "application/json" }, body: JSON.stringify({ videoId: "v_123" }) },
};

describe("onUploadFinishing decides", () => {
  it("is asked once with the upload and an idempotency key; {} accepts: 204 as without a hook, then finished", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(1000, 1);
    const filename = `accept-${crypto.randomUUID().slice(0, 8)}.bin`;
    const { url, id } = await create(token, { length: data.length, metadata: { filename, ...script({}) } });
    const response = await patch(url, 0, data, bearer(token));
    expect(response.status, await bodyText(response)).toBe(204);
    expect(response.headers.get("Upload-Offset")).toBe("1000");

    const questions = await questionsAbout(id);
    expect(questions).toHaveLength(1);
    expect(questions[0]).toEqual({
      type: "pre-finish",
      idempotencyKey: `pre-finish:${id}`,
      attempt: 1,
      upload: {
        id,
        objectKey: `${KEY_PREFIX}fiona/${filename}`,
        size: 1000,
        metadata: { filename: btoa(filename), finishing: btoa(JSON.stringify([{}])) },
        subject: "fiona",
      },
    });
    // The object was complete when the hook was asked, and stays.
    expect(await sha256Hex(await (await env.BUCKET.get(`${KEY_PREFIX}fiona/${filename}`))!.arrayBuffer())).toBe(await sha256Hex(data));
    expect((await headAs(token, url)).status).toBe(200);
    expect(await eventTypes(id)).toEqual(["created", "finished"]);
  });

  it("answers the client: the completing PATCH gets the hook's status, headers and body; HEAD repeats the headers; a retried PATCH the whole answer", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(2000, 2);
    const { url, id } = await create(token, { length: data.length, metadata: script(ANSWER) });
    expect((await patch(url, 0, data.subarray(0, 500), bearer(token))).status, "not complete yet: no hook").toBe(204);
    expect(await questionsAbout(id)).toEqual([]);

    const completing = await patch(url, 500, data.subarray(500), { ...bearer(token), Origin: "https://app.example" });
    expect(completing.status).toBe(200);
    expect(completing.headers.get("X-Video-Id")).toBe("v_123");
    expect(completing.headers.get("Content-Type")).toBe("application/json");
    expect(completing.headers.get("Upload-Offset"), "the tus headers are still there").toBe("2000");
    expect(completing.headers.get("Tus-Resumable")).toBe("1.0.0");
    expect(completing.headers.get("Access-Control-Expose-Headers")?.split(", "), "a browser client may read the hook's headers").toContain("X-Video-Id");
    expect(JSON.parse(await completing.text())).toEqual({ videoId: "v_123" });

    const state = await headAs(token, url);
    expect(state.status).toBe(200);
    expect(state.headers.get("Upload-Offset")).toBe("2000");
    expect(state.headers.get("X-Video-Id"), "a client that lost the answer learns it from HEAD").toBe("v_123");

    const retried = await patch(url, 2000, null, bearer(token));
    expect(retried.status).toBe(200);
    expect(retried.headers.get("X-Video-Id")).toBe("v_123");
    expect(JSON.parse(await retried.text())).toEqual({ videoId: "v_123" });
    expect(await questionsAbout(id), "asked once: the answer is stored").toHaveLength(1);
    expect(await eventTypes(id)).toEqual(["created", "finished"]);
  });

  it("answers a JSON body without a Content-Type: the client gets application/json; a text body, text/plain", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    for (const [body, type] of [
      [JSON.stringify({ videoId: "v_json" }), "application/json"],
      ["registered as v_text", "text/plain; charset=utf-8"],
    ] as const) {
      const data = randomBytes(20, 16);
      const { url } = await create(token, { length: data.length, metadata: script({ response: { status: 201, headers: { "X-Video-Id": "v" }, body } }) });
      const completing = await patch(url, 0, data, bearer(token));
      expect(completing.status).toBe(201);
      expect(completing.headers.get("Content-Type")).toBe(type);
      expect(await completing.text()).toBe(body);
      const retried = await patch(url, data.length, null, bearer(token));
      expect(retried.headers.get("Content-Type"), "the stored answer is served the same way").toBe(type);
      await retried.body?.cancel();
    }
  });

  it("rejects: the client gets the hook's status and message on the completing request and every later one; the object is deleted; a rejected event, never finished", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(3000, 3);
    const filename = `rejected-${crypto.randomUUID().slice(0, 8)}.bin`;
    const { url, id } = await create(token, { length: data.length, metadata: { filename, ...script({ reject: { status: 422, message: "not a video: é" } }) } });
    const completing = await patch(url, 0, data, bearer(token));
    expect(completing.status).toBe(422);
    expect(await completing.text()).toContain("not a video: é");

    const state = await headAs(token, url);
    expect(state.status).toBe(422);
    expect(state.headers.get("Tus-Edge-Rejection"), "HEAD has no body: the reason travels in a header").toBe("not a video: %C3%A9");
    const later = await patch(url, 3000, null, bearer(token));
    expect(later.status).toBe(422);
    expect(await later.text()).toContain("not a video");
    const download = await send(url, { headers: bearer(token) });
    expect(download.status).toBe(422);
    await download.body?.cancel();

    expect(await env.BUCKET.head(`${KEY_PREFIX}fiona/${filename}`), "the object is deleted").toBeNull();
    expect(await eventTypes(id)).toEqual(["created", "rejected"]);
    const rejected = (await callsAbout(id, "onEvent")).find((call) => call.event.type === "rejected")!;
    expect(rejected.event.rejection).toEqual({ status: 422, message: "not a video: é" });
    expect(await callsAbout(id, "onUploadFinish")).toEqual([]);
    expect(await runDurableObjectAlarm(uploadStub(id)), "nothing left to do").toBe(false);
  });
});

describe("onUploadFinishing gives no decision", () => {
  it("throws twice: 503 with Retry-After and the whole offset; HEAD 423 until the back-off allows another try; then the answer, one finished event", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(4000, 4);
    const { url, id } = await create(token, { length: data.length, metadata: script("throw", "throw", ANSWER) });
    const completing = await patch(url, 0, data, bearer(token));
    expect(completing.status).toBe(503);
    expect(completing.headers.get("Upload-Offset"), "every byte is in: nothing to send again").toBe("4000");
    expect(Number(completing.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);

    const waiting = await headAs(token, url);
    expect(waiting.status, "not yet due: the hook is not asked again").toBe(423);
    expect(Number(waiting.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
    expect(await questionsAbout(id)).toHaveLength(1);
    const download = await send(url, { headers: bearer(token) });
    expect(download.status, "not finished until the hook decides").toBe(409);
    await download.body?.cancel();

    // The back-off: 1 s after the first failure, 2 s after the second.
    const answered = await waitFor("the hook's answer on HEAD", async () => {
      const head = await headAs(token, url);
      if (head.status === 423) return undefined;
      return head;
    }, 10_000);
    expect(answered.status).toBe(200);
    expect(answered.headers.get("X-Video-Id")).toBe("v_123");
    const questions = await questionsAbout(id);
    expect(questions.map((question) => question.attempt)).toEqual([1, 2, 3]);
    expect(new Set(questions.map((question) => question.idempotencyKey))).toEqual(new Set([`pre-finish:${id}`]));

    // Each unanswered question is a HookInvocationError data point, as an event delivery's failure is.
    const failures = recordedPoints
      .filter(({ blobs = [] }) => blobs[0] === "HookInvocationError" && blobs[5] === id)
      .map(({ blobs = [], doubles = [] }) => [blobs[1], blobs[3], doubles[3]]);
    expect(failures).toEqual([
      ["pre-finish", "pre-finish-unanswered", 1],
      ["pre-finish", "pre-finish-unanswered", 2],
    ]);

    const retried = await patch(url, 4000, null, bearer(token));
    expect(retried.status, "the client's retry gets the answer").toBe(200);
    expect(JSON.parse(await retried.text())).toEqual({ videoId: "v_123" });
    expect(await eventTypes(id)).toEqual(["created", "finished"]);
  });

  it("is asked again by the alarm when no client comes back", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(100, 5);
    const { url, id } = await create(token, { length: data.length, metadata: script("throw", {}) });
    expect((await patch(url, 0, data, bearer(token))).status).toBe(503);
    // No request for the upload from here: only its alarm can ask (1 s after the failure).
    await waitFor("the alarm's second question", async () => ((await questionsAbout(id)).length === 2 ? true : undefined), 5000);
    expect((await headAs(token, url)).status).toBe(200);
    expect(await questionsAbout(id), "HEAD found the decision made").toHaveLength(2);
    expect(await eventTypes(id)).toEqual(["created", "finished"]);
  });

  it(`takes longer than PRE_FINISH_HOOK_TIMEOUT_MS (${FINISHING_TIMEOUT_MS} ms): 503 after the timeout, asked again later`, { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(100, 6);
    const { url, id } = await create(token, { length: data.length, metadata: script({ delayMs: 5000 }, ANSWER) });
    const started = Date.now();
    const completing = await patch(url, 0, data, bearer(token));
    const took = Date.now() - started;
    expect(completing.status).toBe(503);
    expect(took).toBeGreaterThanOrEqual(FINISHING_TIMEOUT_MS - 50);
    expect(took, "not held for the hook's whole delay").toBeLessThan(4000);
    const answered = await waitFor("the answer", async () => {
      const head = await headAs(token, url);
      return head.status === 423 ? undefined : head;
    });
    expect(answered.headers.get("X-Video-Id")).toBe("v_123");
  });

  it.each([
    ["a 3xx status", { response: { status: 302, headers: { Location: "https://elsewhere.example/" } } }],
    ["a protocol header", { response: { status: 200, headers: { "Upload-Offset": "0" } } }],
    ["a header value with a line break", { response: { status: 200, headers: { "X-Id": "a\r\nSet-Cookie: x=1" } } }],
    ["a body on 204", { response: { status: 204, body: "x" } }],
    ["a 5xx rejection", { reject: { status: 500, message: "no" } }],
    ["a 409 rejection, which tus clients retry", { reject: { status: 409, message: "no" } }],
    ["a rejection without a message", { reject: { status: 400 } }],
    ["both an answer and a rejection", { response: {}, reject: { message: "no" } }],
    ["not an object", ["accept"]],
  ])("answers %s: a malformed decision is no decision (503), never passed on", { timeout: TIMEOUT }, async (_what, decision) => {
    const token = await tokenFor("fiona");
    const data = randomBytes(10, 7);
    const { url, id } = await create(token, { length: data.length, metadata: script(decision, {}) });
    const completing = await patch(url, 0, data, bearer(token));
    expect(completing.status).toBe(503);
    expect(completing.headers.get("Location")).toBeNull();
    expect(completing.headers.get("Set-Cookie")).toBeNull();
    await completing.body?.cancel();
    const accepted = await waitFor("the retry's decision", async () => {
      const head = await headAs(token, url);
      return head.status === 423 ? undefined : head;
    });
    expect(accepted.status).toBe(200);
    expect(await questionsAbout(id)).toHaveLength(2);
  });

  // Security issue 18: each of these reached the client, and HEAD, through the deny-list the allow-list replaced.
  it.each([
    ["Content-Security-Policy", "default-src *; script-src 'unsafe-inline'"],
    ["Refresh", "0; url=https://elsewhere.example/"],
    ["Clear-Site-Data", '"cookies", "storage"'],
    ["Content-Location", "https://elsewhere.example/"],
    ["CDN-Cache-Control", "max-age=31536000"],
    ["Content-Type", "text/html"],
  ])("answers with %s: not an allowed header, so no decision (503); it reaches neither the client nor HEAD", { timeout: TIMEOUT }, async (name, value) => {
    const token = await tokenFor("fiona");
    const data = randomBytes(10, 15);
    const refused = { response: { status: 200, headers: { "X-Video-Id": "v_refused", [name]: value }, body: "<script>alert(1)</script>" } };
    const { url, id } = await create(token, { length: data.length, metadata: script(refused, ANSWER) });
    const completing = await patch(url, 0, data, bearer(token));
    expect(completing.status).toBe(503);
    expect(completing.headers.get(name) ?? "").not.toBe(value);
    expect(completing.headers.get("X-Video-Id")).toBeNull();
    await completing.body?.cancel();

    const answered = await waitFor("the retry's decision", async () => {
      const head = await headAs(token, url);
      return head.status === 423 ? undefined : head;
    });
    expect(answered.status).toBe(200);
    expect(answered.headers.get("X-Video-Id"), "the next, valid answer is the one served").toBe("v_123");
    expect(answered.headers.get(name) ?? "").not.toBe(value);
    const retried = await patch(url, data.length, null, bearer(token));
    expect(retried.headers.get(name) ?? "").not.toBe(value);
    expect(JSON.parse(await retried.text())).toEqual({ videoId: "v_123" });
    expect(await questionsAbout(id)).toHaveLength(2);
  });

  it("decides by the fallback (accept) once PRE_FINISH_HOOK_GIVE_UP_SECONDS have passed without a decision", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(100, 8);
    const { url, id } = await create(token, { length: data.length, metadata: script("throw") });
    expect((await patch(url, 0, data, bearer(token))).status).toBe(503);
    // As if the object had been completed a day and a minute ago.
    await runInDurableObject(uploadStub(id), (_instance, state) => {
      const row = state.storage.sql.exec<{ confirmation: string }>("SELECT confirmation FROM upload").one();
      const pending = JSON.parse(row.confirmation) as { since: number; lastAttemptAt: number };
      const longAgo = Date.now() - 24 * 60 * 60 * 1000 - 60_000;
      state.storage.sql.exec("UPDATE upload SET confirmation = ?", JSON.stringify({ ...pending, since: longAgo, lastAttemptAt: longAgo }));
    });
    expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
    expect(await questionsAbout(id), "the fallback decides without asking again").toHaveLength(1);
    expect((await headAs(token, url)).status).toBe(200);
    expect(await eventTypes(id)).toEqual(["created", "finished"]);
  });
});

describe("every request that can complete an upload", () => {
  it("creation-with-upload: the POST that carries the whole file answers the hook's answer, with Location", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(5000, 9);
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...OCTET, ...bearer(token), "Upload-Length": String(data.length), "Upload-Metadata": metadataHeader(script(ANSWER)) },
      body: data,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("Location")).toMatch(/^http:\/\/library\.test\/api\/uploads\//);
    expect(response.headers.get("Upload-Offset")).toBe("5000");
    expect(response.headers.get("X-Video-Id")).toBe("v_123");
    expect(JSON.parse(await response.text())).toEqual({ videoId: "v_123" });
  });

  it("creation-with-upload without a decision: 503 with the upload's Location and the whole offset, not a 201 that looks like success", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const data = randomBytes(500, 13);
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...OCTET, ...bearer(token), "Upload-Length": String(data.length), "Upload-Metadata": metadataHeader(script("throw", ANSWER)) },
      body: data,
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("Upload-Offset")).toBe("500");
    const location = response.headers.get("Location");
    expect(location).toMatch(/^http:\/\/library\.test\/api\/uploads\//);
    await response.body?.cancel();
    const answered = await waitFor("the answer", async () => {
      const head = await headAs(token, location!);
      return head.status === 423 ? undefined : head;
    });
    expect(answered.headers.get("X-Video-Id")).toBe("v_123");
  });

  it("an empty upload is complete when created: its POST answers the hook's answer", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...bearer(token), "Upload-Length": "0", "Upload-Metadata": metadataHeader(script(ANSWER)) },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("X-Video-Id")).toBe("v_123");
    expect(response.headers.get("Location")).not.toBeNull();
  });

  it("concatenation: each partial is asked (concat partial); the final, assembled in its POST, answers the hook's answer", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const parts = [randomBytes(3000, 10), randomBytes(4000, 11)];
    const partials: { url: string; id: string }[] = [];
    for (const part of parts) {
      const partial = await create(token, { length: part.length, headers: { "Upload-Concat": "partial" } });
      expect((await patch(partial.url, 0, part, bearer(token))).status).toBe(204);
      partials.push(partial);
    }
    for (const partial of partials) expect((await questionsAbout(partial.id)).map((question) => question.upload.concat)).toEqual(["partial"]);

    const response = await send(COLLECTION, {
      method: "POST",
      headers: {
        ...TUS,
        ...bearer(token),
        "Upload-Concat": `final;${partials.map((partial) => partial.url).join(" ")}`,
        "Upload-Metadata": metadataHeader(script(ANSWER)),
      },
    });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get("X-Video-Id")).toBe("v_123");
    const finalId = response.headers.get("Location")!.split("/").pop()!;
    const [question] = await questionsAbout(finalId);
    expect(question!.upload).toMatchObject({ concat: "final", size: 7000 });
    const head = await headAs(token, response.headers.get("Location")!);
    expect(head.headers.get("Upload-Offset")).toBe("7000");
    expect(head.headers.get("X-Video-Id")).toBe("v_123");
  });

  it("concatenation assembled in the background: the hook is asked when assembly ends, and HEAD of the final carries the answer", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const part = randomBytes(2000, 14);
    const partial = await create(token, { length: part.length, headers: { "Upload-Concat": "partial" } });
    // The final is created while its partial is unfinished: nothing to assemble in the POST.
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...bearer(token), "Upload-Concat": `final;${partial.url}`, "Upload-Metadata": metadataHeader(script(ANSWER)) },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("X-Video-Id")).toBeNull();
    const finalUrl = response.headers.get("Location")!;
    const finalId = finalUrl.split("/").pop()!;
    expect(await questionsAbout(finalId)).toEqual([]);

    expect((await patch(partial.url, 0, part, bearer(token))).status).toBe(204);
    // The partial's finish wakes the final's alarm, which assembles it and asks the hook.
    const questions = await waitFor("the final's question", async () => {
      const asked = await questionsAbout(finalId);
      return asked.length ? asked : undefined;
    });
    expect(questions[0]!.upload).toMatchObject({ concat: "final", size: 2000 });
    const head = await headAs(token, finalUrl);
    expect(head.status).toBe(200);
    expect(head.headers.get("X-Video-Id")).toBe("v_123");
  });

  it("a rejected partial cannot be concatenated: the final is refused, naming it", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("fiona");
    const rejected = await create(token, { length: 10, headers: { "Upload-Concat": "partial" }, metadata: script({ reject: { message: "partials must be 20 bytes" } }) });
    const completing = await patch(rejected.url, 0, randomBytes(10, 12), bearer(token));
    expect(completing.status, "DEFAULT_REJECT_STATUS").toBe(422);
    await completing.body?.cancel();
    const final = await send(COLLECTION, { method: "POST", headers: { ...TUS, ...bearer(token), "Upload-Concat": `final;${rejected.url}` } });
    expect(final.status).toBe(400);
    expect(await final.text()).toContain("partials must be 20 bytes");
  });
});
