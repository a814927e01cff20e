/**
 * A quota's refusal in both dialects: tus 1.0 and the IETF draft (every
 * interop version's creation, POST and PUT, with and without a body) get a
 * 403 whose text names the quota, its limit and what the subject uses, and
 * nothing is created, not even from a creation that carries the upload's
 * first bytes (creation-with-upload) or all of them.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { ietf } from "../lib/wire";
import { bodyText, COLLECTION, expectNoServerErrors, send } from "../runtime/helpers";
import { VERSIONS } from "../runtime/rufh/helpers";
import { bearer } from "../runtime-auth/tokens";
import { ACTIVE_BYTES, ACTIVE_UPLOADS, create, entriesOf, expectRefusal, MAX_ACTIVE_BYTES, MiB, post, STORED_BYTES, TIMEOUT, tokenFor, uniqueSubject, usageBecomes, usageOf } from "./helpers";

afterEach(() => expectNoServerErrors());

describe("a refusal in the tus dialect", () => {
  it("of a creation-with-upload (POST with a body) is 403 and stores none of the body", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("with-body");
    const token = await tokenFor(subject, { max_active_uploads: 1 });
    const kept = await create(token, { length: 100 });
    const before = await env.BUCKET.list({ prefix: "uploads/" });
    const refused = await post(token, { length: 2 * MiB, body: new Uint8Array(2 * MiB).fill(9) });
    await expectRefusal(refused, { ...ACTIVE_UPLOADS, limit: 1, used: 1 });
    expect((await entriesOf(subject)).map((entry) => entry.id)).toEqual([kept.id]);
    expect(await usageOf(subject)).toEqual({ activeUploads: 1, activeBytes: 100, storedBytes: 100 });
    // No object appeared for it (objects are named by upload id under uploads/).
    const after = await env.BUCKET.list({ prefix: "uploads/" });
    expect(after.objects.map((object) => object.key).filter((key) => !before.objects.some((old) => old.key === key))).toEqual([]);
  });

  it("of a deferred length with no byte of room names the bytes quota and the one byte it needed", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("deferred-full");
    const token = await tokenFor(subject);
    await create(token, { length: MAX_ACTIVE_BYTES });
    const text = await expectRefusal(await post(token, { deferred: true }), { ...ACTIVE_BYTES, limit: MAX_ACTIVE_BYTES, used: MAX_ACTIVE_BYTES });
    expect(text).toContain("this upload needs 1 more");
  });

  // The partials count as stored until the final's assembly deletes them (CONCAT_DELETES_PARTIALS), so a final
  // needs room for its length beside them.
  it("of a final upload of a concatenation, when the partials' stored bytes leave no room for it, creates no final", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("concat");
    const token = await tokenFor(subject, { max_active_uploads: 10, max_active_bytes: 100, max_stored_bytes: 100 });
    const partials = [];
    for (const part of ["a", "b"]) {
      const created = await create(token, { length: 30, headers: { "Upload-Concat": "partial" } });
      const sent = await send(created.url, {
        method: "PATCH",
        headers: { "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0", ...bearer(token) },
        body: part.repeat(30),
      });
      expect(sent.status, await bodyText(sent)).toBe(204);
      partials.push(created.url);
    }
    // Once the subject's index heard they finished, the partials count 60 bytes stored (none active)
    // and leave 40 bytes of the stored quota: the final needs 60.
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 60 });
    const final = await send(COLLECTION, {
      method: "POST",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Concat": `final;${partials.map((url) => new URL(url).pathname).join(" ")}`, ...bearer(token) },
    });
    const text = await bodyText(final);
    expect(final.status, text).toBe(403);
    expect(text).toContain(STORED_BYTES.variable);
    expect(text).toContain("this upload needs 60 more");
    expect((await entriesOf(subject)).length).toBe(2);
  });
});

describe("a refusal in the IETF dialect", () => {
  it.each(VERSIONS)("at interop version %i: POST and PUT creations, with and without the whole body, are 4xx naming the quota, and create nothing", { timeout: TIMEOUT }, async (version) => {
    const subject = uniqueSubject(`ietf-${version}`);
    const token = await tokenFor(subject, { max_active_uploads: 1 });
    const first = await send(COLLECTION, ietf.create(version, { complete: false, body: "abc", headers: { ...bearer(token), "Content-Type": "application/octet-stream" } }));
    expect(first.status, await bodyText(first)).toBeLessThan(300);
    const kept = first.headers.get("Location")!;
    for (const method of ["POST", "PUT"] as const) {
      for (const complete of [false, true]) {
        const refused = await send(COLLECTION, ietf.create(version, { method, complete, body: "hello", headers: { ...bearer(token), "Content-Type": "application/octet-stream" } }));
        const text = await bodyText(refused);
        expect(refused.status, `${method} complete=${complete}: ${text}`).toBe(403);
        expect(refused.headers.get("Location")).toBeNull();
        expect(text).toContain(ACTIVE_UPLOADS.variable);
        expect(text).toContain(ACTIVE_UPLOADS.claim);
        expect(text).toContain("allows 1 ");
        expect(text).toContain("this subject has 1");
      }
    }
    expect((await entriesOf(subject)).map((entry) => entry.id)).toEqual([new URL(kept).pathname.split("/").pop()]);
    expect(await usageOf(subject)).toMatchObject({ activeUploads: 1 });
  });

  it("refuses an IETF creation whose declared length is over the bytes quota, naming it", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("ietf-bytes");
    const token = await tokenFor(subject, { max_active_bytes: 1000 });
    const refused = await send(COLLECTION, ietf.create(8, { complete: false, headers: { ...bearer(token), "Upload-Length": "1001" } }));
    const text = await bodyText(refused);
    expect(refused.status, text).toBe(403);
    expect(text).toContain(ACTIVE_BYTES.variable);
    expect(text).toContain("allows 1000 ");
    expect(text).toContain("this upload needs 1001 more");
    expect(await entriesOf(subject)).toEqual([]);
  });
});
