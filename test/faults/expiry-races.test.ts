/**
 * PATCH racing expiry, against a real local gateway whose uploads expire
 * after 2 idle seconds (EXPIRE_AFTER_SECONDS=2): the upload's Durable Object
 * alarm ends an idle upload, and a PATCH arriving at that moment, stalled
 * across it, or still sending through it must leave the upload either
 * consistent (and finishable, intact) or gone (410). Never corrupt, never a 5xx.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, sleep, startServer, type TestServer } from "../e2e/server";
import { OffsetHistory } from "./lib/offsets";
import { createKnownLength, expectIntact } from "./lib/uploads";
import { expectNoGateway5xx } from "./lib/verdicts";
import { head, NoAnswerError, openPatch, patch, writeInPieces } from "./lib/wire";

const EXPIRE_AFTER_MS = 2000;
/** The alarm fires at the expiry time, give or take the runtime's scheduling. */
const ALARM_SLACK_MS = 3000;
const SIZE = 20 * MiB;

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ vars: { EXPIRE_AFTER_SECONDS: String(EXPIRE_AFTER_MS / 1000) } });
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

async function expectGone(url: string): Promise<void> {
  const after = await head(url);
  expect(after.status, "HEAD on an expired upload").toBe(410);
  const late = await patch(url, 0, seededBytes(100, "late"));
  expect(late.status, "PATCH on an expired upload").toBe(410);
}

/** HEAD says alive or gone; alive must finish intact from its offset. Returns which. */
async function expectConsistentOrGone(url: string, data: Buffer, history: OffsetHistory): Promise<"alive" | "gone"> {
  const after = await head(url);
  expectNoGateway5xx(after, "HEAD after the race");
  if (after.status === 410) {
    await expectGone(url);
    return "gone";
  }
  expect(after.status).toBe(200);
  const offset = history.seeResponse("HEAD after the race", after)!;
  const rest = await patch(url, offset, data.subarray(offset));
  expect(rest.status, `PATCH of the rest answered ${rest.status}: ${rest.body}`).toBe(204);
  history.seeResponse("PATCH of the rest", rest);
  history.expectNeverBackwards();
  await expectIntact(url, data);
  return "alive";
}

describe(`PATCH racing expiry (EXPIRE_AFTER_SECONDS=${EXPIRE_AFTER_MS / 1000})`, () => {
  it.each([
    ["1 MiB", 1 * MiB],
    ["9 MiB, a part in R2", 9 * MiB],
  ])("a PATCH stalled after %s past the idle time is stopped, answered, and the upload answers 410", async (_label, sent) => {
    const data = seededBytes(SIZE, `expiry-stall:${sent}`);
    const url = await createKnownLength(server.endpoint, SIZE);
    const request = openPatch(url, 0, SIZE, 60_000);
    await writeInPieces(request, data.subarray(0, sent), 256 * 1024);
    const stalledAt = Date.now();
    // No HEAD meanwhile: it would take the upload over from the stalled PATCH itself.
    const answer = await Promise.race([request.response, sleep(EXPIRE_AFTER_MS + ALARM_SLACK_MS).then(() => undefined)]);
    request.destroy();
    expect(answer, `the stalled PATCH was not stopped within ${EXPIRE_AFTER_MS + ALARM_SLACK_MS} ms of its last byte`).toBeDefined();
    expectNoGateway5xx(answer!, "the stalled PATCH");
    expect(Date.now() - stalledAt, "stopped before the upload was idle for the idle time").toBeGreaterThanOrEqual(EXPIRE_AFTER_MS - 1000);
    await expectGone(url);
  }, 60_000);

  it("a PATCH that keeps sending for three times the idle time is not expired", async () => {
    const data = seededBytes(SIZE, "expiry-keeps-sending");
    const url = await createKnownLength(server.endpoint, SIZE);
    const history = new OffsetHistory("keeps sending");
    const body = data.subarray(0, 6 * MiB);
    const request = openPatch(url, 0, body.length, 60_000);
    // 96 pieces of 64 KiB, 60 ms apart: about 6 s.
    await writeInPieces(request, body, 64 * 1024, 60);
    request.end();
    const answer = await request.response;
    expect(answer.status, `answered ${answer.status}: ${answer.body}`).toBe(204);
    expect(history.seeResponse("slow PATCH", answer)).toBe(body.length);
    expect(await expectConsistentOrGone(url, data, history)).toBe("alive");
  }, 60_000);

  // Fails at the time of writing: the Durable Object moves the idle clock on at most once a
  // second while bytes arrive, so bytes at 0 s and 0.9 s leave the expiry at 2 s, and the alarm
  // ends the upload at 2 s although the next bytes came at 2.1 s (idle 1.2 s). See the report.
  it("a PATCH whose bytes never pause for more than 1.2 s is not expired (pauses alternate 0.9 s and 1.2 s)", async () => {
    const data = seededBytes(SIZE, "expiry-pauses");
    const url = await createKnownLength(server.endpoint, SIZE);
    const history = new OffsetHistory("pausing");
    const pieces = 9;
    const body = data.subarray(0, pieces * 64 * 1024);
    const request = openPatch(url, 0, body.length, 60_000);
    for (let piece = 0; piece < pieces; piece++) {
      if (!(await request.write(body.subarray(piece * 64 * 1024, (piece + 1) * 64 * 1024)))) break;
      if (piece < pieces - 1) await sleep(piece % 2 === 0 ? 900 : 1200);
    }
    request.end();
    const answer = await request.response;
    expect(answer.status, `answered ${answer.status}: ${answer.body}`).toBe(204);
    const offset = history.seeResponse("pausing PATCH", answer);
    expect(offset, `stopped ${((answer.answeredAt - answer.sentAt) / 1000).toFixed(1)} s into the PATCH, with ${offset} of ${body.length} bytes`).toBe(body.length);
    expect(await expectConsistentOrGone(url, data, history), "expired although it never idled for 2 s").toBe("alive");
  }, 60_000);

  it.each([-600, -250, -50, 0, 50, 250, 600])(
    "a PATCH crossing a part boundary sent %i ms from the expiry moment: consistent or gone, never corrupt",
    async (deltaMs) => {
      const data = seededBytes(SIZE, `expiry-edge:${deltaMs}`);
      const url = await createKnownLength(server.endpoint, SIZE);
      const history = new OffsetHistory(`PATCH at expiry ${deltaMs} ms`);
      const first = await patch(url, 0, data.subarray(0, 6 * MiB));
      expect(first.status).toBe(204);
      history.seeResponse("first PATCH", first);
      // The idle clock restarted when the first PATCH was answered.
      await sleep(first.answeredAt + EXPIRE_AFTER_MS + deltaMs - performance.now());
      // A 410 comes before the body is read, and the local dev server may then reset the
      // connection instead of passing the answer on (see lib/verdicts.ts): the state decides.
      const racing = await patch(url, 6 * MiB, data.subarray(6 * MiB, 12 * MiB)).catch((error: unknown) => {
        if (error instanceof NoAnswerError && !error.timedOut) return "reset" as const;
        throw error;
      });
      if (racing !== "reset") {
        expectNoGateway5xx(racing, "the PATCH at the expiry moment");
        if (racing.status < 500) {
          expect([204, 410], `the PATCH at the expiry moment answered ${racing.status}: ${racing.body}`).toContain(racing.status);
        }
        history.seeResponse("PATCH at the expiry moment", racing);
      }
      const outcome = await expectConsistentOrGone(url, data, history);
      if (racing !== "reset" && racing.status === 204) expect(outcome, "a PATCH accepted with 204 must leave the upload alive").toBe("alive");
    },
    60_000,
  );
});
