import { describe, expect, it } from "vitest";
import { BufferBudget, SMALL_BUFFER_SIZE, WriteBuffers } from "../../src/upload/writing/write-buffers";

const MiB = 1024 * 1024;
const roomy = () => new BufferBudget(64 * MiB);

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

  it("counts an upload's buffers against the isolate's budget only while a PATCH runs", async () => {
    const budget = new BufferBudget(64 * MiB);
    const buffers = new WriteBuffers(budget);
    buffers.beginWrite();
    const part = await buffers.takePart(8 * MiB);
    const read = buffers.takeRead(MiB);
    expect(budget.held).toBe(9 * MiB);
    buffers.givePart(part);
    buffers.giveRead(read);
    buffers.endWrite();
    expect(budget.held).toBe(0);
    // The next PATCH reuses the kept buffers, and they count again.
    buffers.beginWrite();
    expect(budget.held).toBe(9 * MiB);
    expect(await buffers.takePart(8 * MiB)).toBe(part);
    expect(budget.held).toBe(9 * MiB);
    buffers.endWrite();
    expect(budget.held).toBe(0);
  });

  it("gives small buffers once the budget is spent, and full ones again when it is free", async () => {
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
    first.endWrite();
    // The first PATCH is done: the budget has room again for a whole part.
    expect((await second.takePart(8 * MiB)).length).toBe(8 * MiB);
    second.endWrite();
    expect(budget.held).toBe(0);
  });

  it("keeps no buffers for the next PATCH while others hold more than half the budget", async () => {
    const budget = new BufferBudget(16 * MiB);
    const busy = new WriteBuffers(budget);
    const idle = new WriteBuffers(budget);
    busy.beginWrite();
    await busy.takePart(12 * MiB);
    idle.beginWrite();
    const part = await idle.takePart(2 * MiB);
    idle.givePart(part);
    idle.endWrite();
    idle.beginWrite();
    expect(budget.held).toBe(12 * MiB);
    expect(await idle.takePart(2 * MiB)).not.toBe(part);
    idle.endWrite();
    busy.endWrite();
    expect(budget.held).toBe(0);
  });
});
