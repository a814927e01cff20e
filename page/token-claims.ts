/**
 * What a bearer token says about itself, read so that a person can see whose
 * token a link hands them before the page uses it. Pure, so it runs in Node too.
 *
 * Nothing here is verified: the page has no key, and the link that brought
 * the token may be an attacker's, so the subject shown is only the subject
 * the token claims. The gateway checks the signature when the token is used;
 * a forged claim is refused there, a genuine one is what the person is
 * asked about here.
 */

/** The claims a person is shown; `undefined` fields were absent or not of the JWT's type. */
export interface TokenClaims {
  subject: string | undefined;
  expiresAt: Date | undefined;
}

/** The token's payload claims, or undefined when it is not a JWT whose payload is a JSON object. */
export function readTokenClaims(token: string): TokenClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(decodeBase64Url(parts[1]));
  } catch {
    return undefined;
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return undefined;
  const { sub, exp } = payload as Record<string, unknown>;
  return {
    subject: typeof sub === "string" && sub !== "" ? sub : undefined,
    // RFC 7519 §2: NumericDate, seconds since the epoch.
    expiresAt: typeof exp === "number" && Number.isFinite(exp) ? new Date(exp * 1000) : undefined,
  };
}

/** RFC 7515's base64url without padding, decoded as UTF-8 (a subject may be any string). */
function decodeBase64Url(text: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("not base64url");
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
