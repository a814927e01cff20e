/**
 * Quotas per subject, the arithmetic (src/subjects/usage.ts): what one index
 * entry counts for (`usageOf`), whether a new upload fits (`decideQuota`),
 * and that a use kept up to date by adding each change's difference
 * (`addUsage`, as subjects/entries.ts does) always equals the sum over the
 * entries. The runtime side (reservations, releases through the outbox,
 * bursts) is test/runtime-quotas.
 */
import { describe, expect, it } from "vitest";
import { addUsage, decideQuota, NO_USAGE, usageOf, type EntryUsage } from "../../src/subjects/usage";
import type { QuotaLimits } from "../../src/quotas";
import type { QuotaRequest, QuotaUsage } from "../../src/upload/quota-gate";
import type { IndexedState } from "../../src/upload/indexed-state";

const MiB = 1024 * 1024;

function entry(fields: Partial<EntryUsage> & Pick<EntryUsage, "state">): EntryUsage {
  return { offset: 0, length: null, reserved: 0, ...fields };
}

function request(length: number | undefined, limits: QuotaLimits, sizeLimit = Number.MAX_SAFE_INTEGER): QuotaRequest {
  return { uploadId: "u", length, sizeLimit, limits };
}

function usage(activeUploads: number, activeBytes: number, storedBytes: number): QuotaUsage {
  return { activeUploads, activeBytes, storedBytes };
}

describe("usageOf: what one index entry counts for", () => {
  it("counts nothing for no entry", () => {
    expect(usageOf(undefined)).toEqual(NO_USAGE);
  });

  it("counts an unfinished upload once, with its whole length, however little arrived", () => {
    expect(usageOf(entry({ state: "unfinished", offset: 0, length: 10 * MiB }))).toEqual(usage(1, 10 * MiB, 10 * MiB));
    expect(usageOf(entry({ state: "unfinished", offset: 9 * MiB, length: 10 * MiB }))).toEqual(usage(1, 10 * MiB, 10 * MiB));
    // A known length wins over a reservation (declared smaller than the room it reserved: the room comes back).
    expect(usageOf(entry({ state: "unfinished", offset: 1, length: 3 * MiB, reserved: 40 * MiB }))).toEqual(usage(1, 3 * MiB, 3 * MiB));
  });

  it("counts a deferred length as what it reserved or what arrived, whichever is more", () => {
    expect(usageOf(entry({ state: "unfinished", offset: 2 * MiB, length: null, reserved: 40 * MiB }))).toEqual(usage(1, 40 * MiB, 40 * MiB));
    expect(usageOf(entry({ state: "unfinished", offset: 50 * MiB, length: null, reserved: 40 * MiB }))).toEqual(usage(1, 50 * MiB, 50 * MiB));
    // Without a bytes quota it reserved nothing: it counts what arrived.
    expect(usageOf(entry({ state: "unfinished", offset: 7, length: null, reserved: 0 }))).toEqual(usage(1, 7, 7));
  });

  it("counts a finished upload as stored bytes only: it is no longer active", () => {
    expect(usageOf(entry({ state: "finished", offset: 5 * MiB, length: 5 * MiB, reserved: 40 * MiB }))).toEqual(usage(0, 0, 5 * MiB));
    // A deferred upload finishes with its length known; should the entry lack it, what arrived is its size.
    expect(usageOf(entry({ state: "finished", offset: 3 * MiB, length: null }))).toEqual(usage(0, 0, 3 * MiB));
  });

  it("counts nothing for an ended upload (terminated, expired, failed), whatever it held", () => {
    for (const state of ["terminated", "expired", "failed"] as const) {
      expect(usageOf(entry({ state, offset: 5 * MiB, length: 8 * MiB, reserved: 8 * MiB }))).toEqual(NO_USAGE);
    }
  });
});

describe("decideQuota: whether a new upload fits", () => {
  it("grants anything without limits, and reserves nothing for a deferred length", () => {
    expect(decideQuota(usage(1000, 1e12, 1e12), request(5 * MiB, {}))).toEqual({ granted: true, bytes: 5 * MiB });
    expect(decideQuota(usage(1000, 1e12, 1e12), request(undefined, {}))).toEqual({ granted: true, bytes: 0 });
  });

  it("refuses the upload one past SUBJECT_MAX_ACTIVE_UPLOADS, naming the limit and the use", () => {
    const limits = { activeUploads: 3 };
    expect(decideQuota(usage(2, 0, 0), request(1, limits))).toEqual({ granted: true, bytes: 1 });
    expect(decideQuota(usage(3, 0, 0), request(1, limits))).toEqual({ granted: false, quota: "activeUploads", limit: 3, used: 3, requested: 1 });
    expect(decideQuota(usage(0, 0, 0), request(1, { activeUploads: 0 }))).toEqual({ granted: false, quota: "activeUploads", limit: 0, used: 0, requested: 1 });
  });

  it("grants a known length that fits the active bytes exactly, and refuses one byte more, naming the quota, limit, use and request", () => {
    const limits = { activeBytes: 40 * MiB };
    expect(decideQuota(usage(1, 30 * MiB, 30 * MiB), request(10 * MiB, limits))).toEqual({ granted: true, bytes: 10 * MiB });
    expect(decideQuota(usage(1, 30 * MiB, 30 * MiB), request(10 * MiB + 1, limits))).toEqual({
      granted: false,
      quota: "activeBytes",
      limit: 40 * MiB,
      used: 30 * MiB,
      requested: 10 * MiB + 1,
    });
  });

  it("refuses by stored bytes when those are what is full, though active bytes have room", () => {
    const limits = { activeBytes: 40 * MiB, storedBytes: 64 * MiB };
    // 10 MiB active, 50 MiB finished: 60 MiB stored.
    const used = usage(1, 10 * MiB, 60 * MiB);
    expect(decideQuota(used, request(4 * MiB, limits))).toEqual({ granted: true, bytes: 4 * MiB });
    expect(decideQuota(used, request(5 * MiB, limits))).toEqual({ granted: false, quota: "storedBytes", limit: 64 * MiB, used: 60 * MiB, requested: 5 * MiB });
  });

  it("names the first quota that refuses: the count before the bytes", () => {
    const limits = { activeUploads: 1, activeBytes: 1, storedBytes: 1 };
    expect(decideQuota(usage(1, 1, 1), request(5, limits))).toMatchObject({ granted: false, quota: "activeUploads" });
    expect(decideQuota(usage(0, 1, 1), request(5, limits))).toMatchObject({ granted: false, quota: "activeBytes" });
    expect(decideQuota(usage(0, 0, 1), request(1, limits))).toMatchObject({ granted: false, quota: "storedBytes" });
  });

  it("grants a zero-length upload even with no room left: it needs no byte", () => {
    expect(decideQuota(usage(0, 40 * MiB, 40 * MiB), request(0, { activeBytes: 40 * MiB }))).toEqual({ granted: true, bytes: 0 });
  });

  it("reserves for a deferred length all the room the bytes quotas leave, the smaller of the two", () => {
    const limits = { activeBytes: 40 * MiB, storedBytes: 64 * MiB };
    expect(decideQuota(usage(0, 0, 0), request(undefined, limits))).toEqual({ granted: true, bytes: 40 * MiB });
    expect(decideQuota(usage(1, 10 * MiB, 10 * MiB), request(undefined, limits))).toEqual({ granted: true, bytes: 30 * MiB });
    expect(decideQuota(usage(1, 10 * MiB, 50 * MiB), request(undefined, limits))).toEqual({ granted: true, bytes: 14 * MiB });
    expect(decideQuota(usage(0, 0, 0), request(undefined, { storedBytes: 64 * MiB }))).toEqual({ granted: true, bytes: 64 * MiB });
  });

  it("reserves no more for a deferred length than its size limit", () => {
    expect(decideQuota(usage(0, 0, 0), request(undefined, { activeBytes: 40 * MiB }, 8 * MiB))).toEqual({ granted: true, bytes: 8 * MiB });
  });

  it("refuses a deferred length when no byte of room is left, asking for one byte", () => {
    expect(decideQuota(usage(1, 40 * MiB, 40 * MiB), request(undefined, { activeBytes: 40 * MiB }))).toEqual({
      granted: false,
      quota: "activeBytes",
      limit: 40 * MiB,
      used: 40 * MiB,
      requested: 1,
    });
    expect(decideQuota(usage(0, 0, 64 * MiB), request(undefined, { activeBytes: 40 * MiB, storedBytes: 64 * MiB }))).toMatchObject({
      granted: false,
      quota: "storedBytes",
      used: 64 * MiB,
    });
  });

  it("never grants what would take the use past a limit (every granted request, added, stays within)", () => {
    const random = seeded(21);
    for (let round = 0; round < 2000; round++) {
      const limits: QuotaLimits = {};
      if (random() < 0.6) limits.activeUploads = Math.floor(random() * 5);
      if (random() < 0.6) limits.activeBytes = Math.floor(random() * 100);
      if (random() < 0.6) limits.storedBytes = Math.floor(random() * 150);
      const active = Math.floor(random() * 100);
      const used = usage(Math.floor(random() * 6), active, active + Math.floor(random() * 60));
      const length = random() < 0.3 ? undefined : Math.floor(random() * 60);
      const sizeLimit = 1 + Math.floor(random() * 120);
      const answer = decideQuota(used, request(length, limits, sizeLimit));
      if (!answer.granted) {
        expect(answer.limit).toBe(limits[answer.quota]);
        expect(answer.used).toBe(used[answer.quota]);
        expect(answer.used + answer.requested).toBeGreaterThan(answer.limit);
        continue;
      }
      const after = addUsage(used, usage(1, answer.bytes, answer.bytes));
      if (length !== undefined) expect(answer.bytes).toBe(length);
      else if (limits.activeBytes === undefined && limits.storedBytes === undefined) expect(answer.bytes).toBe(0);
      else expect(answer.bytes).toBeLessThanOrEqual(sizeLimit);
      if (limits.activeUploads !== undefined) expect(after.activeUploads).toBeLessThanOrEqual(limits.activeUploads);
      if (limits.activeBytes !== undefined) expect(after.activeBytes).toBeLessThanOrEqual(Math.max(limits.activeBytes, used.activeBytes));
      if (limits.storedBytes !== undefined) expect(after.storedBytes).toBeLessThanOrEqual(Math.max(limits.storedBytes, used.storedBytes));
    }
  });
});

describe("a running use equals the sum over the entries", () => {
  it("after any sequence of creations, progress, declared lengths, finishes and ends, each added as a difference", () => {
    const random = seeded(2121);
    const entries = new Map<string, EntryUsage>();
    let running = NO_USAGE;
    const change = (id: string, after: EntryUsage | undefined) => {
      const before = entries.get(id);
      running = addUsage(addUsage(running, usageOf(after)), usageOf(before), -1);
      if (after) entries.set(id, after);
      else entries.delete(id);
    };
    let next = 0;
    for (let step = 0; step < 5000; step++) {
      const ids = [...entries.keys()];
      const id = ids.length && random() < 0.8 ? ids[Math.floor(random() * ids.length)]! : `u${next++}`;
      const current = entries.get(id);
      if (!current) {
        const deferred = random() < 0.4;
        const length = Math.floor(random() * 1000);
        change(id, entry({ state: "unfinished", length: deferred ? null : length, reserved: deferred ? Math.floor(random() * 1000) : 0 }));
        continue;
      }
      const roll = random();
      const ended: IndexedState[] = ["terminated", "expired", "failed"];
      if (current.state === "unfinished" && roll < 0.4) {
        const room = current.length === null ? 2000 : current.length;
        change(id, { ...current, offset: Math.min(room, current.offset + Math.floor(random() * 300)) });
      } else if (current.state === "unfinished" && current.length === null && roll < 0.55) {
        change(id, { ...current, length: current.offset + Math.floor(random() * 200) });
      } else if (current.state === "unfinished" && roll < 0.75) {
        const size = current.length ?? current.offset;
        change(id, { ...current, state: "finished", offset: size, length: size });
      } else if (current.state !== "unfinished" && current.state !== "finished" && roll < 0.9) {
        // Retention removes an ended entry.
        change(id, undefined);
      } else if (roll < 0.95) {
        change(id, { ...current, state: ended[Math.floor(random() * ended.length)]! });
      }
      if (step % 97 === 0) expect(running).toEqual([...entries.values()].reduce((sum, one) => addUsage(sum, usageOf(one)), NO_USAGE));
    }
    const summed = [...entries.values()].reduce((sum, one) => addUsage(sum, usageOf(one)), NO_USAGE);
    expect(running).toEqual(summed);
    expect(running.activeUploads).toBe([...entries.values()].filter((one) => one.state === "unfinished").length);
    for (const value of Object.values(running)) expect(value).toBeGreaterThanOrEqual(0);
  });

  it("addUsage with -1 undoes addUsage", () => {
    const a = usage(3, 100, 250);
    const b = usage(1, 40, 40);
    expect(addUsage(addUsage(a, b), b, -1)).toEqual(a);
    expect(addUsage(NO_USAGE, a)).toEqual(a);
  });
});

/** A small deterministic generator (mulberry32), so a failure repeats. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
