import { describe, expect, it } from "vitest";
import { TusError } from "../../src/errors";
import { WriteLock, type LockHolder } from "../../src/upload/writing/write-lock";

/** A writer that runs until it is asked to stop, like a PATCH whose client went silent. */
function stalledWriter(lock: WriteLock, log: string[], name: string): Promise<void> {
  return lock.run(
    (holder: LockHolder) =>
      new Promise<void>((resolve) => {
        log.push(`${name} started`);
        holder.onStop(() => {
          log.push(`${name} stopped`);
          resolve();
        });
      }),
  );
}

describe("WriteLock", () => {
  it("asks the holder to stop when a newer request arrives, then runs the newcomer", async () => {
    const lock = new WriteLock(1000);
    const log: string[] = [];
    const first = stalledWriter(lock, log, "first");
    const second = lock.run(async () => log.push("second ran"));
    await Promise.all([first, second]);
    expect(log).toEqual(["first started", "first stopped", "second ran"]);
  });

  it("runs one request at a time", async () => {
    const lock = new WriteLock(1000);
    let active = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        lock.run(async () => {
          active++;
          most = Math.max(most, active);
          await new Promise((resolve) => setTimeout(resolve, 5));
          active--;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it("stops queued requests too, so only the newest does real work", async () => {
    const lock = new WriteLock(1000);
    const stoppedWhenStarted: boolean[] = [];
    const log: string[] = [];
    const first = stalledWriter(lock, log, "first");
    const queued = lock.run(async (holder) => stoppedWhenStarted.push(holder.stopped));
    const newest = lock.run(async (holder) => stoppedWhenStarted.push(holder.stopped));
    await Promise.all([first, queued, newest]);
    expect(stoppedWhenStarted).toEqual([true, false]);
  });

  it("answers 423 when the holder does not let go in time, and stays usable", async () => {
    const lock = new WriteLock(50);
    let release!: () => void;
    const stuck = lock.run(() => new Promise<void>((resolve) => (release = resolve)));
    const error = await lock.run(async () => "ran").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TusError);
    expect((error as TusError).status).toBe(423);
    release();
    await stuck;
    await expect(lock.run(async () => "ran")).resolves.toBe("ran");
  });
});
