/**
 * R2 failing under the gateway: the fault worker (worker.ts) wraps the real
 * bucket so that operations throw, hang, or succeed in R2 and then throw
 * anyway (the answer lost), as a fault plan set through `PUT /__faults` says.
 *
 * While R2 fails, a client sees a retryable answer (503 with Retry-After,
 * or 423 while a request is stuck in R2) or success; never a 500, and never
 * a wrong offset: none goes backwards, none is beyond the bytes sent. Once
 * the plan is cleared, every upload completes with the source's exact bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, sleep, type TestServer } from "../e2e/server";
import type { FaultPlan } from "./fault-plan";
import { clearFaultPlan, setFaultPlan, startFaultServer } from "./lib/fault-server";
import { OffsetHistory } from "./lib/offsets";
import { Random, runSeed } from "./lib/random";
import { mapConcurrently } from "./lib/results";
import { createKnownLength, expectIntact, resumeWithTusClient, startBoundedTusUpload } from "./lib/uploads";
import { isDevProxyEarlyAnswer, Tally, type Answer } from "./lib/verdicts";
import { exchange, head, NoAnswerError, OCTETS, offsetOf, openPatch, openRequest, patch, TUS } from "./lib/wire";

const SEED = runSeed("FAULTS_SEED");
const LOCK_TIMEOUT_MS = 5000;

let server: TestServer;

beforeAll(async () => {
  server = await startFaultServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

/** Answers by status and failed operation, over the whole file: printed at the end. */
const tally = new Tally();

afterAll(() => {
  console.log(`R2 faults: answers by kind: ${tally}`);
});

/**
 * A retryable failure: 503 with Retry-After and a message naming the R2
 * operation, or 423 with Retry-After. The gateway answers a PATCH whose R2
 * call failed before reading the rest of its body, so wrangler dev's proxy
 * may turn that answer into its own 500 (see lib/verdicts.ts): counted, let
 * through. Anything else fails the test.
 */
function expectRetryable(response: Answer, what: string): void {
  if (isDevProxyEarlyAnswer(response)) {
    tally.add("dev-proxy 500");
    return;
  }
  const body = response.body.toString("utf8");
  const operation = /\(([A-Za-z]+)\); retry/.exec(body)?.[1] ?? "";
  tally.add(`${response.status}${operation ? ` ${operation}` : ""}`);
  expect([423, 503], `${what} answered ${response.status}: ${body}`).toContain(response.status);
  expect(response.headers["retry-after"], `${what}: ${response.status} without Retry-After`).toMatch(/^[0-9]+$/);
}

/** Where a raw client stands: the offset it believes, and the most it ever put on the wire. */
interface ClientState {
  offset: number;
  sentUpTo: number;
  history: OffsetHistory;
}

/** One PATCH of up to `chunk` bytes at the client's offset, under faults; updates the state from the answer. */
async function patchUnderFaults(url: string, data: Buffer, state: ClientState, chunk: number): Promise<void> {
  const body = data.subarray(state.offset, state.offset + chunk);
  state.sentUpTo = Math.max(state.sentUpTo, state.offset + body.length);
  const answer = await patch(url, state.offset, body, 60_000).catch((error: unknown) => {
    // Answered (503) before the whole body was read, and the local dev server reset the
    // connection instead of passing the answer on (see lib/verdicts.ts): the client's HEAD decides.
    if (error instanceof NoAnswerError && !error.timedOut) return undefined;
    throw error;
  });
  if (!answer) {
    tally.add("connection reset before an answer");
    return;
  }
  const offset = state.history.seeResponse("PATCH", answer);
  if (answer.status === 204) {
    tally.add(204);
    state.offset = offset!;
    return;
  }
  expectRetryable(answer, `PATCH at ${state.offset}`);
  // A 503 carries the offset actually stored (the bytes that arrived stay durable); resume from it.
  if (offset !== undefined) state.offset = offset;
}

async function headUnderFaults(url: string, state: ClientState): Promise<void> {
  const answer = await head(url);
  const offset = state.history.seeResponse("HEAD", answer);
  if (answer.status === 200) {
    state.offset = offset!;
    return;
  }
  // A HEAD may complete an object whose completion failed before: that can fail again.
  expectRetryable(answer, "HEAD");
}

/** With the plan cleared: HEAD, finish from the offset, and compare the object with the source. */
async function finishAndCheck(url: string, data: Buffer, state: ClientState): Promise<void> {
  const after = await head(url);
  expect(after.status, `HEAD after the faults answered ${after.status}: ${after.body}`).toBe(200);
  state.offset = state.history.seeResponse("HEAD after the faults", after)!;
  if (state.offset < data.length) {
    const rest = await patch(url, state.offset, data.subarray(state.offset));
    expect(rest.status, `PATCH of the rest answered ${rest.status}: ${rest.body}`).toBe(204);
    state.history.seeResponse("PATCH of the rest", rest);
  }
  state.history.expectNeverBackwards();
  state.history.expectAtMost(data.length, "the upload's length");
  await expectIntact(url, data);
}

describe(`R2 failing some of the time (seed ${SEED})`, () => {
  const FLAKY: FaultPlan = {
    uploadPart: { fail: 0.3, hang: 0.05, hangMs: 3000 },
    complete: { fail: 0.5 },
    put: { fail: 0.5 },
    createMultipartUpload: { fail: 0.2 },
  };

  it("raw clients see 204 or a retryable 503, offsets stay true, and every upload completes intact once R2 recovers", async () => {
    const random = new Random(`r2-flaky:${SEED}`);
    const sizes = [1 * MiB, 3 * MiB + 5, 6 * MiB, 12 * MiB, 17 * MiB + 999, 24 * MiB, 30 * MiB + 1, 9 * MiB];
    const plans = sizes.map((size) => ({ size, chunks: Array.from({ length: 10 }, () => random.int(512 * 1024, 12 * MiB)) }));
    const uploads = await mapConcurrently(plans, 4, async ({ size }, index) => ({
      url: await createKnownLength(server.endpoint, size),
      data: seededBytes(size, `r2-flaky:${SEED}:${index}`),
    }));
    await setFaultPlan(server, FLAKY);
    const states = await mapConcurrently(plans, 4, async ({ size, chunks }, index) => {
      const { url, data } = uploads[index]!;
      const state: ClientState = { offset: 0, sentUpTo: 0, history: new OffsetHistory(`upload ${index} (${size} B)`) };
      for (const chunk of chunks) {
        if (state.offset >= size) break;
        await patchUnderFaults(url, data, state, chunk);
        await headUnderFaults(url, state);
      }
      state.history.expectNeverBackwards();
      state.history.expectAtMost(state.sentUpTo, "bytes sent");
      return state;
    });
    await clearFaultPlan(server);
    await mapConcurrently(plans, 4, async (_plan, index) => finishAndCheck(uploads[index]!.url, uploads[index]!.data, states[index]!));
    // The worker draws faults with Math.random: count every failure the clients saw, not one kind.
    const failures = Object.entries(tally.counts).filter(([kind]) => kind.startsWith("503") || kind.startsWith("connection reset"));
    expect(failures.reduce((sum, [, count]) => sum + count, 0), `faults were injected (${tally})`).toBeGreaterThan(0);
  }, 300_000);

  it("tus-js-client retries through the faults and finishes (or is resumed after them), intact", async () => {
    await setFaultPlan(server, FLAKY);
    const runs = [20 * MiB + 3, 4 * MiB].map((size, index) => {
      const data = seededBytes(size, `r2-flaky-tus:${SEED}:${index}`);
      const history = new OffsetHistory(`tus-js-client ${index}`);
      const statuses: { status: number; retryAfter: string | null; method: string }[] = [];
      const run = startBoundedTusUpload(data, history, {
        endpoint: server.endpoint,
        chunkSize: 5 * MiB,
        retryDelays: [0, 200, 200, 500, 500, 1000, 1000, 1000],
        onAfterResponse(request, response) {
          const answer = { status: response.getStatus(), headers: { "tus-resumable": response.getHeader("Tus-Resumable") }, body: Buffer.from(response.getBody() ?? "") };
          statuses.push({ status: isDevProxyEarlyAnswer(answer) ? 0 : answer.status, retryAfter: response.getHeader("Retry-After") ?? null, method: request.getMethod() });
        },
      });
      return { data, history, statuses, run };
    });
    const outcomes = await Promise.all(runs.map(({ run }) => run.done.then((url) => ({ url }), (error: Error) => ({ error }))));
    await clearFaultPlan(server);
    for (const [index, { data, history, statuses, run }] of runs.entries()) {
      for (const { status, retryAfter, method } of statuses) {
        tally.add(`tus-js-client ${method} ${status || "dev-proxy 500"}`);
        if (status >= 500) {
          expect(status, `tus-js-client's ${method} answered ${status}`).toBe(503);
          expect(retryAfter).toMatch(/^[0-9]+$/);
        }
      }
      // tus-js-client abandons an upload whose HEAD answers 5xx and starts a new one (see the
      // test below); each of its uploads is checked on its own, and the count goes to the tally.
      tally.add(`tus-js-client uploads created: ${run.responses.filter((response) => response.startsWith("POST 201")).length}`);
      const outcome = outcomes[index]!;
      // Out of retries while R2 still failed: resume from the upload's URL now that it works.
      const url = "url" in outcome ? outcome.url : run.upload.url;
      expect(url, `tus-js-client ${index} never created its upload: ${"error" in outcome ? outcome.error.message : ""}`).toBeTruthy();
      if ("error" in outcome) await resumeWithTusClient(url!, data, history, { chunkSize: 5 * MiB });
      history.expectNeverBackwards();
      history.expectAtMost(data.length, "the upload's length");
      await expectIntact(url!, data);
    }
  }, 300_000);
});

// tus-js-client treats a HEAD answered with anything but 2xx or 423 as "this upload is lost" and
// uploads the whole file again. While only the completion fails, HEAD answers 423 with
// Retry-After (completion-pending), so the client keeps its one upload.
describe("an upload whose completion fails for a while", () => {
  it.each([
    ["complete (multipart, 20 MiB)", "complete", 20 * MiB],
    ["put (one part, 3 MiB)", "put", 3 * MiB],
  ] as const)("tus-js-client keeps its one upload through failures of %s and finishes it intact", async (_label, operation, size) => {
    const data = seededBytes(size, `r2-completion:${operation}`);
    const history = new OffsetHistory(`completion failing: ${operation}`);
    await setFaultPlan(server, { [operation]: { fail: 1 } });
    let recovering: Promise<void> | undefined;
    const run = startBoundedTusUpload(data, history, {
      endpoint: server.endpoint,
      chunkSize: 8 * MiB,
      retryDelays: [0, 500, 500, 1000, 1000, 1000, 2000, 2000, 3000],
      onAfterResponse(_request, response) {
        // R2 recovers 1.5 s after the first failure: well within the client's retries.
        if (response.getStatus() === 503 && !recovering) recovering = sleep(1500).then(() => clearFaultPlan(server));
      },
    });
    const url = await run.done.finally(() => recovering);
    expect(recovering, "the completion failed at least once").toBeDefined();
    const creations = run.responses.filter((response) => response.startsWith("POST"));
    expect(creations.length, `tus-js-client started the upload over (its requests: ${run.responses.join(", ")})`).toBe(1);
    history.expectNeverBackwards();
    await expectIntact(url, data);
  }, 90_000);

  it("HEAD answers 423 with Retry-After while it fails, and the upload's alarm completes it once R2 recovers, with no client", async () => {
    const size = 20 * MiB;
    const data = seededBytes(size, "r2-completion-alarm");
    const url = await createKnownLength(server.endpoint, size);
    await setFaultPlan(server, { complete: { fail: 1 } });
    const last = await patch(url, 0, data);
    expectRetryable(last, "the PATCH whose completion failed");
    expect(offsetOf(last), "the failed completion's PATCH reports every byte stored").toBe(size);
    const during = await head(url);
    expect(during.status, `HEAD while completion fails answered ${during.status}`).toBe(423);
    expectRetryable(during, "HEAD while completion fails");
    await clearFaultPlan(server);
    // GET does not complete anything itself: only the alarm can have done it.
    const deadline = Date.now() + 20_000;
    let download = await exchange(url, { method: "GET", timeoutMs: 30_000 });
    while (download.status === 409 && Date.now() < deadline) {
      await sleep(500);
      download = await exchange(url, { method: "GET", timeoutMs: 30_000 });
    }
    expect(download.status, `GET after R2 recovered answered ${download.status}: ${download.body}`).toBe(200);
    await expectIntact(url, data);
  }, 60_000);
});

describe("a hanging R2 uploadPart", () => {
  const SIZE = 20 * MiB;
  const SENT = 10 * MiB;

  /**
   * A 20 MiB upload whose R2 uploadPart hangs for `hangMs`, and a PATCH of its first 10 MiB
   * (with or without Content-Length) sent whole; returns a second after, when its first part
   * has reached R2 and hangs there.
   */
  async function hangingPatch(seed: string, hangMs: number, announceLength: boolean) {
    const data = seededBytes(SIZE, seed);
    const url = await createKnownLength(server.endpoint, SIZE);
    const state: ClientState = { offset: 0, sentUpTo: SENT, history: new OffsetHistory(seed) };
    await setFaultPlan(server, { uploadPart: { hang: 1, hangMs } });
    const stuck = announceLength
      ? openPatch(url, 0, SENT, 60_000)
      : openRequest(url, { method: "PATCH", headers: { ...TUS, ...OCTETS, "Upload-Offset": "0" }, timeoutMs: 60_000 });
    await stuck.write(data.subarray(0, SENT));
    stuck.end();
    await sleep(1000);
    return { data, url, state, stuck };
  }

  it("of a part sent whole (a chunked body: no length announced) makes a concurrent HEAD and PATCH answer 423 within about the lock timeout; the upload continues once R2 answers", async () => {
    const hungAt = Date.now();
    // No Content-Length: the body cannot be known to fill a part, so the part is assembled, then sent whole.
    const { data, url, state, stuck } = await hangingPatch("r2-hang", 12_000, false);

    for (const [what, send] of [
      ["HEAD", () => head(url)],
      ["PATCH", () => patch(url, 0, data.subarray(0, 1 * MiB))],
    ] as const) {
      const startedAt = Date.now();
      const answer = await send();
      const tookMs = Date.now() - startedAt;
      expect(answer.status, `${what} during the hang answered ${answer.status}: ${answer.body}`).toBe(423);
      expectRetryable(answer, `${what} during the hang`);
      expect(tookMs, `${what} waited for the hung request`).toBeLessThan(LOCK_TIMEOUT_MS + 1500);
    }
    await clearFaultPlan(server);

    const answer = await stuck.response;
    expect(Date.now() - hungAt, "the stuck PATCH was answered only after the hang").toBeGreaterThan(10_000);
    state.history.seeResponse("the stuck PATCH", answer);
    if (answer.status !== 204) expectRetryable(answer, "the stuck PATCH");
    await finishAndCheck(url, data, state);
  }, 60_000);

  it("of a part streamed as it arrives (length announced) is given up when a HEAD takes over: the HEAD answers at once with the bytes that arrived, and the upload completes once R2 answers", async () => {
    // Content-Length announced: the part's upload is open in R2, which takes none of its bytes.
    const { data, url, state, stuck } = await hangingPatch("r2-hang-streaming", 8_000, true);

    const startedAt = Date.now();
    const during = await head(url);
    expect(Date.now() - startedAt, "the HEAD waited for the hung part").toBeLessThan(LOCK_TIMEOUT_MS);
    expect(during.status, `HEAD during the hang answered ${during.status}`).toBe(200);
    const kept = state.history.seeResponse("HEAD during the hang", during)!;
    expect(kept, "the bytes read before the take-over are kept").toBeGreaterThan(0);
    expect(kept).toBeLessThan(8 * MiB); // no part was counted: R2 took none
    const answer = await stuck.response.catch(() => undefined);
    if (answer) state.history.seeResponse("the stuck PATCH", answer);
    await clearFaultPlan(server);
    state.offset = kept;
    await finishAndCheck(url, data, state);
  }, 60_000);
});

// A lost answer to `put` or `complete` leaves the object whole in R2, and a retried `complete`
// would fail for good (the multipart upload no longer exists). The gateway tags every object
// with its upload's id and, when a completion fails, looks for its own whole object: so those
// PATCHes are answered 204 at once. Lost answers to earlier operations are retried.
describe("R2 answers lost after the operation succeeded (failAfter)", () => {
  it.each([
    ["put (an upload under one part): the PATCH gets 204", { put: { failAfter: 1 } }, 3 * MiB, "finished"],
    ["uploadPart: the PATCH gets a retryable 503", { uploadPart: { failAfter: 1 } }, 12 * MiB, "retryable"],
    ["createMultipartUpload: the PATCH gets a retryable 503", { createMultipartUpload: { failAfter: 1 } }, 12 * MiB, "retryable"],
    ["complete: the PATCH gets 204", { complete: { failAfter: 1 } }, 20 * MiB, "finished"],
  ] as const)("%s, and the upload is intact once R2 answers again", async (_label, plan, size, outcome) => {
    const data = seededBytes(size, `r2-lost:${JSON.stringify(plan)}`);
    const url = await createKnownLength(server.endpoint, size);
    const state: ClientState = { offset: 0, sentUpTo: size, history: new OffsetHistory(`lost ${JSON.stringify(plan)}`) };
    await setFaultPlan(server, plan as FaultPlan);
    if (outcome === "finished") {
      const answer = await patch(url, 0, data);
      state.history.seeResponse("PATCH", answer);
      expect(answer.status, `PATCH whose R2 answer was lost answered ${answer.status}: ${answer.body}`).toBe(204);
      expect(offsetOf(answer)).toBe(size);
    } else {
      // The 503 comes before the rest of the body is read, which the local dev server may turn
      // into a reset connection (see lib/verdicts.ts): then the HEAD below decides.
      await patchUnderFaults(url, data, state, size);
    }
    await clearFaultPlan(server);
    await finishAndCheck(url, data, state);
  }, 60_000);
});

describe("every R2 operation, failing, gives a retryable 503 (never a 500), and works again afterwards", () => {
  async function finishedUpload(size: number, seed: string): Promise<{ url: string; data: Buffer }> {
    const data = seededBytes(size, seed);
    const url = await createKnownLength(server.endpoint, size);
    expect((await patch(url, 0, data)).status).toBe(204);
    return { url, data };
  }

  it("get: downloading a finished upload", async () => {
    const { url, data } = await finishedUpload(2 * MiB, "r2-get");
    await setFaultPlan(server, { get: { fail: 1 } });
    const answer = await exchange(url, { method: "GET", timeoutMs: 30_000 });
    await clearFaultPlan(server);
    expectRetryable(answer, "GET while R2 get fails");
    await expectIntact(url, data);
  }, 60_000);

  it("delete: terminating a finished upload", async () => {
    const { url } = await finishedUpload(1 * MiB, "r2-delete");
    await setFaultPlan(server, { delete: { fail: 1 } });
    const answer = await exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 });
    await clearFaultPlan(server);
    expectRetryable(answer, "DELETE while R2 delete fails");
    expect((await head(url)).status, "the upload is still there after a failed DELETE").toBe(200);
    expect((await exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 })).status).toBe(204);
    expect((await head(url)).status).toBe(410);
  }, 60_000);

  it("abort: terminating an unfinished multipart upload", async () => {
    const size = 20 * MiB;
    const data = seededBytes(size, "r2-abort");
    const url = await createKnownLength(server.endpoint, size);
    expect((await patch(url, 0, data.subarray(0, 9 * MiB))).status).toBe(204);
    await setFaultPlan(server, { abort: { fail: 1 } });
    const answer = await exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 });
    await clearFaultPlan(server);
    expectRetryable(answer, "DELETE while R2 abort fails");
    const after = await head(url);
    expect(after.status, "the upload is still there after a failed DELETE").toBe(200);
    expect(offsetOf(after)).toBe(9 * MiB);
    expect((await exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 })).status).toBe(204);
    expect((await head(url)).status).toBe(410);
  }, 60_000);

  it("createMultipartUpload: the first full part of an upload", async () => {
    const size = 20 * MiB;
    const data = seededBytes(size, "r2-create-multipart");
    const url = await createKnownLength(server.endpoint, size);
    const state: ClientState = { offset: 0, sentUpTo: 9 * MiB, history: new OffsetHistory("createMultipartUpload fails") };
    await setFaultPlan(server, { createMultipartUpload: { fail: 1 } });
    const answer = await patch(url, 0, data.subarray(0, 9 * MiB));
    state.history.seeResponse("PATCH", answer);
    expectRetryable(answer, "PATCH while createMultipartUpload fails");
    await clearFaultPlan(server);
    state.sentUpTo = size;
    await finishAndCheck(url, data, state);
  }, 60_000);
});
