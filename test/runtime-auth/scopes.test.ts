/**
 * A valid token that may not do something gets 403: the `scope` claim's
 * `tus:upload`, `tus:download` and `tus:delete` narrow what it may do. The
 * `scp` claim (a list, or a space-separated string, as Okta and Azure AD
 * issue it) counts the same. With JWT_REQUIRE_TUS_SCOPES a token that names
 * no tus scope may do nothing.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AuthConfig } from "../../src/auth/authenticate";
import { parseConfig } from "../../src/config";
import { createTusGateway, type GatewayEnv } from "../../src/gateway";
import { COLLECTION, send, TUS } from "../runtime/helpers";
import { createAs, creationHeaders, expectError, TIMEOUT, uniqueSubject, uploadAs } from "./helpers";
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

describe("the scp claim", () => {
  it("narrows a token like scope when it is a list of strings", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("scp-list");
    const token = await tokenFor(subject, { scp: ["openid", "tus:upload"] });
    const { url } = await uploadAs(token, new Uint8Array([7, 8]));
    await expectError(await send(url, { headers: bearer(token) }), 403, /needs tus:download/);
  });

  it("narrows a token like scope when it is a space-separated string", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("scp-text");
    const { url } = await uploadAs(await tokenFor(subject), new Uint8Array([9]));
    const reader = await tokenFor(subject, { scp: "profile tus:download" });
    expect((await send(url, { headers: bearer(reader) })).status).toBe(200);
    await expectError(await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(reader) } }), 403, /needs tus:delete/);
  });

  it("adds to the scopes of scope when a token carries both", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("scp-both");
    const token = await tokenFor(subject, { scope: "tus:upload", scp: ["tus:delete"] });
    const { url } = await createAs(token, { length: 1 });
    expect((await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
    await expectError(await send(url, { headers: bearer(token) }), 403, /needs tus:download/);
  });

  it("refuses an scp claim that is neither a string nor a list of strings as an invalid token", { timeout: TIMEOUT }, async () => {
    for (const scp of [42, ["tus:upload", 7]]) {
      const token = await tokenFor(uniqueSubject("scp-odd"), { scp });
      await expectError(await send(COLLECTION, { method: "POST", headers: creationHeaders(token, { length: 1 }) }), 401, /scp claim must be/);
    }
  });
});

/** The runtime-auth project's own JWT settings, with JWT_REQUIRE_TUS_SCOPES on. */
function strictAuth(): AuthConfig {
  const auth = parseConfig(env as unknown as Record<string, unknown>).auth;
  if (auth.mode !== "jwt") throw new Error("the runtime-auth project runs with AUTH_MODE=jwt");
  return { ...auth, requireTusScopes: true };
}

describe("JWT_REQUIRE_TUS_SCOPES=true", () => {
  // The runtime-auth Worker's own settings with the strict setting on, mounted
  // through the library API on the same Durable Object and R2 bindings.
  const strict = createTusGateway({ config: { auth: strictAuth() } });
  const fetchStrict = (url: string, init: RequestInit = {}) => strict.fetch(new Request(url, init), env as unknown as GatewayEnv);

  it("gives a token that names no tus scope nothing: 403 for every method, saying which scope is needed", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("strict");
    const { url } = await uploadAs(await tokenFor(subject), new Uint8Array([1]));
    for (const claims of [{}, { scope: "openid profile" }, { scp: ["openid"] }]) {
      const token = await tokenFor(subject, claims);
      const auth = bearer(token);
      await expectError(await fetchStrict(COLLECTION, { method: "POST", headers: creationHeaders(token, { length: 1 }) }), 403, /no tus: scope.*needs tus:upload/);
      await expectError(await fetchStrict(url, { headers: auth }), 403, /needs tus:download/);
      await expectError(await fetchStrict(url, { method: "DELETE", headers: { ...TUS, ...auth } }), 403, /needs tus:delete/);
      const head = await fetchStrict(url, { method: "HEAD", headers: { ...TUS, ...auth } });
      expect(head.status).toBe(403);
    }
  });

  it("lets a token through for what its tus scopes name", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("strict-ok");
    const token = await tokenFor(subject, { scp: "tus:upload tus:download" });
    const created = await fetchStrict(COLLECTION, { method: "POST", headers: creationHeaders(token, { length: 0 }) });
    expect(created.status, await created.text()).toBe(201);
    const url = created.headers.get("Location")!;
    expect((await fetchStrict(url, { headers: bearer(token) })).status).toBe(200);
    await expectError(await fetchStrict(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } }), 403, /needs tus:delete/);
  });
});
