/**
 * Access control holds in the IETF dialect as in tus: a token is needed,
 * its scopes narrow what it may do whichever method creates an upload (PUT
 * too), a token bound to one upload creates none, another subject's upload
 * does not exist, and a token's smaller size limit is the `max-size` it sees.
 */
import { parseDictionary } from "structured-headers";
import { describe, expect, it } from "vitest";
import { COLLECTION, send } from "../runtime/helpers";
import { expectError, TIMEOUT, uniqueSubject } from "./helpers";
import { bearer, tokenFor } from "./tokens";

const IETF = { "Upload-Draft-Interop-Version": "8", "Upload-Complete": "?1" };

describe("access control in the IETF dialect", () => {
  it("refuses a creation without a token (401)", { timeout: TIMEOUT }, async () => {
    await expectError(await send(COLLECTION, { method: "POST", headers: IETF, body: "abc" }), 401, /bearer token/);
  });

  it.each(["POST", "PUT"])("refuses a %s creation to a download-only token and to a token bound to one upload (403)", { timeout: TIMEOUT }, async (method) => {
    const subject = uniqueSubject("ietf-reader");
    const reader = await tokenFor(subject, { scope: "tus:download" });
    await expectError(await send(COLLECTION, { method, headers: { ...IETF, ...bearer(reader) }, body: "abc" }), 403, /needs tus:upload/);
    const bound = await tokenFor(subject, { upload_id: "AAAAAAAAAAAAAAAAAAAAAA", exp: Math.floor(Date.now() / 1000) + 300 });
    await expectError(await send(COLLECTION, { method, headers: { ...IETF, ...bearer(bound) }, body: "abc" }), 403, /bound to one upload/);
  });

  it("lets the owner create, append and complete; another subject finds nothing (404)", { timeout: TIMEOUT }, async () => {
    const owner = await tokenFor(uniqueSubject("ietf-owner"));
    const created = await send(COLLECTION, {
      method: "POST",
      headers: { ...IETF, "Upload-Complete": "?0", "Content-Type": "application/octet-stream", ...bearer(owner) },
      body: "abc",
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const url = created.headers.get("Location")!;
    const stranger = await tokenFor(uniqueSubject("ietf-stranger"));
    expect((await send(url, { method: "HEAD", headers: { ...IETF, ...bearer(stranger) } })).status).toBe(404);
    const done = await send(url, {
      method: "PATCH",
      headers: { ...IETF, "Upload-Offset": "3", "Content-Type": "application/partial-upload", ...bearer(owner) },
      body: "def",
    });
    expect(done.status, await done.clone().text()).toBe(200);
  });

  it("a token's max_upload_size is the max-size its creations are told, and a creation past it is 413 saying so", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor(uniqueSubject("ietf-small"), { max_upload_size: 100 });
    const maxSize = (response: Response) => parseDictionary(response.headers.get("Upload-Limit") ?? "").get("max-size")?.[0];
    const created = await send(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?0", "Upload-Length": "100", "Content-Type": "image/png", ...bearer(token) } });
    expect(created.status, await created.clone().text()).toBe(201);
    expect(maxSize(created)).toBe(100);
    const tooLarge = await send(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?0", "Upload-Length": "101", "Content-Type": "image/png", ...bearer(token) } });
    expect(tooLarge.status).toBe(413);
    expect(maxSize(tooLarge)).toBe(100);
  });
});
