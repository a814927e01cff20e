/**
 * The byte ledger: what a live upload's offset counts, in the tables `part`
 * (R2 parts already uploaded) and `tail` (bytes that arrived but do not yet
 * fill a part), and the upload row's `tail_size`.
 *
 *   part    R2 parts already uploaded (number, etag, size); each number once
 *   tail    bytes in rows of at most TAIL_ROW_BYTES (SQLite values are
 *           limited to 2 MB). A small append is added to the last row while
 *           that row has room, so many tiny PATCHes make few rows. Rows of a
 *           checksummed chunk are `pending` until the chunk is verified.
 *
 * Invariant: while the upload is live, its offset is sum(part.size) +
 * upload.tail_size, and tail_size = sum(length(tail.bytes) of rows not
 * pending). The offset is derived, not stored: committing a part that
 * leaves no tail is one row written (the part's), where keeping an offset
 * column current would write the upload's row too, for every part (rows
 * written are billed per row; issue 13). The parts' sum is counted once per
 * instance and then kept current as parts are committed, so no request sums
 * the part table, nor the tail.
 *
 * Each method is one step of a change; the store (upload-store.ts) runs them
 * in the transaction that ties them to the upload row and the outbox, and
 * calls `forgetPartSum` when such a transaction rolls back.
 */
import { PART_TABLE } from "./schema";

export const TAIL_ROW_BYTES = 1024 * 1024;

/** Tail rows read per query when a part is sent from the tail: memory stays within a few rows. */
const TAIL_PAGE_ROWS = 4;

export interface StoredPart {
  partNumber: number;
  etag: string;
  size: number;
}

export class ByteLedger {
  /**
   * sum(part.size), counted from the table once per instance and then kept
   * current by the commits; undefined until counted, and again whenever a
   * transaction that moved it rolled back or the part table was dropped.
   */
  private partBytes: number | undefined;

  constructor(private readonly sql: SqlStorage) {}

  /** sum(part.size): counted from the table only the first time an instance asks. */
  partSum(): number {
    this.partBytes ??= this.sql.exec<{ bytes: number }>("SELECT COALESCE(SUM(size), 0) AS bytes FROM part").one().bytes;
    return this.partBytes;
  }

  /** A transaction that moved the parts' sum rolled back: count it again when next asked. */
  forgetPartSum(): void {
    this.partBytes = undefined;
  }

  /** A live upload's offset, from what it counts. */
  liveOffset(): number {
    return this.partSum() + this.tailSize();
  }

  /** Bytes of the tail that are counted in the offset. */
  tailSize(): number {
    return this.sql.exec<{ size: number }>("SELECT tail_size AS size FROM upload").one().size;
  }

  parts(): StoredPart[] {
    return this.sql
      .exec<{ number: number; etag: string; size: number }>("SELECT number, etag, size FROM part ORDER BY number")
      .toArray()
      .map((row) => ({ partNumber: row.number, etag: row.etag, size: row.size }));
  }

  /** The newest tail row, or 0: a writer remembers it to know which rows a part took. */
  lastTailSeq(): number {
    return this.sql.exec<{ seq: number }>("SELECT COALESCE(MAX(seq), 0) AS seq FROM tail").one().seq;
  }

  /**
   * The tail's rows after `afterSeq`, in order, read a page of rows at a
   * time so a large tail is never all in memory. Each page is read whole
   * before its rows are handed out, because the caller awaits R2 between
   * rows and no cursor may stay open across that.
   */
  *tailRows(afterSeq = 0): Generator<Uint8Array> {
    for (let seq = afterSeq; ; ) {
      const page = this.sql
        .exec<{ seq: number; bytes: ArrayBuffer }>("SELECT seq, bytes FROM tail WHERE seq > ? ORDER BY seq LIMIT ?", seq, TAIL_PAGE_ROWS)
        .toArray();
      for (const row of page) {
        seq = row.seq;
        yield new Uint8Array(row.bytes);
      }
      if (page.length < TAIL_PAGE_ROWS) return;
    }
  }

  /**
   * Stores `bytes` at the end of the tail. Counted in the offset at once, or,
   * for a checksummed chunk, `pending` until `commitVerified`. Counted bytes
   * first fill the last row up to TAIL_ROW_BYTES (one UPDATE), so tiny
   * PATCHes do not add a row each. Pending bytes always start a row of their
   * own: rows up to a pending part's last one are deleted when the chunk is
   * committed, and nothing may be added to them meanwhile. Returns the live
   * offset after it.
   */
  appendTail(bytes: Uint8Array, pending: boolean): number {
    let start = 0;
    if (!pending) {
      const last = this.sql
        .exec<{ seq: number; size: number; pending: number }>("SELECT seq, LENGTH(bytes) AS size, pending FROM tail ORDER BY seq DESC LIMIT 1")
        .toArray()[0];
      if (last && !last.pending && last.size < TAIL_ROW_BYTES) {
        start = Math.min(bytes.length, TAIL_ROW_BYTES - last.size);
        // `||` joins the bytes as they are but types the result TEXT: cast it back.
        this.sql.exec("UPDATE tail SET bytes = CAST(bytes || ? AS BLOB) WHERE seq = ?", bytes.subarray(0, start), last.seq);
      }
    }
    let seq = this.lastTailSeq();
    for (; start < bytes.length; start += TAIL_ROW_BYTES) {
      const row = bytes.subarray(start, start + TAIL_ROW_BYTES);
      this.sql.exec("INSERT INTO tail (seq, bytes, pending) VALUES (?, ?, ?)", ++seq, row, pending ? 1 : 0);
    }
    if (pending) return this.liveOffset();
    const tailSize = this.sql.exec<{ size: number }>("UPDATE upload SET tail_size = tail_size + ? RETURNING tail_size AS size", bytes.length).one().size;
    return this.partSum() + tailSize;
  }

  /**
   * Records an uploaded part. Its bytes were the tail (now removed) followed
   * by bytes that were only in memory, so the offset grows by the part's size
   * less the tail's. A part that took no tail writes one row: its own.
   * Returns how far the offset moved.
   */
  commitPart(part: StoredPart): number {
    const tailSize = this.tailSize();
    this.insertPart(part);
    this.sql.exec("DELETE FROM tail");
    if (tailSize > 0) this.sql.exec("UPDATE upload SET tail_size = 0");
    return part.size - tailSize;
  }

  /**
   * A checksummed chunk was verified: its parts count, the tail rows those
   * parts took (up to `consumedThroughSeq`) go, its pending rows become
   * ordinary tail, and the offset grows by the chunk's length. Only the
   * rows this chunk touched are summed, to move the tail's size. Returns
   * how far the offset moved.
   */
  commitVerified(parts: StoredPart[], consumedThroughSeq: number): number {
    const sizeOf = (query: string) => this.sql.exec<{ size: number }>(query, consumedThroughSeq).one().size;
    const consumed = sizeOf("SELECT COALESCE(SUM(LENGTH(bytes)), 0) AS size FROM tail WHERE seq <= ? AND pending = 0");
    const madeCounted = sizeOf("SELECT COALESCE(SUM(LENGTH(bytes)), 0) AS size FROM tail WHERE seq > ? AND pending = 1");
    for (const part of parts) this.insertPart(part);
    this.sql.exec("DELETE FROM tail WHERE seq <= ?", consumedThroughSeq);
    this.sql.exec("UPDATE tail SET pending = 0 WHERE pending = 1");
    if (madeCounted !== consumed) this.sql.exec("UPDATE upload SET tail_size = tail_size - ? + ?", consumed, madeCounted);
    return parts.reduce((sum, part) => sum + part.size, 0) - consumed + madeCounted;
  }

  /**
   * A checksummed chunk failed, or never ended (the object was reset while
   * writing it): forget its pending rows. Its parts in R2 are replaced by
   * later uploads.
   */
  discardPending(): void {
    this.sql.exec("DELETE FROM tail WHERE pending = 1");
  }

  /**
   * Forgets every part and the tail, as the upload leaves the live state
   * (the upload row then holds its offset). Dropping the part table and
   * creating it again writes a couple of schema rows, where `DELETE FROM
   * part` is billed one row written per part (a 1 TB upload has thousands).
   */
  clear(): void {
    this.sql.exec("DROP TABLE IF EXISTS part");
    this.sql.exec(PART_TABLE);
    this.sql.exec("DELETE FROM tail");
    // Counted again (none) when next asked: a rolled-back drop leaves the parts.
    this.partBytes = undefined;
  }

  /**
   * A part number is committed once: the writer and the assembler start
   * past the offset, which counts every committed part. A second commit of
   * one would be a fault, refused here, not a replacement the parts' sum
   * kept in memory would miss.
   */
  private insertPart(part: StoredPart): void {
    this.sql.exec("INSERT INTO part (number, etag, size) VALUES (?, ?, ?)", part.partNumber, part.etag, part.size);
    if (this.partBytes !== undefined) this.partBytes += part.size;
  }
}
