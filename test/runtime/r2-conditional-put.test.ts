/**
 * A platform fact the completion relies on (upload-writer.ts): R2's `put`
 * with `onlyIf: { etagDoesNotMatch: "*" }` writes only where no object is,
 * and answers null, writing nothing, where one is. Checked on the local R2
 * the tests run against, so a change in it shows here first.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const NO_OBJECT = { etagDoesNotMatch: "*" } as const;

describe("R2 put with onlyIf etagDoesNotMatch *", () => {
  it("writes a key where no object is", async () => {
    const key = `conditional/${crypto.randomUUID()}`;
    const written = await env.BUCKET.put(key, "first", { onlyIf: NO_OBJECT });
    expect(written).not.toBeNull();
    expect(await (await env.BUCKET.get(key))!.text()).toBe("first");
  });

  it("answers null and leaves the object where one is", async () => {
    const key = `conditional/${crypto.randomUUID()}`;
    await env.BUCKET.put(key, "first");
    const refused = await env.BUCKET.put(key, "second", { onlyIf: NO_OBJECT });
    expect(refused).toBeNull();
    expect(await (await env.BUCKET.get(key))!.text()).toBe("first");
  });

  it("refuses a stream of known length the same way, and lets go of the stream", async () => {
    const key = `conditional/${crypto.randomUUID()}`;
    await env.BUCKET.put(key, "first");
    const size = 3 * 1024 * 1024;
    const { readable, writable } = new FixedLengthStream(size);
    // Written piece by piece, as the writer sends a part from its stored tail.
    const writing = (async () => {
      const writer = writable.getWriter();
      for (let at = 0; at < size; at += 64 * 1024) await writer.write(new Uint8Array(64 * 1024));
      await writer.close();
    })();
    const [refused] = await Promise.all([env.BUCKET.put(key, readable, { onlyIf: NO_OBJECT }), writing.catch(() => "stopped")]);
    expect(refused).toBeNull();
    expect(await (await env.BUCKET.get(key))!.text()).toBe("first");
  });
});
