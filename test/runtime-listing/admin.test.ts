/**
 * Administration with a tus:admin token: one subject's uploads listed from
 * that subject's index (?subject=, no database needed), every subject's
 * from administration's D1 copy with the offsets of unfinished uploads from
 * their subjects' indexes; filters; one upload inspected as its Durable
 * Object holds it, any upload terminated; each call logged as an admin
 * call. Without the scope: 403.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { bodyText, COLLECTION, head, MiB, patch, send, TUS } from "../runtime/helpers";
import { bearer, claimsFor, signToken } from "../runtime-auth/tokens";
import { ADMIN_COLLECTION, adminToken, d1Row, eventually, indexRow, list, listAll, tokenFor, uniqueSubject, uploadAs, withAdminIndexDown } from "./helpers";

afterEach(() => vi.restoreAllMocks());

describe("administration", () => {
  it("needs the tus:admin scope, which grants nothing else", async () => {
    const ordinary = await tokenFor(uniqueSubject("gina"));
    const mine = await uploadAs(ordinary, "mine.txt", 10);
    for (const [method, url] of [["GET", ADMIN_COLLECTION], ["GET", `${ADMIN_COLLECTION}${mine.id}`], ["DELETE", `${ADMIN_COLLECTION}${mine.id}`]] as const) {
      const response = await send(url, { method, headers: bearer(ordinary) });
      expect(response.status).toBe(403);
      expect(await bodyText(response)).toMatch(/needs a token with the scope tus:admin/);
    }
    // An admin token alone may not upload, nor reach an upload through the tus URLs.
    const admin = await adminToken();
    const post = await send(COLLECTION, { method: "POST", headers: { ...TUS, ...bearer(admin), "Upload-Length": "1" } });
    expect(post.status).toBe(403);
    expect((await head(mine.url, { ...TUS, ...bearer(admin) })).status).toBe(403);
  });

  it("refuses a token bound to one upload, whatever its scopes, and reads nothing of the others", async () => {
    const victim = await tokenFor(uniqueSubject("kurt"));
    const victims = await uploadAs(victim, "victim.txt", 10);
    const attackerSubject = uniqueSubject("lars");
    const attackers = await uploadAs(await tokenFor(attackerSubject), "own.txt", 10);
    const bound = await signToken(claimsFor(attackerSubject, { scope: "tus:admin tus:download", upload_id: attackers.id }));
    for (const [method, url] of [["GET", ADMIN_COLLECTION], ["GET", `${ADMIN_COLLECTION}${victims.id}`], ["DELETE", `${ADMIN_COLLECTION}${victims.id}`]] as const) {
      const response = await send(url, { method, headers: bearer(bound) });
      expect(response.status, `${method} ${url}`).toBe(403);
      expect(await bodyText(response)).toMatch(/bound to one upload \(upload_id claim\): administration needs a token that is not/);
    }
    expect((await head(victims.url, { ...TUS, ...bearer(victim) })).status).toBe(200);
  });

  it("takes its token only from the Authorization header, never from ?access_token=", async () => {
    const victim = await tokenFor(uniqueSubject("mona"));
    const victims = await uploadAs(victim, "victim.txt", 10);
    const admin = await adminToken();
    for (const url of [ADMIN_COLLECTION, `${ADMIN_COLLECTION}${victims.id}`]) {
      const response = await send(`${url}?access_token=${admin}`);
      expect(response.status, url).toBe(401);
      expect(await bodyText(response)).toMatch(/administration takes its token only from the Authorization header/);
    }
    // DELETE takes no query token at all (only GET does, for download links).
    const remove = await send(`${ADMIN_COLLECTION}${victims.id}?access_token=${admin}`, { method: "DELETE" });
    expect(remove.status).toBe(401);
    expect((await head(victims.url, { ...TUS, ...bearer(victim) })).status).toBe(200);
    // Nor does a subject's own listing.
    const own = await send(`${COLLECTION}?access_token=${victim}`);
    expect(own.status).toBe(401);
    expect(await bodyText(own)).toMatch(/listing uploads takes its token only from the Authorization header/);
  });

  it("lists every subject's uploads, filtered by subject, state, creation time and size", async () => {
    const [h, i] = [uniqueSubject("hana"), uniqueSubject("ivan")];
    const before = Date.now() - 1;
    const small = await uploadAs(await tokenFor(h), "small.txt", 100, 10);
    const large = await uploadAs(await tokenFor(i), "large.bin", 2 * MiB);
    // Across subjects comes from D1, which hears of creations and ends about a second later.
    await eventually("in D1", () => d1Row(small.id), (row) => row !== null);
    await eventually("finished in D1", () => d1Row(large.id), (row) => row?.state === "finished");
    const admin = await adminToken();
    const afterQuery = `created_after=${new Date(before).toISOString()}&limit=200`;
    const both = (await listAll(admin, afterQuery, ADMIN_COLLECTION)).map((entry) => entry.id);
    expect(both).toEqual(expect.arrayContaining([small.id, large.id]));
    const ofH = await list(admin, `?subject=${h}`, ADMIN_COLLECTION);
    expect(ofH.uploads.map((entry) => [entry.id, entry.subject])).toEqual([[small.id, h]]);
    expect((await listAll(admin, `${afterQuery}&min_size=${MiB}`, ADMIN_COLLECTION)).map((entry) => entry.id)).toContain(large.id);
    expect((await listAll(admin, `${afterQuery}&min_size=${MiB}`, ADMIN_COLLECTION)).map((entry) => entry.id)).not.toContain(small.id);
    expect((await listAll(admin, `${afterQuery}&state=finished`, ADMIN_COLLECTION)).map((entry) => entry.id)).not.toContain(small.id);
    expect((await list(admin, `?subject=${h}&created_before=${before}`, ADMIN_COLLECTION)).uploads).toEqual([]);
  });

  it("lists one subject's uploads (?subject=) from that subject's index, with live offsets and no database", async () => {
    const subject = uniqueSubject("lena");
    const token = await tokenFor(subject);
    const admin = await adminToken();
    const other = await uploadAs(await tokenFor(uniqueSubject("mats")), "not-hers.bin", 100, 10);
    // D1 failing all along: a subject's listing does not read it.
    await withAdminIndexDown(async () => {
      const done = await uploadAs(token, "done.bin", 200);
      const partial = await uploadAs(token, "partial.bin", 1000, 250);
      const page = await eventually(
        "listed",
        async () => (await list(admin, `?subject=${subject}`, ADMIN_COLLECTION)).uploads,
        (entries) => entries.length === 2 && entries[0]?.offset === 250 && entries[1]?.state === "finished",
      );
      expect(page).toEqual([
        expect.objectContaining({ id: partial.id, subject, state: "unfinished", offset: 250, length: 1000, metadata: { filename: "partial.bin" } }),
        expect.objectContaining({ id: done.id, subject, state: "finished", offset: 200, length: 200, metadata: { filename: "done.bin" } }),
      ]);
      expect(page.map((entry) => entry.id)).not.toContain(other.id);
      // The same filters as across subjects, and the cursor.
      expect((await list(admin, `?subject=${subject}&state=finished`, ADMIN_COLLECTION)).uploads.map((entry) => entry.id)).toEqual([done.id]);
      expect((await list(admin, `?subject=${subject}&min_size=500`, ADMIN_COLLECTION)).uploads.map((entry) => entry.id)).toEqual([partial.id]);
      const first = await list(admin, `?subject=${subject}&limit=1`, ADMIN_COLLECTION);
      expect(first.uploads.map((entry) => entry.id)).toEqual([partial.id]);
      expect((await listAll(admin, `subject=${subject}&limit=1`, ADMIN_COLLECTION)).map((entry) => entry.id)).toEqual([partial.id, done.id]);
      // The offset moves with the upload, no D1 row involved.
      const more = await patch(partial.url, 250, new Uint8Array(100), bearer(token));
      expect(more.status, await bodyText(more)).toBe(204);
      await eventually("live offset", async () => (await list(admin, `?subject=${subject}`, ADMIN_COLLECTION)).uploads[0], (entry) => entry?.offset === 350);
    });
  });

  it("lists every subject from D1, with an unfinished upload's offset from its subject's index rather than D1's", async () => {
    const subject = uniqueSubject("nils");
    const token = await tokenFor(subject);
    const before = Date.now() - 1;
    const upload = await uploadAs(token, "growing.bin", 1000, 0);
    await eventually("created in D1", () => d1Row(upload.id), (row) => row !== null);
    const more = await patch(upload.url, 0, new Uint8Array(600), bearer(token));
    expect(more.status, await bodyText(more)).toBe(204);
    await eventually("progress in the subject's index", () => indexRow(subject, upload.id), (row) => row?.offset_bytes === 600);
    const admin = await adminToken();
    const everyone = await listAll(admin, `created_after=${before}&limit=200`, ADMIN_COLLECTION);
    expect(everyone.find((entry) => entry.id === upload.id)).toMatchObject({ subject, state: "unfinished", offset: 600, length: 1000, metadata: { filename: "growing.bin" } });
    // D1 itself still says 0: it never hears of progress.
    expect(await d1Row(upload.id)).toMatchObject({ state: "unfinished", offset_bytes: 0 });
    // Filters read D1's row (state), the page shows the subject index's.
    expect((await listAll(admin, `created_after=${before}&state=unfinished&limit=200`, ADMIN_COLLECTION)).find((entry) => entry.id === upload.id)?.offset).toBe(600);
  });

  it("inspects an upload as its Durable Object holds it, and logs the call as an admin's", async () => {
    const owner = uniqueSubject("jade");
    const ownerToken = await tokenFor(owner);
    // A first PATCH of 9 MiB makes the part size 9 MiB (one part stored); 100,000 bytes more wait in the tail.
    const upload = await uploadAs(ownerToken, "big.bin", 20 * MiB, 9 * MiB);
    const more = await patch(upload.url, 9 * MiB, new Uint8Array(100_000), bearer(ownerToken));
    expect(more.status, await bodyText(more)).toBe(204);
    const log = vi.spyOn(console, "log");
    const response = await send(`${ADMIN_COLLECTION}${upload.id}`, { headers: bearer(await adminToken()) });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const inspection = JSON.parse(text);
    expect(inspection).toMatchObject({
      id: upload.id,
      owner,
      state: "unfinished",
      offset: 9 * MiB + 100_000,
      length: 20 * MiB,
      partSize: 9 * MiB,
      partsStored: 1,
      partBytes: 9 * MiB,
      tailBytes: 100_000,
      multipartId: expect.any(String),
      metadata: { filename: "big.bin" },
    });
    expect(Array.isArray(inspection.undeliveredEvents)).toBe(true);
    const adminLines = log.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"admin":true'));
    expect(adminLines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ admin: true, method: "GET", path: `/admin/uploads/${upload.id}`, status: 200 }),
    );
    expect(adminLines.join("\n")).not.toMatch(/Bearer|eyJ/);
  });

  it("terminates any subject's upload by the ordinary termination path", async () => {
    const owner = uniqueSubject("kim");
    const ownerToken = await tokenFor(owner);
    const upload = await uploadAs(ownerToken, "doomed.bin", 1000, 400);
    const admin = await adminToken();
    const response = await send(`${ADMIN_COLLECTION}${upload.id}`, { method: "DELETE", headers: bearer(admin) });
    expect(response.status, await bodyText(response)).toBe(204);
    expect((await head(upload.url, { ...TUS, ...bearer(ownerToken) })).status).toBe(410);
    await eventually("terminated in the subject's index", () => indexRow(owner, upload.id), (row) => row?.state === "terminated");
    await eventually("terminated in D1", () => d1Row(upload.id), (row) => row?.state === "terminated");
    expect((await list(ownerToken, "?state=terminated")).uploads.map((entry) => entry.id)).toEqual([upload.id]);
    const unknown = await send(`${ADMIN_COLLECTION}AAAAAAAAAAAAAAAAAAAAAA`, { headers: bearer(admin) });
    expect(unknown.status).toBe(404);
  });

  it("lists a page of 200 uploads of one subject across subjects: their rows are asked of the subject's index in statements of at most 100 ids", async () => {
    // A Durable Object's SQL statement takes at most 100 bound parameters; a page holds up to 200 uploads.
    const subject = uniqueSubject("many");
    const token = await tokenFor(subject);
    const created: Awaited<ReturnType<typeof uploadAs>>[] = [];
    for (let batch = 0; batch < 15; batch++) created.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => uploadAs(token, `f-${batch}-${i}.bin`, 100, 0)))));
    const ids = new Set(created.map((upload) => upload.id));
    await eventually("every creation in D1", () => Promise.all(created.map((upload) => d1Row(upload.id))), (rows) => rows.every((row) => row !== null), 30_000);
    const admin = await adminToken();
    const page = await list(admin, `?limit=200&created_after=${Date.now() - 120_000}`, ADMIN_COLLECTION);
    const mine = page.uploads.filter((entry) => ids.has(entry.id));
    expect(mine).toHaveLength(150);
    expect(mine.every((entry) => entry.subject === subject && entry.state === "unfinished" && entry.length === 100)).toBe(true);
  }, 90_000);
});
