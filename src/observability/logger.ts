/**
 * Structured logs: one JSON object per line, which Workers Logs indexes
 * field by field. The level picks the console method (error, warn, log), so
 * the dashboard's level filter agrees with the `level` field.
 *
 * What goes in a line is chosen by the callers (telemetry.ts), field by
 * field: never a header, a query string, a token or a secret.
 */
export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, string | number | boolean | undefined>;

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export class Logger {
  constructor(private readonly level: LogLevel) {}

  /** Whether a line of `level` would be written: callers skip building fields that would be dropped. */
  enabled(level: LogLevel): boolean {
    return RANK[level] <= RANK[this.level];
  }

  /** Writes `{"level": …, "event": …, …fields}`; undefined fields are left out. */
  write(level: LogLevel, event: string, fields: LogFields): void {
    if (!this.enabled(level)) return;
    const line = JSON.stringify({ level, event, ...fields });
    if (level === "error") console.error(line);
    else if (level === "warn") console.warn(line);
    else console.log(line);
  }
}
