/**
 * The JWT settings parseConfig accepts and refuses: an audience is required
 * with a JWKS (keys of an identity provider that signs tokens for other
 * services too), `*` says so explicitly, and JWT_REQUIRE_TUS_SCOPES is read.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/parse";

const JWKS = JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", kid: "k1", x: "x", y: "y" }] });
const SECRET = "s".repeat(32);

describe("JWT configuration", () => {
  it("stops when JWT_JWKS is set without JWT_AUDIENCE, naming the fix", () => {
    const parse = () => parseConfig({ AUTH_MODE: "jwt", JWT_JWKS: JWKS });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/JWT_AUDIENCE must be set when JWT_JWKS is/);
    expect(parse).toThrow(/JWT_AUDIENCE=\*/);
  });

  it("stops for a JWKS without an audience even beside an HS256 secret", () => {
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_JWKS: JWKS, JWT_SECRET: SECRET })).toThrow(/JWT_AUDIENCE must be set/);
  });

  it("checks the audience it is given", () => {
    const { auth } = parseConfig({ AUTH_MODE: "jwt", JWT_JWKS: JWKS, JWT_AUDIENCE: "https://uploads.example" });
    expect(auth).toMatchObject({ mode: "jwt", audience: "https://uploads.example" });
  });

  it("accepts JWT_AUDIENCE=* as the explicit choice of no audience check", () => {
    const { auth } = parseConfig({ AUTH_MODE: "jwt", JWT_JWKS: JWKS, JWT_AUDIENCE: "*" });
    expect(auth).toMatchObject({ mode: "jwt", audience: undefined });
  });

  it("needs no audience for an HS256 secret alone: that secret is this gateway's own", () => {
    const { auth } = parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET });
    expect(auth).toMatchObject({ mode: "jwt", audience: undefined });
  });

  it("reads QUERY_TOKEN_MAX_LIFETIME_SECONDS, an hour by default", () => {
    expect(parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET }).auth).toMatchObject({ queryTokenMaxLifetimeSeconds: 3600 });
    expect(parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET, QUERY_TOKEN_MAX_LIFETIME_SECONDS: "300" }).auth).toMatchObject({ queryTokenMaxLifetimeSeconds: 300 });
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET, QUERY_TOKEN_MAX_LIFETIME_SECONDS: "0" })).toThrow(/QUERY_TOKEN_MAX_LIFETIME_SECONDS must be between 1 and 604800/);
  });

  it("reads JWT_REQUIRE_TUS_SCOPES, off by default", () => {
    expect(parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET }).auth).toMatchObject({ requireTusScopes: false });
    expect(parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET, JWT_REQUIRE_TUS_SCOPES: "true" }).auth).toMatchObject({ requireTusScopes: true });
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: SECRET, JWT_REQUIRE_TUS_SCOPES: "yes" })).toThrow(/JWT_REQUIRE_TUS_SCOPES must be "true" or "false"/);
  });
});
