/** Human-readable sizes, rates and durations for the page (binary units, like the README). */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

/** Fixed to English like the rest of the page, so "5,115" reads the same in every browser. */
const GROUPED = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/**
 * A size exactly, for limits: in the largest unit that holds it as a whole
 * number, with thousands separators. R2's largest object, 5 TiB − 5 GiB, is
 * "5,115 GiB", where `formatBytes` would round it up to "5.00 TiB" — a file
 * of 5 TiB would then look allowed.
 */
export function formatExactBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && value % 1024 === 0 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${GROUPED.format(value)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** "8 s", "2 min 5 s", "1 h 3 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function formatPercent(done: number, total: number): string {
  if (total <= 0) return "100 %";
  // Floor, so that 99.96 % does not read as 100 % before the upload is finished.
  return `${Math.floor((done / total) * 100)} %`;
}
