import { parseConfig } from "./index";
import type { Variables } from "./parse";

/**
 * The names of every variable the gateway reads, found by letting
 * parseConfig read a recording object (with JWT on, so that the JWT settings
 * are read too): the list cannot drift from the parser.
 */
export function knownVariables(): ReadonlySet<string> {
  const read = new Set<string>();
  const probe = new Proxy<Variables>(
    { AUTH_MODE: "jwt", JWT_SECRET: "a placeholder of at least 32 characters" },
    {
      get(target, name) {
        if (typeof name === "string") read.add(name);
        return Reflect.get(target, name);
      },
    },
  );
  parseConfig(probe);
  return read;
}

/**
 * The known variable a misspelt name most likely meant (`PARTSIZE`,
 * `part_size`, `CORS_ALLOWED_ORIGIN`), or undefined when it is not close to
 * any: a Worker mounting the gateway may have variables of its own.
 */
export function closestVariable(name: string, known: Iterable<string> = knownVariables()): string | undefined {
  const wanted = normalise(name);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    if (candidate === name) return undefined;
    const distance = editDistance(wanted, normalise(candidate));
    if (distance <= allowedDistance(candidate) && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Case and underscores are the usual slips; they cost nothing. */
function normalise(name: string): string {
  return name.toUpperCase().replaceAll("_", "");
}

/** Short names are close to many things by accident: one edit for them, two for longer ones. */
function allowedDistance(candidate: string): number {
  return candidate.length <= 8 ? 1 : 2;
}

/** Levenshtein distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const substitution = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = distance;
    }
  }
  return rows[a.length]![b.length]!;
}
