import { describe, expect, it } from "vitest";
import { GiB, MiB, R2_LIMITS } from "../../src/r2-limits";
import { maxLengthForPartSize, partCapacity, partNumberAt, partSizeForChunk, planPartSize, type PartSizePolicy } from "../../src/upload/storage/part-plan";

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

describe("partSizeForChunk", () => {
  const bufferLimit = 32 * MiB;

  it("cuts parts that a client's 50 MiB chunks end on, near the planned size", () => {
    const length = GiB;
    const partSize = partSizeForChunk(planPartSize(length, policy), 50 * MiB, length, bufferLimit);
    expect(partSize).toBe(10 * MiB);
    const chunks = [...chunkSizes(length, 50 * MiB)];
    const parts = cutParts(length, partSize, chunks);
    expectR2Rules(parts, length, partSize);
    // Every chunk but the last ends on a part boundary: no PATCH leaves a tail.
    let end = 0;
    for (const chunk of chunks.slice(0, -1)) {
      end += chunk;
      expect(end % partSize).toBe(0);
    }
  });

  it("takes 100 MB chunks (decimal) as 10 MB parts", () => {
    expect(partSizeForChunk(8 * MiB, 100_000_000, 10 * GiB, bufferLimit)).toBe(10_000_000);
  });

  it.each([
    ["the planned size divides the chunk", 8 * MiB, 64 * MiB, GiB],
    ["the chunk is the whole upload", 8 * MiB, GiB, GiB],
    ["the chunk is larger than the upload", 8 * MiB, 2 * GiB, GiB],
    ["one part holds the whole upload (one put)", 8 * MiB, 6 * MiB, 7 * MiB],
    // 40 MiB + 9 is prime: no size between 5 MiB and the 32 MiB limit divides it.
    ["no divisor of the chunk is a valid part", 8 * MiB, 40 * MiB + 9, GiB],
    ["the chunk is smaller than R2's smallest part", 8 * MiB, 4 * MiB, GiB],
    ["no length was announced", 8 * MiB, 0, GiB],
  ])("keeps the planned size when %s", (_, planned, chunk, length) => {
    expect(partSizeForChunk(planned, chunk, length, bufferLimit)).toBe(planned);
  });

  it("never goes below the planned size of a deferred-length upload, so it may grow as large as planned", () => {
    expect(partSizeForChunk(16 * MiB, 50 * MiB, undefined, bufferLimit)).toBe(25 * MiB);
    expect(partSizeForChunk(16 * MiB, 12 * MiB, undefined, bufferLimit)).toBe(16 * MiB);
  });

  it("takes the smallest fitting size not below the planned one, else the largest below it", () => {
    expect(partSizeForChunk(8 * MiB, 12 * MiB, GiB, bufferLimit)).toBe(12 * MiB);
    // With a 10 MiB memory limit 12 MiB no longer fits; 6 MiB divides the chunk.
    expect(partSizeForChunk(8 * MiB, 12 * MiB, GiB, 10 * MiB)).toBe(6 * MiB);
  });

  /** Deterministic pseudo-random values, so a failure names its case. */
  function* cases(count: number): Generator<{ planned: number; chunk: number; length: number | undefined; limit: number }> {
    let state = 0x9e3779b9;
    const next = (below: number) => {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return state % below;
    };
    for (let i = 0; i < count; i++) {
      const limit = (8 + next(57)) * MiB;
      const planned = Math.min(limit, R2_LIMITS.minPartSize + next(limit - R2_LIMITS.minPartSize + 1));
      const length = next(4) === 0 ? undefined : 1 + next(20 * GiB);
      const chunk = next(3) === 0 ? (1 + next(20)) * MiB : 1 + next(200 * MiB);
      yield { planned, chunk, length, limit };
    }
  }

  it("keeps R2's rules and the upload's limits over 2,000 generated cases", () => {
    let changed = 0;
    for (const c of cases(2000)) {
      const size = partSizeForChunk(c.planned, c.chunk, c.length, c.limit);
      if (size === c.planned) continue;
      changed++;
      const what = JSON.stringify({ ...c, size });
      expect(c.chunk % size, what).toBe(0);
      expect(size, what).toBeGreaterThanOrEqual(R2_LIMITS.minPartSize);
      expect(size, what).toBeLessThanOrEqual(c.limit);
      if (c.length === undefined) expect(size, what).toBeGreaterThanOrEqual(c.planned);
      else {
        expect(Math.ceil(c.length / size), what).toBeLessThanOrEqual(R2_LIMITS.maxParts);
        expect(c.length, what).toBeGreaterThan(c.chunk);
      }
    }
    // The generator must exercise the changing path, or the checks above check nothing.
    expect(changed).toBeGreaterThan(100);
  });
});

function* chunkSizes(length: number, chunk: number): Generator<number> {
  for (let at = 0; at < length; at += chunk) yield Math.min(chunk, length - at);
}
