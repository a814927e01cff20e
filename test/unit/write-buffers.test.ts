import { describe, expect, it } from "vitest";
import { BufferBudget, SMALL_BUFFER_SIZE, WriteBuffers } from "../../src/upload/writing/write-buffers";

const MiB = 1024 * 1024;
const roomy = () => new BufferBudget(64 * MiB);

/** One PATCH that uses a part buffer of `size` bytes and hands it back; the buffer it used. */
async function patchOf(buffers: WriteBuffers, size: number): Promise<Uint8Array> {
  buffers.beginWrite();
  const part = await buffers.takePart(size);
  buffers.givePart(part);
  buffers.endWrite();
  return part;
}

describe("WriteBuffers", () => {
  it("hands back the kept part buffer only for a part of the same size", async () => {
    const buffers = new WriteBuffers(roomy());
    const part = await buffers.takePart(1024);
    buffers.givePart(part);
    expect(await buffers.takePart(1024)).toBe(part);
    buffers.givePart(part);
    const other = await buffers.takePart(2048);
    expect(other).not.toBe(part);
    expect(other.length).toBe(2048);
  });

  it("reuses a kept read buffer for any read it is large enough for", () => {
    const buffers = new WriteBuffers(roomy());
    const read = buffers.takeRead(4096);
    buffers.giveRead(read);
    expect(buffers.takeRead(1024)).toBe(read);
    buffers.giveRead(read);
    const larger = buffers.takeRead(8192);
    expect(larger).not.toBe(read);
    expect(larger.byteLength).toBe(8192);
  });

  it("keeps no read buffer a read detached", () => {
    const buffers = new WriteBuffers(roomy());
    const read = buffers.takeRead(1024);
    structuredClone(read.buffer, { transfer: [read.buffer] });
    buffers.giveRead(read);
    expect(buffers.takeRead(1024)).not.toBe(read);
  });

  it("lets go of both buffers once the upload has ended", async () => {
    const buffers = new WriteBuffers(roomy());
    const part = await buffers.takePart(1024);
    const read = buffers.takeRead(1024);
    buffers.givePart(part);
    buffers.giveRead(read);
    buffers.release();
    expect(buffers.keptBytes).toBe(0);
    expect(await buffers.takePart(1024)).not.toBe(part);
    expect(buffers.takeRead(1024)).not.toBe(read);
  });

  it("hands out a part buffer only after an abandoned part's upload has let go of it", async () => {
    const buffers = new WriteBuffers(roomy());
    let release!: () => void;
    buffers.busyUntil(new Promise<void>((resolve) => (release = resolve)));
    let taken = false;
    const next = buffers.takePart(1024).then(() => (taken = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(taken).toBe(false);
    release();
    await next;
    expect(taken).toBe(true);
  });

  it("counts an upload's buffers against the isolate's budget in a PATCH and while they are kept after it", async () => {
    const budget = new BufferBudget(64 * MiB);
    const buffers = new WriteBuffers(budget);
    buffers.beginWrite();
    const part = await buffers.takePart(8 * MiB);
    const read = buffers.takeRead(MiB);
    expect(budget.held).toBe(9 * MiB);
    buffers.givePart(part);
    buffers.giveRead(read);
    buffers.endWrite();
    expect(buffers.keptBytes).toBe(9 * MiB);
    expect(budget.held).toBe(9 * MiB);
    // The next PATCH reuses the kept buffers, counted once.
    buffers.beginWrite();
    expect(await buffers.takePart(8 * MiB)).toBe(part);
    expect(buffers.takeRead(MiB)).toBe(read);
    expect(budget.held).toBe(9 * MiB);
    buffers.endWrite();
    expect(budget.held).toBe(0);
    buffers.release();
    expect(budget.held).toBe(0);
  });

  it("gives small buffers once the budget is spent by PATCHes in flight", async () => {
    const budget = new BufferBudget(16 * MiB);
    const first = new WriteBuffers(budget);
    const second = new WriteBuffers(budget);
    first.beginWrite();
    second.beginWrite();
    expect((await first.takePart(8 * MiB)).length).toBe(8 * MiB);
    expect(first.takeRead(MiB).byteLength).toBe(MiB);
    // 9 MiB of 16 are held: a second 8 MiB part does not fit.
    expect((await second.takePart(8 * MiB)).length).toBe(SMALL_BUFFER_SIZE);
    expect(second.takeRead(MiB).byteLength).toBe(MiB);
    expect(budget.held).toBe(10 * MiB + SMALL_BUFFER_SIZE);
  });

  it("takes back the buffers of the upload that waited longest when a PATCH needs the room", async () => {
    const budget = new BufferBudget(20 * MiB);
    const [waitedLongest, waitedLess, writing] = [new WriteBuffers(budget), new WriteBuffers(budget), new WriteBuffers(budget)];
    const oldPart = await patchOf(waitedLongest, 8 * MiB);
    await patchOf(waitedLess, 8 * MiB);
    expect(budget.held).toBe(16 * MiB);
    writing.beginWrite();
    expect((await writing.takePart(8 * MiB)).length).toBe(8 * MiB);
    expect(waitedLongest.keptBytes).toBe(0);
    expect(waitedLess.keptBytes).toBe(8 * MiB);
    expect(budget.held).toBe(16 * MiB);
    // Its next PATCH gets a new buffer, or a small one while the room is taken.
    waitedLongest.beginWrite();
    const next = await waitedLongest.takePart(8 * MiB);
    // Not `not.toBe`: on two distinct arrays it compares 8 MiB element by element.
    expect(next === oldPart).toBe(false);
    expect(next.length).toBe(8 * MiB); // after taking back waitedLess's
    expect(waitedLess.keptBytes).toBe(0);
  });

  it("counts waiting from the end of an upload's last PATCH", async () => {
    const budget = new BufferBudget(20 * MiB);
    const [first, second, writing] = [new WriteBuffers(budget), new WriteBuffers(budget), new WriteBuffers(budget)];
    await patchOf(first, 8 * MiB);
    await patchOf(second, 8 * MiB);
    await patchOf(first, 8 * MiB);
    writing.beginWrite();
    await writing.takePart(8 * MiB);
    expect(second.keptBytes).toBe(0);
    expect(first.keptBytes).toBe(8 * MiB);
  });

  it("takes back no kept buffers when even all of them would not make the room", async () => {
    const budget = new BufferBudget(16 * MiB);
    const [waiting, busy, writing] = [new WriteBuffers(budget), new WriteBuffers(budget), new WriteBuffers(budget)];
    await patchOf(waiting, 2 * MiB);
    busy.beginWrite();
    await busy.takePart(12 * MiB);
    writing.beginWrite();
    expect((await writing.takePart(8 * MiB)).length).toBe(SMALL_BUFFER_SIZE);
    expect(waiting.keptBytes).toBe(2 * MiB);
  });

  it("never takes back the buffers of an upload whose PATCH is running", async () => {
    const budget = new BufferBudget(16 * MiB);
    const running = new WriteBuffers(budget);
    const other = new WriteBuffers(budget);
    const part = await patchOf(running, 8 * MiB);
    running.beginWrite();
    other.beginWrite();
    expect((await other.takePart(12 * MiB)).length).toBe(SMALL_BUFFER_SIZE);
    expect(await running.takePart(8 * MiB)).toBe(part);
  });

  it("keeps nothing after a PATCH that ends while the budget is over its limit", async () => {
    const budget = new BufferBudget(16 * MiB);
    const [first, second, third] = [new WriteBuffers(budget), new WriteBuffers(budget), new WriteBuffers(budget)];
    for (const buffers of [first, second, third]) buffers.beginWrite();
    const firstPart = await first.takePart(8 * MiB);
    const secondPart = await second.takePart(8 * MiB);
    expect((await third.takePart(8 * MiB)).length).toBe(SMALL_BUFFER_SIZE);
    first.givePart(firstPart);
    first.endWrite();
    expect(first.keptBytes).toBe(0);
    expect(budget.held).toBe(8 * MiB + SMALL_BUFFER_SIZE);
    second.givePart(secondPart);
    second.endWrite();
    expect(second.keptBytes).toBe(8 * MiB);
  });

  it("holds no more than the budget between PATCHes, over many uploads taking turns", async () => {
    const limit = 48 * MiB;
    const budget = new BufferBudget(limit);
    const uploads = Array.from({ length: 60 }, () => new WriteBuffers(budget));
    const kept = () => uploads.reduce((sum, buffers) => sum + buffers.keptBytes, 0);
    // Rounds of up to five PATCHes in flight together, each with part sizes of 5 to 16 MiB.
    let seed = 7;
    const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let round = 0; round < 40; round++) {
      const writing = Array.from({ length: 1 + next(5) }, () => uploads[next(uploads.length)]!).filter((b, i, all) => all.indexOf(b) === i);
      for (const buffers of writing) buffers.beginWrite();
      const taken = [];
      for (const buffers of writing) taken.push({ buffers, part: await buffers.takePart((5 + next(12)) * MiB), read: buffers.takeRead(MiB) });
      for (const { buffers, part, read } of taken) {
        buffers.givePart(part);
        buffers.giveRead(read);
        buffers.endWrite();
      }
      expect(budget.held).toBe(kept());
      expect(kept()).toBeLessThanOrEqual(limit);
    }
    expect(kept()).toBeGreaterThan(limit / 2);
  });
});
