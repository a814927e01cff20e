/**
 * SQLite rows written per upload (issue 13, cost per terabyte): Durable
 * Object storage bills every row a statement writes, the same as an R2 part
 * costs about four and a half of them. So a part is recorded with two rows
 * (its own and the upload's row: offset and tail size in one UPDATE), the
 * part list is dropped at completion rather than deleted row by row, and
 * PATCHes in quick succession move the stored expiry at most once a second.
 * Counted from the cursors of the upload object's own statements.
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { createUpload, expectDownloadEquals, expectFinishedStorage, expectNoServerErrors, patch, PART_SIZE, randomBytes, uploadStub } from "./helpers";

const TIMEOUT = 60_000;

/** Rows written by each upload object's statements since `countRowsWritten`, by upload id. */
const rowsWritten = new Map<string, number>();

/** From now on, counts the rows written by the statements of upload `id`'s Durable Object. */
function countRowsWritten(id: string): Promise<void> {
  rowsWritten.set(id, 0);
  return runInDurableObject(uploadStub(id), (_instance, state) => {
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

/** The rows counted for `id` since the last call (or since counting began). */
function takeRowsWritten(id: string): number {
  const rows = rowsWritten.get(id)!;
  rowsWritten.set(id, 0);
  return rows;
}

describe("SQLite rows written", () => {
  afterEach(() => expectNoServerErrors());

  it("a PATCH of eight parts writes two rows a part and a few for the PATCH; completing the upload does not write a row per part", { timeout: TIMEOUT }, async () => {
    const parts = 8;
    const data = randomBytes(parts * PART_SIZE + 10, 1300);
    const { url, id } = await createUpload({ length: data.length });
    await countRowsWritten(id);

    const started = Date.now();
    expect((await patch(url, 0, data.subarray(0, parts * PART_SIZE))).status).toBe(204);
    // Per part its row and the upload's row; per PATCH the expiry (once a
    // second at most, so one more row per second the PATCH took) and events.
    const seconds = Math.ceil((Date.now() - started) / 1000);
    expect(takeRowsWritten(id)).toBeLessThanOrEqual(2 * parts + seconds + 3);

    // The last part's two rows, the finished upload's row, the part table
    // created again (two schema rows) and its event: not one per part.
    expect((await patch(url, parts * PART_SIZE, data.subarray(parts * PART_SIZE))).status).toBe(204);
    expect(takeRowsWritten(id)).toBeLessThanOrEqual(6);
    await expectFinishedStorage(id, data.length);
    await expectDownloadEquals(url, data);
  });

  it("PATCHes in quick succession store the expiry they move at most once a second", { timeout: TIMEOUT }, async () => {
    const patches = 20;
    const { url, id } = await createUpload({ length: 1000 });
    expect((await patch(url, 0, new Uint8Array(10))).status).toBe(204);
    await countRowsWritten(id);

    const started = Date.now();
    for (let sent = 1; sent <= patches; sent++) expect((await patch(url, sent * 10, new Uint8Array(10))).status).toBe(204);
    const seconds = Math.ceil((Date.now() - started) / 1000);
    // Each tiny PATCH: its bytes added to the last tail row, and the upload's
    // row (offset and tail size); the expiry once per second at most.
    expect(takeRowsWritten(id)).toBeLessThanOrEqual(2 * patches + seconds + 1);
  });
});
