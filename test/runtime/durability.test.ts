/**
 * What an upload survives: its Durable Object being evicted, request bodies
 * that break or go silent part-way, and PATCHes racing each other. After each,
 * HEAD must tell the truth and the finished object must be exactly the bytes
 * the client meant, checked by SHA-256.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import {
  bodyText,
  brokenBody,
  COLLECTION,
  concat,
  createUpload,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  expectStoredInvariant,
  head,
  headOffset,
  KiB,
  MiB,
  OCTET,
  patch,
  patchInChunks,
  PART_SIZE,
  randomBytes,
  send,
  settle,
  sleep,
  stalledBody,
  TUS,
  uploadStub,
  within,
} from "./helpers";

const TIMEOUT = 60_000;
/** How long a newcomer may wait for a stalled PATCH to let go (lock timeout is 5 s). */
const TAKE_OVER_LIMIT_MS = 8_000;
/** Time for bytes the client sent to cross Worker → Durable Object before we interrupt. */
const SETTLE_MS = 300;

describe("eviction", () => {
  afterEach(() => expectNoServerErrors());

  it("an upload evicted after every PATCH resumes from the offset HEAD reports", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(17 * MiB + 9, 201);
    const { url, id } = await createUpload({ length: data.length });
    let offset = 0;
    for (const size of [9 * MiB + 5, 3 * MiB, 5 * MiB + 4]) {
      const response = await patch(url, offset, data.slice(offset, offset + size));
      expect(response.status, await bodyText(response)).toBe(204);
      offset += size;
      await evictDurableObject(uploadStub(id));
      expect(await headOffset(url)).toBe(offset);
    }
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("an upload evicted with a tail of 1 MiB + 5 bytes keeps them and finishes intact", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(20 * MiB + 1, 202);
    const { url, id } = await createUpload({ length: data.length });
    // A first PATCH of 3 MiB keeps the planned part size (see partSizeForChunk).
    await patchInChunks(url, data.subarray(0, 9 * MiB + 5), 0, [3 * MiB, 6 * MiB + 5]);
    await evictDurableObject(uploadStub(id));
    expect(await headOffset(url)).toBe(9 * MiB + 5);
    const state = await expectStoredInvariant(id, 9 * MiB + 5);
    expect(state.parts).toEqual([{ number: 1, size: PART_SIZE }]);
    expect(state.tailBytes).toBe(MiB + 5);
    await patchInChunks(url, data, 9 * MiB + 5, [7 * MiB, 4 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("a finished upload still answers HEAD with offset = length after eviction", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(11 * MiB + 3, 203);
    const { url, id } = await createUpload({ length: data.length });
    await patchInChunks(url, data, 0, [6 * MiB, 6 * MiB]);
    await evictDurableObject(uploadStub(id));
    const state = await head(url);
    expect(state.status).toBe(200);
    expect(state.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(state.headers.get("Upload-Length")).toBe(String(data.length));
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });
});

describe("a request body that breaks part-way", () => {
  afterEach(() => expectNoServerErrors());

  it.for([
    { name: "below one part", before: 0, received: 3 * MiB + 7, length: 12 * MiB + 1 },
    { name: "above one part", before: 0, received: 10 * MiB + 3, length: 18 * MiB + 11 },
    { name: "after a stored tail, completing a part", before: MiB + 1, received: 9 * MiB + 2, length: 14 * MiB },
  ])(
    "keeps every byte that arrived ($name) and resumes from there",
    { timeout: TIMEOUT },
    async ({ before, received, length }) => {
      const data = randomBytes(length, 300 + received);
      const { url, id } = await createUpload({ length, body: before > 0 ? data.slice(0, before) : undefined });
      const body = brokenBody(data.slice(before, received));
      const outcome = await settle(patch(url, before, body.stream));
      // The client never sees this answer in real life; whatever it is, it is not a server fault.
      if (outcome.response) expect(outcome.response.status).toBeLessThan(500);

      expect(await headOffset(url)).toBe(received);
      const state = await expectStoredInvariant(id, received);
      expect(state.parts.length).toBe(Math.floor(received / PART_SIZE));
      await patchInChunks(url, data, received, [5 * MiB + 1]);
      await expectDownloadEquals(url, data);
      await expectFinishedStorage(id, length);
    },
  );

  it("keeps the bytes of a creation-with-upload POST whose body breaks", { timeout: TIMEOUT }, async () => {
    // Without the 201 the client cannot resume, but what arrived must not corrupt anything.
    const data = randomBytes(9 * MiB, 310);
    const body = brokenBody(data.slice(0, 2 * MiB + 1));
    const outcome = await settle(
      send(COLLECTION, {
        method: "POST",
        headers: { ...TUS, "Upload-Length": String(data.length), "Content-Type": OCTET },
        body: body.stream,
      }),
    );
    // The client may see its request fail instead; if an answer gets through, it is the 201.
    if (outcome.response) {
      expect(outcome.response.status, await bodyText(outcome.response)).toBe(201);
      const url = outcome.response.headers.get("Location")!;
      const offset = Number(outcome.response.headers.get("Upload-Offset"));
      expect(offset).toBe(2 * MiB + 1);
      expect(await headOffset(url)).toBe(offset);
      await patchInChunks(url, data, offset, [4 * MiB]);
      await expectDownloadEquals(url, data);
    }
  });
});

describe("a request body that goes silent part-way", () => {
  afterEach(() => expectNoServerErrors());

  it.for([
    { name: "below one part", received: 2 * MiB + 9, length: 12 * MiB + 5 },
    { name: "above one part", received: 9 * MiB + 1, length: 12 * MiB + 5 },
  ])(
    "is stopped by a HEAD, which answers within seconds with every byte that arrived ($name)",
    { timeout: TIMEOUT },
    async ({ received, length }) => {
      const data = randomBytes(length, 400 + received);
      const { url, id } = await createUpload({ length });
      const body = stalledBody(data.slice(0, received));
      const stalled = settle(patch(url, 0, body.stream));
      await body.drained;
      await sleep(SETTLE_MS);

      const started = Date.now();
      const state = await within(TAKE_OVER_LIMIT_MS, "HEAD during a stalled PATCH", head(url));
      expect(Date.now() - started).toBeLessThan(TAKE_OVER_LIMIT_MS);
      expect(state.status).toBe(200);
      expect(state.headers.get("Upload-Offset")).toBe(String(received));

      // The stalled PATCH ends too, with what it stored.
      const outcome = await within(TAKE_OVER_LIMIT_MS, "the stalled PATCH", stalled);
      expect(outcome.error).toBeUndefined();
      expect(outcome.response!.status).toBeLessThan(500);
      if (outcome.response!.status === 204) expect(outcome.response!.headers.get("Upload-Offset")).toBe(String(received));

      await expectStoredInvariant(id, received);
      await patchInChunks(url, data, received, [3 * MiB + 17, 6 * MiB]);
      await expectDownloadEquals(url, data);
      await expectFinishedStorage(id, length);
    },
  );

  it("is stopped by a PATCH that resumes at the offset the client had sent", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(14 * MiB + 21, 450);
    const received = 5 * MiB + 123;
    const { url, id } = await createUpload({ length: data.length });
    const body = stalledBody(data.slice(0, received));
    const stalled = settle(patch(url, 0, body.stream));
    await body.drained;
    await sleep(SETTLE_MS);

    const started = Date.now();
    const resumed = await within(TAKE_OVER_LIMIT_MS, "PATCH during a stalled PATCH", patch(url, received, data.slice(received)));
    expect(Date.now() - started).toBeLessThan(TAKE_OVER_LIMIT_MS);
    expect(resumed.status, await bodyText(resumed)).toBe(204);
    expect(resumed.headers.get("Upload-Offset")).toBe(String(data.length));
    const outcome = await within(TAKE_OVER_LIMIT_MS, "the stalled PATCH", stalled);
    expect(outcome.error).toBeUndefined();
    expect(outcome.response!.status).toBeLessThan(500);

    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });
});

describe("PATCHes racing at the same offset", () => {
  afterEach(() => expectNoServerErrors());

  /**
   * Whatever the timing, exactly one body may have written (a prefix of it),
   * the other wrote nothing. Reconstructs the expected bytes from the answers
   * and finishes the upload from HEAD's offset with the winner's remaining bytes.
   */
  async function expectConsistentAfterRace(
    url: string,
    id: string,
    prefix: Uint8Array,
    bodies: [Uint8Array, Uint8Array],
    responses: [Response, Response],
    suffix: Uint8Array,
  ): Promise<void> {
    const start = prefix.length;
    const statuses = responses.map((response) => response.status);
    expect(statuses, "one PATCH succeeds; the other succeeds having written nothing, or gets 409").toContain(204);
    for (const status of statuses) expect([204, 409]).toContain(status);

    const offset = await headOffset(url);
    await expectStoredInvariant(id, offset);
    const reported = responses.map((response) => Number(response.headers.get("Upload-Offset")));
    let winner = 0;
    if (offset > start) {
      const winners = responses.flatMap((response, index) =>
        response.status === 204 && reported[index] === offset ? [index] : [],
      );
      expect(winners, `answers ${JSON.stringify({ statuses, reported, offset })}`).toHaveLength(1);
      winner = winners[0]!;
    }
    const loser = 1 - winner;
    // The loser stored nothing: a 204 says the offset it started at, a 409 the winner's offset.
    expect(reported[loser]).toBe(statuses[loser] === 204 ? start : offset);

    const expected = concat(prefix, bodies[winner]!, suffix);
    await patchInChunks(url, expected, offset, [6 * MiB + 7]);
    await expectDownloadEquals(url, expected);
    await expectFinishedStorage(id, expected.length);
  }

  it("two PATCHes started at once leave one body's prefix, never a mix", { timeout: TIMEOUT }, async () => {
    for (const [round, bodySize] of [3 * MiB + 1, 7 * MiB + 3].entries()) {
      const prefix = randomBytes(MiB + 3, 500 + round);
      const bodies: [Uint8Array, Uint8Array] = [randomBytes(bodySize, 510 + round), randomBytes(bodySize, 520 + round)];
      const suffix = randomBytes(4 * MiB + 11, 530 + round);
      const length = prefix.length + bodySize + suffix.length;
      const { url, id } = await createUpload({ length, body: prefix });

      const responses = (await Promise.all(bodies.map((body) => patch(url, prefix.length, body)))) as [Response, Response];
      await expectConsistentAfterRace(url, id, prefix, bodies, responses, suffix);
    }
  });

  it("a PATCH arriving while another is mid-body stops it; the stored bytes are the first body's prefix", { timeout: TIMEOUT }, async () => {
    const prefix = randomBytes(2 * MiB, 540);
    const bodies: [Uint8Array, Uint8Array] = [randomBytes(9 * MiB + 1, 541), randomBytes(9 * MiB + 1, 542)];
    const suffix = randomBytes(3 * MiB + 5, 543);
    const length = prefix.length + bodies[0].length + suffix.length;
    const { url, id } = await createUpload({ length, body: prefix });

    // The first body trickles in; the second arrives when 7 MiB of it (crossing a part) have been sent.
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const first = patch(url, prefix.length, readable);
    const writer = writable.getWriter();
    for (let at = 0; at < 7 * MiB; at += 512 * KiB) await writer.write(bodies[0].slice(at, at + 512 * KiB));
    await sleep(SETTLE_MS);
    const second = patch(url, prefix.length, bodies[1]);
    const secondResponse = await within(TAKE_OVER_LIMIT_MS, "the second PATCH", second);
    // Whatever the first client sends after being stopped is no longer read.
    writer.close().catch(() => {});
    const firstResponse = await within(TAKE_OVER_LIMIT_MS, "the first PATCH", first);

    expect(firstResponse.status).toBe(204);
    // It kept every byte it had received: the 7 MiB sent before the second PATCH arrived.
    expect(firstResponse.headers.get("Upload-Offset")).toBe(String(prefix.length + 7 * MiB));
    expect(secondResponse.status).toBe(409);
    await expectConsistentAfterRace(url, id, prefix, bodies, [firstResponse, secondResponse], suffix);
  });
});

describe("storage from an earlier version", () => {
  afterEach(() => expectNoServerErrors());

  it("an upload stored before size limits were recorded (no size_limit column) gets the column on restart and takes PATCHes", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(3 * MiB + 5, 9100);
    const { url, id } = await createUpload({ deferred: true, body: data.subarray(0, MiB) });
    await runInDurableObject(uploadStub(id), (_instance, state) => {
      state.storage.sql.exec("ALTER TABLE upload DROP COLUMN size_limit");
    });
    await evictDurableObject(uploadStub(id));

    const response = await patch(url, MiB, data.subarray(MiB), { "Upload-Length": String(data.length) });
    expect(response.status, await bodyText(response)).toBe(204);
    await expectDownloadEquals(url, data);
    const columns = await runInDurableObject(uploadStub(id), (_instance, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('upload')").toArray().map((column) => column.name),
    );
    expect(columns).toContain("size_limit");
  });
});
