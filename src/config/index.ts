import { DEFAULT_QUERY_TOKEN_MAX_LIFETIME_SECONDS, type AuthConfig } from "../auth/authenticate";
import { isLogLevel, LOG_LEVELS, type LogLevel } from "../observability/logger";
import { parseUploadPageEmbedOrigins, parseUploadPageEndpoints } from "./upload-page";
import { QUOTA_NAMES, QUOTA_SETTINGS, type QuotaLimits } from "../quotas";
import { isValidPartSize, MiB, R2_LIMITS } from "../r2-limits";
import { SUPPORTED_INTEROP_VERSIONS } from "./interop-versions";
import { keyTemplateProblem } from "./key-template";
import { ConfigError, readBoolean, readInteger, readList, readSeconds, readString, readUrl, type Variables } from "./parse";

/**
 * Configuration, parsed and validated once per isolate from the Worker's
 * variables and secrets. Every field's default is listed here and in
 * docs/configuration.md; a bad value stops the Worker with a message that names the
 * variable and the fix.
 */
export interface GatewayConfig {
  /** URL path of the upload collection; upload URLs are `<basePath><id>`. Default `/files/`. */
  basePath: string;
  /** URL path of administration (scope tus:admin; src/listing): `<adminPath>` lists, `<adminPath><id>` inspects. Default `/admin/uploads/`. */
  adminPath: string;
  /** Largest `Upload-Length` accepted (`Tus-Max-Size`). Default: R2's largest object. */
  maxUploadSize: number;
  /** R2 part size for uploads of known length; grown for uploads over 10,000 parts. Default 8 MiB. */
  partSize: number;
  /** R2 part size for deferred-length uploads, which may grow to 10,000 of them. Default 16 MiB. */
  deferredPartSize: number;
  /**
   * Largest part a PATCH assembles in memory. A larger part (uploads over
   * 10,000 × this size) is spilled to the Durable Object's storage as it fills,
   * so memory stays bounded on the 128 MB isolate. Default 32 MiB.
   */
  partBufferLimit: number;
  /**
   * Part-buffer memory all PATCHes in flight in one isolate may hold; past
   * it, PATCHes get small buffers and store bytes in SQLite as they fill.
   * Default 48 MiB (of the isolate's 128 MB).
   */
  isolateBufferBudget: number;
  /** How long a request waits for an older request on the same upload to let go. Default 5000 ms. */
  lockTimeoutMs: number;
  /** Prefix of every R2 object key. Default `uploads/`. */
  objectKeyPrefix: string;
  /** The rest of the key, with {id} {subject} {filename} {date}. Default `{id}`. */
  objectKeyTemplate: string;
  /** Whether a new upload may replace an existing object at its key. Default false. */
  overwriteObjects: boolean;
  /** Origins browsers may upload from: `*` (default) or a list. */
  corsAllowedOrigins: AllowedOrigins;
  /** Idle time after which an unfinished upload expires; 0 never. Default 24 hours. */
  expireAfterMs: number;
  /** Time after finishing at which a finished upload (and its object) expires; 0 never (default). */
  expireFinishedAfterMs: number;
  /**
   * How long the upload index keeps an ended (terminated, expired, failed)
   * upload's row, which lists it with its state but no metadata; 0 for good.
   * Default 30 days.
   */
  indexRetentionMs: number;
  /**
   * Quotas per subject (SUBJECT_MAX_ACTIVE_UPLOADS, SUBJECT_MAX_ACTIVE_BYTES,
   * SUBJECT_MAX_STORED_BYTES), kept by each subject's index; a token's claims
   * replace them for the uploads it creates. Default: none. Needs AUTH_MODE=jwt.
   */
  subjectQuotas: QuotaLimits;
  /** Whether DELETE on a finished upload deletes its R2 object too. Default true. */
  terminateDeletesObject: boolean;
  /** Whether partial uploads are deleted once their final upload is assembled. Default true. */
  concatDeletesPartials: boolean;
  /**
   * How long the POST creating a final upload whose partials are all finished
   * may spend assembling it before answering, so that it can be downloaded at
   * once; what is left then continues in the background. 0: always in the
   * background. Default 20,000 ms.
   */
  concatSyncAssemblyMs: number;
  /**
   * Most partial uploads one final upload may name: creating it costs two
   * Durable Object calls per partial, in the creating request. Default 100.
   */
  maxConcatPartials: number;
  /**
   * Interop versions of the IETF Resumable Uploads draft this gateway speaks
   * (requests with `Upload-Draft-Interop-Version`). Default: every supported one.
   */
  rufhInteropVersions: ReadonlySet<number>;
  /**
   * Largest request body the gateway announces and accepts per request
   * (`Upload-Limit: max-append-size`); the edge's own body limit is the
   * zone plan's (100 MB on Free/Pro), which the Worker cannot see, so a
   * deployment states it here. Default: unset (not announced).
   */
  maxAppendSize: number | undefined;
  /**
   * Who may upload: bearer JWTs, or anyone (open). Without AUTH_MODE: open on
   * loopback hosts only, so that a deployment that forgot it (or lost a
   * `--var AUTH_MODE:jwt` on its next deploy) serves nobody instead of everybody.
   */
  auth: AuthConfig;
  /** Largest Upload-Metadata header, in bytes. Default 4096. */
  maxMetadataBytes: number;
  /** Most metadata keys per upload. Default 32. */
  maxMetadataKeys: number;
  /** Metadata keys a client may send; undefined: any. */
  allowedMetadataKeys: ReadonlySet<string> | undefined;
  /** Accepted `filetype` values (`image/png`, `video/*`); undefined: any. */
  allowedFiletypes: readonly string[] | undefined;
  /** Upload events are POSTed here (at least once, with retries). */
  webhookUrl: string | undefined;
  /** Signs event webhook and pre-create hook requests: `Tus-Edge-Signature: t=<seconds>,v1=<HMAC-SHA256 of "<t>.<body>">`. */
  webhookSecret: string | undefined;
  /** Asked before each upload is created; may reject it or change its metadata and key. */
  preCreateHookUrl: string | undefined;
  /**
   * Asked once an upload's object is complete, before the completing request
   * is answered; may answer the client or reject the upload (docs/hooks.md, "Finishing an upload").
   */
  preFinishHookUrl: string | undefined;
  /** How long the pre-finish hook (webhook or callback) may take to decide. Default 10,000 ms. */
  preFinishHookTimeoutMs: number;
  /** How long a finished upload waits for the pre-finish hook's decision before the fallback decides. Default 24 hours. */
  preFinishGiveUpMs: number;
  /** What decides once that time is up: `accept` (default) or `reject`. */
  preFinishFallback: "accept" | "reject";
  /** Whether a rejected upload's object is deleted. Default true. */
  preFinishRejectDeletesObject: boolean;
  /**
   * The browser upload page at `/` (page/, served from the ASSETS binding):
   * `auto` (default) serves it only to loopback hosts (127.0.0.1, localhost),
   * i.e. in local development; `on` everywhere; `off` never.
   */
  uploadPage: UploadPageMode;
  /**
   * Tus endpoints the page may upload to (and send its token to) besides its
   * own gateway's `<origin><basePath>`. Default: none.
   */
  uploadPageEndpoints: readonly string[];
  /** Origins that may frame the page and pass it a token by postMessage. Default: none. */
  uploadPageEmbedOrigins: readonly string[];
  /** Lowest level of log line written: `error`, `warn`, `info` (default) or `debug` (adds every R2 call). */
  logLevel: LogLevel;
}

export type UploadPageMode = "auto" | "on" | "off";

/** Origins whose scripts may call the gateway (CORS_ALLOWED_ORIGINS): any, or these. */
export type AllowedOrigins = "*" | ReadonlySet<string>;

export const DEFAULT_CONFIG: GatewayConfig = {
  basePath: "/files/",
  adminPath: "/admin/uploads/",
  maxUploadSize: R2_LIMITS.maxObjectSize,
  partSize: 8 * MiB,
  deferredPartSize: 16 * MiB,
  partBufferLimit: 32 * MiB,
  isolateBufferBudget: 48 * MiB,
  lockTimeoutMs: 5000,
  objectKeyPrefix: "uploads/",
  objectKeyTemplate: "{id}",
  overwriteObjects: false,
  corsAllowedOrigins: "*",
  expireAfterMs: 24 * 60 * 60 * 1000,
  expireFinishedAfterMs: 0,
  indexRetentionMs: 30 * 24 * 60 * 60 * 1000,
  subjectQuotas: {},
  terminateDeletesObject: true,
  concatDeletesPartials: true,
  concatSyncAssemblyMs: 20_000,
  maxConcatPartials: 100,
  rufhInteropVersions: new Set(SUPPORTED_INTEROP_VERSIONS),
  maxAppendSize: undefined,
  auth: { mode: "open", loopbackOnly: true },
  maxMetadataBytes: 4096,
  maxMetadataKeys: 32,
  allowedMetadataKeys: undefined,
  allowedFiletypes: undefined,
  webhookUrl: undefined,
  webhookSecret: undefined,
  preCreateHookUrl: undefined,
  preFinishHookUrl: undefined,
  preFinishHookTimeoutMs: 10_000,
  preFinishGiveUpMs: 24 * 60 * 60 * 1000,
  preFinishFallback: "accept",
  preFinishRejectDeletesObject: true,
  uploadPage: "auto",
  uploadPageEndpoints: [],
  uploadPageEmbedOrigins: [],
  logLevel: "info",
};

export function parseConfig(vars: Variables): GatewayConfig {
  const defaults = DEFAULT_CONFIG;
  const config: GatewayConfig = {
    basePath: parseBasePath(readString(vars, "BASE_PATH")),
    adminPath: parseBasePath(readString(vars, "ADMIN_PATH"), "ADMIN_PATH", DEFAULT_CONFIG.adminPath),
    maxUploadSize: readInteger(vars, "MAX_UPLOAD_SIZE", defaults.maxUploadSize, 0, R2_LIMITS.maxObjectSize),
    partSize: readInteger(vars, "PART_SIZE", defaults.partSize, R2_LIMITS.minPartSize, R2_LIMITS.maxPartSize),
    deferredPartSize: readInteger(vars, "DEFERRED_PART_SIZE", defaults.deferredPartSize, R2_LIMITS.minPartSize, R2_LIMITS.maxPartSize),
    partBufferLimit: readInteger(vars, "PART_BUFFER_LIMIT", defaults.partBufferLimit, MiB, R2_LIMITS.maxPartSize),
    isolateBufferBudget: readInteger(vars, "ISOLATE_BUFFER_BUDGET", defaults.isolateBufferBudget, 0, R2_LIMITS.maxPartSize),
    lockTimeoutMs: readInteger(vars, "LOCK_TIMEOUT_MS", defaults.lockTimeoutMs, 100, 60_000),
    objectKeyPrefix: parseKeyPrefix(readString(vars, "OBJECT_KEY_PREFIX")),
    objectKeyTemplate: parseKeyTemplate(readString(vars, "OBJECT_KEY_TEMPLATE")),
    overwriteObjects: readBoolean(vars, "OVERWRITE_OBJECTS", defaults.overwriteObjects),
    corsAllowedOrigins: parseOrigins(readList(vars, "CORS_ALLOWED_ORIGINS")),
    expireAfterMs: readSeconds(vars, "EXPIRE_AFTER_SECONDS", defaults.expireAfterMs),
    expireFinishedAfterMs: readSeconds(vars, "EXPIRE_FINISHED_AFTER_SECONDS", defaults.expireFinishedAfterMs),
    indexRetentionMs: readSeconds(vars, "INDEX_RETENTION_SECONDS", defaults.indexRetentionMs),
    subjectQuotas: parseQuotas(vars),
    terminateDeletesObject: readBoolean(vars, "TERMINATE_DELETES_OBJECT", defaults.terminateDeletesObject),
    concatDeletesPartials: readBoolean(vars, "CONCAT_DELETES_PARTIALS", defaults.concatDeletesPartials),
    concatSyncAssemblyMs: readInteger(vars, "CONCAT_SYNC_ASSEMBLY_MS", defaults.concatSyncAssemblyMs, 0, 300_000),
    maxConcatPartials: readInteger(vars, "MAX_CONCAT_PARTIALS", defaults.maxConcatPartials, 1, 1000),
    rufhInteropVersions: parseInteropVersions(readList(vars, "RUFH_INTEROP_VERSIONS")),
    maxAppendSize: readOptionalInteger(vars, "MAX_APPEND_SIZE", 1, R2_LIMITS.maxObjectSize),
    auth: parseAuth(vars),
    maxMetadataBytes: readInteger(vars, "MAX_METADATA_BYTES", defaults.maxMetadataBytes, 0, 64 * 1024),
    maxMetadataKeys: readInteger(vars, "MAX_METADATA_KEYS", defaults.maxMetadataKeys, 0, 1000),
    allowedMetadataKeys: optionalSet(readList(vars, "METADATA_ALLOWED_KEYS")),
    allowedFiletypes: parseFiletypes(readList(vars, "ALLOWED_FILETYPES")),
    webhookUrl: readUrl(vars, "WEBHOOK_URL"),
    webhookSecret: readString(vars, "WEBHOOK_SECRET"),
    preCreateHookUrl: readUrl(vars, "PRE_CREATE_HOOK_URL"),
    preFinishHookUrl: readUrl(vars, "PRE_FINISH_HOOK_URL"),
    preFinishHookTimeoutMs: readInteger(vars, "PRE_FINISH_HOOK_TIMEOUT_MS", defaults.preFinishHookTimeoutMs, 100, 120_000),
    preFinishGiveUpMs: readInteger(vars, "PRE_FINISH_HOOK_GIVE_UP_SECONDS", defaults.preFinishGiveUpMs / 1000, 1, 30 * 24 * 60 * 60) * 1000,
    preFinishFallback: parseFallback(readString(vars, "PRE_FINISH_HOOK_FALLBACK")),
    preFinishRejectDeletesObject: readBoolean(vars, "PRE_FINISH_REJECT_DELETES_OBJECT", defaults.preFinishRejectDeletesObject),
    uploadPage: parseUploadPage(readString(vars, "UPLOAD_PAGE")),
    uploadPageEndpoints: parseUploadPageEndpoints(readList(vars, "UPLOAD_PAGE_ENDPOINTS")),
    uploadPageEmbedOrigins: parseUploadPageEmbedOrigins(readList(vars, "UPLOAD_PAGE_EMBED_ORIGINS")),
    logLevel: parseLogLevel(readString(vars, "LOG_LEVEL")),
  };
  if (!isValidPartSize(config.partSize)) throw new ConfigError("PART_SIZE", "is not a valid R2 part size");
  if (config.deferredPartSize > config.partBufferLimit) {
    throw new ConfigError("DEFERRED_PART_SIZE", `must not exceed PART_BUFFER_LIMIT (${config.partBufferLimit})`);
  }
  if (config.basePath.startsWith(config.adminPath)) {
    throw new ConfigError("ADMIN_PATH", `must not contain BASE_PATH (${config.basePath}), or administration would hide the uploads`);
  }
  if (config.partSize > config.partBufferLimit) {
    throw new ConfigError("PART_SIZE", `must not exceed PART_BUFFER_LIMIT (${config.partBufferLimit})`);
  }
  checkSubjectsCannotShareKeys(config);
  checkQuotasHaveSubjects(config);
  return config;
}

function parseQuotas(vars: Variables): QuotaLimits {
  const quotas: QuotaLimits = {};
  for (const quota of QUOTA_NAMES) {
    const limit = readOptionalInteger(vars, QUOTA_SETTINGS[quota].variable, 0, Number.MAX_SAFE_INTEGER);
    if (limit !== undefined) quotas[quota] = limit;
  }
  return quotas;
}

/**
 * Quotas count per subject, and only tokens have subjects: in open mode
 * every upload is nobody's, so a quota would never apply. And each
 * subject's quotas are kept by its index (the SUBJECTS binding, which the
 * gateway sees and the variables' check does not). Refused rather than
 * ignored, so that an operator who set one does not believe it holds.
 */
export function checkQuotasHaveSubjects(config: Pick<GatewayConfig, "auth" | "subjectQuotas">, subjectsBound = true): void {
  const set = QUOTA_NAMES.find((quota) => config.subjectQuotas[quota] !== undefined);
  if (!set) return;
  const { variable } = QUOTA_SETTINGS[set];
  if (config.auth.mode !== "jwt") {
    throw new ConfigError(
      variable,
      `is set, but quotas count per subject (a token's sub) and AUTH_MODE is not "jwt": in open mode uploads have no subject and no quota could apply. Set AUTH_MODE = "jwt", or remove ${variable}`,
    );
  }
  if (!subjectsBound) {
    throw new ConfigError(
      variable,
      "is set, but the Worker has no SUBJECTS binding, where each subject's quotas are kept: bind the SubjectIndex class as SUBJECTS (wrangler.toml, see docs/listing.md)",
    );
  }
}

/**
 * With tokens, uploads of different subjects must never share an object
 * key: one subject's file would be refused because of another's (and the
 * refusal tells them a key exists), or, with OVERWRITE_OBJECTS, replace it.
 * A key that holds the upload id or the subject cannot be another
 * subject's. Checked for the Worker's variables and again for a library's
 * merged options (src/gateway.ts).
 */
export function checkSubjectsCannotShareKeys(config: Pick<GatewayConfig, "auth" | "objectKeyTemplate">): void {
  const { auth, objectKeyTemplate } = config;
  if (auth.mode === "jwt" && !objectKeyTemplate.includes("{id}") && !objectKeyTemplate.includes("{subject}")) {
    throw new ConfigError(
      "OBJECT_KEY_TEMPLATE",
      `is "${objectKeyTemplate}", which has neither {id} nor {subject}: with AUTH_MODE=jwt two subjects' uploads could get the same key, and one would be refused or overwritten because of the other's file; ` +
        `write "{subject}/${objectKeyTemplate}" to keep each subject's files apart, or "{id}/${objectKeyTemplate}" to keep every upload apart`,
    );
  }
}

const parsedByEnv = new WeakMap<object, GatewayConfig>();

/** `parseConfig`, once per `env` object: the runtime hands every request the same one. */
export function configFromEnv(env: object): GatewayConfig {
  let config = parsedByEnv.get(env);
  if (!config) {
    config = parseConfig(env as Variables);
    parsedByEnv.set(env, config);
  }
  return config;
}

function parseFallback(raw: string | undefined): GatewayConfig["preFinishFallback"] {
  if (raw === undefined) return DEFAULT_CONFIG.preFinishFallback;
  const value = raw.trim().toLowerCase();
  if (value === "accept" || value === "reject") return value;
  throw new ConfigError("PRE_FINISH_HOOK_FALLBACK", `must be "accept" or "reject", got "${raw}"`);
}

function parseInteropVersions(raw: string[] | undefined): ReadonlySet<number> {
  if (raw === undefined) return DEFAULT_CONFIG.rufhInteropVersions;
  const unknown = raw.filter((item) => !SUPPORTED_INTEROP_VERSIONS.includes(Number(item)) || !/^[0-9]+$/.test(item));
  if (unknown.length) {
    throw new ConfigError("RUFH_INTEROP_VERSIONS", `lists ${unknown.join(", ")}; the supported interop versions are ${SUPPORTED_INTEROP_VERSIONS.join(", ")}`);
  }
  return new Set(raw.map(Number));
}

function readOptionalInteger(vars: Variables, name: string, min: number, max: number): number | undefined {
  return readString(vars, name) === undefined ? undefined : readInteger(vars, name, 0, min, max);
}

function parseBasePath(raw: string | undefined, name = "BASE_PATH", fallback = DEFAULT_CONFIG.basePath): string {
  if (raw === undefined) return fallback;
  if (!/^\/([A-Za-z0-9._~-]+\/)*$/.test(raw)) {
    throw new ConfigError(name, `must start and end with "/" and hold only URL-safe path segments, got "${raw}"`);
  }
  return raw;
}

function parseKeyPrefix(raw: string | undefined): string {
  if (raw === undefined) return DEFAULT_CONFIG.objectKeyPrefix;
  if (raw.length > 512 || /[\u0000-\u001f\u007f]|(^|\/)\.\.?(\/|$)/.test(raw) || raw.startsWith("/")) {
    throw new ConfigError("OBJECT_KEY_PREFIX", `must be a relative key prefix without control characters or "." / ".." segments, got "${raw}"`);
  }
  return raw;
}

function parseKeyTemplate(raw: string | undefined): string {
  if (raw === undefined) return DEFAULT_CONFIG.objectKeyTemplate;
  const problem = keyTemplateProblem(raw);
  if (problem) throw new ConfigError("OBJECT_KEY_TEMPLATE", `${problem}, got "${raw}"`);
  return raw;
}

function parseOrigins(list: string[] | undefined): AllowedOrigins {
  if (list === undefined || list.length === 0 || (list.length === 1 && list[0] === "*")) return "*";
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw new ConfigError("CORS_ALLOWED_ORIGINS", `must be "*" or a comma-separated list of origins like https://example.com (no path or trailing slash), got "${origin}"`);
    }
  }
  return new Set(list);
}

function parseAuth(vars: Variables): AuthConfig {
  const mode = readString(vars, "AUTH_MODE");
  if (mode === undefined) return { mode: "open", loopbackOnly: true };
  if (mode === "open") return { mode: "open" };
  if (mode !== "jwt") throw new ConfigError("AUTH_MODE", `must be "open" or "jwt", got "${mode}"`);
  const secret = readString(vars, "JWT_SECRET");
  const jwksText = readString(vars, "JWT_JWKS");
  if (secret === undefined && jwksText === undefined) {
    // Named after the secret, so that the fix says where a secret belongs (not in [vars]).
    throw new ConfigError("JWT_SECRET", "is not set, but AUTH_MODE is jwt: set JWT_SECRET for HS256 tokens, or JWT_JWKS in wrangler.toml [vars] for RS256/ES256 public keys");
  }
  if (secret !== undefined && secret.length < 32) {
    throw new ConfigError("JWT_SECRET", "must be at least 32 characters: a short HS256 secret can be guessed");
  }
  let jwks: { keys: unknown[] } | undefined;
  if (jwksText !== undefined) {
    try {
      jwks = JSON.parse(jwksText) as { keys: unknown[] };
    } catch {
      jwks = undefined;
    }
    if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
      throw new ConfigError("JWT_JWKS", 'must be a JWKS document: {"keys": [ {"kty": "RSA", ...} ]}');
    }
  }
  const audience = readString(vars, "JWT_AUDIENCE");
  // An identity provider's keys sign tokens for every service it serves: without an audience, any of them would do here.
  if (jwks !== undefined && audience === undefined) {
    throw new ConfigError(
      "JWT_AUDIENCE",
      "must be set when JWT_JWKS is: set it to the aud your identity provider puts in tokens for this gateway, or JWT_AUDIENCE=* to accept tokens issued for any service",
    );
  }
  return {
    mode: "jwt",
    secret,
    jwks,
    audience: audience === "*" ? undefined : audience,
    issuer: readString(vars, "JWT_ISSUER"),
    requireTusScopes: readBoolean(vars, "JWT_REQUIRE_TUS_SCOPES", false),
    queryTokenMaxLifetimeSeconds: readInteger(vars, "QUERY_TOKEN_MAX_LIFETIME_SECONDS", DEFAULT_QUERY_TOKEN_MAX_LIFETIME_SECONDS, 1, 7 * 24 * 60 * 60),
  };
}

function parseUploadPage(raw: string | undefined): UploadPageMode {
  if (raw === undefined) return DEFAULT_CONFIG.uploadPage;
  if (raw !== "auto" && raw !== "on" && raw !== "off") {
    throw new ConfigError("UPLOAD_PAGE", `must be "auto" (the page only on 127.0.0.1 and localhost), "on" or "off", got "${raw}"`);
  }
  return raw;
}

function parseLogLevel(raw: string | undefined): LogLevel {
  if (raw === undefined) return DEFAULT_CONFIG.logLevel;
  if (!isLogLevel(raw)) throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"`);
  return raw;
}

function parseFiletypes(list: string[] | undefined): string[] | undefined {
  for (const type of list ?? []) {
    if (!/^[a-z0-9!#$&^_.+-]+\/([a-z0-9!#$&^_.+-]+|\*)$/i.test(type)) {
      throw new ConfigError("ALLOWED_FILETYPES", `must list media types like image/png or video/*, got "${type}"`);
    }
  }
  return list?.length ? list.map((type) => type.toLowerCase()) : undefined;
}

function optionalSet(list: string[] | undefined): ReadonlySet<string> | undefined {
  return list?.length ? new Set(list) : undefined;
}
