/**
 * Ownership and per-token limits. An upload belongs to the subject (`sub`)
 * of the token that created it; to any other subject it does not exist, so
 * every answer must be indistinguishable from the answer for an upload
 * nobody created. A token may also carry `max_upload_size` (the largest
 * upload it may create) and `key_prefix` (where its objects go).
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, COLLECTION, expectNoServerErrors, MiB, patch, randomBytes, send, TUS, uploadIdOf } from "../runtime/helpers";
import { createAs, downloadAs, expectError, FILETYPE, metadataHeader, postAs, TIMEOUT, unknownUploadUrl, uniqueSubject, uploadAs } from "./helpers";
import { bearer, tokenFor } from "./tokens";

afterEach(() => expectNoServerErrors());

interface Answer {
  status: number;
  body: string;
  headers: Array<[string, string]>;
}

/** Status, body and headers, with upload ids replaced so answers about different uploads compare. */
async function answerOf(response: Response, ids: string[]): Promise<Answer> {
  const hide = (text: string) => ids.reduce((result, id) => result.replaceAll(id, "<id>"), text);
  return {
    status: response.status,
    body: hide(await response.text()),
    headers: [...response.headers].filter(([name]) => name !== "date").map(([name, value]) => [name, hide(value)]),
  };
}

type Probe = (url: string, auth: Record<string, string>) => Promise<Response>;

const PROBES: Record<"HEAD" | "PATCH" | "DELETE" | "GET", Probe> = {
  HEAD: (url, auth) => send(url, { method: "HEAD", headers: { ...TUS, ...auth } }),
  PATCH: (url, auth) => patch(url, 4, randomBytes(3, 11), auth),
  DELETE: (url, auth) => send(url, { method: "DELETE", headers: { ...TUS, ...auth } }),
  GET: (url, auth) => send(url, { headers: auth }),
};

describe("another subject's upload", () => {
  for (const [method, probe] of Object.entries(PROBES)) {
    it(`bob's ${method} on alice's upload is answered exactly like a ${method} on an unknown upload`, { timeout: TIMEOUT }, async () => {
      const alice = await tokenFor("alice");
      const bob = bearer(await tokenFor("bob"));
      const data = randomBytes(10, 12);
      const { url, id } = await createAs(alice, { length: data.length });
      expect((await patch(url, 0, data.slice(0, 4), bearer(alice))).status).toBe(204);
      const unknown = unknownUploadUrl();

      const bobs = await answerOf(await probe(url, bob), [id]);
      const unknowns = await answerOf(await probe(unknown, bob), [uploadIdOf(unknown)]);
      expect(bobs.status).toBe(404);
      expect(bobs).toEqual(unknowns);

      // Nothing bob did reached the upload: alice resumes where she was and finishes.
      const head = await send(url, { method: "HEAD", headers: { ...TUS, ...bearer(alice) } });
      expect(head.status).toBe(200);
      expect(head.headers.get("Upload-Offset")).toBe("4");
      const resumed = await patch(url, 4, data.slice(4), bearer(alice));
      expect(resumed.status, await bodyText(resumed)).toBe(204);
      const { response, bytes } = await downloadAs(alice, url);
      expect(response.status).toBe(200);
      expect(bytes).toEqual(data);
    });
  }

  it("bob's HEAD on alice's terminated upload is a 404 like an unknown upload's, while alice gets 410", { timeout: TIMEOUT }, async () => {
    const alice = bearer(await tokenFor("alice"));
    const bob = bearer(await tokenFor("bob"));
    const { url, id } = await createAs(await tokenFor("alice"), { length: 10 });
    expect((await send(url, { method: "DELETE", headers: { ...TUS, ...alice } })).status).toBe(204);
    const unknown = unknownUploadUrl();
    const bobs = await answerOf(await PROBES.HEAD(url, bob), [id]);
    expect(bobs.status).toBe(404);
    expect(bobs).toEqual(await answerOf(await PROBES.HEAD(unknown, bob), [uploadIdOf(unknown)]));
    expect((await PROBES.HEAD(url, alice)).status).toBe(410);
  });

  it("bob's GET on alice's finished upload, token in the header or in ?access_token=, is a 404 like an unknown upload's", { timeout: TIMEOUT }, async () => {
    const alice = await tokenFor("alice");
    const bob = await tokenFor("bob");
    const { url, id } = await uploadAs(alice, randomBytes(8, 13));
    const unknown = unknownUploadUrl();
    for (const [target, auth] of [
      [url, bearer(bob)],
      [`${url}?access_token=${bob}`, {}],
    ] as const) {
      const bobs = await answerOf(await send(target, { headers: auth }), [id]);
      const unknowns = await answerOf(await send(target.replace(id, uploadIdOf(unknown)), { headers: auth }), [uploadIdOf(unknown)]);
      expect(bobs.status).toBe(404);
      expect(bobs).toEqual(unknowns);
    }
  });

  it("bob cannot concatenate alice's partial upload: the answer is the one for an unknown partial, and alice can still use it", { timeout: TIMEOUT }, async () => {
    const alice = await tokenFor("alice");
    const bob = await tokenFor("bob");
    const partial = await uploadAs(alice, randomBytes(6, 14), { headers: { "Upload-Concat": "partial" } });
    const bobsOwn = await uploadAs(bob, randomBytes(5, 15), { headers: { "Upload-Concat": "partial" } });
    const unknown = unknownUploadUrl();
    const postFinal = (token: string, urls: string[]) =>
      send(COLLECTION, {
        method: "POST",
        headers: { ...TUS, ...bearer(token), "Upload-Concat": `final;${urls.join(" ")}`, "Upload-Metadata": metadataHeader({ filetype: FILETYPE }) },
      });

    for (const withOwn of [false, true]) {
      const own = withOwn ? [bobsOwn.url] : [];
      const bobs = await answerOf(await postFinal(bob, [...own, partial.url]), [partial.id]);
      const unknowns = await answerOf(await postFinal(bob, [...own, unknown]), [uploadIdOf(unknown)]);
      expect(bobs.status, bobs.body).toBeGreaterThanOrEqual(400);
      expect(bobs.status, bobs.body).toBeLessThan(500);
      expect(bobs).toEqual(unknowns);
    }

    // Neither refused request claimed a partial: each owner can still concatenate their own.
    for (const [token, url] of [
      [alice, partial.url],
      [bob, bobsOwn.url],
    ] as const) {
      const final = await postFinal(token, [url]);
      expect(final.status, await bodyText(final)).toBe(201);
    }
  });
});

describe("max_upload_size claim", () => {
  const LIMIT = 1000;

  it("a POST with Upload-Length over the token's max_upload_size is 413; the limit itself is accepted", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice", { max_upload_size: LIMIT });
    await expectError(await postAs(token, { length: LIMIT + 1 }), 413, /Upload-Length 1001 .*1000 bytes/);
    await createAs(token, { length: LIMIT });
    // Another token of the same subject is not bound by this one's limit.
    await createAs(await tokenFor("alice"), { length: LIMIT + 1 });
  });

  it("a deferred upload cannot declare a length over the token's max_upload_size in PATCH", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice", { max_upload_size: LIMIT });
    const auth = bearer(token);
    const { url } = await createAs(token, { deferred: true });
    const refused = await patch(url, 0, randomBytes(10, 16), { ...auth, "Upload-Length": String(LIMIT + 1) });
    await expectError(refused, 413, /Upload-Length 1001 exceeds .*\b1000 bytes/);
    const head = await send(url, { method: "HEAD", headers: { ...TUS, ...auth } });
    expect(head.headers.get("Upload-Offset")).toBe("0");
    expect(head.headers.get("Upload-Defer-Length")).toBe("1");
    const data = randomBytes(LIMIT, 17);
    const accepted = await patch(url, 0, data, { ...auth, "Upload-Length": String(LIMIT) });
    expect(accepted.status, await bodyText(accepted)).toBe(204);
    const { bytes } = await downloadAs(token, url);
    expect(bytes).toEqual(data);
  });

  it("a deferred upload's bytes cannot go past the token's max_upload_size before a length is declared", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice", { max_upload_size: LIMIT });
    const { url } = await createAs(token, { deferred: true });
    expect((await patch(url, 0, randomBytes(600, 18), bearer(token))).status).toBe(204);
    await expectError(await patch(url, 600, randomBytes(401, 19), bearer(token)), 413, /at most 1000 bytes/);
  });

  it("partial uploads that add up to more than the token's max_upload_size cannot be concatenated", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice", { max_upload_size: LIMIT });
    const partials = [];
    for (const seed of [20, 21]) partials.push(await uploadAs(token, randomBytes(600, seed), { headers: { "Upload-Concat": "partial" } }));
    const response = await send(COLLECTION, {
      method: "POST",
      headers: {
        ...TUS,
        ...bearer(token),
        "Upload-Concat": `final;${partials.map(({ url }) => url).join(" ")}`,
        "Upload-Metadata": metadataHeader({ filetype: FILETYPE }),
      },
    });
    await expectError(response, 413, /1200 bytes.*1000 bytes/);
  });

  it("a max_upload_size claim that is not a non-negative integer refuses the token", { timeout: TIMEOUT }, async () => {
    for (const claim of [-1, 1.5, "1000"]) {
      const token = await tokenFor("alice", { max_upload_size: claim as number });
      const response = await postAs(token, { length: 1 });
      expect(response.status).toBe(401);
      expect(response.headers.get("WWW-Authenticate")).toMatch(/error="invalid_token", error_description=".*max_upload_size/);
    }
  });
});

describe("key_prefix claim", () => {
  it("key_prefix tenant-7 puts alice's object at uploads/tenant-7/alice/<filename>", { timeout: TIMEOUT }, async () => {
    const filename = `report-${crypto.randomUUID().slice(0, 8)}.bin`;
    const token = await tokenFor("alice", { key_prefix: "tenant-7" });
    const data = randomBytes(MiB + 3, 22);
    await uploadAs(token, data, { metadata: { filename } });
    const object = await env.BUCKET.head(`uploads/tenant-7/alice/${filename}`);
    expect(object, `uploads/tenant-7/alice/${filename}`).not.toBeNull();
    expect(object!.size).toBe(data.length);
    expect(await env.BUCKET.head(`uploads/alice/${filename}`)).toBeNull();
  });

  it("a key_prefix with several segments keeps them; one with dot segments is sanitised below uploads/", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("carol");
    const cases = [
      { prefix: "org-1/team-2/", expected: `uploads/org-1/team-2/${subject}/` },
      { prefix: "../../outside/./x", expected: `uploads/_/_/outside/_/x/${subject}/` },
      { prefix: "/absolute//path", expected: `uploads/absolute/path/${subject}/` },
    ];
    for (const { prefix, expected } of cases) {
      const token = await tokenFor(subject, { key_prefix: prefix });
      await uploadAs(token, randomBytes(4, 23), { metadata: { filename: "a.bin" } });
      expect(await env.BUCKET.head(`${expected}a.bin`), `${prefix} → ${expected}a.bin`).not.toBeNull();
    }
  });
});
