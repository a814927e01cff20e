/**
 * GET <BASE_PATH> lists the caller's own uploads from their subject's index
 * (a SubjectIndex Durable Object; no database involved): newest first, in
 * pages with a cursor, filtered by state and file name, with each upload's
 * live offset; another subject's uploads never appear.
 */
import { describe, expect, it, vi } from "vitest";
import { bodyText, COLLECTION, head, patch, send, TUS, type CreatedUpload } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import { eventually, indexRow, list, listAll, tokenFor, uniqueSubject, uploadAs, withAdminIndexDown, withIndexDown } from "./helpers";

describe("listing one's own uploads", () => {
  it("pages through every upload newest first, with each entry's fields", async () => {
    const subject = uniqueSubject("dana");
    const token = await tokenFor(subject);
    const created: CreatedUpload[] = [];
    for (let n = 0; n < 5; n++) created.push(await uploadAs(token, `file-${n}.bin`, 1000, n === 4 ? 1000 : 200));
    for (const upload of created) await eventually("indexed", () => indexRow(subject, upload.id), (row) => row !== null && row.offset_bytes > 0);
    await eventually("finished indexed", () => indexRow(subject, created[4]!.id), (row) => row?.state === "finished");

    const first = await list(token, "?limit=2");
    expect(first.uploads).toHaveLength(2);
    expect(first.next).toEqual(expect.any(String));
    const all = await listAll(token, "limit=2");
    expect(all.map((entry) => entry.id)).toEqual(created.map((upload) => upload.id).reverse());
    expect(all[0]).toMatchObject({ id: created[4]!.id, url: created[4]!.url, length: 1000, offset: 1000, state: "finished", metadata: { filename: "file-4.bin" } });
    expect(all[1]).toMatchObject({ state: "unfinished", offset: 200, metadata: { filename: "file-3.bin" } });
    expect(Date.parse(all[1]!.expires!)).toBeGreaterThan(Date.now());
    for (const entry of all) expect(Date.parse(entry.updated)).toBeGreaterThanOrEqual(Date.parse(entry.created));
  });

  it("filters by state and by file name", async () => {
    const subject = uniqueSubject("eve");
    const token = await tokenFor(subject);
    const done = await uploadAs(token, "done.mp4", 300);
    const partial = await uploadAs(token, "video.mp4", 300, 100);
    await eventually("indexed", () => indexRow(subject, done.id), (row) => row?.state === "finished");
    await eventually("indexed", () => indexRow(subject, partial.id), (row) => row?.offset_bytes === 100);

    expect((await list(token, "?state=unfinished")).uploads.map((entry) => entry.id)).toEqual([partial.id]);
    expect((await list(token, "?state=finished")).uploads.map((entry) => entry.id)).toEqual([done.id]);
    expect((await list(token, "?filename=video.mp4")).uploads.map((entry) => entry.id)).toEqual([partial.id]);
    expect((await list(token, "?filename=other.mp4")).uploads).toEqual([]);
  });

  it("shows a subject only its own uploads", async () => {
    const [aliceSubject, bobSubject] = [uniqueSubject("alice"), uniqueSubject("bob")];
    const alice = await tokenFor(aliceSubject);
    const bob = await tokenFor(bobSubject);
    const hers = await uploadAs(alice, "hers.txt", 100, 50);
    const his = await uploadAs(bob, "his.txt", 100, 50);
    await eventually("indexed", () => indexRow(aliceSubject, hers.id), (row) => row !== null);
    await eventually("indexed", () => indexRow(bobSubject, his.id), (row) => row !== null);
    // Each in its own subject's index only.
    expect(await indexRow(bobSubject, hers.id)).toBeNull();
    expect(await indexRow(aliceSubject, his.id)).toBeNull();
    expect((await listAll(alice, "limit=200")).map((entry) => entry.id)).toEqual([hers.id]);
    expect((await listAll(bob, "limit=200")).map((entry) => entry.id)).toEqual([his.id]);
    // The index's subject is no key to another's upload: still 404 for Bob.
    expect((await head(hers.url, { ...TUS, ...bearer(bob) })).status).toBe(404);
  });

  it("needs no database: with administration's D1 copy failing, a subject still lists its uploads with their live offsets", async () => {
    const subject = uniqueSubject("gus");
    const token = await tokenFor(subject);
    await withAdminIndexDown(async () => {
      const upload = await uploadAs(token, "offline.bin", 1000, 300);
      const [entry] = await eventually("listed", async () => (await list(token)).uploads, (entries) => entries[0]?.offset === 300);
      expect(entry).toMatchObject({ id: upload.id, state: "unfinished", offset: 300, length: 1000, metadata: { filename: "offline.bin" } });
      const more = await patch(upload.url, 300, new Uint8Array(700), bearer(token));
      expect(more.status, await bodyText(more)).toBe(204);
      await eventually("finished in the listing", async () => (await list(token)).uploads, (entries) => entries[0]?.state === "finished" && entries[0].offset === 1000);
    });
  });

  it("answers 503 with Retry-After, and a ListingIndexError line, while the subject's index cannot answer; the uploads are untouched", async () => {
    const subject = uniqueSubject("hana");
    const token = await tokenFor(subject);
    const upload = await uploadAs(token, "kept.bin", 300, 100);
    await eventually("indexed", () => indexRow(subject, upload.id), (row) => row?.offset_bytes === 100);
    const errors = vi.spyOn(console, "error");
    try {
      const refused = await withIndexDown(subject, () => send(COLLECTION, { headers: bearer(token) }));
      expect(refused.status).toBe(503);
      expect(refused.headers.get("Retry-After")).toBe("1");
      expect(await bodyText(refused)).toMatch(/the subject's index did not answer.*retry/);
      expect(errors.mock.calls.map((call) => String(call[0])).some((line) => line.includes('"event":"ListingIndexError"'))).toBe(true);
    } finally {
      errors.mockRestore();
    }
    const resumed = await head(upload.url, { ...TUS, ...bearer(token) });
    expect(resumed.headers.get("Upload-Offset")).toBe("100");
    expect((await list(token)).uploads.map((entry) => entry.id)).toEqual([upload.id]);
  });

  it("answers a bad query, a missing token or a narrow token with a 4xx that says why", async () => {
    const token = await tokenFor(uniqueSubject("frank"));
    const cases: Array<[string, Record<string, string>, number, RegExp]> = [
      ["?state=paused", bearer(token), 400, /\?state= must be one of unfinished, finished/],
      ["?limit=500", bearer(token), 400, /\?limit= must be a whole number from 1 to 200/],
      ["?cursor=nonsense", bearer(token), 400, /not a cursor this server gave out/],
      ["?subject=someone", bearer(token), 400, /\?subject= is for administrators/],
      ["?colour=red", bearer(token), 400, /unknown query parameter \?colour=/],
      ["", {}, 401, /bearer token/],
      ["", bearer(await tokenFor("frank", "tus:delete")), 403, /scope tus:upload, tus:download or tus:admin/],
    ];
    for (const [query, headers, status, message] of cases) {
      const response = await send(`${COLLECTION}${query}`, { headers });
      const text = await bodyText(response);
      expect(response.status, `${query}: ${text}`).toBe(status);
      expect(text).toMatch(message);
    }
  });
});
