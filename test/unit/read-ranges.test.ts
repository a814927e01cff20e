import { describe, expect, it } from "vitest";
import { DOWNLOAD_RANGES, planReadRanges, type RangePlan } from "../../src/upload/reading/object-reader";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe("planReadRanges", () => {
  it("reads a span no longer than the first range with one get", () => {
    expect(planReadRanges(0, 8 * MiB - 1)).toEqual([{ offset: 0, length: 8 * MiB }]);
    expect(planReadRanges(5, 5)).toEqual([{ offset: 5, length: 1 }]);
  });

  it("doubles each range up to the largest, then stays there", () => {
    expect(planReadRanges(0, 200 * MiB - 1).map((range) => range.length / MiB)).toEqual([8, 16, 32, 64, 64, 16]);
  });

  it("starts the plan at the span's first byte, wherever that is", () => {
    expect(planReadRanges(1000, 1000 + 30 * MiB)).toEqual([
      { offset: 1000, length: 8 * MiB },
      { offset: 1000 + 8 * MiB, length: 16 * MiB },
      { offset: 1000 + 24 * MiB, length: 6 * MiB + 1 },
    ]);
  });

  it("needs 163 gets for 10 GiB with the default plan (the cost the README states)", () => {
    expect(planReadRanges(0, 10 * GiB - 1)).toHaveLength(163);
    expect(planReadRanges(0, 2 * GiB - 1)).toHaveLength(35);
  });

  const plans: RangePlan[] = [DOWNLOAD_RANGES, { first: 1, largest: 1 }, { first: 3, largest: 20 }, { first: 7, largest: 7 }, { first: 10, largest: 64 }];
  it.each(plans)("covers every span exactly once, in order, with no range over the largest (%j)", (plan) => {
    const scale = plan === DOWNLOAD_RANGES ? MiB : 1;
    for (let start = 0; start < 40; start += 3) {
      for (let end = start; end < start + 300; end += 7) {
        const ranges = planReadRanges(start * scale, end * scale, plan);
        const ends = ranges.map((range) => range.offset + range.length);
        const gapless = ranges.every((range, i) => range.offset === (i ? ends[i - 1] : start * scale));
        const bounded = ranges.every((range) => range.length > 0 && range.length <= plan.largest) && ranges[0]!.length <= plan.first;
        if (!gapless || !bounded || ends.at(-1) !== end * scale + 1) expect.fail(`${start}…${end}: ${JSON.stringify(ranges)}`);
      }
    }
  });
});
