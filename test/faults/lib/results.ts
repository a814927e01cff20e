/**
 * Figures the fault suite measures (bytes kept at cuts, fuzz outcomes, load
 * timings), printed and saved under test/faults/results/ (gitignored).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT } from "../../e2e/server";

export const RESULTS_DIR = join(ROOT, "test", "faults", "results");

/** Saves `figures` as `<name>.json` and `summary` as `<name>.md`, and prints the summary. */
export async function saveResult(name: string, summary: string, figures: unknown): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
  await writeFile(join(RESULTS_DIR, `${name}.md`), `${summary}\n`);
  console.log(`\n${summary}\n(saved to test/faults/results/${name}.md and .json)\n`);
}

export interface Spread {
  count: number;
  min: number;
  median: number;
  max: number;
  mean: number;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return {
    count: sorted.length,
    min: sorted[0] ?? NaN,
    median,
    max: sorted.at(-1) ?? NaN,
    mean: sorted.reduce((sum, value) => sum + value, 0) / sorted.length,
  };
}

/** Runs `work` for every item with at most `limit` at once; results in input order. */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
