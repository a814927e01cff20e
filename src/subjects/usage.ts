import type { IndexedState } from "../upload/index-record";
import type { QuotaName } from "../quotas";
import type { QuotaAnswer, QuotaRequest, QuotaUsage } from "../upload/quota-gate";

/**
 * What one upload counts for in its subject's quotas, from its index entry:
 * pure, so that a subject's use is the sum of its entries' and can be kept
 * up to date by adding the difference each change of an entry makes.
 */
export interface EntryUsage {
  state: IndexedState;
  offset: number;
  length: number | null;
  /** Bytes reserved when the upload was created under a bytes quota (a deferred length's room), else 0. */
  reserved: number;
}

export const NO_USAGE: QuotaUsage = { activeUploads: 0, activeBytes: 0, storedBytes: 0 };

/**
 * An unfinished upload counts once, with its length; while the length is
 * deferred, with what it reserved or what arrived, whichever is more, so a
 * deferred length cannot get around a bytes quota. A finished upload counts
 * its size as stored until it ends (terminated, expired, failed: its object
 * is deleted or was never its own).
 */
export function usageOf(entry: EntryUsage | undefined): QuotaUsage {
  if (!entry) return NO_USAGE;
  if (entry.state === "unfinished") {
    const bytes = entry.length ?? Math.max(entry.reserved, entry.offset);
    return { activeUploads: 1, activeBytes: bytes, storedBytes: bytes };
  }
  if (entry.state === "finished") return { activeUploads: 0, activeBytes: 0, storedBytes: entry.length ?? entry.offset };
  return NO_USAGE;
}

export function addUsage(a: QuotaUsage, b: QuotaUsage, sign: 1 | -1 = 1): QuotaUsage {
  return {
    activeUploads: a.activeUploads + sign * b.activeUploads,
    activeBytes: a.activeBytes + sign * b.activeBytes,
    storedBytes: a.storedBytes + sign * b.storedBytes,
  };
}

/**
 * Whether a new upload fits its subject's quotas, given what the subject
 * uses now. A known length asks for that many bytes. A deferred one, under
 * a bytes quota, reserves all the room those quotas leave (at most its size
 * limit; refused when none is left); its size limit becomes that room
 * until it declares its length. Without a bytes quota it reserves nothing.
 */
export function decideQuota(usage: QuotaUsage, request: QuotaRequest): QuotaAnswer {
  const { limits } = request;
  if (limits.activeUploads !== undefined && usage.activeUploads + 1 > limits.activeUploads) {
    return { granted: false, quota: "activeUploads", limit: limits.activeUploads, used: usage.activeUploads, requested: 1 };
  }
  const room = Math.min(roomIn(limits.activeBytes, usage.activeBytes), roomIn(limits.storedBytes, usage.storedBytes));
  const bytes = request.length ?? (room === Infinity ? 0 : Math.min(room, request.sizeLimit));
  const needed = request.length ?? Math.max(bytes, 1);
  for (const quota of ["activeBytes", "storedBytes"] as const satisfies QuotaName[]) {
    const limit = limits[quota];
    if (limit !== undefined && usage[quota] + needed > limit) return { granted: false, quota, limit, used: usage[quota], requested: needed };
  }
  return { granted: true, bytes };
}

function roomIn(limit: number | undefined, used: number): number {
  return limit === undefined ? Infinity : Math.max(0, limit - used);
}
