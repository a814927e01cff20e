/**
 * The stored tail (bytes that do not yet fill a part, upload-store.ts) under
 * many tiny PATCHes: small appends are merged into the last row while it is
 * under 1 MiB, so 1,000 of them leave a row or two rather than 1,000, and
 * the tail's size is kept in the upload's row so that a PATCH never sums
 * the whole tail. Checked by looking at the rows, and by the invariant
 * offset = parts + tail, with the stored size agreeing.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { TAIL_ROW_BYTES } from "../../src/upload/storage/upload-store";
import {
  bodyText,
  createUpload,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  headOffset,
  MiB,
  patch,
  patchInChunks,
  PART_SIZE,
  randomBytes,
  STORED_OFFSET,
  uploadStub,
} from "./helpers";

const TIMEOUT = 120_000;

interface TailState {
  offset: number;
  partBytes: number;
  /** Size of every tail row, in order. */
  rows: Array<{ size: number; pending: number }>;
  /** The tail's size as the upload's row records it. */
  storedTailSize: number;
}

function tailState(id: string): Promise<TailState> {
  return runInDurableObject(uploadStub(id), (_instance, state) => {
    const sql = state.storage.sql;
    const upload = sql.exec<{ offset: number; tail_size: number }>(`SELECT ${STORED_OFFSET}, tail_size FROM upload`).one();
    const partBytes = sql.exec<{ bytes: number }>("SELECT COALESCE(SUM(size), 0) AS bytes FROM part").one().bytes;
    const rows = sql.exec<{ size: number; pending: number }>("SELECT LENGTH(bytes) AS size, pending FROM tail ORDER BY seq").toArray();
    return { offset: upload.offset, partBytes, rows: rows.map(({ size, pending }) => ({ size, pending })), storedTailSize: upload.tail_size };
  });
}

/** offset = parts + tail rows, the stored tail size is the rows' sum, and no row is pending between requests. */
async function expectTailInvariant(id: string, offset: number): Promise<TailState> {
  const state = await tailState(id);
  const tailBytes = state.rows.reduce((sum, row) => sum + row.size, 0);
  expect(state.offset).toBe(offset);
  expect(state.partBytes + tailBytes).toBe(offset);
  expect(state.storedTailSize).toBe(tailBytes);
  expect(state.rows.filter((row) => row.pending)).toEqual([]);
  return state;
}

/** Rows are full but the last: as few as the bytes allow. */
function expectPackedRows(state: TailState): void {
  const bytes = state.rows.reduce((sum, row) => sum + row.size, 0);
  expect(state.rows.length).toBe(Math.ceil(bytes / TAIL_ROW_BYTES));
  for (const row of state.rows.slice(0, -1)) expect(row.size).toBe(TAIL_ROW_BYTES);
}

/** Sends `count` PATCHes of `size` bytes of `data` from `from`; returns the offset after them. */
async function tinyPatches(url: string, data: Uint8Array, from: number, count: number, size: number, headers?: (chunk: Uint8Array) => Promise<Record<string, string>>): Promise<number> {
  let offset = from;
  for (let sent = 0; sent < count; sent++) {
    const chunk = data.slice(offset, offset + size);
    const response = await patch(url, offset, chunk, headers ? await headers(chunk) : {});
    expect(response.status, `PATCH ${sent} at ${offset}: ${await bodyText(response)}`).toBe(204);
    offset += size;
    expect(response.headers.get("Upload-Offset")).toBe(String(offset));
  }
  return offset;
}

async function sha1Base64(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", bytes));
  return btoa(String.fromCharCode(...digest));
}

afterEach(() => expectNoServerErrors());

describe("tiny PATCHes", () => {
  it("1,000 PATCHes of 1,500 bytes leave two tail rows, then the upload finishes intact", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(PART_SIZE + 3 * MiB + 11, 1001);
    const { url, id } = await createUpload({ length: data.length });
    const offset = await tinyPatches(url, data, 0, 1000, 1500);
    const state = await expectTailInvariant(id, offset);
    expect(state.partBytes).toBe(0);
    expect(state.rows.length).toBe(2);
    expectPackedRows(state);

    await evictDurableObject(uploadStub(id));
    expect(await headOffset(url)).toBe(offset);
    // The next PATCH fills part 1 from the stored tail, read back in pages, and the rest follows.
    await patchInChunks(url, data, offset, [2 * MiB + 5]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("tiny PATCHes after a part merge into one row; the invariant holds after each step", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(2 * PART_SIZE + 77, 1002);
    const { url, id } = await createUpload({ length: data.length });
    // A first PATCH of 3 MiB keeps the planned part size (see partSizeForChunk).
    let offset = await tinyPatches(url, data, 0, 1, 3 * MiB);
    offset = await tinyPatches(url, data, offset, 1, PART_SIZE - 3 * MiB + 100);
    let state = await expectTailInvariant(id, offset);
    expect(state.partBytes).toBe(PART_SIZE);
    expect(state.rows).toEqual([{ size: 100, pending: 0 }]);
    offset = await tinyPatches(url, data, offset, 300, 33);
    state = await expectTailInvariant(id, offset);
    expect(state.rows).toEqual([{ size: 100 + 300 * 33, pending: 0 }]);
    offset = await tinyPatches(url, data, offset, 1, MiB);
    state = await expectTailInvariant(id, offset);
    expectPackedRows(state);
    await patchInChunks(url, data, offset, [PART_SIZE]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });

  it("checksummed tiny PATCHes merge too, and a mismatch between them leaves the tail as it was", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(3 * MiB + 1, 1003);
    const { url, id } = await createUpload({ length: data.length });
    const checksum = async (chunk: Uint8Array) => ({ "Upload-Checksum": `sha1 ${await sha1Base64(chunk)}` });
    let offset = await tinyPatches(url, data, 0, 200, 999, checksum);
    const before = await expectTailInvariant(id, offset);
    expect(before.rows.length).toBe(1);

    const wrong = await patch(url, offset, data.slice(offset, offset + 999), { "Upload-Checksum": `sha1 ${await sha1Base64(new Uint8Array(1))}` });
    expect(wrong.status, await bodyText(wrong)).toBe(460);
    expect(await expectTailInvariant(id, offset)).toEqual(before);

    offset = await tinyPatches(url, data, offset, 200, 999, checksum);
    expect((await expectTailInvariant(id, offset)).rows.length).toBe(1);
    await patchInChunks(url, data, offset, [MiB]);
    await expectDownloadEquals(url, data);
  });
});

describe("uploads stored before the tail's size was kept", () => {
  it("an upload whose row has no tail_size gets it from its rows, and finishes intact", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(PART_SIZE + 2 * MiB, 1004);
    const { url, id } = await createUpload({ length: data.length });
    const offset = await tinyPatches(url, data, 0, 5, 70_001);
    // As an older version stored them: one row per PATCH (more than a page of
    // rows), no size in the upload's row.
    await runInDurableObject(uploadStub(id), (_instance, state) => {
      const sql = state.storage.sql;
      const rows = sql.exec<{ bytes: ArrayBuffer }>("SELECT bytes FROM tail ORDER BY seq").toArray();
      const tail = new Uint8Array(rows.reduce((sum, row) => sum + row.bytes.byteLength, 0));
      let at = 0;
      for (const row of rows) {
        tail.set(new Uint8Array(row.bytes), at);
        at += row.bytes.byteLength;
      }
      sql.exec("DELETE FROM tail");
      for (let seq = 1; seq <= 5; seq++) sql.exec("INSERT INTO tail (seq, bytes) VALUES (?, ?)", seq, tail.subarray((seq - 1) * 70_001, seq * 70_001));
      sql.exec("ALTER TABLE upload DROP COLUMN tail_size");
    });
    await evictDurableObject(uploadStub(id));
    expect(await headOffset(url)).toBe(offset);
    expect((await expectTailInvariant(id, offset)).rows.length).toBe(5);
    await patchInChunks(url, data, offset, [3 * MiB]);
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, data.length);
  });
});
