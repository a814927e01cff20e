/**
 * SQLite rows written per upload (issue 13, cost per terabyte): Durable
 * Object storage bills every row a statement writes, the same as an R2 part
 * costs about four and a half of them. So a part that takes no tail is
 * recorded with one row, its own (the offset is derived from the parts, not
 * stored in the upload's row), the part list is dropped at completion rather
 * than deleted row by row, and activity moves the stored expiry only once it
 * has fallen 1 % of the idle time behind (864 s of the default day).
 * Counted from the cursors of the upload object's own statements.
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { createUpload, expectDownloadEquals, expectFinishedStorage, expectNoServerErrors, headOffset, patch, PART_SIZE, randomBytes, sleep, uploadStub } from "./helpers";

const TIMEOUT = 60_000;
/**
 * The count is taken on one Durable Object instance, by wrapping its SQL.
 * Rarely (once in about ten full runs) the runtime replaced the instance in
 * the middle of a test, and the count missed rows; `takeRowsWritten` then
 * fails saying so. The rows a scenario writes do not depend on the run, so
 * such a test is run once more, from a new upload, rather than trusted.
 */
const RETRY = 1;

/** Rows written by each upload object's statements since `countRowsWritten`, by upload id. */
const rowsWritten = new Map<string, number>();
/** Marks the instance whose statements are counted: a new instance (the old one reset) is not. */
const COUNTED = Symbol("rows written are counted");

/** From now on, counts the rows written by the statements of upload `id`'s Durable Object. */
function countRowsWritten(id: string): Promise<void> {
  rowsWritten.set(id, 0);
  return runInDurableObject(uploadStub(id), (instance, state) => {
    (instance as unknown as Record<symbol, boolean>)[COUNTED] = true;
    const sql = state.storage.sql;
    const exec = sql.exec.bind(sql);
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      const cursor = exec(query, ...bindings);
      // The statement has run before exec returns; its count is final.
      rowsWritten.set(id, rowsWritten.get(id)! + cursor.rowsWritten);
      return cursor;
    }) as typeof sql.exec;
  });
}

/** The rows counted for `id` since the last call (or since counting began), all by the instance counted. */
async function takeRowsWritten(id: string): Promise<number> {
  const counted = await runInDurableObject(uploadStub(id), (instance) => (instance as unknown as Record<symbol, boolean>)[COUNTED] === true);
  expect(counted, "the upload's Durable Object was replaced while its rows were counted: the count is incomplete").toBe(true);
  const rows = rowsWritten.get(id)!;
  rowsWritten.set(id, 0);
  return rows;
}

describe("SQLite rows written", () => {
  afterEach(() => expectNoServerErrors());

  it("a PATCH of eight parts writes one row a part and one for the upload; completing the upload does not write a row per part", { timeout: TIMEOUT, retry: RETRY }, async () => {
    const parts = 8;
    const data = randomBytes(parts * PART_SIZE + 10, 1300);
    const { url, id } = await createUpload({ length: data.length });
    await countRowsWritten(id);

    expect((await patch(url, 0, data.subarray(0, parts * PART_SIZE))).status).toBe(204);
    // Per part its row; once, the R2 multipart upload's id in the upload's
    // row. The expiry stays (the PATCH took seconds, not minutes).
    expect(await takeRowsWritten(id)).toBe(parts + 1);
    expect(await headOffset(url)).toBe(parts * PART_SIZE);

    // The last part's row, the finished upload's row (its offset stored now)
    // and the part table created again (two schema rows): not one per part.
    expect((await patch(url, parts * PART_SIZE, data.subarray(parts * PART_SIZE))).status).toBe(204);
    expect(await takeRowsWritten(id)).toBeLessThanOrEqual(4);
    await expectFinishedStorage(id, data.length);
    await expectDownloadEquals(url, data);
  });

  it("PATCHes in quick succession do not store the expiry they move, while it is within 1 % of the idle time", { timeout: TIMEOUT, retry: RETRY }, async () => {
    const patches = 20;
    const { url, id } = await createUpload({ length: 1000 });
    expect((await patch(url, 0, new Uint8Array(10))).status).toBe(204);
    await countRowsWritten(id);

    for (let sent = 1; sent <= patches; sent++) {
      expect((await patch(url, sent * 10, new Uint8Array(10))).status).toBe(204);
      // A second apart at least, once: a move the previous throttle (a second) stored.
      if (sent === 1) await sleep(1100);
    }
    // Each tiny PATCH: its bytes added to the last tail row, and the tail's
    // size in the upload's row. Nothing for the expiry.
    expect(await takeRowsWritten(id)).toBe(2 * patches);
    expect(await headOffset(url)).toBe(10 * (patches + 1));
  });
});
