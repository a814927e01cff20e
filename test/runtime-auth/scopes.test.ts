/**
 * A valid token that may not do something gets 403: the `scope` claim's
 * `tus:upload`, `tus:download` and `tus:delete` narrow what it may do.
 */
import { describe, expect, it } from "vitest";
import { send, TUS } from "../runtime/helpers";
import { createAs, expectError, TIMEOUT, uniqueSubject, uploadAs } from "./helpers";
import { bearer, tokenFor } from "./tokens";

describe("scopes", () => {
  it("lets an upload-only token create, send and HEAD, but not download or delete (403 saying what is needed)", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("uploader");
    const token = await tokenFor(subject, { scope: "openid tus:upload" });
    const { url } = await uploadAs(token, new Uint8Array([1, 2, 3]));
    expect((await send(url, { method: "HEAD", headers: { ...TUS, ...bearer(token) } })).status).toBe(200);
    await expectError(await send(url, { headers: bearer(token) }), 403, /scope does not allow GET; it needs tus:download/);
    await expectError(await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } }), 403, /needs tus:delete/);
  });

  it("lets a download-only token read its subject's finished upload but not create one", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("reader");
    const { url } = await uploadAs(await tokenFor(subject), new Uint8Array([4, 5, 6]));
    const reader = await tokenFor(subject, { scope: "tus:download" });
    const download = await send(url, { headers: bearer(reader) });
    expect(download.status).toBe(200);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(new Uint8Array([4, 5, 6]));
    await expectError(await send(url.replace(/[^/]+$/, ""), { method: "POST", headers: { ...TUS, ...bearer(reader), "Upload-Length": "1" } }), 403, /needs tus:upload/);
  });

  it("does not narrow a token whose scope names no tus scope", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("plain");
    const token = await tokenFor(subject, { scope: "openid profile" });
    const { url } = await createAs(token, { length: 1 });
    expect((await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
  });

  it("refuses a scope claim that is not a string as an invalid token", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor(uniqueSubject("odd"), { scope: ["tus:upload"] });
    const response = await send("http://example.com/files/", { method: "POST", headers: { ...TUS, ...bearer(token), "Upload-Length": "1" } });
    await expectError(response, 401, /scope claim must be a space-separated string/);
  });
});
