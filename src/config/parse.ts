/** Readers for Worker variables. Each failure names the variable and the fix. */
export class ConfigError extends Error {
  /** The variable to change. */
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`tus-edge configuration: ${variable} ${problem} (${howToSet(variable)})`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/**
 * Variables that hold secrets. `[vars]` are committed with wrangler.toml and
 * shown in plain text in the dashboard, so a secret's fix never points there.
 */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(["JWT_SECRET", "WEBHOOK_SECRET"]);

function howToSet(variable: string): string {
  if (SECRET_VARIABLES.has(variable)) {
    return `${variable} is a secret: set it with \`npx wrangler secret put ${variable}\` for a deployment, or in .dev.vars for \`npm start\`; never in wrangler.toml [vars]`;
  }
  return "fix it in wrangler.toml [vars], .dev.vars or --var, or remove it to use the default";
}

export type Variables = Record<string, unknown>;

/**
 * A variable as text. wrangler.toml `[vars]` may hold TOML numbers and
 * booleans (`MAX_UPLOAD_SIZE = 10737418240`), which reach the Worker as JSON
 * values rather than strings; they are read as the text they would have been
 * in quotes. Tables and arrays are refused.
 */
export function readString(vars: Variables, name: string): string | undefined {
  const raw = vars[name];
  if (raw === undefined || raw === null || raw === "") return undefined;
  if (typeof raw === "string") return raw;
  if (typeof raw === "number" || typeof raw === "bigint" || typeof raw === "boolean") return String(raw);
  throw new ConfigError(name, `must be a string, a number or true/false, got ${Array.isArray(raw) ? "an array" : typeof raw}`);
}

export function readInteger(vars: Variables, name: string, fallback: number, min: number, max: number): number {
  const raw = readString(vars, name);
  if (raw === undefined) return fallback;
  const text = raw.trim();
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    const unit = name.endsWith("_MS") ? "milliseconds" : name.endsWith("_SECONDS") ? "seconds" : name.endsWith("_KEYS") ? "keys" : name.endsWith("_PARTIALS") ? "partial uploads" : name.endsWith("_UPLOADS") ? "uploads" : "bytes";
    throw new ConfigError(name, `must be a whole number of ${unit}, got "${text}"`);
  }
  const value = Number(text);
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

export function readSeconds(vars: Variables, name: string, fallbackMs: number): number {
  return readInteger(vars, name, fallbackMs / 1000, 0, 10 * 365 * 24 * 60 * 60) * 1000;
}

export function readBoolean(vars: Variables, name: string, fallback: boolean): boolean {
  const raw = readString(vars, name);
  if (raw === undefined) return fallback;
  const text = raw.trim().toLowerCase();
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw new ConfigError(name, `must be "true" or "false", got "${raw}"`);
}

/** A comma-separated list; undefined when unset. */
export function readList(vars: Variables, name: string): string[] | undefined {
  const raw = readString(vars, name);
  if (raw === undefined) return undefined;
  return raw.split(",").map((item) => item.trim()).filter(Boolean);
}

export function readUrl(vars: Variables, name: string): string | undefined {
  const raw = readString(vars, name);
  if (raw === undefined) return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol === "https:" || url.protocol === "http:") return url.href;
  } catch {
    // reported below
  }
  throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`);
}
