import { describe, expect, it } from "vitest";
import {
  GiB,
  maxLengthForPartSize,
  MiB,
  partCapacity,
  partNumberAt,
  planPartSize,
  R2_LIMITS,
  type PartSizePolicy,
} from "../../src/upload/part-plan";

const policy: PartSizePolicy = { partSize: 8 * MiB, deferredPartSize: 16 * MiB };

/**
 * Replays how the writer cuts parts: bytes arrive in chunks (of any size,
 * across any number of PATCHes), and a part is sent whenever the bytes since
 * the last cut reach `partCapacity`. Returns the sizes of the parts sent.
 */
function cutParts(length: number | undefined, partSize: number, chunks: Iterable<number>, declaredAtEnd?: number): number[] {
  const parts: number[] = [];
  let partStart = 0;
  let inPart = 0;
  for (const chunk of chunks) {
    let remaining = chunk;
    while (remaining > 0) {
      const capacity = partCapacity(partStart, partSize, length);
      const take = Math.min(remaining, capacity - inPart);
      if (take <= 0) throw new Error("a chunk went past the upload's length");
      inPart += take;
      remaining -= take;
      if (inPart === capacity && (length === undefined || partStart + capacity < length)) {
        expect(partNumberAt(partStart, partSize)).toBe(parts.length + 1);
        parts.push(capacity);
        partStart += capacity;
        inPart = 0;
      }
    }
  }
  const finalLength = length ?? declaredAtEnd;
  if (finalLength !== undefined && inPart > 0) parts.push(inPart);
  return parts;
}

function expectR2Rules(parts: number[], length: number, partSize: number): void {
  expect(parts.reduce((sum, size) => sum + size, 0)).toBe(length);
  expect(parts.length).toBeLessThanOrEqual(R2_LIMITS.maxParts);
  parts.slice(0, -1).forEach((size) => expect(size).toBe(partSize));
  const last = parts.at(-1);
  if (last !== undefined) {
    expect(last).toBeGreaterThan(0);
    expect(last).toBeLessThanOrEqual(partSize);
  }
}

/** Deterministic chunk sizes: small, odd and larger than a part, mixed. */
function* chunkPattern(total: number, seed: number, largest: number): Generator<number> {
  let state = seed;
  let sent = 0;
  while (sent < total) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const kind = state % 4;
    const size = kind === 0 ? 1 + (state % 7) : kind === 1 ? 1 + (state % (64 * 1024)) : 1 + (state % largest);
    const chunk = Math.min(size, total - sent);
    sent += chunk;
    yield chunk;
  }
}

const lengths = [
  0,
  1,
  5 * MiB - 1,
  5 * MiB,
  8 * MiB - 1,
  8 * MiB,
  8 * MiB + 1,
  21 * MiB + 12_345,
  10 * GiB,
  78 * GiB + 1,
  80 * GiB,
  80 * GiB + 1,
  1024 * GiB + 7,
  R2_LIMITS.maxObjectSize - 1,
  R2_LIMITS.maxObjectSize,
];

describe("planPartSize", () => {
  it.each(lengths)("gives a length of %d a part size R2 accepts, in at most 10,000 parts", (length) => {
    const partSize = planPartSize(length, policy);
    expect(partSize).toBeGreaterThanOrEqual(R2_LIMITS.minPartSize);
    expect(partSize).toBeLessThanOrEqual(R2_LIMITS.maxPartSize);
    expect(Math.ceil(length / partSize)).toBeLessThanOrEqual(R2_LIMITS.maxParts);
    expect(partSize % MiB).toBe(0);
  });

  it("keeps the configured part size while 10,000 of them suffice", () => {
    expect(planPartSize(10_000 * 8 * MiB, policy)).toBe(8 * MiB);
    expect(planPartSize(10_000 * 8 * MiB + 1, policy)).toBe(9 * MiB);
  });

  it("gives deferred-length uploads the deferred part size and a limit of 10,000 parts", () => {
    expect(planPartSize(undefined, policy)).toBe(16 * MiB);
    expect(maxLengthForPartSize(16 * MiB)).toBe(10_000 * 16 * MiB);
  });

  it("never lets the limit of a part size pass R2's largest object", () => {
    expect(maxLengthForPartSize(R2_LIMITS.maxPartSize)).toBe(R2_LIMITS.maxObjectSize);
  });

  it("refuses a length beyond R2's largest object", () => {
    expect(() => planPartSize(R2_LIMITS.maxObjectSize + 1, policy)).toThrow(RangeError);
  });
});

describe("cutting a stream of chunks into parts", () => {
  const smallLengths = [1, 5 * MiB, 8 * MiB - 1, 8 * MiB, 8 * MiB + 1, 16 * MiB, 21 * MiB + 12_345, 50 * MiB + 3];

  it.each(smallLengths.flatMap((length) => [1, 2, 3].map((seed) => [length, seed] as const)))(
    "cuts an upload of %d bytes sent in chunk pattern %d into equal parts and a smaller last one",
    (length, seed) => {
      const partSize = planPartSize(length, policy);
      expectR2Rules(cutParts(length, partSize, chunkPattern(length, seed, 20 * MiB)), length, partSize);
    },
  );

  it("cuts the same parts whether bytes come one part at a time or in one piece", () => {
    const length = 33 * MiB + 5;
    const partSize = planPartSize(length, policy);
    expect(cutParts(length, partSize, [length])).toEqual(cutParts(length, partSize, chunkPattern(length, 9, 3 * MiB)));
  });

  it.each([1, 2, 3])("cuts a deferred-length upload (pattern %d) by the deferred part size", (seed) => {
    const length = 40 * MiB + 77;
    const partSize = planPartSize(undefined, policy);
    expectR2Rules(cutParts(undefined, partSize, chunkPattern(length, seed, 20 * MiB), length), length, partSize);
  });

  it("fits the largest object in 10,000 parts with the planned size", () => {
    const length = R2_LIMITS.maxObjectSize;
    const partSize = planPartSize(length, policy);
    const parts = Math.ceil(length / partSize);
    expect(parts).toBeLessThanOrEqual(R2_LIMITS.maxParts);
    expect(partCapacity((parts - 1) * partSize, partSize, length)).toBe(length - (parts - 1) * partSize);
  });
});
