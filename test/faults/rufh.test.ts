/**
 * The fault scenarios once in the IETF dialect (interop version 8), against
 * a real local gateway: appends cut at random bytes and resumed, an append
 * that stalls with its connection open while a HEAD takes over, and appends
 * racing each other and a DELETE. The same promises as in tus: an offset a
 * client saw is never lost, the stored object is the source's exact bytes,
 * and the gateway never answers 5xx.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, sleep, startServer, type TestServer } from "../e2e/server";
import { OffsetHistory } from "./lib/offsets";
import { Random, runSeed } from "./lib/random";
import { expectIntact } from "./lib/uploads";
import { expectNoGateway5xx, Tally } from "./lib/verdicts";
import { ietf } from "../lib/wire";
import { exchange, NoAnswerError, openRequest, writeInPieces, type OpenRequest, type WireResponse } from "./lib/wire";

const SEED = runSeed("FAULTS_SEED");
const VERSION = 8;
const TAKE_OVER_WITHIN_MS = 8000;

let server: TestServer;
const tally = new Tally();

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  console.log(`rufh faults (seed ${SEED}): answers by kind: ${tally}`);
  await server?.stop();
}, 30_000);

/** An empty `?0` creation: the upload URL before any byte is sent. */
async function createEmpty(): Promise<string> {
  const response = await exchange(server.endpoint, { ...ietf.create(VERSION, { complete: false }), timeoutMs: 30_000 });
  expect(response.status).toBe(201);
  return String(response.headers.location);
}

function appendHeaders(offset: number, length: number, complete = true): OutgoingHttpHeaders {
  return { ...ietf.append(VERSION, offset, complete, undefined).headers, "Content-Length": String(length) };
}

/** An append of all of `data` from `offset`, with `?1`; the caller writes, cuts or stalls it. */
function openAppend(url: string, data: Buffer, offset: number): OpenRequest {
  return openRequest(url, { method: "PATCH", headers: appendHeaders(offset, data.length - offset), timeoutMs: 60_000 });
}

async function headOffset(url: string, history: OffsetHistory, what: string): Promise<number> {
  const response = await exchange(url, { ...ietf.offset(VERSION), timeoutMs: 30_000 });
  expectNoGateway5xx(response, what, tally);
  expect(response.status, what).toBe(204);
  return history.seeResponse(what, response)!;
}

/** Sends the rest from the offset HEAD reports, `?1`; expects the completed answer. */
async function finish(url: string, data: Buffer, history: OffsetHistory): Promise<void> {
  const offset = await headOffset(url, history, "HEAD before the rest");
  const request = openAppend(url, data, offset);
  await request.write(data.subarray(offset));
  request.end();
  const response = await request.response;
  expectNoGateway5xx(response, "the rest", tally);
  expect(response.status, response.body.toString()).toBe(200);
  expect(response.headers["upload-complete"]).toBe("?1");
  history.seeResponse("the rest", response);
}

describe(`the IETF dialect under faults (interop ${VERSION}, seed ${SEED})`, () => {
  it("appends cut 1-3 times at random bytes keep what arrived, never more than was sent, and finish intact", async () => {
    const random = new Random(`${SEED}:rufh-cuts`);
    for (let upload = 0; upload < 6; upload++) {
      const data = seededBytes(random.int(12 * MiB, 20 * MiB), `rufh-cut-${SEED}-${upload}`);
      const url = await createEmpty();
      const history = new OffsetHistory(`cut upload ${upload}`);
      let offset = 0;
      for (let cut = random.int(1, 3); cut > 0 && offset < data.length; cut--) {
        const cutAt = random.int(1, data.length - offset - 1);
        const request = openAppend(url, data, offset);
        await writeInPieces(request, data.subarray(offset, offset + cutAt), 256 * 1024);
        const sent = request.written;
        request.destroy();
        await sleep(300);
        const now = await headOffset(url, history, `HEAD after cut ${cut}`);
        expect(now, "kept no more than was sent").toBeLessThanOrEqual(offset + sent);
        expect(now, "lost nothing acknowledged").toBeGreaterThanOrEqual(offset);
        offset = now;
      }
      await finish(url, data, history);
      history.expectNeverBackwards();
      await expectIntact(url, data, `cut upload ${upload}`);
    }
  }, 300_000);

  it("an append that stalls with its connection open is taken over by a HEAD within 8 s, which sees every byte it delivered", async () => {
    const data = seededBytes(20 * MiB, `rufh-stall-${SEED}`);
    const url = await createEmpty();
    const history = new OffsetHistory("stall");
    const sent = 9 * MiB + 12_345;
    const stalled = openAppend(url, data, 0);
    await writeInPieces(stalled, data.subarray(0, sent), 256 * 1024);
    await sleep(1000);
    expect(stalled.answered, "a stalled append is not answered while it is the only request").toBe(false);

    const started = performance.now();
    const offset = await headOffset(url, history, "HEAD during the stall");
    expect(performance.now() - started, "HEAD answered within the take-over bound").toBeLessThan(TAKE_OVER_WITHIN_MS);
    expect(offset).toBe(sent);
    stalled.destroy();
    await finish(url, data, history);
    history.expectNeverBackwards();
    await expectIntact(url, data, "stall");
  }, 120_000);

  it("appends racing at one offset, and an append racing a DELETE, leave the upload consistent or gone", async () => {
    const random = new Random(`${SEED}:rufh-races`);
    const data = seededBytes(16 * MiB, `rufh-race-${SEED}`);
    const url = await createEmpty();
    const history = new OffsetHistory("race");
    const racers = random.int(2, 5);
    const answers = await Promise.all(
      Array.from({ length: racers }, async (_, index) => {
        const request = openAppend(url, data, 0);
        await writeInPieces(request, data, 512 * 1024, index);
        request.end();
        return request.response.catch((error: unknown) => {
          if (error instanceof NoAnswerError && !error.timedOut) return "reset" as const;
          throw error;
        });
      }),
    );
    for (const answer of answers) {
      if (answer === "reset") tally.add("connection reset before an answer");
      else {
        expectNoGateway5xx(answer, "racer", tally);
        history.seeResponse("racer", answer);
      }
    }
    const completed = answers.some((answer) => answer !== "reset" && (answer as WireResponse).status === 200);
    if (!completed) await finish(url, data, history);
    history.expectNeverBackwards();
    await expectIntact(url, data, "race");

    const doomed = await createEmpty();
    const append = openAppend(doomed, data, 0);
    const writing = writeInPieces(append, data, 256 * 1024, 2);
    await sleep(random.int(50, 500));
    const deleted = await exchange(doomed, { ...ietf.cancel(VERSION), timeoutMs: 30_000 });
    expectNoGateway5xx(deleted, "DELETE during an append", tally);
    expect(deleted.status).toBe(204);
    append.destroy();
    await writing;
    const after = await exchange(doomed, { ...ietf.offset(VERSION), timeoutMs: 30_000 });
    expect(after.status, "HEAD after DELETE").toBe(410);
  }, 180_000);
});
