import { TusError } from "../errors";
import { importHmacSecret, importJwks, JwtError, verifyJwt, type JwtClaims, type VerificationKey } from "./jwt";

/**
 * Who is asking, and what their token allows. In open mode nobody is
 * anybody: uploads have no owner and no limits beyond the server's.
 */
export interface Principal {
  /** The token's `sub`; uploads belong to the subject that created them. */
  subject: string | undefined;
  /** The token's `max_upload_size` claim: the largest upload this token may create. */
  maxUploadSize: number | undefined;
  /** The token's `key_prefix` claim: its uploads' objects are placed under it. */
  keyPrefix: string | undefined;
  /** What the token's `tus:*` scopes allow; undefined when it names none (then everything). */
  scopes: ReadonlySet<TusScope> | undefined;
}

/** Scopes a token may carry in its `scope` claim to narrow what it may do. */
export const TUS_SCOPES = ["tus:upload", "tus:download", "tus:delete"] as const;
export type TusScope = (typeof TUS_SCOPES)[number];

/** Which scope lets a method through; HEAD serves both uploading and downloading clients. */
const SCOPES_FOR_METHOD: Record<string, readonly TusScope[]> = {
  POST: ["tus:upload"],
  PATCH: ["tus:upload"],
  HEAD: ["tus:upload", "tus:download"],
  GET: ["tus:download"],
  DELETE: ["tus:delete"],
};

export const ANONYMOUS: Principal = { subject: undefined, maxUploadSize: undefined, keyPrefix: undefined, scopes: undefined };

/**
 * A valid token that may not do this: 403. A token whose `scope` names no
 * `tus:*` scope is not narrowed (tokens from an identity provider often carry
 * unrelated scopes such as `openid`).
 */
export function authorize(principal: Principal, method: string): void {
  const needed = SCOPES_FOR_METHOD[method];
  if (!principal.scopes || !needed || needed.some((scope) => principal.scopes!.has(scope))) return;
  throw new TusError("forbidden", `the token's scope does not allow ${method}; it needs ${needed.join(" or ")}`);
}

export type AuthConfig =
  | { mode: "open" }
  | { mode: "jwt"; secret: string | undefined; jwks: { keys: unknown[] } | undefined; audience: string | undefined; issuer: string | undefined };

const REALM = 'Bearer realm="tus-edge"';
/** Leaves room in R2's 1,024-byte keys for the configured prefix and the template. */
const MAX_KEY_PREFIX_BYTES = 256;
/** Clocks differ a little between token issuers and the edge. */
const LEEWAY_SECONDS = 30;

/**
 * Checks the bearer token of every request (POST, HEAD, PATCH, DELETE,
 * GET; not OPTIONS) before it reaches an upload's Durable Object. Keys are
 * imported once per isolate.
 */
export class Authenticator {
  private keys: Promise<VerificationKey[]> | undefined;

  constructor(private readonly config: AuthConfig) {}

  async authenticate(request: Request): Promise<Principal> {
    if (this.config.mode === "open") return ANONYMOUS;
    let claims: JwtClaims;
    try {
      const token = bearerToken(request);
      if (token === undefined) {
        throw new TusError("unauthorized", undefined, { headers: { "WWW-Authenticate": REALM } });
      }
      claims = await verifyJwt(token, await this.verificationKeys(), {
        audience: this.config.audience,
        issuer: this.config.issuer,
        now: Math.floor(Date.now() / 1000),
        leewaySeconds: LEEWAY_SECONDS,
      });
      return principalOf(claims);
    } catch (error) {
      if (!(error instanceof JwtError)) throw error;
      const description = error.message.replace(/"/g, "'");
      throw new TusError("unauthorized", `the bearer token was refused: ${error.message}`, {
        headers: { "WWW-Authenticate": `${REALM}, error="invalid_token", error_description="${description}"` },
      });
    }
  }

  private verificationKeys(): Promise<VerificationKey[]> {
    if (this.config.mode !== "jwt") return Promise.resolve([]);
    const { secret, jwks } = this.config;
    this.keys ??= (async () => [...(secret ? [await importHmacSecret(secret)] : []), ...(jwks ? await importJwks(jwks) : [])])();
    return this.keys;
  }
}

/**
 * `Authorization: Bearer <token>`; for GET also `?access_token=` (RFC 6750
 * §2.3), so that a plain download link can carry its token.
 */
function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("Authorization");
  // Another scheme (e.g. Basic) is no bearer token at all: the bare challenge says what is needed.
  if (header !== null && /^Bearer\b/i.test(header)) {
    const match = header.match(/^Bearer +([A-Za-z0-9._~+/-]+=*)$/i);
    if (!match) throw new JwtError("the Authorization header must be 'Bearer <token>' with exactly one token");
    return match[1];
  }
  if (request.method === "GET") return new URL(request.url).searchParams.get("access_token") ?? undefined;
  return undefined;
}

function principalOf(claims: JwtClaims): Principal {
  const maxUploadSize = claims.max_upload_size;
  if (maxUploadSize !== undefined && !(Number.isSafeInteger(maxUploadSize) && (maxUploadSize as number) >= 0)) {
    throw new JwtError("the token's max_upload_size claim must be a non-negative integer");
  }
  const keyPrefix = claims.key_prefix;
  if (keyPrefix !== undefined && (typeof keyPrefix !== "string" || new TextEncoder().encode(keyPrefix).length > MAX_KEY_PREFIX_BYTES)) {
    throw new JwtError(`the token's key_prefix claim must be a string of at most ${MAX_KEY_PREFIX_BYTES} bytes`);
  }
  if (claims.scope !== undefined && typeof claims.scope !== "string") throw new JwtError("the token's scope claim must be a space-separated string");
  const named = (claims.scope ?? "").split(" ").filter((scope): scope is TusScope => (TUS_SCOPES as readonly string[]).includes(scope));
  return {
    subject: claims.sub as string,
    maxUploadSize: maxUploadSize as number | undefined,
    keyPrefix,
    scopes: named.length ? new Set(named) : undefined,
  };
}
