import { describe, expect, it } from "vitest";
import { WriteBuffers } from "../../src/upload/write-buffers";

describe("WriteBuffers", () => {
  it("hands back the kept part buffer only for a part of the same size", async () => {
    const buffers = new WriteBuffers();
    const part = await buffers.takePart(1024);
    buffers.givePart(part);
    expect(await buffers.takePart(1024)).toBe(part);
    buffers.givePart(part);
    const other = await buffers.takePart(2048);
    expect(other).not.toBe(part);
    expect(other.length).toBe(2048);
  });

  it("reuses a kept read buffer for any read it is large enough for", () => {
    const buffers = new WriteBuffers();
    const read = buffers.takeRead(4096);
    buffers.giveRead(read);
    expect(buffers.takeRead(1024)).toBe(read);
    buffers.giveRead(read);
    const larger = buffers.takeRead(8192);
    expect(larger).not.toBe(read);
    expect(larger.byteLength).toBe(8192);
  });

  it("keeps no read buffer a read detached", () => {
    const buffers = new WriteBuffers();
    const read = buffers.takeRead(1024);
    structuredClone(read.buffer, { transfer: [read.buffer] });
    buffers.giveRead(read);
    expect(buffers.takeRead(1024)).not.toBe(read);
  });

  it("lets go of both buffers once the upload has ended", async () => {
    const buffers = new WriteBuffers();
    const part = await buffers.takePart(1024);
    const read = buffers.takeRead(1024);
    buffers.givePart(part);
    buffers.giveRead(read);
    buffers.release();
    expect(await buffers.takePart(1024)).not.toBe(part);
    expect(buffers.takeRead(1024)).not.toBe(read);
  });

  it("hands out a part buffer only after an abandoned part's upload has let go of it", async () => {
    const buffers = new WriteBuffers();
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
});
