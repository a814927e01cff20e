/**
 * Test tokens for end-to-end tests of a gateway started with AUTH_MODE=jwt
 * and the fixture secret (test/fixtures/jwt-test-keys.json): test/lib/tokens.ts
 * with no audience or issuer, as those gateways are started. Synchronous
 * (HS256), so tests can make tokens in plain expressions.
 */
import { readFileSync } from "node:fs";
import { signHs256 as sign, testTokens, type Claims, type FixtureKeys } from "../lib/tokens.ts";

export { bearer, type Claims } from "../lib/tokens.ts";

const keys = JSON.parse(readFileSync(new URL("../fixtures/jwt-test-keys.json", import.meta.url), "utf8")) as FixtureKeys;
const tokens = testTokens(keys);

/** The fixture's shared secret: give it to the server as JWT_SECRET. */
export const HS256_SECRET: string = keys.hs256Secret;

/** A compact HS256 JWS of `claims`, signed with `secret` (the fixture's by default). */
export function signHs256(claims: Claims, secret: string = HS256_SECRET): string {
  return sign(claims, secret);
}

/** A token the gateway accepts for `subject`, valid for ten minutes, with `extra` claims. */
export function tokenFor(subject: string, extra: Claims = {}): string {
  return tokens.hs256TokenFor(subject, extra);
}
