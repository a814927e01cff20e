/**
 * Buffers kept between PATCHes, over many uploads in one isolate (every
 * upload object of this project runs in the one workerd isolate): each
 * upload is left with a partly filled part, and the part and read buffers
 * the uploads keep for their next PATCH stay within ISOLATE_BUFFER_BUDGET
 * (48 MiB by default) however many uploads wait, where 12 uploads once kept
 * 9 MiB each (108 MiB). Every upload then completes byte for byte.
 */
import { runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import type { UploadObject } from "../../src/upload/upload-object";
import type { UploadContext } from "../../src/upload/upload-context";
import { isolateBufferBudget } from "../../src/upload/writing/write-buffers";
import { bodyText, createUpload, expectDownloadEquals, expectNoServerErrors, MiB, patch, randomBytes, uploadStub } from "./helpers";

// Enough to hold twice the budget and more, had each kept its buffers (9 MiB each); few enough for npm test under load.
const UPLOADS = 12;
/** Over 10 MiB: an 8 MiB part and a last part, completed as a multipart upload. */
const LENGTH = 11 * MiB + 3;
/** The first PATCH of each upload: a part buffer of 8 MiB, one MiB of it filled. */
const FIRST = MiB + 7;
const BUDGET = 48 * MiB;

/**
 * What the upload's object keeps in memory for its next PATCH: read from the
 * buffers themselves, not from the budget's count of them, so the test
 * measures the memory and not only the accounting.
 */
function keptBytes(id: string): Promise<number> {
  return runInDurableObject(uploadStub(id) as DurableObjectStub<UploadObject>, (instance) => {
    const { buffers } = (instance as unknown as { context: UploadContext }).context.writerDeps;
    return buffers.keptBytes;
  });
}

async function keptByAll(ids: string[]): Promise<number> {
  let total = 0;
  for (const id of ids) total += await keptBytes(id);
  return total;
}

it(`${UPLOADS} uploads each left with a partly filled part keep at most the isolate's budget between PATCHes, and all complete intact`, { timeout: 120_000 }, async () => {
  const ids: Array<{ url: string; id: string; seed: number }> = [];
  const keptAfterEach: number[] = [];
  for (let seed = 1; seed <= UPLOADS; seed++) {
    const { url, id } = await createUpload({ length: LENGTH });
    const response = await patch(url, 0, randomBytes(LENGTH, seed).slice(0, FIRST));
    expect(response.status, await bodyText(response)).toBe(204);
    ids.push({ url, id, seed });
    keptAfterEach.push(await keptByAll(ids.map((upload) => upload.id)));
  }
  expect(Math.max(...keptAfterEach), `bytes kept after each upload's first PATCH: ${keptAfterEach.map((bytes) => bytes / MiB).join(", ")} MiB`).toBeLessThanOrEqual(BUDGET);
  // Everything kept is counted, so a PATCH that needs the room can take it back.
  expect(isolateBufferBudget(BUDGET).held).toBeGreaterThanOrEqual(keptAfterEach.at(-1)!);
  // The budget was used, not merely avoided: the uploads that waited least still keep their buffers.
  expect(await keptBytes(ids.at(-1)!.id)).toBeGreaterThan(8 * MiB);

  for (const { url, seed } of ids) {
    const data = randomBytes(LENGTH, seed);
    const response = await patch(url, FIRST, data.slice(FIRST));
    expect(response.status, await bodyText(response)).toBe(204);
    await expectDownloadEquals(url, data);
  }
  expectNoServerErrors();
});
