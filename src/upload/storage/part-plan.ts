/**
 * How an upload's bytes are cut into R2 multipart parts. Pure functions, so the
 * rules can be tested over many sizes without the runtime.
 *
 * R2's rules (developers.cloudflare.com/r2/objects/multipart-objects): every
 * part but the last has the same size, at least 5 MiB and at most 5 GiB; the
 * last is not larger; at most 10,000 parts. Local miniflare checks these only
 * in `complete()`, so the writer must get them right by construction: it cuts
 * a part exactly at each multiple of the upload's part size, whatever the
 * client's chunk sizes are.
 */
import { MiB, R2_LIMITS } from "../../r2-limits";

export interface PartSizePolicy {
  /** Part size for uploads whose length fits in `maxParts` parts of it. */
  partSize: number;
  /** Part size for uploads created without a length (creation-defer-length). */
  deferredPartSize: number;
}

/**
 * The part size of a new upload. A known length gets the policy's part size,
 * grown to a whole number of MiB when the length would otherwise need more
 * than 10,000 parts. A deferred length cannot be planned for, so it gets the
 * deferred part size and with it a limit of 10,000 such parts.
 */
export function planPartSize(length: number | undefined, policy: PartSizePolicy): number {
  if (length === undefined) return policy.deferredPartSize;
  if (length > R2_LIMITS.maxObjectSize) {
    throw new RangeError(`length ${length} exceeds R2's largest object (${R2_LIMITS.maxObjectSize})`);
  }
  const smallestFitting = Math.ceil(Math.ceil(length / R2_LIMITS.maxParts) / MiB) * MiB;
  return Math.max(policy.partSize, smallestFitting);
}

/**
 * The part size for an upload whose first PATCH announces `chunk` bytes: one
 * that divides the chunk, so that a client sending chunks of that size ends
 * every PATCH on a part boundary and leaves no tail to store in SQLite and
 * read back for the next PATCH (with 50 MiB chunks and 8 MiB parts, every
 * PATCH would leave 2 MiB). Of the sizes that divide the chunk and still fit
 * R2's rules, the memory limit and the upload's length — and, for a deferred
 * length, are not below the planned size, so the upload may grow as large as
 * planned — it takes the smallest not below the planned size, else the
 * largest below it; with none, or when the planned size already divides the
 * chunk, the chunk is the whole upload or the upload fits in one part, the
 * planned size stays.
 */
export function partSizeForChunk(planned: number, chunk: number, length: number | undefined, partBufferLimit: number): number {
  if (chunk <= 0 || chunk % planned === 0) return planned;
  // One PATCH brings it all, or one `put` writes it: no tail either way.
  if (length !== undefined && (chunk >= length || length <= planned)) return planned;
  const smallest = length === undefined ? planned : Math.max(R2_LIMITS.minPartSize, Math.ceil(length / R2_LIMITS.maxParts));
  const largest = Math.min(partBufferLimit, R2_LIMITS.maxPartSize, chunk);
  let notBelow: number | undefined;
  // Sizes chunk / parts, largest first.
  for (let parts = Math.ceil(chunk / largest); chunk / parts >= smallest; parts++) {
    if (chunk % parts !== 0) continue;
    const size = chunk / parts;
    if (size < planned) return notBelow ?? size;
    notBelow = size;
  }
  return notBelow ?? planned;
}

/** The longest upload a part size allows. */
export function maxLengthForPartSize(partSize: number): number {
  return Math.min(partSize * R2_LIMITS.maxParts, R2_LIMITS.maxObjectSize);
}

/**
 * The size of the part that begins at `partStart`: the part size, or for the
 * last part of an upload of known length, what remains.
 */
export function partCapacity(partStart: number, partSize: number, length: number | undefined): number {
  return length === undefined ? partSize : Math.min(partSize, length - partStart);
}

/** The 1-based number of the part that begins at `partStart`. */
export function partNumberAt(partStart: number, partSize: number): number {
  return Math.floor(partStart / partSize) + 1;
}
