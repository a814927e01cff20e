/**
 * `sourceRanges` decides which bytes of which partial upload make up each part
 * of a final upload. Its invariants, over many lists of partial lengths
 * (zeros included) and many windows: the ranges tile the window exactly, in
 * order, each inside its partial, and empty partials never appear.
 */
import { describe, expect, it } from "vitest";
import { sourceRanges, type SourceRange } from "../../src/upload/lifecycle/concat-assembler";

const MiB = 1024 * 1024;

/** xorshift32: the same lists and windows on every run. */
function generator(seed: number): (below: number) => number {
  let x = seed >>> 0 || 1;
  return (below) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % below;
  };
}

/** Where each partial starts in the final upload. */
function startsOf(lengths: readonly number[]): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const length of lengths) {
    starts.push(at);
    at += length;
  }
  return starts;
}

function expectInvariants(lengths: readonly number[], start: number, end: number, ranges: SourceRange[]): void {
  const starts = startsOf(lengths);
  const context = JSON.stringify({ lengths, start, end, ranges });
  let at = start;
  let previousIndex = -1;
  for (const range of ranges) {
    // In order, one range per partial at most, never an empty partial or an empty range.
    expect(range.index, context).toBeGreaterThan(previousIndex);
    expect(range.length, context).toBeGreaterThan(0);
    expect(lengths[range.index], context).toBeGreaterThan(0);
    // Inside its partial.
    expect(range.offset, context).toBeGreaterThanOrEqual(0);
    expect(range.offset + range.length, context).toBeLessThanOrEqual(lengths[range.index]!);
    // Contiguous: each range begins in the final upload where the previous one ended.
    expect(starts[range.index]! + range.offset, context).toBe(at);
    at += range.length;
    previousIndex = range.index;
  }
  // Together they are exactly the window.
  expect(at, context).toBe(end);
  expect(ranges.reduce((sum, range) => sum + range.length, 0), context).toBe(end - start);
  // Every partial with bytes inside the window contributes, and only those.
  const touched = lengths.flatMap((length, index) =>
    start < end && length > 0 && starts[index]! < end && starts[index]! + length > start ? [index] : [],
  );
  expect(ranges.map((range) => range.index), context).toEqual(touched);
}

/** Windows as the assembler asks for them: consecutive parts of `partSize`, the last shorter. */
function partWindows(total: number, partSize: number): Array<[number, number]> {
  const windows: Array<[number, number]> = [];
  for (let start = 0; start < total; start += partSize) windows.push([start, Math.min(start + partSize, total)]);
  return windows;
}

describe("sourceRanges", () => {
  it("splits a window across partial boundaries", () => {
    expect(sourceRanges([7, 1, 12], 0, 8)).toEqual([
      { index: 0, offset: 0, length: 7 },
      { index: 1, offset: 0, length: 1 },
    ]);
    expect(sourceRanges([7, 1, 12], 5, 10)).toEqual([
      { index: 0, offset: 5, length: 2 },
      { index: 1, offset: 0, length: 1 },
      { index: 2, offset: 0, length: 2 },
    ]);
    expect(sourceRanges([7, 1, 12], 16, 20)).toEqual([{ index: 2, offset: 8, length: 4 }]);
  });

  it("skips zero-length partials, also at the ends and in a row", () => {
    expect(sourceRanges([0, 3, 0, 0, 2, 0], 0, 5)).toEqual([
      { index: 1, offset: 0, length: 3 },
      { index: 4, offset: 0, length: 2 },
    ]);
    expect(sourceRanges([0, 0], 0, 0)).toEqual([]);
  });

  it("an empty window takes nothing", () => {
    expect(sourceRanges([4, 4], 4, 4)).toEqual([]);
    expect(sourceRanges([4, 4], 0, 0)).toEqual([]);
  });

  it("the parts of the runtime test's final upload (7 MiB + 3, 1, 12 MiB + 5 in 8 MiB parts) take the right stretches", () => {
    const lengths = [7 * MiB + 3, 1, 12 * MiB + 5];
    const windows = partWindows(19 * MiB + 9, 8 * MiB);
    expect(windows.map(([start, end]) => sourceRanges(lengths, start, end))).toEqual([
      [
        { index: 0, offset: 0, length: 7 * MiB + 3 },
        { index: 1, offset: 0, length: 1 },
        { index: 2, offset: 0, length: MiB - 4 },
      ],
      [{ index: 2, offset: MiB - 4, length: 8 * MiB }],
      [{ index: 2, offset: 9 * MiB - 4, length: 3 * MiB + 9 }],
    ]);
  });

  it("ranges tile every window exactly, over 2,000 random lists of partial lengths and windows", () => {
    const random = generator(20261125);
    for (let round = 0; round < 2000; round++) {
      const count = 1 + random(8);
      // Mostly small lengths so windows often straddle several partials; some zeros; some large.
      const lengths = Array.from({ length: count }, () => {
        const kind = random(10);
        return kind < 2 ? 0 : kind < 8 ? 1 + random(50) : random(20 * MiB);
      });
      const total = lengths.reduce((sum, length) => sum + length, 0);
      const start = random(total + 1);
      const end = start + random(total - start + 1);
      expectInvariants(lengths, start, end, sourceRanges(lengths, start, end));
    }
  });

  it("consecutive part windows together take every byte of every partial once, for many part sizes", () => {
    const random = generator(7);
    for (let round = 0; round < 300; round++) {
      const lengths = Array.from({ length: 1 + random(6) }, () => (random(5) === 0 ? 0 : 1 + random(40)));
      const total = lengths.reduce((sum, length) => sum + length, 0);
      const partSize = 1 + random(Math.max(total, 1));
      const taken = lengths.map(() => 0);
      for (const [start, end] of partWindows(total, partSize)) {
        const ranges = sourceRanges(lengths, start, end);
        expectInvariants(lengths, start, end, ranges);
        for (const range of ranges) {
          // Each partial is read front to back, without gaps or overlaps across parts.
          expect(range.offset).toBe(taken[range.index]);
          taken[range.index]! += range.length;
        }
      }
      expect(taken).toEqual(lengths);
    }
  });
});
