/**
 * Test-only HS256 JWTs for end-to-end tests of a gateway started with
 * AUTH_MODE=jwt and the fixture secret (test/fixtures/jwt-test-keys.json).
 * Signed with node:crypto; never use these keys anywhere else.
 */
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

const keys = JSON.parse(readFileSync(new URL("../fixtures/jwt-test-keys.json", import.meta.url), "utf8")) as { hs256Secret: string };

/** The fixture's shared secret: give it to the server as JWT_SECRET. */
export const HS256_SECRET: string = keys.hs256Secret;

export interface Claims {
  sub?: string;
  aud?: string | string[];
  iss?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  /** The largest upload this token may create. */
  max_upload_size?: number;
  /** The token's uploads are stored below this key prefix. */
  key_prefix?: string;
  [claim: string]: unknown;
}

function base64UrlOfJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

/** A compact HS256 JWS of `claims`, signed with `secret` (the fixture's by default). */
export function signHs256(claims: Claims, secret: string = HS256_SECRET): string {
  const input = `${base64UrlOfJson({ alg: "HS256", typ: "JWT" })}.${base64UrlOfJson(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** A token the gateway accepts for `subject`, valid for ten minutes, with `extra` claims. */
export function tokenFor(subject: string, extra: Claims = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signHs256({ sub: subject, iat: now, nbf: now, exp: now + 600, ...extra });
}

/** `{ Authorization: "Bearer <token>" }`. */
export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}
