import type { OutboxEntry, UploadEvent, UploadEventType, UploadFailureReason } from "../../hooks/events";
import { indexRecordOf, type IndexedState } from "../../listing/index-record";
import type { Concatenation, Confirmation, NewUpload, UploadEnd, UploadMetadata, UploadRecord } from "../upload-record";

/**
 * The Durable Object's SQLite storage: the whole durable state of one upload.
 * The tables are created with the upload: an object that holds none has no
 * upload, and reading it writes nothing.
 *
 *   upload  one row: identity, length, metadata, R2 multipart id, expiry,
 *           concatenation, size limit, the tail's size, failed completions,
 *           the pre-finish hook's decision (`confirmation`), and the offset
 *           once the upload is finished or ended; after termination, expiry,
 *           a refused completion or a rejection only a tombstone (`ended`)
 *           so that later requests get 410 (409, or the rejection's status)
 *   part    R2 parts already uploaded (number, etag, size); each number once
 *   tail    bytes that arrived but do not yet fill a part, in rows of at
 *           most TAIL_ROW_BYTES (SQLite values are limited to 2 MB). A small
 *           append is added to the last row while that row has room, so
 *           many tiny PATCHes make few rows. Rows of a checksummed chunk
 *           are `pending` until the chunk is verified.
 *   event   the outbox: upload events not yet delivered, written in the
 *           same transaction as the change they report, so none is lost
 *           and none is reported that did not happen
 *
 * Invariant: while the upload is live, its offset is sum(part.size) +
 * upload.tail_size, and tail_size = sum(length(tail.bytes) of rows not
 * pending). The offset is derived, not stored: committing a part that
 * leaves no tail is one row written (the part's), where keeping an offset
 * column current would write the upload's row too, for every part (rows
 * written are billed per row; issue 13). The parts' sum is counted once per
 * instance and then kept current as parts are committed, so no request sums
 * the part table, nor the tail. Once the upload is finished or ended, part
 * and tail are empty and upload.offset holds the offset (length, when
 * finished); while it is live that column is not kept and not read.
 * Every method that moves the offset changes what it counts in one
 * synchronous transaction, so a crash leaves either the old or the new state.
 */
export const TAIL_ROW_BYTES = 1024 * 1024;

const PART_TABLE = "CREATE TABLE IF NOT EXISTS part (number INTEGER PRIMARY KEY, etag TEXT NOT NULL, size INTEGER NOT NULL)";

/** Tail rows read per query when a part is sent from the tail: memory stays within a few rows. */
const TAIL_PAGE_ROWS = 4;

export interface StoredPart {
  partNumber: number;
  etag: string;
  size: number;
}

interface UploadRow extends Record<string, SqlStorageValue> {
  id: string;
  object_key: string;
  length: number | null;
  part_size: number;
  offset: number;
  metadata: string;
  content_type: string;
  content_disposition: string;
  multipart_id: string | null;
  created_at: number;
  finished_at: number | null;
  expires_at: number | null;
  ended: string | null;
  concat: string | null;
  owner: string | null;
  size_limit: number | null;
  tail_size: number;
  completion_failures: number;
  completion_failed_at: number | null;
  confirmation: string | null;
}

/** Failed attempts at completing the upload's object (storage faults), for the retries' back-off. */
export interface CompletionFailures {
  count: number;
  /** When the latest one failed. */
  lastAt: number | undefined;
}

/** The upload index hears of a growing offset at most this often while bytes arrive (and at each PATCH's end). */
export const PROGRESS_INTERVAL_MS = 5000;
/** Progress records' ids start with this; an upload keeps the latest one only. */
const PROGRESS_ID_PREFIX = "progress:";

export interface StoredEvent {
  event: OutboxEntry;
  attempts: number;
}

export class UploadStore {
  /**
   * Whether the schema exists. It is created with the upload, not with the
   * object: any well-formed id reaches an object, and one that holds no
   * upload must answer "no such upload" without writing anything.
   */
  private hasTables: boolean;
  /** When this instance last recorded progress for the upload index. */
  private progressAt = 0;
  /**
   * sum(part.size), counted from the table once per instance and then kept
   * current by the commits; undefined until counted, and again whenever a
   * transaction that moved it rolled back or the part table was dropped.
   */
  private partBytes: number | undefined;

  /**
   * @param recordEvents whether any event sink is configured; without one, no events are kept.
   * @param observeEvent told of every event as it happens, sinks or not (the lifecycle log lines).
   * @param indexed whether the upload index is on: events then carry its record, and progress records are kept.
   * @param confirmsFinish whether a pre-finish hook decides about each finished upload: `finished` then waits for it.
   */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly recordEvents: boolean,
    private readonly observeEvent: (type: UploadEventType, record: UploadRecord) => void = () => {},
    private readonly indexed = false,
    private readonly confirmsFinish = false,
  ) {
    this.hasTables = this.tablesExist();
    if (this.hasTables) this.migrate();
  }

  private tablesExist(): boolean {
    return this.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'upload'").toArray().length > 0;
  }

  /** The tables of an upload; only when one is created. */
  private createTables(): void {
    this.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS upload (
        id TEXT PRIMARY KEY,
        object_key TEXT NOT NULL,
        length INTEGER,
        part_size INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        metadata TEXT NOT NULL,
        content_type TEXT NOT NULL,
        content_disposition TEXT NOT NULL,
        multipart_id TEXT,
        created_at INTEGER NOT NULL,
        finished_at INTEGER,
        expires_at INTEGER,
        ended TEXT,
        concat TEXT,
        owner TEXT,
        size_limit INTEGER,
        tail_size INTEGER NOT NULL DEFAULT 0,
        completion_failures INTEGER NOT NULL DEFAULT 0,
        completion_failed_at INTEGER,
        confirmation TEXT
      );
      ${PART_TABLE};
      CREATE TABLE IF NOT EXISTS tail (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL, pending INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS event (id TEXT PRIMARY KEY, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL);
    `);
  }

  /** Brings the tables of an upload stored by an earlier version up to date. */
  private migrate(): void {
    const columns = this.storage.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('upload')").toArray();
    // Uploads stored before the size limit was recorded: the column is added, empty.
    if (!columns.some((column) => column.name === "size_limit")) this.storage.sql.exec("ALTER TABLE upload ADD COLUMN size_limit INTEGER");
    // Uploads stored before the tail's size was kept: counted once from the rows.
    if (!columns.some((column) => column.name === "tail_size")) {
      this.storage.transactionSync(() => {
        this.storage.sql.exec("ALTER TABLE upload ADD COLUMN tail_size INTEGER NOT NULL DEFAULT 0");
        this.storage.sql.exec("UPDATE upload SET tail_size = (SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM tail WHERE pending = 0)");
      });
    }
    // Uploads stored before failed completions were counted: none counted yet.
    if (!columns.some((column) => column.name === "completion_failures")) {
      this.storage.sql.exec("ALTER TABLE upload ADD COLUMN completion_failures INTEGER NOT NULL DEFAULT 0");
      this.storage.sql.exec("ALTER TABLE upload ADD COLUMN completion_failed_at INTEGER");
    }
    // Uploads stored before the pre-finish hook: none awaits it.
    if (!columns.some((column) => column.name === "confirmation")) this.storage.sql.exec("ALTER TABLE upload ADD COLUMN confirmation TEXT");
  }

  load(): UploadRecord | undefined {
    if (!this.hasTables) return undefined;
    const row = this.storage.sql.exec<UploadRow>("SELECT * FROM upload LIMIT 1").toArray()[0];
    return row && toRecord(row, isLive(row) ? this.storedPartBytes() + row.tail_size : row.offset);
  }

  /** sum(part.size): counted from the table only the first time an instance asks. */
  private storedPartBytes(): number {
    this.partBytes ??= this.storage.sql.exec<{ bytes: number }>("SELECT COALESCE(SUM(size), 0) AS bytes FROM part").one().bytes;
    return this.partBytes;
  }

  /** A live upload's offset, from what it counts. */
  private liveOffset(): number {
    return this.storedPartBytes() + this.tailSize();
  }

  /**
   * Runs `work` in one synchronous transaction; if it rolls back, the parts'
   * sum kept in memory is counted again from the table, which rolled back too.
   */
  private transaction<T>(work: () => T): T {
    try {
      return this.storage.transactionSync(work);
    } catch (error) {
      this.partBytes = undefined;
      throw error;
    }
  }

  create(upload: NewUpload, expiresAt: number | undefined): UploadRecord {
    try {
      return this.storage.transactionSync(() => {
        if (!this.hasTables) {
          this.createTables();
          this.hasTables = true;
        }
        this.storage.sql.exec(
          `INSERT INTO upload (id, object_key, length, part_size, offset, metadata, content_type, content_disposition, created_at, concat, owner, size_limit, expires_at)
           VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
          upload.id,
          upload.objectKey,
          upload.length ?? null,
          upload.partSize,
          JSON.stringify([...upload.metadata]),
          upload.contentType,
          upload.contentDisposition,
          upload.createdAt,
          upload.concat ? JSON.stringify(upload.concat) : null,
          upload.owner ?? null,
          upload.sizeLimit ?? null,
          expiresAt ?? null,
        );
        this.recordEvent("created");
        return this.load()!;
      });
    } catch (error) {
      // Rolled back, tables and all, if they were new.
      this.hasTables = this.tablesExist();
      throw error;
    }
  }

  setLength(length: number): void {
    this.storage.sql.exec("UPDATE upload SET length = ?", length);
  }

  /** Only before the first byte is stored (see `partSizeForChunk`). */
  setPartSize(partSize: number): void {
    this.storage.sql.exec("UPDATE upload SET part_size = ?", partSize);
  }

  setMultipartId(multipartId: string): void {
    this.storage.sql.exec("UPDATE upload SET multipart_id = ?", multipartId);
  }

  parts(): StoredPart[] {
    return this.storage.sql
      .exec<{ number: number; etag: string; size: number }>("SELECT number, etag, size FROM part ORDER BY number")
      .toArray()
      .map((row) => ({ partNumber: row.number, etag: row.etag, size: row.size }));
  }

  /**
   * A final upload claims this partial, in one synchronous transaction: only
   * if no other final holds it but those in `gone` (known to be removed).
   * Returns whether the claim was made.
   */
  claimPartial(finalId: string, gone: readonly string[]): boolean {
    return this.storage.transactionSync(() => {
      const concat = this.load()?.concat;
      if (concat?.kind !== "partial") return false;
      if (concat.finals.some((other) => other !== finalId && !gone.includes(other))) return false;
      this.storage.sql.exec("UPDATE upload SET concat = ?", JSON.stringify({ kind: "partial", finals: [finalId] } satisfies Concatenation));
      return true;
    });
  }

  /**
   * Completing the object (or a final upload's assembly step) failed in the
   * storage backend at `at`; counted for the retries' back-off.
   */
  completionFailed(at: number): void {
    this.storage.sql.exec("UPDATE upload SET completion_failures = completion_failures + 1, completion_failed_at = ?", at);
  }

  /** The attempts so far are forgotten: the next failure is back-off's first again. */
  clearCompletionFailures(): void {
    this.storage.sql.exec("UPDATE upload SET completion_failures = 0, completion_failed_at = NULL");
  }

  completionFailures(): CompletionFailures {
    if (!this.hasTables) return { count: 0, lastAt: undefined };
    const row = this.storage.sql
      .exec<{ count: number; lastAt: number | null }>("SELECT completion_failures AS count, completion_failed_at AS lastAt FROM upload")
      .toArray()[0];
    return { count: row?.count ?? 0, lastAt: row?.lastAt ?? undefined };
  }

  setExpiry(expiresAt: number | undefined): void {
    this.storage.sql.exec("UPDATE upload SET expires_at = ?", expiresAt ?? null);
  }

  /** Bytes of the tail that are counted in the offset. */
  tailSize(): number {
    return this.storage.sql.exec<{ size: number }>("SELECT tail_size AS size FROM upload").one().size;
  }

  /** The newest tail row, or 0: a writer remembers it to know which rows a part took. */
  lastTailSeq(): number {
    return this.storage.sql.exec<{ seq: number }>("SELECT COALESCE(MAX(seq), 0) AS seq FROM tail").one().seq;
  }

  /**
   * The tail's rows after `afterSeq`, in order, read a page of rows at a
   * time so a large tail is never all in memory. Each page is read whole
   * before its rows are handed out, because the caller awaits R2 between
   * rows and no cursor may stay open across that.
   */
  *tailRows(afterSeq = 0): Generator<Uint8Array> {
    for (let seq = afterSeq; ; ) {
      const page = this.storage.sql
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
   * committed, and nothing may be added to them meanwhile.
   */
  appendTail(bytes: Uint8Array, pending = false): number {
    return this.transaction(() => {
      let start = 0;
      if (!pending) {
        const last = this.storage.sql
          .exec<{ seq: number; size: number; pending: number }>("SELECT seq, LENGTH(bytes) AS size, pending FROM tail ORDER BY seq DESC LIMIT 1")
          .toArray()[0];
        if (last && !last.pending && last.size < TAIL_ROW_BYTES) {
          start = Math.min(bytes.length, TAIL_ROW_BYTES - last.size);
          // `||` joins the bytes as they are but types the result TEXT: cast it back.
          this.storage.sql.exec("UPDATE tail SET bytes = CAST(bytes || ? AS BLOB) WHERE seq = ?", bytes.subarray(0, start), last.seq);
        }
      }
      let seq = this.lastTailSeq();
      for (; start < bytes.length; start += TAIL_ROW_BYTES) {
        const row = bytes.subarray(start, start + TAIL_ROW_BYTES);
        this.storage.sql.exec("INSERT INTO tail (seq, bytes, pending) VALUES (?, ?, ?)", ++seq, row, pending ? 1 : 0);
      }
      if (pending) return this.liveOffset();
      const tailSize = this.storage.sql.exec<{ size: number }>("UPDATE upload SET tail_size = tail_size + ? RETURNING tail_size AS size", bytes.length).one().size;
      this.offsetMoved(bytes.length);
      return this.storedPartBytes() + tailSize;
    });
  }

  /**
   * Records an uploaded part. Its bytes were the tail (now removed) followed by
   * bytes that were only in memory, so the offset grows by the part's size
   * less the tail's. A part that took no tail writes one row: its own.
   */
  commitPart(part: StoredPart): number {
    return this.transaction(() => {
      const tailSize = this.tailSize();
      this.insertPart(part);
      this.storage.sql.exec("DELETE FROM tail");
      if (tailSize > 0) this.storage.sql.exec("UPDATE upload SET tail_size = 0");
      this.offsetMoved(part.size - tailSize);
      return this.storedPartBytes();
    });
  }

  /**
   * A checksummed chunk was verified: its parts count, the tail rows those
   * parts took (up to `consumedThroughSeq`) go, its pending rows become
   * ordinary tail, and the offset grows by the chunk's length. Only the
   * rows this chunk touched are summed, to move the tail's size.
   */
  commitVerified(parts: StoredPart[], consumedThroughSeq: number): number {
    return this.transaction(() => {
      const sizeOf = (query: string) => this.storage.sql.exec<{ size: number }>(query, consumedThroughSeq).one().size;
      const consumed = sizeOf("SELECT COALESCE(SUM(LENGTH(bytes)), 0) AS size FROM tail WHERE seq <= ? AND pending = 0");
      const madeCounted = sizeOf("SELECT COALESCE(SUM(LENGTH(bytes)), 0) AS size FROM tail WHERE seq > ? AND pending = 1");
      for (const part of parts) this.insertPart(part);
      this.storage.sql.exec("DELETE FROM tail WHERE seq <= ?", consumedThroughSeq);
      this.storage.sql.exec("UPDATE tail SET pending = 0 WHERE pending = 1");
      if (madeCounted !== consumed) this.storage.sql.exec("UPDATE upload SET tail_size = tail_size - ? + ?", consumed, madeCounted);
      this.offsetMoved(parts.reduce((sum, part) => sum + part.size, 0) - consumed + madeCounted);
      return this.liveOffset();
    });
  }

  /**
   * A checksummed chunk failed, or never ended (the object was reset while
   * writing it): forget its pending rows. Its parts in R2 are replaced by
   * later uploads.
   */
  discardPending(): void {
    this.storage.sql.exec("DELETE FROM tail WHERE pending = 1");
  }

  /**
   * The R2 object is complete: only the upload row remains, with offset =
   * length. With a pre-finish hook the upload now awaits its decision, and
   * `finished` is reported once it accepts (`markConfirmed`).
   */
  markFinished(finishedAt: number, newBytes: number): void {
    this.storage.transactionSync(() => {
      const pending: Confirmation = { state: "pending", since: finishedAt, attempts: 0 };
      this.addToOffset(
        newBytes,
        "finished_at = ?, multipart_id = NULL, expires_at = NULL, tail_size = 0, confirmation = ?",
        finishedAt,
        this.confirmsFinish ? JSON.stringify(pending) : null,
      );
      this.dropParts();
      this.storage.sql.exec("DELETE FROM tail");
      if (!this.confirmsFinish) this.recordEvent("finished");
    });
  }

  /** The pre-finish hook gave no decision at `at`; counted for the retries' back-off. */
  confirmationFailed(at: number): void {
    const record = this.load();
    if (record?.confirmation?.state !== "pending") return;
    const failed: Confirmation = { ...record.confirmation, attempts: record.confirmation.attempts + 1, lastAttemptAt: at };
    this.storage.sql.exec("UPDATE upload SET confirmation = ?", JSON.stringify(failed));
  }

  /** The pre-finish hook accepted the upload, or answered the client: now it is finished, for everyone. */
  markConfirmed(confirmation: Extract<Confirmation, { state: "accepted" | "answered" }>): void {
    this.storage.transactionSync(() => {
      this.storage.sql.exec("UPDATE upload SET confirmation = ?", JSON.stringify(confirmation));
      this.recordEvent("finished");
    });
  }

  /**
   * The upload ended (terminated, expired, or refused at completion):
   * everything goes but a tombstone row, so that requests for it are
   * answered 410 (409 for a refusal) rather than 404. A refusal is reported
   * as a `failed` event with its reason; a rejection by the pre-finish hook
   * (`rejection`, kept on the tombstone) as a `rejected` event.
   */
  markEnded(reason: UploadEnd, rejection?: Extract<Confirmation, { state: "rejected" }>): void {
    this.storage.transactionSync(() => {
      if (rejection) this.storage.sql.exec("UPDATE upload SET confirmation = ?", JSON.stringify(rejection));
      if (reason === "object-exists") this.recordEvent("failed", reason, "failed");
      else if (reason === "rejected") this.recordEvent("rejected", undefined, "failed");
      else this.recordEvent(reason, undefined, reason);
      this.dropParts();
      this.storage.sql.exec("DELETE FROM tail");
      this.storage.sql.exec(
        "UPDATE upload SET ended = ?, metadata = '[]', multipart_id = NULL, expires_at = NULL, concat = NULL, tail_size = 0",
        reason,
      );
    });
  }

  /** Undelivered events due by `now`, oldest first. */
  dueEvents(now: number): StoredEvent[] {
    if (!this.hasTables) return [];
    return this.storage.sql
      .exec<{ body: string; attempts: number }>("SELECT body, attempts FROM event WHERE due_at <= ? ORDER BY due_at, rowid", now)
      .toArray()
      .map((row) => ({ event: JSON.parse(row.body) as OutboxEntry, attempts: row.attempts }));
  }

  nextEventDue(): number | undefined {
    if (!this.hasTables) return undefined;
    return this.storage.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM event").one().due ?? undefined;
  }

  eventDelivered(id: string): void {
    this.storage.sql.exec("DELETE FROM event WHERE id = ?", id);
  }

  eventFailed(id: string, dueAt: number): void {
    this.storage.sql.exec("UPDATE event SET attempts = attempts + 1, due_at = ? WHERE id = ?", dueAt, id);
  }

  /** Adds an event about the upload as it is now; called inside the transaction that changed it. */
  private recordEvent(type: UploadEventType, reason?: UploadFailureReason, ending?: IndexedState): void {
    const record = this.load()!;
    this.observeEvent(type, record);
    if (!this.recordEvents) return;
    const event: UploadEvent & Pick<OutboxEntry, "index"> = {
      id: crypto.randomUUID(),
      type,
      occurredAt: new Date().toISOString(),
      ...(reason && { reason }),
      ...(record.confirmation?.state === "rejected" && { rejection: { status: record.confirmation.status, message: record.confirmation.message } }),
      upload: {
        id: record.id,
        objectKey: record.objectKey,
        size: record.offset,
        length: record.length,
        metadata: Object.fromEntries(record.metadata),
        subject: record.owner,
      },
      // The index's record of the change (`ending`: markEnded records before it updates the row).
      ...(this.indexed && { index: indexRecordOf(record, Date.now(), ending) }),
    };
    this.storage.sql.exec("INSERT INTO event (id, body, due_at) VALUES (?, ?, ?)", event.id, JSON.stringify(event), Date.now());
  }

  /**
   * A part number is committed once: the writer and the assembler start
   * past the offset, which counts every committed part. A second commit of
   * one would be a fault, refused here, not a replacement the parts' sum
   * kept in memory would miss.
   */
  private insertPart(part: StoredPart): void {
    this.storage.sql.exec("INSERT INTO part (number, etag, size) VALUES (?, ?, ?)", part.partNumber, part.etag, part.size);
    if (this.partBytes !== undefined) this.partBytes += part.size;
  }

  /**
   * Records the upload's offset for the upload index (when it is on), in
   * place of any progress record not yet delivered, so an upload keeps one at
   * most: the end of each PATCH calls it, and the offset's growth at most
   * every PROGRESS_INTERVAL_MS. Never seen by the other event sinks.
   * Returns whether it recorded one.
   */
  recordProgress(): boolean {
    if (!this.indexed || !this.hasTables) return false;
    const record = this.load();
    if (!record || record.ended) return false;
    const now = Date.now();
    const entry: OutboxEntry = {
      id: `${PROGRESS_ID_PREFIX}${crypto.randomUUID()}`,
      type: "progress",
      occurredAt: new Date(now).toISOString(),
      upload: { id: record.id, objectKey: record.objectKey, size: record.offset, length: record.length, metadata: {}, subject: record.owner },
      index: indexRecordOf(record, now),
    };
    this.storage.transactionSync(() => {
      this.storage.sql.exec("DELETE FROM event WHERE id LIKE ?", `${PROGRESS_ID_PREFIX}%`);
      this.storage.sql.exec("INSERT INTO event (id, body, due_at) VALUES (?, ?, ?)", entry.id, JSON.stringify(entry), now);
    });
    this.progressAt = now;
    return true;
  }

  /**
   * Forgets every part. Dropping the table and creating it again writes a
   * couple of schema rows, where `DELETE FROM part` is billed one row written
   * per part (a 1 TB upload has thousands). The upload's row keeps the offset
   * they counted, as an ended upload shows it (a finishing one has stored
   * its own, so the row is not written again).
   */
  private dropParts(): void {
    this.storage.sql.exec("UPDATE upload SET offset = ? WHERE finished_at IS NULL AND ended IS NULL", this.liveOffset());
    this.storage.sql.exec("DROP TABLE IF EXISTS part");
    this.storage.sql.exec(PART_TABLE);
    // Counted again (none) when next asked: a rolled-back drop leaves the parts.
    this.partBytes = undefined;
  }

  /**
   * Stores the offset, `bytes` past the live one, as the upload leaves the
   * live state, and sets `alsoSet` (more assignments to the upload row, with
   * their `values`) in the same statement: each UPDATE of the row is billed
   * as a row written.
   */
  private addToOffset(bytes: number, alsoSet: string, ...values: SqlStorageValue[]): number {
    const offset = this.liveOffset() + bytes;
    this.storage.sql.exec(`UPDATE upload SET offset = ?, ${alsoSet}`, offset, ...values);
    this.offsetMoved(bytes);
    return offset;
  }

  /**
   * The offset moved by `bytes`, in the transaction that moved it: records
   * progress for the upload index when it is due (a PATCH's end records it
   * again anyway).
   */
  private offsetMoved(bytes: number): void {
    if (this.indexed && bytes > 0 && Date.now() - this.progressAt >= PROGRESS_INTERVAL_MS) this.recordProgress();
  }
}

/** Neither finished nor ended: the offset is what the parts and the tail hold, not the stored column. */
function isLive(row: UploadRow): boolean {
  return row.finished_at === null && row.ended === null;
}

function toRecord(row: UploadRow, offset: number): UploadRecord {
  return {
    id: row.id,
    objectKey: row.object_key,
    length: row.length ?? undefined,
    partSize: row.part_size,
    offset,
    metadata: new Map(JSON.parse(row.metadata) as [string, string][]) as UploadMetadata,
    contentType: row.content_type,
    contentDisposition: row.content_disposition,
    multipartId: row.multipart_id ?? undefined,
    createdAt: row.created_at,
    finishedAt: row.finished_at ?? undefined,
    expiresAt: row.expires_at ?? undefined,
    ended: (row.ended as UploadEnd | null) ?? undefined,
    concat: row.concat ? (JSON.parse(row.concat) as Concatenation) : undefined,
    owner: row.owner ?? undefined,
    sizeLimit: row.size_limit ?? undefined,
    confirmation: row.confirmation ? (JSON.parse(row.confirmation) as Confirmation) : undefined,
  };
}
