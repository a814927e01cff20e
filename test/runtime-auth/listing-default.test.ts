/**
 * Listing is on by default with AUTH_MODE=jwt: this project runs the root
 * wrangler.toml as it is (SUBJECTS bound, no D1 database), and a subject
 * lists its uploads with nothing created and no line uncommented.
 * Administration lists one subject (?subject=) from that subject's index;
 * across subjects it needs D1, and says so (400).
 */
import { describe, expect, it } from "vitest";
import { bodyText, COLLECTION, ORIGIN, patch, send, sleep } from "../runtime/helpers";
import { bearer, claimsFor, signToken } from "./tokens";
import { createAs, uniqueSubject, uploadAs } from "./helpers";
import type { ListedUpload, Listing } from "../../src/listing/listing-answer";

const ADMIN_COLLECTION = `${ORIGIN}/admin/uploads/`;

async function listing(token: string, url: string): Promise<ListedUpload[]> {
  const response = await send(url, { headers: bearer(token) });
  const text = await bodyText(response);
  expect(response.status, text).toBe(200);
  expect(response.headers.get("Content-Type")).toBe("application/json");
  return (JSON.parse(text) as Listing).uploads;
}

/** The listing once `ready` holds: the index trails the uploads by their outbox's delivery. */
async function listingWhen(token: string, url: string, ready: (entries: ListedUpload[]) => boolean): Promise<ListedUpload[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const entries = await listing(token, url);
    if (ready(entries)) return entries;
    if (Date.now() > deadline) throw new Error(`GET ${url}: not as expected within 15 s: ${JSON.stringify(entries)}`);
    await sleep(100);
  }
}

describe("listing with the root wrangler.toml and AUTH_MODE=jwt", () => {
  it("lists a subject's own uploads with their offsets, and only theirs", async () => {
    const subject = uniqueSubject("uma");
    const token = await signToken(claimsFor(subject));
    const done = await uploadAs(token, new Uint8Array(300).fill(1), { metadata: { filename: "done.bin" } });
    const partial = await createAs(token, { length: 1000, metadata: { filename: "partial.bin" } });
    const sent = await patch(partial.url, 0, new Uint8Array(400), bearer(token));
    expect(sent.status, await bodyText(sent)).toBe(204);
    const stranger = await signToken(claimsFor(uniqueSubject("vera")));
    await createAs(stranger, { length: 10, metadata: { filename: "hers.bin" } });

    const mine = await listingWhen(token, COLLECTION, (entries) => entries.length === 2 && entries[0]?.offset === 400 && entries[1]?.state === "finished");
    expect(mine).toEqual([
      expect.objectContaining({ id: partial.id, url: partial.url, state: "unfinished", offset: 400, length: 1000, metadata: expect.objectContaining({ filename: "partial.bin" }) }),
      expect.objectContaining({ id: done.id, url: done.url, state: "finished", offset: 300, length: 300, metadata: expect.objectContaining({ filename: "done.bin" }) }),
    ]);
    // A subject's own listing names no subject.
    expect(mine[0]).not.toHaveProperty("subject");
    expect((await listing(token, `${COLLECTION}?state=finished`)).map((entry) => entry.id)).toEqual([done.id]);
  });

  it("lets an administrator list one subject (?subject=) without D1, and says how to list across subjects (400)", async () => {
    const subject = uniqueSubject("wim");
    const token = await signToken(claimsFor(subject));
    const upload = await createAs(token, { length: 500, metadata: { filename: "w.bin" } });
    const admin = await signToken(claimsFor(uniqueSubject("operator"), { scope: "tus:admin" }));

    const ofSubject = await listingWhen(admin, `${ADMIN_COLLECTION}?subject=${subject}`, (entries) => entries.length === 1);
    expect(ofSubject).toEqual([expect.objectContaining({ id: upload.id, subject, state: "unfinished", offset: 0, length: 500 })]);

    const across = await send(ADMIN_COLLECTION, { headers: bearer(admin) });
    const text = await bodyText(across);
    expect(across.status, text).toBe(400);
    expect(text).toMatch(/bound as INDEX/);
    expect(text).toMatch(/\?subject=/);
    // Filters alone do not make it a subject's listing.
    const filtered = await send(`${ADMIN_COLLECTION}?state=unfinished`, { headers: bearer(admin) });
    expect(filtered.status, await bodyText(filtered)).toBe(400);
  });
});
