/**
 * Test-only JWTs for every suite: the one place that knows how a test token
 * is made (header, claims, encoding, signature). It runs in workerd (the
 * runtime suites) and in Node (e2e, browser, fault and soak suites), so it
 * reads no files: each suite hands it the fixture keys
 * (test/fixtures/jwt-test-keys.json) as it can load them, with the audience
 * and issuer its gateway is given, through a small wrapper of its own
 * (test/runtime-auth/tokens.ts, test/e2e/jwt.ts).
 *
 * HS256 is computed synchronously (@noble/hashes' HMAC, the same bytes as
 * Web Crypto's): Node suites build tokens in plain expressions, some at
 * module level. RS256 and ES256 are signed with Web Crypto. Anything the
 * gateway must refuse (wrong key, wrong claims, `alg: none`, algorithm
 * confusion) is built here too, so each test says only what is wrong with
 * its token. Never use these keys anywhere else.
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** A JSON Web Key's members the fixtures use (Node's types have no global `JsonWebKey`). */
export interface Jwk {
  kid?: string;
  kty: string;
  alg?: string;
  use?: string;
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  n?: string;
  e?: string;
  p?: string;
  q?: string;
  dp?: string;
  dq?: string;
  qi?: string;
}

/** The fixture key file's shape. */
export interface FixtureKeys {
  hs256Secret: string;
  jwks: { keys: Array<Jwk & { kid: string }> };
  privateKeys: Record<"test-rsa" | "test-ec", Jwk & { kid: string }>;
}

/** The gateway accepts tokens up to this far outside exp/nbf (src/auth/authenticate.ts). */
export const LEEWAY_SECONDS = 30;

/** How long the tokens of `tokenFor` live. */
export const TOKEN_LIFETIME_SECONDS = 600;

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

/** What a suite's gateway checks besides the signature; claims for it carry these. */
export interface ClaimDefaults {
  audience?: string;
  issuer?: string;
}

const KID: Record<SigningAlgorithm, "test-rsa" | "test-ec" | undefined> = { HS256: undefined, RS256: "test-rsa", ES256: "test-ec" };

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Claims a gateway with `defaults` accepts for `subject`, valid for ten minutes, with `extra` over them. */
export function claimsFor(subject: string, extra: Claims = {}, defaults: ClaimDefaults = {}): Claims {
  const now = nowSeconds();
  return {
    sub: subject,
    ...(defaults.audience !== undefined && { aud: defaults.audience }),
    ...(defaults.issuer !== undefined && { iss: defaults.issuer }),
    iat: now,
    nbf: now,
    exp: now + TOKEN_LIFETIME_SECONDS,
    ...extra,
  };
}

/** A compact HS256 JWS of `claims` signed with `secret`, made synchronously. */
export function signHs256(claims: Claims, secret: string, header: Record<string, unknown> = {}): string {
  const input = signingInput({ alg: "HS256", typ: "JWT", ...header }, claims);
  return `${input}.${base64Url(hmac(sha256, utf8(secret), utf8(input)))}`;
}

/** An unsecured JWT (RFC 7519 §6): `alg: none` and an empty signature. */
export function unsecuredToken(claims: Claims): string {
  return `${signingInput({ alg: "none", typ: "JWT" }, claims)}.`;
}

export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

export function base64Url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The signers of one suite: its fixture keys, and the audience and issuer its gateway requires. */
export interface TestTokens {
  /** Claims this suite's gateway accepts for `subject`, valid for ten minutes. */
  claimsFor(subject: string, extra?: Claims): Claims;
  /** A compact JWS of `claims`; HS256 with the fixture secret unless `options` say otherwise. */
  signToken(claims: Claims, options?: SignOptions): Promise<string>;
  /** A valid token for `subject`, with `extra` claims, signed with `algorithm`. */
  tokenFor(subject: string, extra?: Claims, algorithm?: SigningAlgorithm): Promise<string>;
  /** `tokenFor` with HS256, synchronously. */
  hs256TokenFor(subject: string, extra?: Claims): string;
  /**
   * Algorithm confusion: an HMAC signature made with the RSA *public* key as
   * the secret, under a header that says RS256 and names that key. A verifier
   * that let the token pick the algorithm would accept it.
   */
  algorithmConfusionToken(claims: Claims): string;
}

export function testTokens(keys: FixtureKeys, defaults: ClaimDefaults = {}): TestTokens {
  const claims = (subject: string, extra: Claims = {}) => claimsFor(subject, extra, defaults);
  const signToken = async (payload: Claims, options: SignOptions = {}): Promise<string> => {
    const algorithm = options.algorithm ?? "HS256";
    const kid = KID[algorithm];
    if (algorithm === "HS256") return signHs256(payload, options.hmacSecret ?? keys.hs256Secret, options.header);
    const input = signingInput({ alg: algorithm, typ: "JWT", ...(kid ? { kid } : {}), ...options.header }, payload);
    return `${input}.${base64Url(await signAsymmetric(algorithm, privateJwk(keys, kid!), utf8(input)))}`;
  };
  return {
    claimsFor: claims,
    signToken,
    tokenFor: (subject, extra = {}, algorithm = "HS256") => signToken(claims(subject, extra), { algorithm }),
    hs256TokenFor: (subject, extra = {}) => signHs256(claims(subject, extra), keys.hs256Secret),
    algorithmConfusionToken(payload) {
      const publicKey = keys.jwks.keys.find((key) => key.kid === "test-rsa");
      return signHs256(payload, JSON.stringify(publicKey), { alg: "RS256", kid: "test-rsa" });
    },
  };
}

async function signAsymmetric(algorithm: "RS256" | "ES256", jwk: Jwk, data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> {
  if (algorithm === "RS256") {
    const params = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const key = await crypto.subtle.importKey("jwk", jwk, params, false, ["sign"]);
    return crypto.subtle.sign(params, key, data);
  }
  // Web Crypto's ECDSA signature is r || s, the form JWS uses (RFC 7518 §3.4).
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data);
}

function privateJwk(keys: FixtureKeys, kid: "test-rsa" | "test-ec"): Jwk {
  const { kid: _kid, ...jwk } = keys.privateKeys[kid];
  return jwk;
}

function signingInput(header: Record<string, unknown>, claims: Claims): string {
  return `${base64Url(utf8(JSON.stringify(header)))}.${base64Url(utf8(JSON.stringify(claims)))}`;
}

function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(text));
}
