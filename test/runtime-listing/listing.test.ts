/**
 * GET <BASE_PATH> lists the caller's own uploads from the index: newest
 * first, in pages with a cursor, filtered by state and file name; another
 * subject's uploads never appear.
 */
import { describe, expect, it } from "vitest";
import { bodyText, COLLECTION, head, send, TUS, type CreatedUpload } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import { eventually, indexRow, list, listAll, tokenFor, uniqueSubject, uploadAs } from "./helpers";

describe("listing one's own uploads", () => {
  it("pages through every upload newest first, with each entry's fields", async () => {
    const token = await tokenFor(uniqueSubject("dana"));
    const created: CreatedUpload[] = [];
    for (let n = 0; n < 5; n++) created.push(await uploadAs(token, `file-${n}.bin`, 1000, n === 4 ? 1000 : 200));
    for (const upload of created) await eventually("indexed", () => indexRow(upload.id), (row) => row !== null && row.offset_bytes > 0);
    await eventually("finished indexed", () => indexRow(created[4]!.id), (row) => row?.state === "finished");

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
    const token = await tokenFor(uniqueSubject("eve"));
    const done = await uploadAs(token, "done.mp4", 300);
    const partial = await uploadAs(token, "video.mp4", 300, 100);
    await eventually("indexed", () => indexRow(done.id), (row) => row?.state === "finished");
    await eventually("indexed", () => indexRow(partial.id), (row) => row?.offset_bytes === 100);

    expect((await list(token, "?state=unfinished")).uploads.map((entry) => entry.id)).toEqual([partial.id]);
    expect((await list(token, "?state=finished")).uploads.map((entry) => entry.id)).toEqual([done.id]);
    expect((await list(token, "?filename=video.mp4")).uploads.map((entry) => entry.id)).toEqual([partial.id]);
    expect((await list(token, "?filename=other.mp4")).uploads).toEqual([]);
  });

  it("shows a subject only its own uploads", async () => {
    const alice = await tokenFor(uniqueSubject("alice"));
    const bob = await tokenFor(uniqueSubject("bob"));
    const hers = await uploadAs(alice, "hers.txt", 100, 50);
    const his = await uploadAs(bob, "his.txt", 100, 50);
    await eventually("indexed", () => indexRow(hers.id), (row) => row !== null);
    await eventually("indexed", () => indexRow(his.id), (row) => row !== null);
    expect((await listAll(alice, "limit=200")).map((entry) => entry.id)).toEqual([hers.id]);
    expect((await listAll(bob, "limit=200")).map((entry) => entry.id)).toEqual([his.id]);
    // The index's subject is no key to another's upload: still 404 for Bob.
    expect((await head(hers.url, { ...TUS, ...bearer(bob) })).status).toBe(404);
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
