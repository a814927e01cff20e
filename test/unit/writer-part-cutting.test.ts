/**
 * The writer's part cutting (issue 19, item 5): part-plan.test.ts pins the
 * pure plan; this pins the plan as UploadWriter applies it, PATCH after
 * PATCH, whatever the clients' chunks. Whatever the chunk sizes (tiny, near
 * R2's 5 MiB minimum, far above it), announced or chunked, cut short and
 * resumed, in part-size buffers or in the small ones a spent isolate budget
 * hands out: every part but the last has exactly the upload's part size,
 * none is under 5 MiB but the last, the parts add up to the length, and the
 * object is the source, byte for byte.
 *
 * Runs in Node, without workerd: the real UploadWriter and UploadStore, the
 * store on node:sqlite behind the few calls of DurableObjectStorage it uses,
 * R2 a fake that keeps the bytes and enforces R2's multipart rules in
 * `complete` as R2 does, and FixedLengthStream (a Workers global) a stream
 * that refuses a body of another length than announced.
 */
import { DatabaseSync } from "node:sqlite";
import { beforeAll, describe, expect, it } from "vitest";
import { MiB, R2_LIMITS } from "../../src/r2-limits";
import { partSizeForChunk, planPartSize } from "../../src/upload/storage/part-plan";
import { UploadStore } from "../../src/upload/storage/upload-store";
import { checkAppend, type NewUpload } from "../../src/upload/upload-record";
import { isRefusedBody, UploadWriter, type BodyEnding } from "../../src/upload/writing/upload-writer";
import { BufferBudget, WriteBuffers } from "../../src/upload/writing/write-buffers";
import { LockHolder } from "../../src/upload/writing/write-lock";

const KiB = 1024;

/** A seeded generator (mulberry32 over the seed's hash), so a failing case can be run again. */
class Random {
  private state: number;

  constructor(seed: string) {
    let hash = 2166136261;
    for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 16777619);
    this.state = hash >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
const PART_BUFFER_LIMIT = 32 * MiB;

beforeAll(() => {
  // Workers' FixedLengthStream: an identity stream whose length is known; here it also checks that length.
  (globalThis as { FixedLengthStream?: unknown }).FixedLengthStream ??= class extends TransformStream<Uint8Array, Uint8Array> {
    constructor(expected: number) {
      let seen = 0;
      super({
        transform(chunk, controller) {
          seen += chunk.length;
          if (seen > expected) throw new Error(`FixedLengthStream: more than the ${expected} bytes announced`);
          controller.enqueue(chunk);
        },
        flush() {
          if (seen !== expected) throw new Error(`FixedLengthStream: ${seen} bytes, ${expected} announced`);
        },
      });
    }
  };
});

/* ---------- the upload's storage: UploadStore on node:sqlite ---------- */

/** The part of DurableObjectStorage that UploadStore uses (`sql.exec`, `transactionSync`), on an in-memory SQLite. */
function sqliteStorage(): DurableObjectStorage {
  const db = new DatabaseSync(":memory:");
  const cursor = (rows: Record<string, unknown>[]) => ({
    toArray: () => rows,
    one: () => {
      if (rows.length !== 1) throw new Error(`expected exactly one row, got ${rows.length}`);
      return rows[0];
    },
    [Symbol.iterator]: () => rows[Symbol.iterator](),
  });
  const sql = {
    exec(query: string, ...bindings: unknown[]) {
      // Schema creation sends several statements in one string, without bindings.
      if (bindings.length === 0 && /;\s*\S/.test(query.trim().replace(/;\s*$/, ""))) {
        db.exec(query);
        return cursor([]);
      }
      return cursor(db.prepare(query).all(...(bindings as (string | number | null | Uint8Array)[])) as Record<string, unknown>[]);
    },
  };
  let depth = 0;
  const transactionSync = <T>(work: () => T): T => {
    const savepoint = `s${depth++}`;
    db.exec(`SAVEPOINT ${savepoint}`);
    try {
      const result = work();
      db.exec(`RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      db.exec(`ROLLBACK TO ${savepoint}`);
      db.exec(`RELEASE ${savepoint}`);
      throw error;
    } finally {
      depth--;
    }
  };
  return { sql, transactionSync } as unknown as DurableObjectStorage;
}

/* ---------- R2: a fake bucket that keeps bytes and holds multipart uploads to R2's rules ---------- */

async function bytesOf(body: Uint8Array | ReadableStream<Uint8Array>): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body.slice();
  return new Uint8Array(await new Response(body).arrayBuffer());
}

class FakeBucket {
  readonly objects = new Map<string, Uint8Array>();
  /** The parts each completed multipart object was made of, in order, by key. */
  readonly completedParts = new Map<string, { partNumber: number; size: number }[]>();
  private readonly uploads = new Map<string, Map<number, { etag: string; bytes: Uint8Array }>>();
  private etags = 0;

  async put(key: string, body: Uint8Array | ReadableStream<Uint8Array>): Promise<R2Object> {
    this.objects.set(key, await bytesOf(body));
    return this.headSync(key)!;
  }

  async head(key: string): Promise<R2Object | null> {
    return this.headSync(key);
  }

  private headSync(key: string): R2Object | null {
    const object = this.objects.get(key);
    return object ? ({ key, size: object.length, customMetadata: {} } as unknown as R2Object) : null;
  }

  async createMultipartUpload(key: string): Promise<R2MultipartUpload> {
    const uploadId = `mp-${this.uploads.size + 1}`;
    this.uploads.set(uploadId, new Map());
    return this.resumeMultipartUpload(key, uploadId);
  }

  resumeMultipartUpload(key: string, uploadId: string): R2MultipartUpload {
    const parts = this.uploads.get(uploadId);
    if (!parts) throw new Error(`no multipart upload ${uploadId}`);
    return {
      key,
      uploadId,
      uploadPart: async (partNumber: number, body: Uint8Array | ReadableStream<Uint8Array>) => {
        // An aborted streamed part errors its stream here, and is never stored.
        const bytes = await bytesOf(body);
        const etag = `etag-${++this.etags}`;
        parts.set(partNumber, { etag, bytes });
        return { partNumber, etag };
      },
      complete: async (listed: R2UploadedPart[]) => {
        const chosen = listed.map(({ partNumber, etag }) => {
          const part = parts.get(partNumber);
          if (part?.etag !== etag) throw new Error(`part ${partNumber}: no such upload (etag ${etag})`);
          return { partNumber, bytes: part.bytes };
        });
        // R2's rules: all parts but the last the same size, at least 5 MiB, the last not larger.
        const sizes = chosen.map((part) => part.bytes.length);
        const size = sizes[0] ?? 0;
        if (sizes.slice(0, -1).some((other) => other !== size || other < R2_LIMITS.minPartSize) || (sizes.at(-1) ?? 0) > size) {
          throw new Error(`R2 refuses parts of ${sizes.join(", ")} bytes`);
        }
        const object = new Uint8Array(sizes.reduce((sum, n) => sum + n, 0));
        let at = 0;
        for (const part of chosen) {
          object.set(part.bytes, at);
          at += part.bytes.length;
        }
        this.objects.set(key, object);
        this.completedParts.set(key, chosen.map((part) => ({ partNumber: part.partNumber, size: part.bytes.length })));
        this.uploads.delete(uploadId);
        return this.headSync(key)!;
      },
      abort: async () => void this.uploads.delete(uploadId),
    } as unknown as R2MultipartUpload;
  }
}

/* ---------- a client's PATCHes, written as the upload's object writes them ---------- */

interface Patch {
  /** Bytes the client sends. */
  size: number;
  /** Whether it announces them (Content-Length) or sends them chunked. */
  announced: boolean;
  /** The connection breaks after this many bytes, if set. */
  cutAfter?: number;
}

interface Scenario {
  length: number;
  /** The length is only declared by the PATCH that reaches it (creation-defer-length). */
  deferred: boolean;
  /** The isolate's buffer budget is spent: PATCHes get small buffers and spill to the tail. */
  budgetSpent: boolean;
  /** The next PATCH, given the offset the upload is at. */
  nextPatch: (offset: number) => Patch;
}

/** A request body delivering `bytes` in pieces of random size (a byte stream, as in workerd), breaking after `cutAfter` if set. */
function bodyOf(bytes: Uint8Array, random: Random, cutAfter?: number): ReadableStream<Uint8Array> {
  let at = 0;
  const end = cutAfter ?? bytes.length;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (at >= end) {
        if (cutAfter !== undefined) controller.error(new Error("Network connection lost"));
        else {
          controller.close();
          // A BYOB read waiting on a closed byte stream ends only when answered with no bytes.
          controller.byobRequest?.respond(0);
        }
        return;
      }
      const piece = Math.min(end - at, random.pick([random.int(1, 4 * KiB), random.int(4 * KiB, 256 * KiB), random.int(256 * KiB, 2 * MiB)]));
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

/** Uploads `source` through UploadWriter, one writer per PATCH as writing/append.ts makes them; returns what the upload and R2 hold. */
async function upload(scenario: Scenario, source: Uint8Array, random: Random) {
  const store = new UploadStore(sqliteStorage(), false);
  const bucket = new FakeBucket();
  const buffers = new WriteBuffers(new BufferBudget(scenario.budgetSpent ? 0 : 64 * MiB));
  const deps = { store, bucket: bucket as unknown as R2Bucket, partBufferLimit: PART_BUFFER_LIMIT, overwriteObjects: true, now: () => 0, buffers };
  const newUpload: NewUpload = {
    id: "AAAAAAAAAAAAAAAAAAAAAA",
    objectKey: "uploads/AAAAAAAAAAAAAAAAAAAAAA",
    length: scenario.deferred ? undefined : scenario.length,
    partSize: planPartSize(scenario.deferred ? undefined : scenario.length, { partSize: 8 * MiB, deferredPartSize: 16 * MiB }),
    metadata: new Map(),
    contentType: "application/octet-stream",
    contentDisposition: "attachment",
    createdAt: 0,
  };
  store.create(newUpload, undefined);
  const patches: string[] = [];

  for (let sent = 0; ; sent++) {
    const record = store.load()!;
    if (record.finishedAt !== undefined) break;
    if (sent > 5000) throw new Error("the upload does not progress");
    const patch = scenario.nextPatch(record.offset);
    const size = Math.min(patch.size, scenario.length - record.offset);
    const declaredLength = scenario.deferred && record.offset + size === scenario.length ? scenario.length : undefined;
    const contentLength = patch.announced ? size : undefined;
    patches.push(`${size}${patch.announced ? "" : "c"}${patch.cutAfter !== undefined ? `/${patch.cutAfter}` : ""}`);
    // As writing/append.ts: the length a PATCH declares, and before the first byte a part size its chunk fills.
    const length = checkAppend(record, { offset: record.offset, declaredLength, contentLength, lengthLimit: Number.MAX_SAFE_INTEGER });
    if (length !== record.length) store.setLength(length!);
    let partSize = record.partSize;
    if (record.offset === 0 && record.multipartId === undefined && contentLength !== undefined) {
      partSize = partSizeForChunk(record.partSize, contentLength, length, PART_BUFFER_LIMIT);
      store.setPartSize(partSize);
    }
    const writer = new UploadWriter(deps, { ...record, partSize }, length);
    const body = bodyOf(source.subarray(record.offset, record.offset + size), random, patch.cutAfter);
    buffers.beginWrite();
    let ending: BodyEnding;
    try {
      ending = await writer.write(body, new LockHolder(), { contentLength });
    } catch (error) {
      ending = isRefusedBody(error) ? "refused" : "interrupted";
    }
    await writer.settle(ending);
    buffers.endWrite();

    // Between PATCHes: what is in R2 is whole parts of the part size, and the tail is less than one.
    const after = store.load()!;
    if (after.finishedAt === undefined) {
      const parts = store.parts();
      expect(parts.map((part) => part.partNumber)).toEqual(parts.map((_, i) => i + 1));
      for (const part of parts) expect(part.size).toBe(after.partSize);
      expect(store.tailSize()).toBeLessThan(after.partSize);
      expect(after.offset).toBe(parts.length * after.partSize + store.tailSize());
    }
  }
  const record = store.load()!;
  return { record, object: bucket.objects.get(record.objectKey), parts: bucket.completedParts.get(record.objectKey), patches };
}

/* ---------- the client patterns ---------- */

type Pattern = (random: Random, length: number) => Scenario["nextPatch"];

/** Around R2's 5 MiB minimum, by a few bytes up to a few hundred KiB either side. */
const nearMinimum: Pattern = (random) => {
  const size = 5 * MiB + random.pick([-1, 1, 0, random.int(-256 * KiB, 256 * KiB), 64 * KiB]);
  return () => ({ size, announced: true });
};
/** Chunks of a fixed size far from 5 MiB: tiny, 8 MiB, 13 MiB, 50 MiB (the whole upload, here). */
const fixedFar: Pattern = (random) => {
  const size = random.pick([random.int(64 * KiB, 200 * KiB), 8 * MiB, 13 * MiB + 7, 50 * MiB]);
  return () => ({ size, announced: true });
};
/** Any size from 1 byte to 12 MiB, each PATCH its own, some chunked. */
const anySize: Pattern = (random) => () => ({
  size: random.pick([random.int(1, 64 * KiB), random.int(64 * KiB, 5 * MiB), random.int(5 * MiB, 12 * MiB)]),
  announced: random.chance(0.7),
});
/** Tiny chunks first, then one that brings the rest (a client that changes its chunk size). */
const tinyThenLarge: Pattern = (random) => {
  const tinyUntil = random.int(1 * MiB, 6 * MiB);
  const tiny = () => random.pick([random.int(1, 512), random.int(4 * KiB, 300 * KiB)]);
  return (offset) => (offset < tinyUntil ? { size: tiny(), announced: random.chance(0.8) } : { size: 64 * MiB, announced: random.chance(0.5) });
};

/** Any of those, with connections that break part-way and are resumed from the offset. */
function withCuts(pattern: Pattern): Pattern {
  return (random, length) => {
    const next = pattern(random, length);
    return (offset) => {
      const patch = next(offset);
      const size = Math.min(patch.size, length - offset);
      return random.chance(0.25) && size > 1 ? { ...patch, cutAfter: random.int(0, size - 1) } : patch;
    };
  };
}

const PATTERNS: [string, Pattern][] = [
  ["near 5 MiB", nearMinimum],
  ["fixed, far from 5 MiB", fixedFar],
  ["any size", anySize],
  ["tiny then large", tinyThenLarge],
  ["near 5 MiB, cut", withCuts(nearMinimum)],
  ["any size, cut", withCuts(anySize)],
  ["tiny then large, cut", withCuts(tinyThenLarge)],
];

const SEEDS = 3;

/** `length` pseudo-random bytes (xorshift32), quick to make. */
function seededBytes(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, length);
}

describe("UploadWriter cuts parts as the plan says, whatever the chunks", () => {
  const cases = PATTERNS.flatMap(([name, pattern]) => Array.from({ length: SEEDS }, (_, seed) => ({ name, pattern, seed })));

  it.each(cases)("$name, seed $seed", { timeout: 60_000 }, async ({ name, pattern, seed }) => {
    const random = new Random(`writer-part-cutting ${name} ${seed}`);
    const length = random.int(10 * MiB + 1, 24 * MiB);
    const source = seededBytes(length, seed + 1);
    const scenario: Scenario = {
      length,
      deferred: random.chance(0.3),
      budgetSpent: random.chance(0.2),
      nextPatch: pattern(random, length),
    };

    const { record, object, parts, patches } = await upload(scenario, source, random);
    const about = `length ${length}, part size ${record.partSize}, ${scenario.deferred ? "deferred, " : ""}${scenario.budgetSpent ? "budget spent, " : ""}PATCHes ${patches.join(" ")}`;

    expect(record.offset, about).toBe(length);
    expect(object, about).toBeDefined();
    expect(await sha256(object!), about).toBe(await sha256(source));
    // Over 10 MiB and every part size at most 32 MiB here, but a one-PATCH upload of one part is one put.
    if (parts === undefined) {
      expect(length, about).toBeLessThanOrEqual(record.partSize);
      return;
    }
    const sizes = parts.map((part) => part.size);
    expect(parts.map((part) => part.partNumber), about).toEqual(parts.map((_, i) => i + 1));
    expect(sizes.slice(0, -1).every((size) => size === record.partSize), about).toBe(true);
    expect(sizes.slice(0, -1).every((size) => size >= R2_LIMITS.minPartSize), about).toBe(true);
    expect(sizes.at(-1)!, about).toBeGreaterThan(0);
    expect(sizes.at(-1)!, about).toBeLessThanOrEqual(record.partSize);
    expect(sizes.reduce((sum, size) => sum + size, 0), about).toBe(length);
  });
});
