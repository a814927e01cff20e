/**
 * The pre-finish hook in its webhook form (PRE_FINISH_HOOK_URL) against a
 * real local gateway, driven by tus-js-client and by hand: one `wrangler dev`
 * whose hook, event webhook and signatures point at a receiver in this
 * process (receiver.ts), which answers each upload as its `case` tag says.
 * The library-callback form is tested in test/runtime-library/pre-finish.test.ts.
 *
 * How tus-js-client 4 meets the hook's answers (read in its lib.esm/upload.js):
 *  - a 2xx on the completing PATCH is success: `onSuccess` gets that response,
 *    the hook's status, headers and body;
 *  - a 4xx on it other than 409/423 is final: `onError` at once, no retry, the
 *    error's message carrying the status and the response text;
 *  - a 503 on it is retried after the next of `retryDelays` (Retry-After and
 *    the 503's Upload-Offset are ignored), and a retry starts with HEAD. HEAD
 *    423 is retried too, each one spending a delay (the offset no longer
 *    moves, so the delays are not reset); HEAD 200 at the full offset ends in
 *    `onSuccess` with that HEAD as `lastResponse`: the hook's headers (HEAD
 *    repeats them) but no body;
 *  - any other HEAD status (a rejection's 422 included) means "this upload is
 *    lost": with an `endpoint` it creates a new upload and sends the file
 *    again from byte 0.
 */
import { execFile } from "node:child_process";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DetailedError, HttpResponse } from "tus-js-client";
import { createUpload, head, patch, pollUntil, send } from "./raw";
import { hasValidSignature, startHookReceiver, type EventDelivery, type FinishingQuestion, type HookReceiver } from "./receiver";
import { download, MiB, ROOT, seededBytes, sha256, sleep, startServer, type TestServer } from "./server";
import { startTusUpload } from "./tus";

const WEBHOOK_SECRET = "e2e-pre-finish-secret-for-tests-only";
const HOOK_TIMEOUT_MS = 1500;
/** How long the slow hook takes to answer its first question: far past the timeout, so a gateway that waited for it shows. */
const SLOW_HOOK_MS = 4 * HOOK_TIMEOUT_MS;
const BUCKET_NAME = "tus-edge-uploads";
const BIN = join(ROOT, "node_modules", ".bin");

let receiver: HookReceiver;
let server: TestServer;

beforeAll(async () => {
  receiver = await startHookReceiver();
  server = await startServer({
    vars: {
      PRE_FINISH_HOOK_URL: receiver.preFinishUrl,
      PRE_FINISH_HOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS),
      WEBHOOK_URL: receiver.eventsUrl,
      WEBHOOK_SECRET,
    },
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
}, 30_000);

/* ---------- helpers ---------- */

function uploadIdOf(url: string): string {
  expect(url.startsWith(server.endpoint), `${url} is under ${server.endpoint}`).toBe(true);
  return url.slice(server.endpoint.length);
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/** The answer a video service would give: the id it made for the upload, as a header and in a JSON body. */
function videoAnswer(question: FinishingQuestion) {
  const videoId = `v_${question.upload.id}`;
  return { response: { status: 200, headers: { "X-Video-Id": videoId }, body: JSON.stringify({ videoId }) } };
}

const NOT_A_VIDEO = { reject: { status: 422, message: "not a video" } };

/**
 * The object as R2 holds it, read from the server's state directory with
 * wrangler's own local R2 access (not through the gateway, which answers a
 * rejected upload 422 whether or not its object is still there); undefined
 * when there is no such object.
 */
async function storedObject(key: string): Promise<Buffer | undefined> {
  try {
    const { stdout } = await promisify(execFile)(
      join(BIN, "wrangler"),
      ["r2", "object", "get", `${BUCKET_NAME}/${key}`, "--local", "--persist-to", server.persistDir, "--pipe"],
      {
        cwd: ROOT,
        encoding: "buffer",
        maxBuffer: 64 * MiB,
        env: { ...process.env, PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}`, WRANGLER_SEND_METRICS: "false", CI: "1" },
        timeout: 60_000,
      },
    );
    return stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "");
    if (/does not exist|not found/i.test(stderr)) return undefined;
    throw error;
  }
}

/** Event deliveries about one upload (every attempt). */
function eventsAbout(uploadId: string): EventDelivery[] {
  return receiver.events().filter((delivery) => delivery.json.upload.id === uploadId);
}

async function waitForEvent(uploadId: string, type: EventDelivery["json"]["type"], timeoutMs = 15_000): Promise<EventDelivery> {
  return pollUntil(`a delivered ${type} event for ${uploadId}`, timeoutMs, 100, async () =>
    eventsAbout(uploadId).find((delivery) => delivery.json.type === type && delivery.status < 300),
  );
}

/* ---------- tests ---------- */

describe("the pre-finish webhook decides, tus-js-client reads the decision", () => {
  it("answers: onSuccess gets the hook's status, X-Video-Id and JSON body; the hook was asked once, signed, before the last PATCH was answered", { timeout: 60_000 }, async () => {
    const tag = "answer";
    receiver.onPreFinish(tag, (question) => ({ json: videoAnswer(question) }));
    const data = seededBytes(12 * MiB, "pre-finish-answer");
    let lastResponse: HttpResponse | undefined;
    let succeededAt = 0;
    const run = startTusUpload(data, {
      endpoint: server.endpoint,
      chunkSize: 5 * MiB,
      metadata: { case: tag, filename: "clip.mp4" },
      onSuccess(payload) {
        lastResponse = payload.lastResponse;
        succeededAt = Date.now();
      },
    });
    const url = await run.done;
    const id = uploadIdOf(url);

    expect(run.responses).toEqual(["POST 201", "PATCH 204", "PATCH 204", "PATCH 200"]);
    expect(run.patchOffsets).toEqual([0, 5 * MiB, 10 * MiB]);
    expect(lastResponse?.getStatus()).toBe(200);
    expect(lastResponse?.getHeader("X-Video-Id")).toBe(`v_${id}`);
    expect(JSON.parse(lastResponse!.getBody())).toEqual({ videoId: `v_${id}` });
    expect(lastResponse?.getHeader("Upload-Offset"), "the gateway's own headers stay on the answer").toBe(String(data.length));

    const questions = receiver.finishingQuestions(tag);
    expect(questions).toHaveLength(1);
    const [asked] = questions as [(typeof questions)[number]];
    expect(asked.json).toEqual({
      type: "pre-finish",
      idempotencyKey: expect.any(String),
      attempt: 1,
      upload: { id, objectKey: `uploads/${id}`, size: data.length, metadata: { case: base64(tag), filename: base64("clip.mp4") } },
    });
    expect(asked.headers["idempotency-key"]).toBe(asked.json.idempotencyKey);
    expect(hasValidSignature(asked, WEBHOOK_SECRET), `Tus-Edge-Signature ${asked.headers["tus-edge-signature"]}`).toBe(true);
    expect(hasValidSignature(asked, "some-other-secret")).toBe(false);
    expect(asked.answeredAt, "the hook answered before tus-js-client saw success").toBeLessThanOrEqual(succeededAt);

    const downloaded = await download(url);
    expect(sha256(downloaded)).toBe(sha256(data));
    // The object check of the rejection test must be able to see an object that is there.
    const stored = await storedObject(`uploads/${id}`);
    expect(stored && sha256(stored)).toBe(sha256(data));
  });

  it("rejects: onError fires at once with 422 and the hook's message; HEAD and GET answer 422, the object is deleted, a rejected event and no finished", { timeout: 60_000 }, async () => {
    const tag = "reject";
    receiver.onPreFinish(tag, () => ({ json: NOT_A_VIDEO }));
    const data = seededBytes(6 * MiB, "pre-finish-reject");
    const run = startTusUpload(data, { endpoint: server.endpoint, chunkSize: 5 * MiB, metadata: { case: tag, filename: "notes.txt" } });
    const error = await run.done.then(
      () => expect.fail("a rejected upload must not end in onSuccess"),
      (failure: unknown) => failure as DetailedError,
    );
    expect(error.message).toContain("not a video");
    expect(error.message).toContain("response code: 422");
    expect(error.originalResponse?.getStatus()).toBe(422);
    expect(run.responses, "4xx is final for tus-js-client: no HEAD, no retry").toEqual(["POST 201", "PATCH 204", "PATCH 422"]);

    const url = run.upload.url!;
    const id = uploadIdOf(url);
    expect(receiver.finishingQuestions(tag).map((asked) => asked.json.upload.id)).toEqual([id]);

    const headResponse = await head(url);
    expect(headResponse.status).toBe(422);
    expect(decodeURIComponent(headResponse.headers.get("Tus-Edge-Rejection") ?? "")).toBe("not a video");
    const getResponse = await fetch(url);
    expect(getResponse.status).toBe(422);
    expect(await getResponse.text()).toContain("not a video");
    expect(await storedObject(`uploads/${id}`), "PRE_FINISH_REJECT_DELETES_OBJECT defaults to true").toBeUndefined();

    await waitForEvent(id, "rejected");
    // Events come in order from the upload's alarm: nothing after the rejection.
    await sleep(1000);
    expect(eventsAbout(id).filter((delivery) => delivery.status < 300).map((delivery) => delivery.json.type)).toEqual(["created", "rejected"]);
  });

  it("fails (500) twice, then answers: tus-js-client rides through PATCH 503 and HEAD 423 to onSuccess with the answer's headers; attempts 1..3 share one key; one finished event", { timeout: 60_000 }, async () => {
    const tag = "flaky";
    receiver.onPreFinish(tag, (question) => (question.attempt <= 2 ? { status: 500, text: `failing attempt ${question.attempt} on purpose` } : { json: videoAnswer(question) }));
    const data = seededBytes(6 * MiB, "pre-finish-flaky");
    let lastResponse: HttpResponse | undefined;
    const run = startTusUpload(data, {
      endpoint: server.endpoint,
      chunkSize: 5 * MiB,
      retryDelays: [0, 1000, 2000, 4000],
      metadata: { case: tag, filename: "flaky.mp4" },
      onSuccess(payload) {
        lastResponse = payload.lastResponse;
      },
    });
    const url = await run.done;
    const id = uploadIdOf(url);

    // The completing PATCH got 503; tus-js-client retried with HEAD (423 while the hook had not decided) until HEAD said 200.
    expect(run.responses.slice(0, 3)).toEqual(["POST 201", "PATCH 204", "PATCH 503"]);
    expect(run.responses.slice(3, -1).every((response) => response === "HEAD 423"), run.responses.join(", ")).toBe(true);
    expect(run.responses.at(-1)).toBe("HEAD 200");
    expect(run.patchOffsets, "no byte was sent twice").toEqual([0, 5 * MiB]);
    expect(lastResponse?.getStatus()).toBe(200);
    expect(lastResponse?.getHeader("X-Video-Id")).toBe(`v_${id}`);
    expect(lastResponse?.getBody(), "a HEAD carries no body: the answer's body reaches only the completing request").toBe("");

    const questions = receiver.finishingQuestions(tag);
    expect(questions.map((asked) => asked.json.attempt)).toEqual([1, 2, 3]);
    expect(questions.map((asked) => asked.status)).toEqual([500, 500, 200]);
    expect(new Set(questions.map((asked) => asked.json.idempotencyKey)).size).toBe(1);
    for (const asked of questions) {
      expect(asked.headers["idempotency-key"]).toBe(asked.json.idempotencyKey);
      expect(hasValidSignature(asked, WEBHOOK_SECRET)).toBe(true);
    }
    // Back-off from 1 s, doubling (a little early for latency).
    const [first, second, third] = questions.map((asked) => asked.receivedAt) as [number, number, number];
    expect(second - first).toBeGreaterThanOrEqual(900);
    expect(third - second).toBeGreaterThanOrEqual(1800);

    expect(sha256(await download(url))).toBe(sha256(data));
    await waitForEvent(id, "finished");
    await sleep(1500);
    expect(eventsAbout(id).filter((delivery) => delivery.status < 300).map((delivery) => delivery.json.type)).toEqual(["created", "finished"]);
    expect(receiver.finishingQuestions(tag), "nothing asks the hook again once it answered").toHaveLength(3);
  });

  it(`is slower than PRE_FINISH_HOOK_TIMEOUT_MS (${HOOK_TIMEOUT_MS} ms) once: the completing PATCH answers 503 with Retry-After and the full offset; a later HEAD 200 with the answer's headers`, { timeout: 60_000 }, async () => {
    const tag = "slow";
    receiver.onPreFinish(tag, (question) => ({ json: videoAnswer(question), delayMs: question.attempt === 1 ? SLOW_HOOK_MS : 0 }));
    const data = seededBytes(MiB, "pre-finish-slow");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length), "Upload-Metadata": `case ${base64(tag)}` });
    const id = uploadIdOf(url);

    const startedAt = Date.now();
    const completing = await patch(url, 0, data);
    const tookMs = Date.now() - startedAt;
    expect(completing.status).toBe(503);
    expect(completing.headers.get("Upload-Offset"), "every byte is stored: the client must not send them again").toBe(String(data.length));
    expect(completing.headers.get("Retry-After")).toMatch(/^[1-9][0-9]*$/);
    expect(completing.headers.get("X-Video-Id")).toBeNull();
    expect(tookMs, "the gateway waited for the hook's timeout, not for the hook").toBeGreaterThanOrEqual(HOOK_TIMEOUT_MS - 100);
    expect(tookMs).toBeLessThan(SLOW_HOOK_MS);

    const heads: number[] = [];
    const answered = await pollUntil("HEAD 200 once the hook answered", 15_000, 250, async () => {
      const response = await head(url);
      heads.push(response.status);
      if (response.status === 423) expect(response.headers.get("Retry-After")).toMatch(/^[1-9][0-9]*$/);
      return response.status === 423 ? undefined : response;
    });
    expect(answered.status, `HEAD statuses: ${heads.join(", ")}`).toBe(200);
    expect(answered.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(answered.headers.get("X-Video-Id")).toBe(`v_${id}`);

    const questions = receiver.finishingQuestions(tag);
    expect(questions.map((asked) => asked.json.attempt)).toEqual([1, 2]);
    expect(new Set(questions.map((asked) => asked.json.idempotencyKey)).size).toBe(1);
    expect(questions[0]!.answeredAt, "the answer to the first question was still on its way").toBeUndefined();
    expect((await send("GET", url)).status).toBe(200);
  });

  it("rejects only after a 503: tus-js-client learns it from HEAD 422, takes the upload for lost, and sends the whole file again as a new upload, which the hook rejects at once", { timeout: 60_000 }, async () => {
    const tag = "late-reject";
    let firstUpload: string | undefined;
    receiver.onPreFinish(tag, (question) => {
      firstUpload ??= question.upload.id;
      const undecided = question.upload.id === firstUpload && question.attempt === 1;
      return undecided ? { status: 500, text: "not yet" } : { json: NOT_A_VIDEO };
    });
    const data = seededBytes(MiB, "pre-finish-late-reject");
    const run = startTusUpload(data, { endpoint: server.endpoint, retryDelays: [0, 1000, 2000, 4000], metadata: { case: tag } });
    const error = await run.done.then(
      () => expect.fail("a rejected upload must not end in onSuccess"),
      (failure: unknown) => failure as DetailedError,
    );
    expect(error.originalResponse?.getStatus()).toBe(422);
    expect(error.message).toContain("not a video");

    const questions = receiver.finishingQuestions(tag);
    const uploads = [...new Set(questions.map((asked) => asked.json.upload.id))];
    expect(uploads, "two uploads of the same file").toHaveLength(2);
    expect(questions.map((asked) => [asked.json.upload.id === uploads[0] ? "first" : "second", asked.json.attempt, asked.status])).toEqual([
      ["first", 1, 500],
      ["first", 2, 200],
      ["second", 1, 200],
    ]);
    const afterHeads = run.responses.indexOf("HEAD 422");
    expect(run.responses.slice(0, 2)).toEqual(["POST 201", "PATCH 503"]);
    expect(afterHeads, run.responses.join(", ")).toBeGreaterThan(1);
    expect(run.responses.slice(2, afterHeads).every((response) => response === "HEAD 423")).toBe(true);
    expect(run.responses.slice(afterHeads)).toEqual(["HEAD 422", "POST 201", "PATCH 422"]);
    expect(run.patchOffsets, "the file went over the wire twice").toEqual([0, 0]);
  });
});
