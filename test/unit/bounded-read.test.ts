/**
 * Reading a hook's answer with a byte cap (hooks/bounded-read.ts): whole
 * when within the cap, and otherwise stopped, with the stream cancelled,
 * after at most one chunk past the cap.
 */
import { describe, expect, it } from "vitest";
import { readTextWithin } from "../../src/hooks/bounded-read";

/** A body of `chunks` chunks of `chunkBytes` each, counting what was pulled and whether it was cancelled. */
function countedBody(chunkBytes: number, chunks: number) {
  const seen = { pulledBytes: 0, cancelled: false };
  const chunk = new TextEncoder().encode("x".repeat(chunkBytes));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent === chunks) return controller.close();
        sent += 1;
        seen.pulledBytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

describe("readTextWithin", () => {
  it("reads an answer within the cap whole, decoded as UTF-8 (as Response.text() would)", async () => {
    const text = `{"message":"${"é".repeat(100)}"}`;
    expect(await readTextWithin(new Response(text), 1024)).toEqual({ overCap: false, text });
    expect(await readTextWithin(new Response("x".repeat(1024)), 1024)).toEqual({ overCap: false, text: "x".repeat(1024) });
    expect(await readTextWithin(new Response(null), 1024)).toEqual({ overCap: false, text: "" });
  });

  it("stops at the first chunk past the cap and cancels the rest: a 100 MB answer is never pulled", async () => {
    const { stream, seen } = countedBody(64 * 1024, 1600);
    expect(await readTextWithin(new Response(stream), 256 * 1024)).toEqual({ overCap: true, maxBytes: 256 * 1024 });
    expect(seen.cancelled).toBe(true);
    expect(seen.pulledBytes).toBe(5 * 64 * 1024);
  });

  it("one byte past the cap is over it", async () => {
    expect(await readTextWithin(new Response("x".repeat(1025)), 1024)).toEqual({ overCap: true, maxBytes: 1024 });
  });

  it("refuses a declared Content-Length over the cap without reading a byte", async () => {
    const { stream, seen } = countedBody(1024, 10);
    const response = new Response(stream, { headers: { "Content-Length": String(10 * 1024 * 1024) } });
    expect(await readTextWithin(response, 1024)).toEqual({ overCap: true, maxBytes: 1024 });
    expect(seen).toEqual({ pulledBytes: 0, cancelled: true });
  });
});
