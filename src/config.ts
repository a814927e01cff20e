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
}

export type ConfigVariables = Partial<Record<ConfigVariable, string>>;

type ConfigVariable =
  | "BASE_PATH"
  | "MAX_UPLOAD_SIZE"
  | "PART_SIZE"
  | "DEFERRED_PART_SIZE"
  | "PART_BUFFER_LIMIT"
  | "LOCK_TIMEOUT_MS"
  | "OBJECT_KEY_PREFIX";

export const DEFAULT_CONFIG: GatewayConfig = {
  basePath: "/files/",
  maxUploadSize: R2_LIMITS.maxObjectSize,
  partSize: 8 * MiB,
  deferredPartSize: 16 * MiB,
  partBufferLimit: 32 * MiB,
  lockTimeoutMs: 5000,
  objectKeyPrefix: "uploads/",
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
    throw new ConfigError(name, `must be a whole number of ${name.endsWith("_MS") ? "milliseconds" : "bytes"}, got "${text}"`);
  }
  const value = Number(text);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
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
