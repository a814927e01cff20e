import { describe, expect, it } from "vitest";
import { SMALL_BUFFER_SIZE } from "../../src/upload/writing/write-buffers";
import {
  createUpload,
  expectDownloadEquals,
  expectFinishedStorage,
  head,
  MiB,
  patch,
  patchInChunks,
  randomBytes,
  settle,
  sleep,
  stalledBody,
  storedState,
  within,
} from "../runtime/helpers";

/** Runs in the project `runtime-small-buffers` only, with ISOLATE_BUFFER_BUDGET=0. */
describe("a busy isolate (its buffer budget spent)", () => {
  it("stores a PATCH's bytes in SQLite as each small buffer fills, before the body ends", { timeout: 60_000 }, async () => {
    const data = randomBytes(12 * MiB + 7, 3001);
    const { url, id } = await createUpload({ length: data.length });
    const sent = 3 * MiB + 5;
    const body = stalledBody(data.slice(0, sent));
    const stalled = settle(patch(url, 0, body.stream));
    await body.drained;
    await sleep(300);
    // With a part-sized buffer, these bytes would still be only in memory.
    const during = await storedState(id);
    expect(during.tailBytes).toBeGreaterThanOrEqual(sent - SMALL_BUFFER_SIZE);
    expect(during.offset).toBe(during.tailBytes);
    // A HEAD takes over: the stalled PATCH stores the rest and lets go.
    expect((await within(8_000, "HEAD during the stalled PATCH", head(url))).headers.get("Upload-Offset")).toBe(String(sent));
    await within(8_000, "the stalled PATCH", stalled);
    await patchInChunks(url, data, sent, [5 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });
});
