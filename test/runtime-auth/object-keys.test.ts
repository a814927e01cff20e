/**
 * Object keys from OBJECT_KEY_TEMPLATE `{subject}/{filename}` under the
 * default prefix `uploads/`. Filename and subject come from clients (the
 * metadata, the token), so whatever they hold, the finished object must land
 * in `uploads/<subject>/` as one plain segment: no `..` or `.` segment, no
 * control character, at most R2's 1,024 bytes. And since such keys are not
 * unique per upload, an existing object is never overwritten.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, expectNoServerErrors, head, MiB, patch, randomBytes, send, sha256Hex, TUS, uploadStub } from "../runtime/helpers";
import { createAs, downloadAs, expectError, objectKeyOf, postAs, TIMEOUT, uniqueSubject, uploadAs } from "./helpers";
import { bearer, tokenFor } from "./tokens";

afterEach(() => expectNoServerErrors());

const R2_MAX_KEY_BYTES = 1024;

/** Asserts `key` is one plain segment below `uploads/<subjectSegment>/`, and within R2's key limit. */
function expectContained(key: string, subjectSegment: string): void {
  const folder = `uploads/${subjectSegment}/`;
  expect(key.startsWith(folder), `${JSON.stringify(key)} is below ${folder}`).toBe(true);
  expect(key.slice(folder.length), "the filename is one segment").not.toMatch(/[/\\]/);
  expectPlainKey(key);
}

function expectPlainKey(key: string): void {
  const segments = key.split("/");
  expect(segments, `${JSON.stringify(key)} has no empty, "." or ".." segment`).not.toContain("..");
  expect(segments).not.toContain(".");
  expect(segments).not.toContain("");
  expect(key).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  expect(new TextEncoder().encode(key).length).toBeLessThanOrEqual(R2_MAX_KEY_BYTES);
}

/** Uploads a few bytes as `subject` with `filename`; answers the key of the finished object, after checking the object is there. */
async function finishedKey(subject: string, filename: string, extraClaims = {}): Promise<string> {
  const data = randomBytes(3, filename.length);
  const { id } = await uploadAs(await tokenFor(subject, extraClaims), data, { metadata: { filename } });
  const key = await objectKeyOf(id);
  const object = await env.BUCKET.head(key);
  expect(object, `R2 object ${JSON.stringify(key)}`).not.toBeNull();
  expect(object!.size).toBe(data.length);
  return key;
}

describe("filenames", () => {
  const FILENAMES: Array<{ name: string; filename: string; stored?: string }> = [
    { name: "a relative path that climbs out", filename: "../../etc/passwd", stored: "passwd" },
    { name: "an absolute path", filename: "/abs/path.txt", stored: "path.txt" },
    { name: "a NUL byte", filename: "a\u0000b", stored: "a_b" },
    { name: "CR LF and a tab", filename: "line\r\nbreak\there.txt", stored: "line_break_here.txt" },
    // The longest names that fit in this project's 512 bytes of metadata; 600 characters do not (below).
    { name: "340 characters", filename: "n".repeat(340), stored: "n".repeat(128) },
    { name: "150 two-byte characters", filename: "é".repeat(150) },
    { name: "only dot-dot", filename: "..", stored: "_" },
    { name: "only a dot", filename: "." },
    { name: "leading dots", filename: "...hidden" },
    { name: "fullwidth dots that normalise to dot-dot", filename: "\uff0e\uff0e" },
    { name: "an emoji", filename: "📦 parcel.bin", stored: "_parcel.bin" },
    { name: "a Windows path", filename: "C:\\x\\y.txt", stored: "y.txt" },
    { name: "a path that ends in a separator", filename: "dir/" },
    { name: "percent-encoded dot-dot", filename: "%2e%2e%2f%2e%2e" },
    { name: "a right-to-left override", filename: "evil\u202etxt.exe" },
    { name: "template braces", filename: "{id}{subject}" },
  ];

  for (const { name, filename, stored } of FILENAMES) {
    it(`a filename with ${name} stays one plain segment inside uploads/<subject>/`, { timeout: TIMEOUT }, async () => {
      const subject = uniqueSubject("keys");
      const key = await finishedKey(subject, filename);
      expectContained(key, subject);
      if (stored !== undefined) expect(key).toBe(`uploads/${subject}/${stored}`);
    });
  }

  it("a 600-character filename does not fit in 512 bytes of metadata: 413, and no object is written", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const response = await postAs(await tokenFor(subject), { length: 1, metadata: { filename: "n".repeat(600) } });
    await expectError(response, 413, /Upload-Metadata is \d+ bytes; .* at most 512/);
    expect((await env.BUCKET.list({ prefix: `uploads/${subject}/` })).objects).toEqual([]);
  });

  it("an upload without a filename is stored under its id", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const { id } = await uploadAs(await tokenFor(subject), randomBytes(2, 40));
    expect(await objectKeyOf(id)).toBe(`uploads/${subject}/${id}`);
  });
});

describe("subjects", () => {
  const SUBJECTS: Array<{ name: string; subject: string; notInto?: string }> = [
    { name: "a slash", subject: "team/alice" },
    { name: "dot-dot segments", subject: "../../root" },
    { name: "only dot-dot", subject: ".." },
    { name: "a path into another subject's folder", subject: "alice/../bob", notInto: "uploads/bob/" },
    { name: "2,000 characters", subject: "s".repeat(2000) },
    { name: "control characters and non-ASCII", subject: "usér\u0000\n名前" },
  ];

  for (const { name, subject, notInto } of SUBJECTS) {
    it(`a subject with ${name} becomes one plain segment below uploads/`, { timeout: TIMEOUT }, async () => {
      const filename = `${crypto.randomUUID()}.bin`;
      const key = await finishedKey(subject, filename);
      const match = key.match(/^uploads\/([^/]+)\/([^/]+)$/);
      expect(match, `${JSON.stringify(key)} is uploads/<subject>/<filename>`).not.toBeNull();
      expect(match![2]).toBe(filename);
      expectPlainKey(key);
      if (notInto) expect(key.startsWith(notInto)).toBe(false);
    });
  }


  it("two different subjects whose names sanitise alike do not share a folder", { timeout: TIMEOUT }, async () => {
    // Sanitising is lossy ("team/alice" and "team_alice" both become team_alice): the key must still tell them apart.
    const base = uniqueSubject("team");
    const filename = "plan.pdf";
    const first = await uploadAs(await tokenFor(`${base}/alice`), randomBytes(3, 45), { metadata: { filename } });
    const response = await postAs(await tokenFor(`${base}_alice`), { length: 3, metadata: { filename } });
    expect(response.status, `${await bodyText(response)} (another subject's object name must neither block nor be revealed)`).toBe(201);
    const second = response.headers.get("Location")!.split("/").pop()!;
    expect(await objectKeyOf(second)).not.toBe(await objectKeyOf(first.id));
  });
});

describe("token key prefixes", () => {
  it("a key_prefix claim of over 1,024 bytes still yields a key within R2's limit, or a refusal", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const keyPrefix = Array.from({ length: 12 }, (_, index) => `${index}`.padEnd(100, "p")).join("/");
    const token = await tokenFor(subject, { key_prefix: keyPrefix });
    const response = await postAs(token, { length: 3, metadata: { filename: "long.bin" } });
    if (response.status !== 201) {
      // Refusing the token's prefix is fine, as long as it is the client's error, explained.
      await expectError(response, response.status, /key_prefix|key/);
      expect(response.status).toBeGreaterThanOrEqual(400);
      return;
    }
    const url = response.headers.get("Location")!;
    const finished = await patch(url, 0, randomBytes(3, 41), bearer(token));
    expect(finished.status, await bodyText(finished)).toBe(204);
    const key = await objectKeyOf(url.split("/").pop()!);
    expectPlainKey(key);
    expect(await env.BUCKET.head(key)).not.toBeNull();
  });
});

describe("existing objects", () => {
  it("a second upload with the same subject and filename is refused with 409; the first object stays intact", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const token = await tokenFor(subject);
    const data = randomBytes(256 * 1024 + 5, 42);
    const first = await uploadAs(token, data, { metadata: { filename: "same.bin" } });
    const key = `uploads/${subject}/same.bin`;
    expect(await objectKeyOf(first.id)).toBe(key);

    // The key is not told: under another template it could name another subject's file.
    const refused = await expectError(await postAs(token, { length: 10, metadata: { filename: "same.bin" } }), 409, /an object already exists at this upload's key/);
    expect(refused).not.toContain("same.bin");
    // The same name through another path is the same key.
    await expectError(await postAs(token, { length: 10, metadata: { filename: "../other/same.bin" } }), 409, /already exists/);

    const stored = await env.BUCKET.get(key);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(data));
    const { response, bytes } = await downloadAs(token, first.url);
    expect(response.status).toBe(200);
    expect(bytes).toEqual(data);
  });

  it("of two uploads to the same key created before either finished, the second to finish is refused and the first object stays", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const token = await tokenFor(subject);
    const firstData = randomBytes(1000, 43);
    const secondData = randomBytes(1000, 44);
    const first = await createAs(token, { length: firstData.length, metadata: { filename: "race.bin" } });
    const second = await createAs(token, { length: secondData.length, metadata: { filename: "race.bin" } });
    const finishedFirst = await patch(first.url, 0, firstData, bearer(token));
    expect(finishedFirst.status, await bodyText(finishedFirst)).toBe(204);

    const refusal = await expectError(await patch(second.url, 0, secondData, bearer(token)), 409, /another object was stored at this upload's key/);
    expect(refusal).not.toContain("race.bin");
    const stored = await env.BUCKET.get(`uploads/${subject}/race.bin`);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(firstData));
  });
});

/** What an upload's Durable Object keeps. */
function storedUpload(id: string) {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    const sql = state.storage.sql;
    const upload = sql
      .exec<{ ended: string | null; multipart_id: string | null; metadata: string }>("SELECT ended, multipart_id, metadata FROM upload")
      .one();
    const count = (table: string) => sql.exec<{ rows: number }>(`SELECT COUNT(*) AS rows FROM ${table}`).one().rows;
    return { ...upload, parts: count("part"), tailRows: count("tail") };
  });
}

/**
 * Whether the upload's Durable Object means to wake up for anything but
 * delivering its events (to whatever sink is configured): a refused upload
 * has nothing else left to do, so its alarm is unset or set for when its
 * next event is due (give or take the moment between the two writes), not
 * for a retry seconds later.
 */
function wakesUpForMoreThanEvents(id: string): Promise<boolean> {
  return runInDurableObject(uploadStub(id), async (_instance, state) => {
    const alarm = await state.storage.getAlarm();
    const nextEvent = state.storage.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM event").one().due;
    return alarm !== null && (nextEvent === null || alarm > nextEvent + 1000);
  });
}

/** Every request on a refused upload gets the same 409 and message, for good. */
async function expectRefusedForGood(token: string, url: string, offset: number, key: string): Promise<void> {
  const refusal = /another object was stored at this upload's key before this upload could be completed.*cannot complete under that key.*bytes were released/;
  const first = await expectError(await patch(url, offset, new Uint8Array(1), bearer(token)), 409, refusal);
  expect(first).not.toContain(key);
  for (let again = 0; again < 2; again++) {
    expect((await head(url, { ...TUS, ...bearer(token) })).status).toBe(409);
    expect(await expectError(await patch(url, offset, new Uint8Array(1), bearer(token)), 409, refusal)).toBe(first);
    expect(await expectError(await send(url, { headers: bearer(token) }), 409, refusal)).toBe(first);
    expect(await expectError(await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } }), 409, refusal)).toBe(first);
  }
}

describe("an upload refused at completion because another object took its key", () => {
  it("ends for good: the same 409 on every request, its stored bytes dropped, and no retries scheduled", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const token = await tokenFor(subject);
    const key = `uploads/${subject}/refused.bin`;
    const firstData = randomBytes(2000, 50);
    const secondData = randomBytes(3000, 51);
    const first = await createAs(token, { length: firstData.length, metadata: { filename: "refused.bin" } });
    const second = await createAs(token, { length: secondData.length, metadata: { filename: "refused.bin" } });
    // Part of the second upload is stored before the first one takes the key.
    const partly = await patch(second.url, 0, secondData.slice(0, 1000), bearer(token));
    expect(partly.status, await bodyText(partly)).toBe(204);
    const finishedFirst = await patch(first.url, 0, firstData, bearer(token));
    expect(finishedFirst.status, await bodyText(finishedFirst)).toBe(204);

    await expectError(await patch(second.url, 1000, secondData.slice(1000), bearer(token)), 409, /another object was stored at this upload's key/);
    await expectRefusedForGood(token, second.url, 1000, key);
    const secondId = second.url.split("/").pop()!;
    expect(await storedUpload(secondId)).toEqual({ ended: "object-exists", multipart_id: null, metadata: "[]", parts: 0, tailRows: 0 });
    expect(await wakesUpForMoreThanEvents(secondId), "no retry is scheduled").toBe(false);
    await expectRefusedForGood(token, second.url, 1000, key);
    const stored = await env.BUCKET.get(key);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(firstData));
  });

  it("a multipart upload refused at completion has its R2 multipart upload aborted", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("keys");
    const token = await tokenFor(subject);
    const key = `uploads/${subject}/big.bin`;
    const firstData = randomBytes(1000, 52);
    const secondData = randomBytes(9 * MiB + 5, 53);
    const first = await createAs(token, { length: firstData.length, metadata: { filename: "big.bin" } });
    const second = await createAs(token, { length: secondData.length, metadata: { filename: "big.bin" } });
    const secondId = second.url.split("/").pop()!;
    // A first PATCH of 3 MiB keeps the 8 MiB part size; the second fills part 1, which goes to R2.
    for (const [from, to] of [
      [0, 3 * MiB],
      [3 * MiB, 8 * MiB + 100],
    ] as const) {
      const response = await patch(second.url, from, secondData.slice(from, to), bearer(token));
      expect(response.status, await bodyText(response)).toBe(204);
    }
    const multipartId = (await storedUpload(secondId)).multipart_id!;
    expect(multipartId).not.toBeNull();
    const finishedFirst = await patch(first.url, 0, firstData, bearer(token));
    expect(finishedFirst.status, await bodyText(finishedFirst)).toBe(204);

    await expectError(await patch(second.url, 8 * MiB + 100, secondData.slice(8 * MiB + 100), bearer(token)), 409, /another object was stored at this upload's key/);
    await expectRefusedForGood(token, second.url, 8 * MiB + 100, key);
    expect(await storedUpload(secondId)).toMatchObject({ ended: "object-exists", parts: 0, tailRows: 0 });
    expect(await wakesUpForMoreThanEvents(secondId), "no retry is scheduled").toBe(false);
    await expect(env.BUCKET.resumeMultipartUpload(key, multipartId).uploadPart(3, new Uint8Array(10)), "the multipart upload was aborted").rejects.toThrow(
      /does not exist/,
    );
    const stored = await env.BUCKET.get(key);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(firstData));
  });
});
