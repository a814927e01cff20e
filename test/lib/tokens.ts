/**
 * Test-only JWTs, signed with Web Crypto and the fixture keys the
 * runtime-auth project gives the gateway (test/fixtures/jwt-test-keys.json):
 * HS256 with the shared secret, RS256 and ES256 with the private halves of
 * the JWKS keys. Anything the gateway must refuse (wrong key, wrong claims,
 * `alg: none`, algorithm confusion) is built here too, so each test says
 * only what is wrong with its token.
 */
import keys from "../fixtures/jwt-test-keys.json";

export const AUDIENCE = "tus-edge-tests";
export const ISSUER = "https://issuer.test";
/** The gateway accepts tokens up to this far outside exp/nbf (src/auth/authenticate.ts). */
export const LEEWAY_SECONDS = 30;

export type SigningAlgorithm = "HS256" | "RS256" | "ES256";

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

export interface SignOptions {
  algorithm?: SigningAlgorithm;
  /** Merged over the header the algorithm implies (`alg`, `typ`, and `kid` for JWKS keys). */
  header?: Record<string, unknown>;
  /** HS256 with this secret instead of the gateway's. */
  hmacSecret?: string;
}

const KID: Record<SigningAlgorithm, string | undefined> = { HS256: undefined, RS256: "test-rsa", ES256: "test-ec" };

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Claims the gateway accepts for `subject`: its audience and issuer, valid for ten minutes. */
export function claimsFor(subject: string, extra: Claims = {}): Claims {
  const now = nowSeconds();
  return { sub: subject, aud: AUDIENCE, iss: ISSUER, iat: now, nbf: now, exp: now + 600, ...extra };
}

/** A compact JWS of `claims`. */
export async function signToken(claims: Claims, options: SignOptions = {}): Promise<string> {
  const algorithm = options.algorithm ?? "HS256";
  const kid = KID[algorithm];
  const header = { alg: algorithm, typ: "JWT", ...(kid ? { kid } : {}), ...options.header };
  const signingInput = `${base64UrlOfJson(header)}.${base64UrlOfJson(claims)}`;
  const signature = await sign(algorithm, new TextEncoder().encode(signingInput), options.hmacSecret);
  return `${signingInput}.${base64Url(signature)}`;
}

/** A valid token for `subject`, with `extra` claims, signed with `algorithm`. */
export function tokenFor(subject: string, extra: Claims = {}, algorithm: SigningAlgorithm = "HS256"): Promise<string> {
  return signToken(claimsFor(subject, extra), { algorithm });
}

/** An unsecured JWT (RFC 7519 §6): `alg: none` and an empty signature. */
export function unsecuredToken(claims: Claims): string {
  return `${base64UrlOfJson({ alg: "none", typ: "JWT" })}.${base64UrlOfJson(claims)}.`;
}

/**
 * Algorithm confusion: an HMAC signature made with the RSA *public* key as
 * the secret, under a header that says RS256 and names that key. A verifier
 * that let the token pick the algorithm would accept it.
 */
export function algorithmConfusionToken(claims: Claims): Promise<string> {
  const publicKey = keys.jwks.keys.find((key) => key.kid === "test-rsa");
  return signToken(claims, { algorithm: "HS256", header: { alg: "RS256", kid: "test-rsa" }, hmacSecret: JSON.stringify(publicKey) });
}

export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

async function sign(algorithm: SigningAlgorithm, data: ArrayBuffer | ArrayBufferView, hmacSecret?: string): Promise<ArrayBuffer> {
  switch (algorithm) {
    case "HS256": {
      const secret = new TextEncoder().encode(hmacSecret ?? keys.hs256Secret);
      const key = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return crypto.subtle.sign("HMAC", key, data);
    }
    case "RS256": {
      const params = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
      const key = await crypto.subtle.importKey("jwk", privateJwk("test-rsa"), params, false, ["sign"]);
      return crypto.subtle.sign(params, key, data);
    }
    case "ES256": {
      // Web Crypto's ECDSA signature is r || s, the form JWS uses (RFC 7518 §3.4).
      const key = await crypto.subtle.importKey("jwk", privateJwk("test-ec"), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
      return crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data);
    }
  }
}

function privateJwk(kid: "test-rsa" | "test-ec"): JsonWebKey {
  const { kid: _kid, ...jwk } = keys.privateKeys[kid] as JsonWebKey & { kid?: string };
  return jwk;
}

function base64UrlOfJson(value: unknown): string {
  return base64Url(new TextEncoder().encode(JSON.stringify(value)));
}

export function base64Url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return btoa(String.fromCharCode(...view)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
