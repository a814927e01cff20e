/**
 * Stalled clients, against a real local gateway: a PATCH sends part of its
 * body and then nothing, without closing its connection (a laptop lid
 * closed, a mobile link gone silent). The client comes back on a new
 * connection; the gateway must let go of the dead request within seconds
 * (README: "a client that reconnects ... never waits for its own dead
 * request") and report the true offset: every byte the stalled request
 * delivered, since its connection is still open and nothing was lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, sleep, startServer, type TestServer } from "../e2e/server";
import { digest } from "../e2e/raw";
import { OffsetHistory } from "./lib/offsets";
import { createKnownLength, expectIntact, resumeWithTusClient } from "./lib/uploads";
import { head, openPatch, patch, writeInPieces, type OpenRequest, type WireResponse } from "./lib/wire";

/** The brief's bound: a newcomer is answered within this, stalled request or not. */
const TAKE_OVER_WITHIN_MS = 8000;
/** Time for written bytes to reach the upload's Durable Object before the newcomer arrives. */
const SETTLE_MS = 1000;
const SIZE = 20 * MiB;

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

interface Stall {
  url: string;
  data: Buffer;
  request: OpenRequest;
  history: OffsetHistory;
}

/** Creates an upload and a PATCH of all of it that sends `sent` bytes, then stalls with its connection open. */
async function stallAfter(sent: number, label: string, headers: Record<string, string> = {}): Promise<Stall> {
  const data = seededBytes(SIZE, `stall:${label}`);
  const url = await createKnownLength(server.endpoint, SIZE);
  const request = openPatch(url, 0, SIZE, 60_000, headers);
  await writeInPieces(request, data.subarray(0, sent), 256 * 1024);
  expect(request.written).toBe(sent);
  await sleep(SETTLE_MS);
  expect(request.answered, "the stalled PATCH must not be answered while it is the upload's only request").toBe(false);
  return { url, data, request, history: new OffsetHistory(label) };
}

/** How long each newcomer took to be answered, printed at the end. */
const takeOverTimes: number[] = [];

afterAll(() => {
  console.log(`stalls: newcomers answered in ${takeOverTimes.map((ms) => `${ms} ms`).join(", ")}`);
});

/** Sends `newcomer` and checks that it is answered within the bound; returns its answer. */
async function takeOver(newcomer: () => Promise<WireResponse>): Promise<WireResponse> {
  const startedAt = Date.now();
  const response = await newcomer();
  const tookMs = Date.now() - startedAt;
  takeOverTimes.push(tookMs);
  expect(tookMs, "the newcomer waited for the stalled request").toBeLessThan(TAKE_OVER_WITHIN_MS);
  return response;
}

/** The stalled request, once taken over, is answered too: 204 with the offset it reached. */
async function expectStalledAnswered(stall: Stall, offset: number): Promise<void> {
  const answer = await Promise.race([stall.request.response, sleep(TAKE_OVER_WITHIN_MS).then(() => undefined)]);
  stall.request.destroy();
  expect(answer, "the taken-over PATCH got no answer").toBeDefined();
  expect(answer!.status).toBe(204);
  stall.history.seeResponse("stalled PATCH", answer!);
  expect(answer!.headers["upload-offset"]).toBe(String(offset));
}

async function finishAndCheck(stall: Stall): Promise<void> {
  await resumeWithTusClient(stall.url, stall.data, stall.history, { chunkSize: 6 * MiB });
  stall.history.expectNeverBackwards();
  stall.history.expectAtMost(SIZE, "the upload's length");
  await expectIntact(stall.url, stall.data);
}

describe("a stalled PATCH (connection open, no more bytes)", () => {
  it.each([
    ["no body byte yet", 0],
    ["3 MiB, inside the first part", 3 * MiB],
    ["exactly one 8 MiB part", 8 * MiB],
    ["9 MiB + 1: a part sent to R2 and 1 MiB in memory", 9 * MiB + 1],
  ])("is taken over by a HEAD on a new connection (%s), which sees every byte sent", async (label, sent) => {
    const stall = await stallAfter(sent, `HEAD after ${label}`);
    const answer = await takeOver(() => head(stall.url));
    expect(answer.status).toBe(200);
    expect(stall.history.seeResponse("HEAD", answer)).toBe(sent);
    await expectStalledAnswered(stall, sent);
    await finishAndCheck(stall);
  }, 90_000);

  it("is taken over by a PATCH from the last acknowledged offset: 409 with the true offset, then the client continues", async () => {
    const sent = 5 * MiB + 333;
    const stall = await stallAfter(sent, "PATCH at the acknowledged offset");
    const answer = await takeOver(() => patch(stall.url, 0, stall.data.subarray(0, 2 * MiB)));
    expect(answer.status).toBe(409);
    expect(stall.history.seeResponse("PATCH at 0", answer)).toBe(sent);
    await expectStalledAnswered(stall, sent);
    const next = await patch(stall.url, sent, stall.data.subarray(sent, sent + 4 * MiB));
    expect(next.status).toBe(204);
    expect(stall.history.seeResponse("PATCH at the true offset", next)).toBe(sent + 4 * MiB);
    await finishAndCheck(stall);
  }, 90_000);

  it("is taken over by a PATCH at the true offset, which is accepted at once", async () => {
    const sent = 10 * MiB;
    const stall = await stallAfter(sent, "PATCH at the true offset");
    const answer = await takeOver(() => patch(stall.url, sent, stall.data.subarray(sent, sent + 3 * MiB)));
    expect(answer.status).toBe(204);
    expect(stall.history.seeResponse("PATCH", answer)).toBe(sent + 3 * MiB);
    await expectStalledAnswered(stall, sent);
    await finishAndCheck(stall);
  }, 90_000);

  it("is taken over by tus-js-client resuming from the upload's URL", async () => {
    const sent = 7 * MiB;
    const stall = await stallAfter(sent, "tus-js-client");
    const run = await resumeWithTusClient(stall.url, stall.data, stall.history, { chunkSize: 6 * MiB });
    expect(run.patchOffsets[0], "tus-js-client resumed from the true offset").toBe(sent);
    const firstHead = stall.history.sightings.find((sighting) => sighting.what.startsWith("tus-js-client HEAD"));
    expect(firstHead, "tus-js-client asked HEAD first").toBeDefined();
    takeOverTimes.push(Math.round(firstHead!.answeredAt - firstHead!.sentAt));
    expect(firstHead!.answeredAt - firstHead!.sentAt, "tus-js-client's HEAD waited for the stalled request").toBeLessThan(TAKE_OVER_WITHIN_MS);
    await expectStalledAnswered(stall, sent);
    stall.history.expectNeverBackwards();
    await expectIntact(stall.url, stall.data);
  }, 90_000);

  it("with Upload-Checksum counts nothing of its chunk: the newcomer sees the offset before it", async () => {
    const data = seededBytes(SIZE, "stall:checksum");
    const url = await createKnownLength(server.endpoint, SIZE);
    const first = await patch(url, 0, data.subarray(0, 2 * MiB));
    expect(first.status).toBe(204);
    const chunk = data.subarray(2 * MiB, 14 * MiB);
    const request = openPatch(url, 2 * MiB, chunk.length, 60_000, { "Upload-Checksum": `sha1 ${digest("sha1", chunk)}` });
    await writeInPieces(request, chunk.subarray(0, 9 * MiB), 256 * 1024);
    await sleep(SETTLE_MS);
    const stall: Stall = { url, data, request, history: new OffsetHistory("checksum") };
    const answer = await takeOver(() => head(url));
    expect(answer.status).toBe(200);
    expect(stall.history.seeResponse("HEAD", answer), "an unverified chunk must not count").toBe(2 * MiB);
    await expectStalledAnswered(stall, 2 * MiB);
    await finishAndCheck(stall);
  }, 90_000);
});
