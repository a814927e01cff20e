/**
 * Tokens that travel in URLs, and the form recommended for download links.
 *
 * A `?access_token=` ends up in logs, browser history and Referer headers,
 * so it must expire: one without `exp` is refused (a token in the
 * Authorization header may still lack it). A token with an `upload_id` claim
 * reaches that one upload only: any other upload, even its subject's own,
 * does not exist for it (404 exactly like an unknown upload), and it creates
 * none. Downloads are answered `Cache-Control: private, no-store`, so no
 * cache keeps a copy that a token once unlocked.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { COLLECTION, expectDownloadEquals, expectNoServerErrors, patch, randomBytes, send, TUS, uploadIdOf } from "../runtime/helpers";
import { createAs, expectError, FILETYPE, metadataHeader, TIMEOUT, unknownUploadUrl, uniqueSubject, uploadAs } from "./helpers";
import { bearer, claimsFor, signToken, tokenFor } from "./tokens";

afterEach(() => expectNoServerErrors());

/** A token valid for `subject` with no `exp` claim at all. */
function tokenWithoutExpiry(subject: string, extra: Record<string, unknown> = {}): Promise<string> {
  const { exp: _exp, ...claims } = claimsFor(subject, extra);
  return signToken(claims);
}

/** Status, body and headers, with upload ids replaced so answers about different uploads compare. */
async function answerOf(response: Response, ids: string[]): Promise<{ status: number; body: string; headers: Array<[string, string]> }> {
  const hide = (text: string) => ids.reduce((result, id) => result.replaceAll(id, "<id>"), text);
  return {
    status: response.status,
    body: hide(await response.text()),
    headers: [...response.headers].filter(([name]) => name !== "date").map(([name, value]) => [name, hide(value)] as [string, string]),
  };
}

describe("exp and where a token travels", () => {
  let subject: string;
  let url: string;
  const data = randomBytes(20, 21);

  beforeAll(async () => {
    subject = uniqueSubject("linker");
    url = (await uploadAs(await tokenFor(subject), data)).url;
  }, TIMEOUT);

  it("refuses a ?access_token= without exp with 401 invalid_token saying that it needs one", { timeout: TIMEOUT }, async () => {
    const token = await tokenWithoutExpiry(subject);
    const response = await send(`${url}?access_token=${token}`);
    const text = await expectError(response, 401, /in \?access_token= must have an exp claim/);
    expect(response.headers.get("WWW-Authenticate")).toMatch(/error="invalid_token", error_description="[^"]*exp claim[^"]*"/);
    expect(text).not.toContain(token);
  });

  it("still accepts the same token without exp in the Authorization header", { timeout: TIMEOUT }, async () => {
    const token = await tokenWithoutExpiry(subject);
    const response = await send(url, { headers: bearer(token) });
    expect(response.status).toBe(200);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(data);
  });

  it("accepts a ?access_token= that expires in a few minutes", { timeout: TIMEOUT }, async () => {
    const token = await signToken(claimsFor(subject, { exp: Math.floor(Date.now() / 1000) + 300 }));
    await expectDownloadEquals(`${url}?access_token=${token}`, data);
  });

  it("refuses a ?access_token= valid for longer than an hour (QUERY_TOKEN_MAX_LIFETIME_SECONDS), saying so, and takes it in the header", { timeout: TIMEOUT }, async () => {
    const tenYears = await signToken(claimsFor(subject, { exp: Math.floor(Date.now() / 1000) + 10 * 365 * 24 * 3600 }));
    const response = await send(`${url}?access_token=${tenYears}`);
    await expectError(response, 401, /in \?access_token= may be valid for at most 3600 s more \(QUERY_TOKEN_MAX_LIFETIME_SECONDS\), this one is valid for \d+ s/);
    expect(response.headers.get("WWW-Authenticate")).toMatch(/error="invalid_token", error_description="[^"]*at most 3600 s[^"]*"/);
    const inHeader = await send(url, { headers: bearer(tenYears) });
    expect(inHeader.status).toBe(200);
    await inHeader.arrayBuffer();
    // Just within the hour is fine.
    await expectDownloadEquals(`${url}?access_token=${await signToken(claimsFor(subject, { exp: Math.floor(Date.now() / 1000) + 3500 }))}`, data);
  });
});

describe("Cache-Control on downloads", () => {
  it("answers whole and ranged downloads with Cache-Control: private, no-store", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor(uniqueSubject("cache"));
    const { url } = await uploadAs(token, randomBytes(100, 22));
    for (const [headers, status] of [
      [bearer(token), 200],
      [{ ...bearer(token), Range: "bytes=10-19" }, 206],
    ] as const) {
      const response = await send(url, { headers });
      await response.arrayBuffer();
      expect(response.status).toBe(status);
      expect(response.headers.get("Cache-Control")).toBe("private, no-store");
    }
  });
});

describe("a token bound to one upload (upload_id claim)", () => {
  let subject: string;
  let owner: string;
  let bound: { url: string; id: string; data: Uint8Array };
  let sibling: { url: string; id: string; data: Uint8Array };

  beforeAll(async () => {
    subject = uniqueSubject("bound");
    owner = await tokenFor(subject);
    const boundData = randomBytes(30, 23);
    const siblingData = randomBytes(31, 24);
    bound = { ...(await uploadAs(owner, boundData)), data: boundData };
    sibling = { ...(await uploadAs(owner, siblingData)), data: siblingData };
  }, TIMEOUT);

  /** The recommended download link's token: download scope, minutes to live, this upload only. */
  const linkToken = (uploadId: string) => tokenFor(subject, { scope: "tus:download", upload_id: uploadId, exp: Math.floor(Date.now() / 1000) + 300 });

  it("downloads its upload as a plain link (?access_token=)", { timeout: TIMEOUT }, async () => {
    await expectDownloadEquals(`${bound.url}?access_token=${await linkToken(bound.id)}`, bound.data);
  });

  it("gets 404 for another upload of the same subject, exactly as for an unknown upload", { timeout: TIMEOUT }, async () => {
    const token = await linkToken(bound.id);
    const unknown = unknownUploadUrl();
    for (const [target, headers] of [
      [`${sibling.url}?access_token=${token}`, {}],
      [sibling.url, bearer(token)],
    ] as const) {
      const siblings = await answerOf(await send(target, { headers }), [sibling.id]);
      const unknowns = await answerOf(await send(target.replace(sibling.id, uploadIdOf(unknown)), { headers }), [uploadIdOf(unknown)]);
      expect(siblings.status, siblings.body).toBe(404);
      expect(siblings).toEqual(unknowns);
    }
    // The subject's own unbound token still reaches it.
    await expectDownloadEquals(`${sibling.url}?access_token=${owner}`, sibling.data);
  });

  it("without a scope, may HEAD, PATCH and DELETE its own upload and nothing else (404), and creates no upload (403)", { timeout: TIMEOUT }, async () => {
    const pending = await createAs(owner, { length: 8 });
    const other = await createAs(owner, { length: 8 });
    const token = await tokenFor(subject, { upload_id: pending.id });
    const auth = bearer(token);

    expect((await patch(pending.url, 0, randomBytes(4, 25), auth)).status).toBe(204);
    const head = await send(pending.url, { method: "HEAD", headers: { ...TUS, ...auth } });
    expect(head.status).toBe(200);
    expect(head.headers.get("Upload-Offset")).toBe("4");

    expect((await send(other.url, { method: "HEAD", headers: { ...TUS, ...auth } })).status).toBe(404);
    await expectError(await patch(other.url, 0, randomBytes(4, 26), auth), 404, /no upload exists/);
    await expectError(await send(other.url, { method: "DELETE", headers: { ...TUS, ...auth } }), 404, /no upload exists/);
    const post = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...auth, "Upload-Length": "1", "Upload-Metadata": metadataHeader({ filetype: FILETYPE }) },
    });
    await expectError(post, 403, /bound to one upload \(upload_id claim\).*cannot create/);

    // Nothing reached the other upload; the bound token may end its own.
    const otherHead = await send(other.url, { method: "HEAD", headers: { ...TUS, ...bearer(owner) } });
    expect(otherHead.headers.get("Upload-Offset")).toBe("0");
    expect((await send(pending.url, { method: "DELETE", headers: { ...TUS, ...auth } })).status).toBe(204);
  });

  it("keeps its scope: a download-only bound token may not delete its upload (403)", { timeout: TIMEOUT }, async () => {
    const token = await linkToken(bound.id);
    await expectError(await send(bound.url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } }), 403, /needs tus:delete/);
  });

  it("does not lift ownership: another subject's token bound to this upload gets 404", { timeout: TIMEOUT }, async () => {
    const stranger = await tokenFor(uniqueSubject("stranger"), { upload_id: bound.id });
    expect((await send(bound.url, { headers: bearer(stranger) })).status).toBe(404);
  });

  it("refuses an upload_id claim that is not a string as an invalid token (401)", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor(subject, { upload_id: 42 });
    await expectError(await send(bound.url, { headers: bearer(token) }), 401, /upload_id claim must be a string/);
  });
});
