/**
 * Bearer JWT verification with Web Crypto: HS256 with a shared secret,
 * RS256 and ES256 with public keys from a JWKS. Pure apart from the clock,
 * which the caller passes in.
 */
export type JwtAlgorithm = "HS256" | "RS256" | "ES256";

export interface JwtClaims {
  sub?: unknown;
  exp?: unknown;
  nbf?: unknown;
  aud?: unknown;
  iss?: unknown;
  [claim: string]: unknown;
}

export interface VerificationKey {
  algorithm: JwtAlgorithm;
  /** From the JWKS `kid`; a token naming a kid is checked against that key only. */
  kid?: string;
  key: CryptoKey;
}

export interface JwtExpectations {
  audience?: string;
  issuer?: string;
  /** Seconds since the epoch. */
  now: number;
  /** Allowed clock difference for exp and nbf, in seconds. */
  leewaySeconds: number;
}

/** Why a token was refused; the message goes to the client in WWW-Authenticate. */
export class JwtError extends Error {
  override readonly name = "JwtError";
}

const IMPORT_PARAMS: Record<JwtAlgorithm, SubtleCryptoImportKeyAlgorithm> = {
  HS256: { name: "HMAC", hash: "SHA-256" },
  RS256: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  ES256: { name: "ECDSA", namedCurve: "P-256" },
};

const VERIFY_PARAMS: Record<JwtAlgorithm, SubtleCryptoSignAlgorithm> = {
  HS256: { name: "HMAC" },
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
};

export async function importHmacSecret(secret: string): Promise<VerificationKey> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), IMPORT_PARAMS.HS256, false, ["verify"]);
  return { algorithm: "HS256", key };
}

/** Imports the RS256/ES256 public keys of a JWKS document; other keys are refused, not ignored. */
export async function importJwks(jwks: { keys?: unknown }): Promise<VerificationKey[]> {
  if (!Array.isArray(jwks.keys)) throw new Error('a JWKS must be an object with a "keys" array');
  return Promise.all(
    jwks.keys.map(async (jwk: JsonWebKey & { kid?: string; alg?: string }, index) => {
      const algorithm = jwk.alg ?? (jwk.kty === "RSA" ? "RS256" : jwk.kty === "EC" ? "ES256" : undefined);
      if (algorithm !== "RS256" && algorithm !== "ES256") {
        throw new Error(`JWKS key ${jwk.kid ?? index} must be an RS256 (RSA) or ES256 (EC P-256) public key`);
      }
      const { d: _private, ...publicPart } = jwk as JsonWebKey;
      const key = await crypto.subtle.importKey("jwk", publicPart, IMPORT_PARAMS[algorithm], false, ["verify"]);
      return { algorithm, kid: jwk.kid, key };
    }),
  );
}

/**
 * Verifies a compact JWS and its registered claims, and returns the claims.
 * The header's `alg` must be one the keys are for: "none" and algorithm
 * confusion (an HS256 token checked against a public key) are impossible
 * because each key carries its own algorithm.
 */
export async function verifyJwt(token: string, keys: VerificationKey[], expect: JwtExpectations): Promise<JwtClaims> {
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtError("the token is not a JWT (three dot-separated parts)");
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart, "header") as { alg?: unknown; kid?: unknown };
  const candidates = keys.filter((key) => key.algorithm === header.alg && (header.kid === undefined || key.kid === undefined || key.kid === header.kid));
  if (candidates.length === 0) throw new JwtError(`no key accepts a token signed with ${JSON.stringify(header.alg)}${header.kid ? ` and kid ${JSON.stringify(header.kid)}` : ""}`);
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`);
  const signature = decodeBase64Url(signaturePart, "signature");
  let valid = false;
  for (const candidate of candidates) {
    if (await crypto.subtle.verify(VERIFY_PARAMS[candidate.algorithm], candidate.key, signature, signed)) {
      valid = true;
      break;
    }
  }
  if (!valid) throw new JwtError("the token's signature is invalid");
  const claims = decodeJson(payloadPart, "payload") as JwtClaims;
  checkClaims(claims, expect);
  return claims;
}

function checkClaims(claims: JwtClaims, expect: JwtExpectations): void {
  const { now, leewaySeconds } = expect;
  if (claims.exp !== undefined) {
    if (typeof claims.exp !== "number") throw new JwtError("the token's exp claim is not a number");
    if (now - leewaySeconds >= claims.exp) throw new JwtError("the token has expired");
  }
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== "number") throw new JwtError("the token's nbf claim is not a number");
    if (now + leewaySeconds < claims.nbf) throw new JwtError("the token is not valid yet (nbf)");
  }
  if (expect.issuer !== undefined && claims.iss !== expect.issuer) {
    throw new JwtError(`the token's issuer must be ${JSON.stringify(expect.issuer)}`);
  }
  if (expect.audience !== undefined) {
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(expect.audience)) throw new JwtError(`the token's audience must include ${JSON.stringify(expect.audience)}`);
  }
  if (typeof claims.sub !== "string" || claims.sub === "") throw new JwtError("the token has no subject (sub claim)");
}

function decodeBase64Url(text: string, what: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new JwtError(`the token's ${what} is not base64url`);
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  try {
    return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  } catch {
    throw new JwtError(`the token's ${what} is not base64url`);
  }
}

function decodeJson(text: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(decodeBase64Url(text, what)));
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (error) {
    if (error instanceof JwtError) throw error;
  }
  throw new JwtError(`the token's ${what} is not a JSON object`);
}
