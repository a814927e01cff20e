/**
 * Requests racing on one upload, against a real local gateway: several
 * PATCHes at the same offset (a client retrying while its first attempt is
 * still in flight, or two tabs), and PATCH against DELETE.
 *
 * After every race the upload is either consistent (HEAD's offset is what
 * is stored, and continuing from it yields the source's exact bytes) or
 * gone (410); never corrupt, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, sleep, startServer, type TestServer } from "../e2e/server";
import { OffsetHistory } from "./lib/offsets";
import { Random, runSeed } from "./lib/random";
import { createKnownLength, expectIntact } from "./lib/uploads";
import { expectNoGateway5xx, Tally } from "./lib/verdicts";
import { exchange, head, NoAnswerError, openPatch, patch, TUS, writeInPieces, type WireResponse } from "./lib/wire";

const SEED = runSeed("FAULTS_SEED");
const SIZE = 24 * MiB;
/** Races per upload before the rest is sent plainly; each race moves the offset on by at least one racer's bytes or stops early. */
const MAX_ROUNDS = 12;

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

/** Answers by kind, over the whole file: printed at the end. */
const tally = new Tally();

/**
 * A PATCH of `body` at `offset`, sent whole at once ("burst") or in small
 * pieces a few milliseconds apart ("trickle"). A racer that loses is answered
 * before its body is read (409, or 204 when a newer request stopped it), and
 * the local dev server may then reset its connection instead (see
 * lib/verdicts.ts): that outcome is returned as `reset`, the client's view.
 */
async function racer(url: string, offset: number, body: Uint8Array, style: "burst" | "trickle"): Promise<WireResponse | "reset"> {
  const request = openPatch(url, offset, body.length, 60_000);
  if (style === "burst") await request.write(body);
  else await writeInPieces(request, body, 128 * 1024, 5);
  request.end();
  try {
    return await request.response;
  } catch (error) {
    if (error instanceof NoAnswerError && !error.timedOut) {
      tally.add("connection reset before an answer");
      return "reset";
    }
    throw error;
  }
}

function expectNo5xx(response: WireResponse, what: string): void {
  expectNoGateway5xx(response, what, tally);
}

async function expectGone(url: string, history: OffsetHistory): Promise<void> {
  const after = await head(url);
  expect(after.status, "HEAD on a deleted upload").toBe(410);
  expect(after.headers["upload-offset"]).toBeUndefined();
  const late = await patch(url, history.highest(), seededBytes(1000, "late"));
  expect(late.status, "PATCH on a deleted upload").toBe(410);
  const download = await exchange(url, { method: "GET", timeoutMs: 30_000 });
  expect([404, 410], `GET on a deleted upload answered ${download.status}`).toContain(download.status);
}

afterAll(() => {
  console.log(`races: answers by kind: ${tally}`);
});

describe(`racing PATCHes on one upload (seed ${SEED})`, () => {

  it.each([2, 3, 4, 5, 6, 7, 8])(
    "%i PATCHes at once at the same offset leave the upload consistent, and it finishes intact",
    async (racers) => {
      const random = new Random(`races:${SEED}:${racers}`);
      const data = seededBytes(SIZE, `races:${SEED}:${racers}`);
      const url = await createKnownLength(server.endpoint, SIZE);
      const history = new OffsetHistory(`${racers} racers`);
      let offset = 0;
      for (let round = 0; round < MAX_ROUNDS && offset < SIZE; round++) {
        const lengths = Array.from({ length: racers }, () => Math.min(SIZE - offset, random.int(1 * MiB, 10 * MiB)));
        const answers = await Promise.all(
          lengths.map((length) => racer(url, offset, data.subarray(offset, offset + length), random.pick(["burst", "trickle"] as const))),
        );
        for (const answer of answers) {
          if (answer === "reset") continue;
          expectNo5xx(answer, "a racing PATCH");
          if (answer.status >= 500) continue; // the dev proxy's, counted
          expect([204, 409, 423], `a racing PATCH answered ${answer.status}: ${answer.body}`).toContain(answer.status);
          history.seeResponse("racing PATCH", answer);
        }
        const after = await head(url);
        expect(after.status).toBe(200);
        const stored = history.seeResponse("HEAD after the race", after)!;
        expect(stored, "acknowledged bytes lost in a race").toBeGreaterThanOrEqual(offset);
        expect(stored, "counted more than any racer sent").toBeLessThanOrEqual(offset + Math.max(...lengths));
        offset = stored;
      }
      if (offset < SIZE) {
        const rest = await patch(url, offset, data.subarray(offset));
        expect(rest.status).toBe(204);
        history.seeResponse("PATCH of the rest", rest);
      }
      history.expectNeverBackwards();
      history.expectAtMost(SIZE, "the upload's length");
      await expectIntact(url, data, `${racers} racers`);
    },
    120_000,
  );
});

describe(`PATCH racing DELETE (seed ${SEED})`, () => {
  /** After a race, DELETE's answer decides: 204 means gone, anything else (a 423) means nothing changed. */
  async function settleAfterDelete(url: string, data: Buffer, deleted: WireResponse, history: OffsetHistory): Promise<"gone" | "kept"> {
    expectNo5xx(deleted, "DELETE");
    if (deleted.status === 204) {
      await expectGone(url, history);
      return "gone";
    }
    expect(deleted.status, `DELETE answered ${deleted.status}: ${deleted.body}`).toBe(423);
    const after = await head(url);
    expect(after.status).toBe(200);
    const offset = history.seeResponse("HEAD", after)!;
    if (offset < data.length) expect((await patch(url, offset, data.subarray(offset))).status).toBe(204);
    await expectIntact(url, data);
    return "kept";
  }

  it.each([0, 5, 20, 50, 100, 250, 500, 1000])(
    "a DELETE %i ms into a PATCH that crosses a part boundary: the upload is gone, and the PATCH is answered without a 5xx",
    async (delayMs) => {
      const data = seededBytes(SIZE, `delete-race:${SEED}:${delayMs}`);
      const url = await createKnownLength(server.endpoint, SIZE);
      const history = new OffsetHistory(`DELETE after ${delayMs} ms`);
      const first = await patch(url, 0, data.subarray(0, 5 * MiB));
      expect(first.status).toBe(204);
      history.seeResponse("PATCH", first);
      const writing = racer(url, 5 * MiB, data.subarray(5 * MiB, 13 * MiB), "trickle");
      await sleep(delayMs);
      const deleted = await exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 });
      const patched = await writing;
      // The PATCH is answered 204 with what it stored before DELETE took over, or 410;
      // its connection may be reset when it is answered mid-body. Never a 5xx.
      if (patched !== "reset") {
        expectNo5xx(patched, "the PATCH racing DELETE");
        history.seeResponse("PATCH racing DELETE", patched);
      }
      await settleAfterDelete(url, data, deleted, history);
      history.expectNeverBackwards();
    },
    60_000,
  );

  it.each([0, 30, 100, 300])(
    "a DELETE %i ms into the PATCH that completes the upload: gone afterwards, object included",
    async (delayMs) => {
      const data = seededBytes(SIZE, `delete-finish:${SEED}:${delayMs}`);
      const url = await createKnownLength(server.endpoint, SIZE);
      const history = new OffsetHistory(`DELETE during completion after ${delayMs} ms`);
      expect((await patch(url, 0, data.subarray(0, 15 * MiB))).status).toBe(204);
      const writing = racer(url, 15 * MiB, data.subarray(15 * MiB), "burst");
      await sleep(delayMs);
      const deleted = await exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 });
      const patched = await writing;
      if (patched !== "reset") {
        expectNo5xx(patched, "the completing PATCH");
        history.seeResponse("completing PATCH", patched);
      }
      await settleAfterDelete(url, data, deleted, history);
    },
    60_000,
  );

  it("two DELETEs and a HEAD at once on a half-sent upload: one 204, the rest 204 or 410, then 410", async () => {
    const data = seededBytes(SIZE, `double-delete:${SEED}`);
    const url = await createKnownLength(server.endpoint, SIZE);
    const history = new OffsetHistory("double DELETE");
    expect((await patch(url, 0, data.subarray(0, 9 * MiB))).status).toBe(204);
    const answers = await Promise.all([
      exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 }),
      exchange(url, { method: "DELETE", headers: TUS, timeoutMs: 30_000 }),
      head(url),
    ]);
    for (const answer of answers) expectNo5xx(answer, "a racing request");
    const deletes = answers.slice(0, 2).map((answer) => answer.status);
    expect(deletes).toContain(204);
    for (const status of deletes) expect([204, 410]).toContain(status);
    expect([200, 410]).toContain(answers[2]!.status);
    await expectGone(url, history);
  }, 60_000);
});
