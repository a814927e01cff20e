/**
 * Signatures of the requests the gateway sends to hooks (event webhook and
 * pre-create hook), keyed with WEBHOOK_SECRET:
 *
 *   Tus-Edge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
 *
 * The time is signed with the body, so a receiver that refuses a `t` older
 * than a few minutes refuses a recorded request replayed later. Every
 * delivery attempt is signed anew, with its own time.
 */
export const SIGNATURE_HEADER = "Tus-Edge-Signature";

/** How far a receiver should let `t` be from its own clock; the default of `verifySignature`. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** The `Tus-Edge-Signature` value for `body`, signed at `nowSeconds`. */
export async function signatureHeader(secret: string, body: string, nowSeconds: number): Promise<string> {
  const key = await hmacKey(secret, "sign");
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, signedBytes(nowSeconds, body)));
  return `t=${nowSeconds},v1=${[...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * The receiver's recipe, for receivers written with Web Crypto (a Worker, Deno,
 * Node ≥ 20): the header must name a time within the tolerance of `nowSeconds`
 * and a `v1` that is the HMAC of "<t>.<body>" exactly as received. Several
 * `v1` are allowed (any one may match); `crypto.subtle.verify` compares in
 * constant time.
 */
export async function verifySignature(
  header: string | null | undefined,
  body: string,
  secret: string,
  options: { nowSeconds: number; toleranceSeconds?: number },
): Promise<boolean> {
  const fields = (header ?? "").split(",").map((field) => field.trim().split("=") as [string, string | undefined]);
  const times = fields.filter(([name]) => name === "t").map(([, value]) => value ?? "");
  const signatures = fields.filter(([name]) => name === "v1").map(([, value]) => value ?? "");
  if (times.length !== 1 || !/^[0-9]{1,12}$/.test(times[0]!)) return false;
  const signedAt = Number(times[0]);
  if (Math.abs(options.nowSeconds - signedAt) > (options.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS)) return false;
  const key = await hmacKey(secret, "verify");
  for (const signature of signatures) {
    if (!/^[0-9a-f]{64}$/.test(signature)) continue;
    const mac = Uint8Array.from(signature.match(/../g)!, (pair) => parseInt(pair, 16));
    if (await crypto.subtle.verify("HMAC", key, mac, signedBytes(signedAt, body))) return true;
  }
  return false;
}

function signedBytes(seconds: number, body: string) {
  return new TextEncoder().encode(`${seconds}.${body}`);
}

function hmacKey(secret: string, use: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [use]);
}
