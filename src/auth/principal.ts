import { TusError } from "../errors";
import { QUOTA_NAMES, QUOTA_SETTINGS, type QuotaLimits } from "../quotas";
import { JwtError, type JwtClaims } from "./jwt";

/**
 * Who is asking, and what their token allows. In open mode nobody is
 * anybody: uploads have no owner and no limits beyond the server's.
 */
export interface Principal {
  /** The token's `sub`; uploads belong to the subject that created them. */
  subject: string | undefined;
  /** The token's `max_upload_size` claim: the largest upload this token may create. */
  maxUploadSize: number | undefined;
  /**
   * The token's quota claims (`max_active_uploads`, `max_active_bytes`,
   * `max_stored_bytes`): its subject's quotas for the uploads it creates,
   * in place of the server's SUBJECT_MAX_* (an app's plan, say).
   */
  quotas: QuotaLimits;
  /** The token's `key_prefix` claim: its uploads' objects are placed under it. */
  keyPrefix: string | undefined;
  /**
   * What the token's `tus:*` scopes allow. Undefined when it names none and
   * the server does not require them (then everything); empty when it names
   * none and JWT_REQUIRE_TUS_SCOPES is on (then nothing).
   */
  scopes: ReadonlySet<TusScope> | undefined;
  /** The token's `upload_id` claim: the one upload it may reach; undefined for any of its subject's. */
  uploadId: string | undefined;
  /**
   * Whether the token came in the URL (`?access_token=`, for download links)
   * rather than in `Authorization`. Such a token opens downloads only:
   * listing and administration refuse it.
   */
  tokenInQuery: boolean;
}

/**
 * Scopes a token may carry in its `scope` or `scp` claim to narrow what it
 * may do. `tus:admin` (listing every upload, inspecting and terminating any:
 * src/listing) is granted by naming it and nothing else: a token without
 * tus: scopes may do every tus request but no administration.
 */
export const TUS_SCOPES = ["tus:upload", "tus:download", "tus:delete", "tus:admin"] as const;
export type TusScope = (typeof TUS_SCOPES)[number];

/** Which scope lets a method through; HEAD serves both uploading and downloading clients. */
const SCOPES_FOR_METHOD: Record<string, readonly TusScope[]> = {
  POST: ["tus:upload"],
  // The IETF dialect also creates uploads with PUT.
  PUT: ["tus:upload"],
  PATCH: ["tus:upload"],
  HEAD: ["tus:upload", "tus:download"],
  GET: ["tus:download"],
  DELETE: ["tus:delete"],
};

export const ANONYMOUS: Principal = { subject: undefined, maxUploadSize: undefined, quotas: {}, keyPrefix: undefined, scopes: undefined, uploadId: undefined, tokenInQuery: false };

/** Leaves room in R2's 1,024-byte keys for the configured prefix and the template. */
const MAX_KEY_PREFIX_BYTES = 256;

/**
 * A valid token that may not do this: 403. A token whose scopes name no
 * `tus:*` scope is not narrowed unless the server requires tus scopes
 * (tokens from an identity provider often carry unrelated scopes such as
 * `openid`). A token bound to one upload creates none.
 */
export function authorize(principal: Principal, method: string): void {
  const needed = SCOPES_FOR_METHOD[method];
  const { scopes } = principal;
  if (scopes && needed && !needed.some((scope) => scopes.has(scope))) {
    const why = scopes.size === 0 ? "the token names no tus: scope, and this server grants nothing without one" : `the token's scope does not allow ${method}`;
    throw new TusError("forbidden", `${why}; it needs ${needed.join(" or ")}`);
  }
  if ((method === "POST" || method === "PUT") && principal.uploadId !== undefined) {
    throw new TusError("forbidden", "the token is bound to one upload (upload_id claim) and cannot create uploads");
  }
}

/**
 * A token bound to one upload finds no other: 404, the answer for another
 * subject's upload and for one that does not exist, so a download link's
 * token reveals nothing about its subject's other uploads.
 */
export function authorizeUpload(principal: Principal, uploadId: string | undefined): void {
  if (principal.uploadId !== undefined && uploadId !== undefined && uploadId !== principal.uploadId) {
    throw new TusError("upload-not-found");
  }
}

/** The principal of a verified token; a malformed optional claim refuses the token. */
export function principalOf(claims: JwtClaims, options: { requireTusScopes: boolean; tokenInQuery: boolean }): Principal {
  const maxUploadSize = claims.max_upload_size;
  if (maxUploadSize !== undefined && !(Number.isSafeInteger(maxUploadSize) && (maxUploadSize as number) >= 0)) {
    throw new JwtError("the token's max_upload_size claim must be a non-negative integer");
  }
  const quotas: QuotaLimits = {};
  for (const quota of QUOTA_NAMES) {
    const { claim } = QUOTA_SETTINGS[quota];
    const value = claims[claim];
    if (value === undefined) continue;
    if (!(Number.isSafeInteger(value) && (value as number) >= 0)) throw new JwtError(`the token's ${claim} claim must be a non-negative integer`);
    quotas[quota] = value as number;
  }
  const keyPrefix = claims.key_prefix;
  if (keyPrefix !== undefined && (typeof keyPrefix !== "string" || new TextEncoder().encode(keyPrefix).length > MAX_KEY_PREFIX_BYTES)) {
    throw new JwtError(`the token's key_prefix claim must be a string of at most ${MAX_KEY_PREFIX_BYTES} bytes`);
  }
  const uploadId = claims.upload_id;
  if (uploadId !== undefined && typeof uploadId !== "string") throw new JwtError("the token's upload_id claim must be a string (an upload id)");
  const named = grantedScopes(claims).filter((scope): scope is TusScope => (TUS_SCOPES as readonly string[]).includes(scope));
  return {
    subject: claims.sub as string,
    maxUploadSize: maxUploadSize as number | undefined,
    quotas,
    keyPrefix,
    scopes: named.length ? new Set(named) : options.requireTusScopes ? new Set() : undefined,
    uploadId,
    tokenInQuery: options.tokenInQuery,
  };
}

/**
 * Every scope the token names: `scope` is a space-separated string (RFC
 * 8693 §4.2); `scp` is a list of strings (Okta) or a space-separated string
 * (Azure AD). A token carrying both gets both.
 */
function grantedScopes(claims: JwtClaims): string[] {
  const { scope, scp } = claims;
  if (scope !== undefined && typeof scope !== "string") throw new JwtError("the token's scope claim must be a space-separated string");
  const fromScp = typeof scp === "string" ? scp.split(" ") : scp;
  if (fromScp !== undefined && !(Array.isArray(fromScp) && fromScp.every((item) => typeof item === "string"))) {
    throw new JwtError("the token's scp claim must be a list of strings or a space-separated string");
  }
  return [...(scope ?? "").split(" "), ...((fromScp as string[] | undefined) ?? [])];
}
