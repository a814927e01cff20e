/**
 * The idle clock (upload/lifecycle/idle-clock.ts): activity moves the stored
 * expiry (a row written) only once it has fallen 1 % of the idle time
 * behind, at least a second; what is held in memory is never lost to the
 * alarm's judgement of idleness.
 */
import { describe, expect, it } from "vitest";
import { IdleClock } from "../../src/upload/lifecycle/idle-clock";

const DAY = 24 * 60 * 60 * 1000;
/** A wall-clock time: a new instance knows of no earlier activity. */
const T = Date.UTC(2026, 11, 2);

describe("IdleClock", () => {
  it("stores the first activity, then holds moves under 1 % of the idle time (864 s of a day) in memory", () => {
    const clock = new IdleClock(DAY);
    expect(clock.bytesArrived(T)).toBe(T + DAY);
    expect(clock.bytesArrived(T + 863_000)).toBeUndefined();
    expect(clock.pendingMs).toBe(863_000);
    expect(clock.bytesArrived(T + 864_000)).toBe(T + 864_000 + DAY);
    expect(clock.pendingMs).toBe(0);
  });

  it("holds moves under a second however short the idle time", () => {
    const clock = new IdleClock(3000);
    expect(clock.bytesArrived(T)).toBe(T + 3000);
    expect(clock.bytesArrived(T + 999)).toBeUndefined();
    expect(clock.bytesArrived(T + 1000)).toBe(T + 4000);
  });

  it("never expires: nothing to store", () => {
    const clock = new IdleClock(0);
    expect(clock.bytesArrived(5)).toBeUndefined();
    expect(clock.pendingMs).toBe(0);
  });

  it("a request's small move is held and counted from the stored clock, also in a new instance", () => {
    const clock = new IdleClock(DAY);
    const stored = 1_000 + DAY;
    expect(clock.touched(stored, stored + 5_000, 6_000, true)).toBe(false);
    expect(clock.pendingMs).toBe(5_000);
    // Bytes right after count from the stored clock's activity (1,000), not from nothing.
    expect(clock.bytesArrived(1_000 + 864_000)).toBe(1_000 + 864_000 + DAY);
  });

  it("a request's large move, or one backwards, is stored; without activity nothing moves in memory", () => {
    const clock = new IdleClock(DAY);
    expect(clock.touched(1_000, 1_000 + 864_000, 2_000, true)).toBe(true);
    expect(clock.pendingMs).toBe(0);
    expect(clock.touched(10_000, 5_000, 2_000, true)).toBe(true);
    expect(clock.touched(10_000, 10_000, 2_000, false)).toBe(true);
    expect(clock.touched(undefined, 10_000, 2_000, true)).toBe(true);
  });

  it("the alarm's catch-up returns the held activity once, and counts on from it", () => {
    const clock = new IdleClock(DAY);
    clock.bytesArrived(0);
    expect(clock.bytesArrived(600_000), "held: counted from the activity at 0").toBeUndefined();
    expect(clock.catchUp()).toBe(600_000);
    expect(clock.pendingMs).toBe(0);
    expect(clock.catchUp()).toBe(0);
    // The stored clock now counts from 600,000: a move is due 864 s after that.
    expect(clock.bytesArrived(600_000 + 863_000)).toBeUndefined();
    expect(clock.bytesArrived(600_000 + 864_000)).toBe(600_000 + 864_000 + DAY);
  });
});
