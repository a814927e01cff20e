/**
 * The library API's pre-create callback, `onUploadCreate`: asked in the
 * Worker before each upload is created, it may reject the upload (its status
 * and message reach the client), replace the metadata, or choose the object
 * key, which is still placed under the configured prefix and sanitised like
 * any key that comes from outside. The Worker under test is worker.ts, whose
 * callback obeys control keys in the upload's metadata.
 */
import { env, listDurableObjectIds } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { b64, bodyText, expectNoServerErrors, randomBytes, send, sha256Hex, TUS } from "../runtime/helpers";
import { objectKeyOf } from "../runtime-auth/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { COLLECTION, create, headAs, post, TIMEOUT, upload } from "./helpers";
import { KEY_PREFIX } from "./worker";
import type { UploadProposal } from "../../src/index";

afterEach(() => expectNoServerErrors());

function unique(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}`;
}

async function recordedProposal(probe: string): Promise<UploadProposal> {
  const object = await env.BUCKET.get(`calls/onUploadCreate/${probe}.json`);
  expect(object, `proposal ${probe} recorded`).not.toBeNull();
  return JSON.parse(await object!.text()) as UploadProposal;
}

describe("what onUploadCreate is asked", () => {
  it("onUploadCreate receives the kind, the length, the metadata as text and the token's subject", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    const probe = unique("plain");
    await create(token, { length: 42, metadata: { probe, filename: "résumé.pdf", empty: "" } });
    expect(await recordedProposal(probe)).toEqual({
      kind: "upload",
      length: 42,
      metadata: { probe, filename: "résumé.pdf", empty: "" },
      subject: "alice",
    });
  });

  it("onUploadCreate learns of deferred-length, partial and final uploads", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    const deferred = unique("deferred");
    await create(token, { deferred: true, metadata: { probe: deferred } });
    const deferredProposal = await recordedProposal(deferred);
    expect(deferredProposal.kind).toBe("upload");
    expect(deferredProposal.length).toBeUndefined();

    const partialProbe = unique("partial");
    const partial = await upload(token, randomBytes(5, 1), { metadata: { probe: partialProbe }, headers: { "Upload-Concat": "partial" } });
    expect(await recordedProposal(partialProbe)).toMatchObject({ kind: "partial", length: 5 });

    const other = await upload(token, randomBytes(7, 2), { headers: { "Upload-Concat": "partial" } });
    const finalProbe = unique("final");
    await create(token, { metadata: { probe: finalProbe }, headers: { "Upload-Concat": `final;${partial.url} ${other.url}` } });
    const finalProposal = await recordedProposal(finalProbe);
    expect(finalProposal).toMatchObject({ kind: "final", subject: "alice" });
    expect(finalProposal.length, "a final upload's length is the sum of its partials'").toBe(5 + 7);
  });
});

describe("rejecting", () => {
  it("onUploadCreate can reject an upload: 403 and its message reach the client, and nothing is created", { timeout: TIMEOUT }, async () => {
    const before = (await listDurableObjectIds(env.UPLOADS)).length;
    const response = await post(await tokenFor("alice"), { length: 10, metadata: { reject: "quota exhausted for alice" } });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("quota exhausted for alice");
    expect(response.headers.get("Location")).toBeNull();
    expect((await listDurableObjectIds(env.UPLOADS)).length).toBe(before);
  });

  it("a rejection's own 4xx status reaches the client; a status that is not 4xx becomes 403", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    for (const [status, expected] of [
      ["422", 422],
      ["429", 429],
      ["500", 403],
      ["302", 403],
    ] as const) {
      const response = await post(token, { length: 10, metadata: { reject: `refused with ${status}`, rejectStatus: status } });
      expect(response.status, status).toBe(expected);
      expect(await response.text()).toContain(`refused with ${status}`);
    }
  });
});

describe("changing metadata", () => {
  it("onUploadCreate can replace the metadata: HEAD and the stored object show the new metadata", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    const filename = `${unique("renamed")}.txt`;
    const replacement = { filename, filetype: "text/plain", note: "changed by the hook ✓" };
    const data = randomBytes(64, 2);
    const { url, id } = await upload(token, data, { metadata: { filename: "original.bin", replaceMetadata: JSON.stringify(replacement) } });

    const head = await headAs(token, url);
    expect(head.status).toBe(200);
    const expectedHeader = Object.entries(replacement)
      .map(([key, value]) => `${key} ${b64(value)}`)
      .join(",");
    expect(head.headers.get("Upload-Metadata")).toBe(expectedHeader);

    // The key template's {filename} and the served headers follow the new metadata too.
    expect(await objectKeyOf(id)).toBe(`${KEY_PREFIX}alice/${filename}`);
    const object = await env.BUCKET.head(`${KEY_PREFIX}alice/${filename}`);
    expect(object?.httpMetadata?.contentType).toBe("text/plain");
    expect(object?.httpMetadata?.contentDisposition).toContain(filename);
  });
});

describe("choosing the object key", () => {
  const prefix = unique("chosen");
  const KEYS: Array<{ name: string; chosen: string; expected: string | ((id: string) => string) }> = [
    { name: "a plain nested key", chosen: `${prefix}/a/b/file.bin`, expected: `${KEY_PREFIX}${prefix}/a/b/file.bin` },
    { name: "dot-dot and dot segments", chosen: `${prefix}/../../escape/./x y.bin`, expected: `${KEY_PREFIX}${prefix}/_/_/escape/_/x_y.bin` },
    { name: "an absolute path", chosen: `/${prefix}/etc/passwd`, expected: `${KEY_PREFIX}${prefix}/etc/passwd` },
    { name: "a backslash path and control characters", chosen: `${prefix}\\..\\win\u0000\n.txt`, expected: `${KEY_PREFIX}${prefix}_.._win_.txt` },
    { name: "placeholders, which are not expanded", chosen: `${prefix}/{id}/{subject}`, expected: `${KEY_PREFIX}${prefix}/_id_/_subject_` },
    { name: "an empty key, which falls back to the upload id", chosen: "", expected: (id) => `${KEY_PREFIX}${id}` },
    { name: "only separators", chosen: "///", expected: (id) => `${KEY_PREFIX}${id}` },
    {
      name: "a key over R2's 1,024 bytes, which falls back to the upload id",
      chosen: Array.from({ length: 12 }, (_, index) => `${prefix}-${index}`.padEnd(100, "k")).join("/"),
      expected: (id) => `${KEY_PREFIX}${id}`,
    },
  ];

  for (const { name, chosen, expected } of KEYS) {
    it(`a key chosen by onUploadCreate with ${name} stays below ${KEY_PREFIX}, sanitised`, { timeout: TIMEOUT }, async () => {
      const token = await tokenFor("alice");
      const data = randomBytes(33, 3);
      const { url, id } = await upload(token, data, { metadata: { objectKey: chosen } });
      const key = await objectKeyOf(id);
      expect(key).toBe(typeof expected === "string" ? expected : expected(id));
      expect(key.split("/")).not.toContain("..");
      expect(new TextEncoder().encode(key).length).toBeLessThanOrEqual(1024);
      const stored = await env.BUCKET.get(key);
      expect(stored, key).not.toBeNull();
      expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(data));
      expect((await headAs(token, url)).headers.get("Upload-Offset")).toBe(String(data.length));
    });
  }

  it("a key chosen by onUploadCreate is not allowed to overwrite an existing object: 409", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    const chosen = `${unique("taken")}/file.bin`;
    const data = randomBytes(10, 4);
    await upload(token, data, { metadata: { objectKey: chosen } });
    const response = await post(token, { length: 10, metadata: { objectKey: chosen } });
    expect(response.status, await bodyText(response)).toBe(409);
    const stored = await env.BUCKET.get(`${KEY_PREFIX}${chosen}`);
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(data));
  });
});

describe("the library's key template", () => {
  it("{subject}/{filename} cuts a 600-character filename to one 128-character segment", { timeout: TIMEOUT }, async () => {
    const subject = unique("dana");
    const { id } = await upload(await tokenFor(subject), randomBytes(3, 5), { metadata: { filename: `${"n".repeat(600)}.bin` } });
    expect(await objectKeyOf(id)).toBe(`${KEY_PREFIX}${subject}/${"n".repeat(128)}`);
  });

  it("the configuration passed to createTusGateway applies: base path and JWT access control", { timeout: TIMEOUT }, async () => {
    const unauthenticated = await send(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Length": "1" } });
    expect(unauthenticated.status).toBe(401);
    const token = await tokenFor("alice");
    const { url } = await create(token, { length: 1 });
    // The default base path /files/ is not this Worker's.
    const elsewhere = await send(url.replace(new URL(COLLECTION).pathname, "/files/"), { method: "HEAD", headers: { ...TUS, ...bearer(token) } });
    expect(elsewhere.status).toBe(404);
  });
});
