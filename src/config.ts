import type { AllowedOrigins } from "./protocol/http/cors";
import { isValidPartSize, MiB, R2_LIMITS } from "./upload/part-plan";

/**
 * Configuration, parsed and validated once per isolate from the Worker's
 * variables. Every field's default is listed here and in README.md; a bad
 * value stops the Worker with a message that names the variable and the fix.
 */
export interface GatewayConfig {
  /** URL path of the upload collection; upload URLs are `<basePath><id>`. Default `/files/`. */
  basePath: string;
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
  /** How long a request waits for an older request on the same upload to let go. Default 5000 ms. */
  lockTimeoutMs: number;
  /** Prefix of every R2 object key. Default `uploads/`. */
  objectKeyPrefix: string;
  /** Origins browsers may upload from: `*` (default) or a list. */
  corsAllowedOrigins: AllowedOrigins;
  /** Idle time after which an unfinished upload expires; 0 never. Default 24 hours. */
  expireAfterMs: number;
  /** Time after finishing at which a finished upload (and its object) expires; 0 never (default). */
  expireFinishedAfterMs: number;
  /** Whether DELETE on a finished upload deletes its R2 object too. Default true. */
  terminateDeletesObject: boolean;
  /** Whether partial uploads are deleted once their final upload is assembled. Default true. */
  concatDeletesPartials: boolean;
}

export type ConfigVariables = Partial<Record<ConfigVariable, string>>;

type ConfigVariable =
  | "BASE_PATH"
  | "MAX_UPLOAD_SIZE"
  | "PART_SIZE"
  | "DEFERRED_PART_SIZE"
  | "PART_BUFFER_LIMIT"
  | "LOCK_TIMEOUT_MS"
  | "OBJECT_KEY_PREFIX"
  | "CORS_ALLOWED_ORIGINS"
  | "EXPIRE_AFTER_SECONDS"
  | "EXPIRE_FINISHED_AFTER_SECONDS"
  | "TERMINATE_DELETES_OBJECT"
  | "CONCAT_DELETES_PARTIALS";

export const DEFAULT_CONFIG: GatewayConfig = {
  basePath: "/files/",
  maxUploadSize: R2_LIMITS.maxObjectSize,
  partSize: 8 * MiB,
  deferredPartSize: 16 * MiB,
  partBufferLimit: 32 * MiB,
  lockTimeoutMs: 5000,
  objectKeyPrefix: "uploads/",
  corsAllowedOrigins: "*",
  expireAfterMs: 24 * 60 * 60 * 1000,
  expireFinishedAfterMs: 0,
  terminateDeletesObject: true,
  concatDeletesPartials: true,
};

export class ConfigError extends Error {
  constructor(variable: ConfigVariable, problem: string) {
    super(`tus-edge configuration: ${variable} ${problem} (set it in wrangler.toml [vars] or remove it to use the default)`);
    this.name = "ConfigError";
  }
}

export function parseConfig(vars: ConfigVariables): GatewayConfig {
  const config: GatewayConfig = {
    basePath: parseBasePath(vars.BASE_PATH),
    maxUploadSize: parseInteger(vars, "MAX_UPLOAD_SIZE", DEFAULT_CONFIG.maxUploadSize, 0, R2_LIMITS.maxObjectSize),
    partSize: parseInteger(vars, "PART_SIZE", DEFAULT_CONFIG.partSize, R2_LIMITS.minPartSize, R2_LIMITS.maxPartSize),
    deferredPartSize: parseInteger(
      vars,
      "DEFERRED_PART_SIZE",
      DEFAULT_CONFIG.deferredPartSize,
      R2_LIMITS.minPartSize,
      R2_LIMITS.maxPartSize,
    ),
    partBufferLimit: parseInteger(vars, "PART_BUFFER_LIMIT", DEFAULT_CONFIG.partBufferLimit, MiB, R2_LIMITS.maxPartSize),
    lockTimeoutMs: parseInteger(vars, "LOCK_TIMEOUT_MS", DEFAULT_CONFIG.lockTimeoutMs, 100, 60_000),
    objectKeyPrefix: parseKeyPrefix(vars.OBJECT_KEY_PREFIX),
    corsAllowedOrigins: parseOrigins(vars.CORS_ALLOWED_ORIGINS),
    expireAfterMs: parseSeconds(vars, "EXPIRE_AFTER_SECONDS", DEFAULT_CONFIG.expireAfterMs),
    expireFinishedAfterMs: parseSeconds(vars, "EXPIRE_FINISHED_AFTER_SECONDS", DEFAULT_CONFIG.expireFinishedAfterMs),
    terminateDeletesObject: parseBoolean(vars, "TERMINATE_DELETES_OBJECT", DEFAULT_CONFIG.terminateDeletesObject),
    concatDeletesPartials: parseBoolean(vars, "CONCAT_DELETES_PARTIALS", DEFAULT_CONFIG.concatDeletesPartials),
  };
  if (!isValidPartSize(config.partSize)) throw new ConfigError("PART_SIZE", "is not a valid R2 part size");
  if (config.deferredPartSize > config.partBufferLimit) {
    throw new ConfigError("DEFERRED_PART_SIZE", `must not exceed PART_BUFFER_LIMIT (${config.partBufferLimit})`);
  }
  if (config.partSize > config.partBufferLimit) {
    throw new ConfigError("PART_SIZE", `must not exceed PART_BUFFER_LIMIT (${config.partBufferLimit})`);
  }
  return config;
}

const parsedByEnv = new WeakMap<object, GatewayConfig>();

/** `parseConfig`, once per `env` object: the runtime hands every request the same one. */
export function configFromEnv(env: object): GatewayConfig {
  let config = parsedByEnv.get(env);
  if (!config) {
    config = parseConfig(env as ConfigVariables);
    parsedByEnv.set(env, config);
  }
  return config;
}

function parseInteger(vars: ConfigVariables, name: ConfigVariable, fallback: number, min: number, max: number): number {
  const raw = vars[name];
  if (raw === undefined || raw === "") return fallback;
  const text = String(raw).trim();
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    const unit = name.endsWith("_MS") ? "milliseconds" : name.endsWith("_SECONDS") ? "seconds" : "bytes";
    throw new ConfigError(name, `must be a whole number of ${unit}, got "${text}"`);
  }
  const value = Number(text);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

function parseSeconds(vars: ConfigVariables, name: ConfigVariable, fallbackMs: number): number {
  const seconds = parseInteger(vars, name, fallbackMs / 1000, 0, 10 * 365 * 24 * 60 * 60);
  return seconds * 1000;
}

function parseBoolean(vars: ConfigVariables, name: ConfigVariable, fallback: boolean): boolean {
  const raw = vars[name];
  if (raw === undefined || raw === "") return fallback;
  const text = String(raw).trim().toLowerCase();
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new ConfigError(name, `must be "true" or "false", got "${raw}"`);
}

function parseBasePath(raw: string | undefined): string {
  if (raw === undefined || raw === "") return DEFAULT_CONFIG.basePath;
  if (!/^\/([A-Za-z0-9._~-]+\/)*$/.test(raw)) {
    throw new ConfigError("BASE_PATH", `must start and end with "/" and hold only URL-safe path segments, got "${raw}"`);
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

function parseOrigins(raw: string | undefined): AllowedOrigins {
  if (raw === undefined || raw.trim() === "" || raw.trim() === "*") return "*";
  const origins = raw.split(",").map((origin) => origin.trim()).filter(Boolean);
  for (const origin of origins) {
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
  return new Set(origins);
}
