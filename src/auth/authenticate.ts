import { TusError } from "../errors";
import { importHmacSecret, importJwks, JwtError, verifyJwt, type VerificationKey } from "./jwt";
import { ANONYMOUS, principalOf, type Principal } from "./principal";

export { ANONYMOUS, authorize, authorizeUpload, TUS_SCOPES, type Principal, type TusScope } from "./principal";

export type AuthConfig =
  | {
      mode: "open";
      /**
       * AUTH_MODE was not set: open on loopback hosts (local development)
       * only, refused everywhere else (src/gateway.ts). Absent when open was
       * chosen, in AUTH_MODE or in createTusGateway's options.
       */
      loopbackOnly?: boolean;
    }
  | {
      mode: "jwt";
      secret: string | undefined;
      jwks: { keys: unknown[] } | undefined;
      /** Required `aud`; undefined: not checked (an HS256 secret alone, or JWT_AUDIENCE=*). */
      audience: string | undefined;
      issuer: string | undefined;
      /** A token whose scopes name no `tus:*` scope may do nothing (instead of everything). Default false. */
      requireTusScopes?: boolean;
      /**
       * Longest a token in `?access_token=` may still be valid (its `exp` from
       * now), in seconds. Default 3600 (QUERY_TOKEN_MAX_LIFETIME_SECONDS).
       */
      queryTokenMaxLifetimeSeconds?: number;
    };

/** A token in a URL may stay valid for an hour at most, unless configured otherwise. */
export const DEFAULT_QUERY_TOKEN_MAX_LIFETIME_SECONDS = 3600;

const REALM = 'Bearer realm="tus-edge"';
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
    try {
      const bearer = bearerToken(request);
      if (bearer === undefined) {
        // Said in words so that the request's log line tells a missing token from a refused one.
        throw new TusError("unauthorized", "no bearer token: this server needs one (Authorization: Bearer <JWT>)", { headers: { "WWW-Authenticate": REALM } });
      }
      const claims = await verifyJwt(bearer.token, await this.verificationKeys(), {
        audience: this.config.audience,
        issuer: this.config.issuer,
        now: Math.floor(Date.now() / 1000),
        leewaySeconds: LEEWAY_SECONDS,
      });
      if (bearer.inQuery) this.checkQueryTokenLifetime(claims.exp);
      return principalOf(claims, { requireTusScopes: this.config.requireTusScopes ?? false, tokenInQuery: bearer.inQuery });
    } catch (error) {
      if (!(error instanceof JwtError)) throw error;
      const description = error.message.replace(/"/g, "'");
      throw new TusError("unauthorized", `the bearer token was refused: ${error.message}`, {
        headers: { "WWW-Authenticate": `${REALM}, error="invalid_token", error_description="${description}"` },
      });
    }
  }

  /**
   * A URL is kept in server logs, browser history and Referer headers: a
   * token that travels in one must stop working on its own, and soon. A
   * download link's token is minted for minutes; one valid for years is a
   * long-lived key that was put where keys leak.
   */
  private checkQueryTokenLifetime(exp: unknown): void {
    const maxSeconds = (this.config.mode === "jwt" && this.config.queryTokenMaxLifetimeSeconds) || DEFAULT_QUERY_TOKEN_MAX_LIFETIME_SECONDS;
    if (exp === undefined) {
      throw new JwtError(
        `a token in ?access_token= must have an exp claim at most ${maxSeconds} s away (a URL is logged and kept in history); send it in the Authorization header or give it an exp`,
      );
    }
    const remaining = Number(exp) - Math.floor(Date.now() / 1000);
    if (remaining > maxSeconds + LEEWAY_SECONDS) {
      throw new JwtError(
        `a token in ?access_token= may be valid for at most ${maxSeconds} s more (QUERY_TOKEN_MAX_LIFETIME_SECONDS), this one is valid for ${remaining} s; mint a short-lived token for the link, or send this one in the Authorization header`,
      );
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
function bearerToken(request: Request): { token: string; inQuery: boolean } | undefined {
  const header = request.headers.get("Authorization");
  // Another scheme (e.g. Basic) is no bearer token at all: the bare challenge says what is needed.
  if (header !== null && /^Bearer\b/i.test(header)) {
    const match = header.match(/^Bearer +([A-Za-z0-9._~+/-]+=*)$/i);
    if (!match) throw new JwtError("the Authorization header must be 'Bearer <token>' with exactly one token");
    return { token: match[1]!, inQuery: false };
  }
  const fromQuery = request.method === "GET" ? new URL(request.url).searchParams.get("access_token") : null;
  return fromQuery === null ? undefined : { token: fromQuery, inQuery: true };
}
