import { describe, expect, it } from "vitest";
import { Authenticator } from "../../src/auth/authenticate";
import { TusError } from "../../src/errors";
import { RequestObservation } from "../../src/observability/request-observation";

const SECRET = "a test secret of at least thirty-two characters";

/** An HS256 JWT, signed with Web Crypto (this file is checked with the Workers types, not Node's). */
async function sign(claims: object, secret = SECRET): Promise<string> {
  const base64Url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const part = (value: object) => base64Url(new TextEncoder().encode(JSON.stringify(value)));
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}`;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `${input}.${base64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input))))}`;
}

/** The request line of `request` after the authenticator refused it (or let it through). */
async function lineOf(request: Request, audience = "tus-edge") {
  const observation = new RequestObservation(request, "/files/");
  const authenticator = new Authenticator({ mode: "jwt", secret: SECRET, jwks: undefined, audience, issuer: undefined });
  let status = 204;
  try {
    await authenticator.authenticate(request);
  } catch (error) {
    observation.setError(error);
    status = (error as TusError).status;
  }
  return observation.line(new Response(null, { status }));
}

const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe("a refused request's line", () => {
  it.each([
    ["no token", async () => ({}), /^no token/],
    ["a bad signature", async () => bearer(await sign({ sub: "a", aud: "tus-edge" }, "another secret, also thirty-two characters")), /signature is invalid/],
    ["an expired token", async () => bearer(await sign({ sub: "a", aud: "tus-edge", exp: now() - 3600 })), /has expired/],
    ["a wrong audience", async () => bearer(await sign({ sub: "a", aud: "elsewhere" })), /audience must include "tus-edge"/],
  ])("says why for %s, and never holds the token", async (_, headersOf: () => Promise<Record<string, string>>, reason) => {
    const headers = await headersOf();
    const line = await lineOf(new Request("https://tus.test/files/", { method: "POST", headers }));
    expect(line.status).toBe(401);
    expect(line.errorCode).toBe("unauthorized");
    expect(line.reason).toMatch(reason);
    const token = headers.Authorization?.slice(7);
    if (token) expect(JSON.stringify(line)).not.toContain(token.split(".")[2]);
  });

  it("says why for a link's token that stays valid too long", async () => {
    const token = await sign({ sub: "a", aud: "tus-edge", exp: now() + 30 * 24 * 3600 });
    const line = await lineOf(new Request(`https://tus.test/files/${"0".repeat(64)}?access_token=${token}`));
    expect(line.reason).toMatch(/\?access_token= may be valid for at most 3600 s more/);
    expect(JSON.stringify(line)).not.toContain(token.split(".")[2]);
  });

  it("has no reason for an accepted request or an error that is not a refusal", async () => {
    expect((await lineOf(new Request("https://tus.test/files/", { headers: bearer(await sign({ sub: "a", aud: "tus-edge" })) }))).reason).toBeUndefined();
    const observation = new RequestObservation(new Request("https://tus.test/files/"), "/files/");
    observation.setError(new TusError("offset-mismatch"));
    expect(observation.line(new Response(null, { status: 409 })).reason).toBeUndefined();
  });
});
