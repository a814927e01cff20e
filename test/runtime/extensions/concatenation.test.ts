/**
 * concatenation and concatenation-unfinished: partial uploads
 * (`Upload-Concat: partial`) are joined into a final upload
 * (`Upload-Concat: final;<url> <url>`), whose length is their sum. The final
 * upload's Durable Object assembles it, one or more R2 parts per step, cut at
 * the final's own part size whatever the partials' sizes; then the partials
 * are deleted. When every partial is finished, the creating POST assembles
 * the final before answering, within CONCAT_SYNC_ASSEMBLY_MS (20 s by
 * default); otherwise, and for what is left after that, the alarm does.
 * Until it is assembled, HEAD shows no offset.
 */
import { env, evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { createTusGateway } from "../../../src/gateway";
import {
  bodyText,
  COLLECTION,
  concat,
  createUpload,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  head,
  MiB,
  patch,
  patchInChunks,
  PART_SIZE,
  randomBytes,
  send,
  sleep,
  TUS,
  uploadIdOf,
  uploadStub,
  within,
} from "../helpers";
import { afterEachPartUpload, expectTombstoneOnly, headState, runAlarm, setAlarm, shiftClock, snapshot } from "./helpers";

const TIMEOUT = 60_000;

interface PartialUpload {
  url: string;
  id: string;
  data: Uint8Array;
}

async function createPartial(data: Uint8Array): Promise<PartialUpload> {
  const { response, url, id } = await createUpload({ length: data.length, headers: { "Upload-Concat": "partial" } });
  expect(response.headers.get("Upload-Offset")).toBeNull();
  return { url, id, data };
}

/** Uploads the partial's bytes from `from` on, in PATCHes of at most 5 MiB + 1. */
function finishPartial(partial: PartialUpload, from = 0): Promise<void> {
  return patchInChunks(partial.url, partial.data, from, [5 * MiB + 1]);
}

function postFinal(urls: string[], headers: Record<string, string> = {}): Promise<Response> {
  return send(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Concat": `final;${urls.join(" ")}`, ...headers } });
}

/** The gateway with CONCAT_SYNC_ASSEMBLY_MS=0 (the Worker decides; its Durable Objects are the same). */
const backgroundOnly = createTusGateway({ config: { concatSyncAssemblyMs: 0 } });

async function createFinal(
  urls: string[],
  post: (urls: string[]) => Promise<Response> = postFinal,
): Promise<{ url: string; id: string; response: Response }> {
  const response = await post(urls);
  expect(response.status, await bodyText(response)).toBe(201);
  const url = response.headers.get("Location")!;
  expect(url).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{64}$/);
  // A final upload has no bytes of its own, so nothing was appended.
  expect(response.headers.get("Upload-Offset")).toBeNull();
  return { url, id: uploadIdOf(url), response };
}

/**
 * Runs the final upload's alarm (the runtime may also fire it by itself)
 * until HEAD shows it assembled. Every HEAD on the way must show either no
 * Upload-Offset (still assembling) or the whole length, never a part of it.
 */
async function driveAssembly(url: string, id: string, length: number): Promise<void> {
  const giveUp = Date.now() + 30_000;
  for (;;) {
    await runAlarm(id);
    const state = await headState(url);
    expect(state.status).toBe(200);
    expect(state.length).toBe(String(length));
    if (state.offset !== null) {
      expect(state.offset, "a final upload shows its offset only once assembled").toBe(String(length));
      return;
    }
    if (Date.now() > giveUp) throw new Error("the final upload was not assembled within 30 s");
    await sleep(50);
  }
}

/** Runs the final upload's alarm until its Durable Object holds only a tombstone (or 30 s pass). */
async function driveUntilEnded(id: string): Promise<void> {
  const giveUp = Date.now() + 30_000;
  while ((await snapshot(id)).uploads[0]!.ended === null) {
    if (Date.now() > giveUp) throw new Error("the final upload did not end within 30 s");
    await runAlarm(id);
    await sleep(50);
  }
}

/** After assembly: the partials answer 410 and their objects are deleted. */
async function expectPartialsDeleted(partials: PartialUpload[]): Promise<void> {
  for (const partial of partials) {
    expect((await head(partial.url)).status, `partial ${partial.id}`).toBe(410);
    expect(await env.BUCKET.head(`uploads/${partial.id}`), `R2 object of partial ${partial.id}`).toBeNull();
  }
}

describe("concatenation", () => {
  afterEach(() => expectNoServerErrors());

  it(
    "partials of 7 MiB + 3, 1 and 12 MiB + 5 bytes make a final upload whose parts cross their boundaries, assembled by the POST: HEAD right after shows the whole length, GET has every byte",
    { timeout: TIMEOUT },
    async () => {
      const partials = [
        await createPartial(randomBytes(7 * MiB + 3, 3000)),
        await createPartial(randomBytes(1, 3001)),
        await createPartial(randomBytes(12 * MiB + 5, 3002)),
      ];
      for (const partial of partials) {
        const state = await head(partial.url);
        expect(state.headers.get("Upload-Concat")).toBe("partial");
        await finishPartial(partial);
        expect((await head(partial.url)).headers.get("Upload-Concat")).toBe("partial");
      }
      const expected = concat(...partials.map((partial) => partial.data));

      // Absolute and relative URLs may be mixed. No alarm runs: the POST itself assembled it.
      const { url, id } = await createFinal([partials[0]!.url, `/files/${partials[1]!.id}`, partials[2]!.url]);

      const state = await head(url);
      expect(state.headers.get("Upload-Offset")).toBe(String(expected.length));
      expect(state.headers.get("Upload-Length")).toBe(String(expected.length));
      expect(state.headers.get("Upload-Concat")).toBe(`final;${partials.map((partial) => `/files/${partial.id}`).join(" ")}`);
      await expectDownloadEquals(url, expected);
      await expectFinishedStorage(id, expected.length);
      await expectPartialsDeleted(partials);
    },
  );

  it(
    "concatenation-unfinished: a final created before its partials finish waits, then is assembled once the last one finishes",
    { timeout: TIMEOUT },
    async () => {
      const partials = [await createPartial(randomBytes(9 * MiB + 1, 3100)), await createPartial(randomBytes(6 * MiB + 2, 3101))];
      await patchInChunks(partials[0]!.url, partials[0]!.data.subarray(0, 5 * MiB), 0, [5 * MiB]);
      const length = partials[0]!.data.length + partials[1]!.data.length;

      const { url, id } = await createFinal(partials.map((partial) => partial.url));
      await runAlarm(id);
      const waiting = await head(url);
      expect(waiting.status).toBe(200);
      expect(waiting.headers.get("Upload-Length")).toBe(String(length));
      expect(waiting.headers.get("Upload-Offset")).toBeNull();
      expect(waiting.headers.get("Upload-Concat")).toBe(`final;/files/${partials[0]!.id} /files/${partials[1]!.id}`);
      expect((await snapshot(id)).parts).toEqual([]);
      const early = await send(url);
      expect(early.status, "an unassembled final cannot be downloaded yet").toBe(409);
      await early.arrayBuffer();

      // The final polls its partials every 30 s; push its next poll far away, so
      // that only the notice of the last partial's last PATCH can start assembly.
      await setAlarm(id, Date.now() + 60 * 60 * 1000);
      await finishPartial(partials[0]!, 5 * MiB);
      await finishPartial(partials[1]!);
      const noticed = await snapshot(id);
      expect(noticed.uploads[0]!.finished_at !== null || (noticed.alarm ?? 0) <= Date.now() + 1000, "the final's alarm was brought forward").toBe(true);
      await driveAssembly(url, id, length);

      await expectDownloadEquals(url, concat(partials[0]!.data, partials[1]!.data));
      await expectFinishedStorage(id, length);
      await expectPartialsDeleted(partials);
    },
  );

  it("with CONCAT_SYNC_ASSEMBLY_MS=0 the POST answers at once and the final is assembled in the background", { timeout: TIMEOUT }, async () => {
    const partials = [await createPartial(randomBytes(6 * MiB + 1, 3150)), await createPartial(randomBytes(5 * MiB + 7, 3151))];
    for (const partial of partials) await finishPartial(partial);
    const expected = concat(...partials.map((partial) => partial.data));

    // An hour ahead, the final's alarm lies in the real future: only this test runs it.
    const clock = shiftClock(60 * 60 * 1000);
    try {
      const post = (urls: string[]) =>
        backgroundOnly.fetch(new Request(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Concat": `final;${urls.join(" ")}` } }), env);
      const { url, id } = await createFinal(
        partials.map((partial) => partial.url),
        post,
      );
      const state = await headState(url);
      expect(state.offset, "nothing was assembled by the POST").toBeNull();
      expect(state.length).toBe(String(expected.length));
      expect((await snapshot(id)).parts).toEqual([]);
      await driveAssembly(url, id, expected.length);
      await expectDownloadEquals(url, expected);
      await expectFinishedStorage(id, expected.length);
      await expectPartialsDeleted(partials);
    } finally {
      clock.restore();
    }
  });

  it("a final upload larger than the POST can assemble in time continues in the background, evicted between steps, and is still intact", { timeout: TIMEOUT }, async () => {
    const partials = [
      await createPartial(randomBytes(5 * MiB + 3, 3200)),
      await createPartial(randomBytes(1, 3201)),
      await createPartial(randomBytes(12 * MiB + 5, 3202)),
    ];
    for (const partial of partials) await finishPartial(partial);
    const expected = concat(...partials.map((partial) => partial.data));
    const partCount = Math.ceil(expected.length / PART_SIZE);
    expect(partCount).toBe(3);

    // Simulate slow R2: the clock moves a minute on with every part uploaded,
    // so the POST's 20 s (and each alarm's step) ends after one part. The clock
    // also starts an hour ahead, so every alarm the object sets lies in the
    // real future and only this test runs it.
    const clock = shiftClock(60 * 60 * 1000);
    const restoreUploadPart = afterEachPartUpload(() => clock.advance(60_000));
    try {
      const { url, id } = await createFinal(partials.map((partial) => partial.url));
      expect((await headState(url)).offset, "after the POST").toBeNull();
      expect((await snapshot(id)).parts.map((part) => part.number), "the POST stored the first part").toEqual([1]);
      await evictDurableObject(uploadStub(id));
      for (let step = 2; step <= partCount; step++) {
        expect(await runAlarm(id), `assembly step ${step} was due`).toBe(true);
        const state = await headState(url);
        if (step < partCount) {
          expect(state.offset, `after step ${step}`).toBeNull();
          expect((await snapshot(id)).parts.map((part) => part.number)).toEqual([...Array(step).keys()].map((n) => n + 1));
        } else {
          expect(state.offset).toBe(String(expected.length));
        }
        await evictDurableObject(uploadStub(id));
      }
      await expectDownloadEquals(url, expected);
      await expectFinishedStorage(id, expected.length);
      await expectPartialsDeleted(partials);
    } finally {
      restoreUploadPart();
      clock.restore();
    }
  });

  it("DELETE on a final upload while a part of it is being assembled leaves only a tombstone", { timeout: TIMEOUT }, async () => {
    const partials = [await createPartial(randomBytes(9 * MiB + 1, 3250)), await createPartial(randomBytes(3 * MiB + 2, 3251))];
    await finishPartial(partials[0]!);
    expect((await patch(partials[1]!.url, 0, partials[1]!.data.slice(0, MiB))).status).toBe(204);

    // The final is created before its last partial finishes, so its alarm
    // assembles it; an hour ahead, only this test runs that alarm.
    const clock = shiftClock(60 * 60 * 1000);
    let partStored!: () => void;
    const stored = new Promise<void>((resolve) => (partStored = resolve));
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let restoreUploadPart = () => {};
    try {
      const { url, id } = await createFinal(partials.map((partial) => partial.url));
      // Its last bytes make the partial one `put`, no part upload.
      await finishPartial(partials[1]!, MiB);
      // R2 answers the first part of the assembly only when the test lets it.
      restoreUploadPart = afterEachPartUpload(async () => {
        partStored();
        await answered;
      });
      const assembling = runAlarm(id).then(
        () => undefined,
        (error: unknown) => error,
      );
      await stored;
      // The DELETE arrives while R2 has not yet answered for the part in flight.
      const deleting = send(url, { method: "DELETE", headers: TUS });
      await sleep(300);
      answer();
      const deleted = await within(8_000, "DELETE during assembly", deleting);
      expect(deleted.status, await bodyText(deleted)).toBe(204);
      const alarmError = await within(8_000, "the assembly step", assembling);
      expect(alarmError, "the assembly step ends quietly once its upload is gone").toBeUndefined();

      expect((await head(url)).status).toBe(410);
      await expectTombstoneOnly(id, "terminated");
      expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
    } finally {
      answer();
      restoreUploadPart();
      clock.restore();
    }
  });
});

describe("concatenation errors", () => {
  afterEach(() => expectNoServerErrors());

  /** A partial that has not finished, so no final upload built from it is assembled during the test. */
  async function unfinishedPartial(seed: number): Promise<PartialUpload> {
    const partial = await createPartial(randomBytes(10, seed));
    expect((await patch(partial.url, 0, partial.data.slice(0, 4))).status).toBe(204);
    return partial;
  }

  async function expectRefused(response: Response, status: number, message: RegExp): Promise<void> {
    const text = await response.text();
    expect(response.status, text).toBe(status);
    expect(text).toMatch(message);
    expect(response.headers.get("Location")).toBeNull();
  }

  it("PATCH on a final upload is refused with 403", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3300);
    const { url } = await createFinal([partial.url]);
    const response = await patch(url, 0, new Uint8Array(1));
    await expectRefused(response, 403, /final upload/);
    expect((await head(url)).headers.get("Upload-Offset")).toBeNull();
  });

  it.for<{ name: string; headers: Record<string, string> }>([
    { name: "Upload-Length", headers: { "Upload-Length": "10" } },
    { name: "Upload-Defer-Length", headers: { "Upload-Defer-Length": "1" } },
  ])("a final upload with $name is refused with 400", { timeout: TIMEOUT }, async ({ headers }) => {
    const partial = await unfinishedPartial(3301);
    await expectRefused(await postFinal([partial.url], headers), 400, /Upload-Length/);
  });

  it.for([
    { name: "no URL at all", value: "final;" },
    { name: "neither partial nor final", value: "both" },
    { name: "a URL outside the base path", value: "final;/elsewhere/AAAAAAAAAAAAAAAAAAAAAA" },
  ])("Upload-Concat with $name is refused with 400", { timeout: TIMEOUT }, async ({ value }) => {
    const response = await send(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Length": "10", "Upload-Concat": value } });
    await expectRefused(response, 400, /Upload-Concat/);
  });

  it("a final naming an upload that is not partial is refused with 400", { timeout: TIMEOUT }, async () => {
    const plain = await createUpload({ length: 3, body: new Uint8Array(3) });
    await expectRefused(await postFinal([plain.url]), 400, /not a partial upload/);
  });

  it("a final naming an unknown upload is refused with 400", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3302);
    await expectRefused(await postFinal([partial.url, `${COLLECTION}AAAAAAAAAAAAAAAAAAAAAA`]), 400, /Upload-Concat|AAAAAAAAAAAAAAAAAAAAAA/);
  });

  it("a final naming an upload of another host is refused with 400", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3303);
    const elsewhere = `https://other.example/files/${partial.id}`;
    await expectRefused(await postFinal([elsewhere]), 400, /not an upload of this server/);
  });

  it("a final naming the same partial twice is refused with 400", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3304);
    await expectRefused(await postFinal([partial.url, `/files/${partial.id}`]), 400, /more than once/);
  });

  it("a partial already claimed by another final is refused with 400", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3305);
    await createFinal([partial.url]);
    await expectRefused(await postFinal([partial.url]), 400, /another final upload/);
  });

  it("a final naming 101 partial uploads, one more than MAX_CONCAT_PARTIALS (100), is refused with 400 naming the cap", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3307);
    const urls = Array.from({ length: 101 }, () => partial.url);
    await expectRefused(await postFinal(urls), 400, /names 101 partial uploads; this server joins at most 100 \(MAX_CONCAT_PARTIALS\)/);
    // Nothing was claimed: the partial is still free.
    const retried = await postFinal([partial.url]);
    expect(retried.status, await bodyText(retried)).toBe(201);
  });

  it("two finals racing for one partial: exactly one is created, the other is refused with 400", { timeout: TIMEOUT }, async () => {
    for (let round = 0; round < 5; round++) {
      const partial = await unfinishedPartial(3320 + round);
      // A removed final's claim lingers on the partial. Each racer must ask
      // whether it is gone (an await), the window in which both could claim.
      const removed = await createFinal([partial.url]);
      expect((await send(removed.url, { method: "DELETE", headers: TUS })).status).toBe(204);

      const answers = await Promise.all([postFinal([partial.url]), postFinal([partial.url])]);
      const statuses = answers.map((response) => response.status).sort();
      expect(statuses, `round ${round}: ${await Promise.all(answers.map(bodyText))}`).toEqual([201, 400]);
      const winner = answers.find((response) => response.status === 201)!;
      const loser = answers.find((response) => response.status === 400)!;
      expect(await loser.text()).toMatch(/already belongs to another final upload/);
      expect(loser.headers.get("Location")).toBeNull();
      // The partial belongs to the winner, whose final is alive and waits for it.
      const state = await head(winner.headers.get("Location")!);
      expect(state.status).toBe(200);
      expect(state.headers.get("Upload-Concat")).toBe(`final;/files/${partial.id}`);
      await expectRefused(await postFinal([partial.url]), 400, /another final upload/);
    }
  });

  it("a final naming a partial of deferred length is refused with 400", { timeout: TIMEOUT }, async () => {
    const { url } = await createUpload({ deferred: true, headers: { "Upload-Concat": "partial" } });
    await expectRefused(await postFinal([url]), 400, /no length/);
  });

  it("a final whose partial is terminated before assembly is given up: it answers 410 and leaves nothing in R2", { timeout: TIMEOUT }, async () => {
    const done = await createPartial(randomBytes(10, 3310));
    await finishPartial(done);
    const pending = await unfinishedPartial(3311);
    const { url, id } = await createFinal([done.url, pending.url]);
    expect((await send(pending.url, { method: "DELETE", headers: TUS })).status).toBe(204);
    await driveUntilEnded(id);
    const state = await head(url);
    expect(state.status).toBe(410);
    await expectTombstoneOnly(id, "terminated");
    expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
  });

  it("a final whose partial's object was replaced by another writer's takes none of its bytes: it is given up (410) and leaves nothing in R2", { timeout: TIMEOUT }, async () => {
    const first = await createPartial(randomBytes(6 * MiB, 3320));
    const second = await createPartial(randomBytes(6 * MiB, 3321));
    await finishPartial(first);
    await finishPartial(second);
    // Another writer (here the test; with a shared key template, another upload) puts its own object at the partial's key.
    await env.BUCKET.put(`uploads/${second.id}`, randomBytes(6 * MiB, 3322));
    const { url, id } = await createFinal([first.url, second.url], (urls) => backgroundOnly.fetch(new Request(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Concat": `final;${urls.join(" ")}` } }), env));
    await driveUntilEnded(id);
    expect((await head(url)).status).toBe(410);
    expect(await env.BUCKET.head(`uploads/${id}`)).toBeNull();
    const multipart = await env.BUCKET.list({ prefix: `uploads/${id}`, include: [] });
    expect(multipart.objects).toEqual([]);
  });

  it("a partial whose final upload was terminated before assembly can join a new final upload", { timeout: TIMEOUT }, async () => {
    const partial = await unfinishedPartial(3312);
    const first = await createFinal([partial.url]);
    expect((await send(first.url, { method: "DELETE", headers: TUS })).status).toBe(204);
    const second = await postFinal([partial.url]);
    expect(second.status, await bodyText(second)).toBe(201);
  });

  it.for([
    { name: "an upload that is not partial", bad: async () => (await createUpload({ length: 3 })).url },
    { name: "an unknown upload", bad: async () => `${COLLECTION}AAAAAAAAAAAAAAAAAAAAAA` },
  ])("a refused final naming a good partial and $name leaves the good partial free for another final", { timeout: TIMEOUT }, async ({ bad }) => {
    const partial = await unfinishedPartial(3306);
    const refused = await postFinal([partial.url, await bad()]);
    expect(refused.status, await bodyText(refused)).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    await refused.arrayBuffer();
    const retried = await postFinal([partial.url]);
    expect(retried.status, await bodyText(retried)).toBe(201);
  });
});
