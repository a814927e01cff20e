import type { IndexRecord } from "../upload/index-record";
import type { QuotaAnswer, QuotaRequest, QuotaUsage } from "../upload/quota-gate";
import type { ListQuery } from "../listing/list-query";
import { ENDED_STATES_SQL, pageOf, pageStatement, purgeStatement, ROW_COLUMNS, upsertStatement, type IndexPage, type IndexRow, type RetentionCutoff, type Statement } from "../listing/index-table";
import { addUsage, decideQuota, NO_USAGE, usageOf, type EntryUsage } from "./usage";

/** Bound parameters a Durable Object's SQL statement takes at most (Cloudflare's limits: 100). */
const MAX_BOUND_PARAMETERS = 100;

/**
 * One subject's index entries, in its Durable Object's SQLite: the upload
 * index's table (listing/index-table.ts, the same rows D1 holds for
 * administration) plus each entry's quota reservation. What the subject
 * uses is the sum of its entries' use (usage.ts), counted once when the
 * object starts and then moved by each change, in the same synchronous
 * step as the change.
 */
export class SubjectEntries {
  private used: QuotaUsage;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        subject TEXT,
        state TEXT NOT NULL,
        offset_bytes INTEGER NOT NULL,
        length INTEGER,
        metadata TEXT NOT NULL,
        filename TEXT,
        object_key TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER,
        finished_at INTEGER,
        -- Orders one upload's records (upload/index-record.ts); negative: a reservation not yet confirmed by its upload.
        version INTEGER NOT NULL,
        -- Bytes a quota reserved for the upload at its creation (a deferred length's room), else 0.
        reserved INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS uploads_by_created ON uploads (created_at DESC, id DESC);
      CREATE INDEX IF NOT EXISTS uploads_ended_by_update ON uploads (state, updated_at);
      CREATE INDEX IF NOT EXISTS uploads_unconfirmed ON uploads (created_at) WHERE version < 0;
    `);
    this.used = this.countUsage();
  }

  private run<T extends Record<string, SqlStorageValue>>(statement: Statement): T[] {
    return this.sql.exec<T>(statement.sql, ...statement.params).toArray();
  }

  private entry(id: string): (EntryUsage & { version: number }) | undefined {
    const row = this.sql
      .exec<{ state: string; offset_bytes: number; length: number | null; reserved: number; version: number }>(
        "SELECT state, offset_bytes, length, reserved, version FROM uploads WHERE id = ?",
        id,
      )
      .toArray()[0];
    return row && { state: row.state as EntryUsage["state"], offset: row.offset_bytes, length: row.length, reserved: row.reserved, version: row.version };
  }

  /** What the subject uses now, by quota. */
  usage(): QuotaUsage {
    return this.used;
  }

  /** The use summed over every entry: once per start of the object (and by tests, to check the running sum). */
  countUsage(): QuotaUsage {
    let sum = NO_USAGE;
    for (const row of this.sql.exec<{ state: string; offset_bytes: number; length: number | null; reserved: number }>(
      "SELECT state, offset_bytes, length, reserved FROM uploads WHERE state IN ('unfinished', 'finished')",
    )) {
      sum = addUsage(sum, usageOf({ state: row.state as EntryUsage["state"], offset: row.offset_bytes, length: row.length, reserved: row.reserved }));
    }
    return sum;
  }

  /** Moves the use by the difference between an entry before and after a change. */
  private moved(before: EntryUsage | undefined, after: EntryUsage | undefined): void {
    this.used = addUsage(addUsage(this.used, usageOf(after)), usageOf(before), -1);
  }

  /**
   * Applies an upload's record, at least once and in any order: only a
   * record newer than the entry changes it. Returns whether it changed the
   * upload's state (created, finished, ended), which administration's D1
   * copy hears of; progress alone it does not.
   */
  apply(record: IndexRecord): { applied: boolean; stateChanged: boolean } {
    const before = this.entry(record.id);
    this.run(upsertStatement(record));
    const after = this.entry(record.id);
    this.moved(before, after);
    const applied = after?.version === record.version && before?.version !== record.version;
    return { applied, stateChanged: applied && (before === undefined || before.version < 0 || before.state !== after.state) };
  }

  /**
   * Reserves room for a new upload if it fits the quotas, as an entry that
   * is not listed until the upload's own record confirms it. Synchronous,
   * so that no other reservation of the subject comes between the check
   * and the entry. Asked again for the same upload, it answers the same.
   */
  reserve(subject: string, request: QuotaRequest, now: number): QuotaAnswer {
    const existing = this.entry(request.uploadId);
    if (existing) return { granted: true, bytes: existing.reserved };
    const answer = decideQuota(this.usage(), request);
    if (!answer.granted) return answer;
    this.sql.exec(
      `INSERT INTO uploads (id, subject, state, offset_bytes, length, metadata, object_key, created_at, updated_at, version, reserved)
       VALUES (?, ?, 'unfinished', 0, ?, '{}', '', ?, ?, -1, ?)`,
      request.uploadId,
      subject,
      request.length ?? null,
      now,
      now,
      answer.bytes,
    );
    this.moved(undefined, this.entry(request.uploadId));
    return answer;
  }

  /** Gives back a reservation its upload never confirmed; a confirmed entry stays. Returns whether one was given back. */
  release(uploadId: string): boolean {
    const before = this.entry(uploadId);
    if (!before || before.version >= 0) return false;
    this.sql.exec("DELETE FROM uploads WHERE id = ?", uploadId);
    this.moved(before, undefined);
    return true;
  }

  /** Reservations older than `before` that no record of their upload has confirmed yet. */
  unconfirmed(before: number): string[] {
    return this.sql.exec<{ id: string }>("SELECT id FROM uploads WHERE version < 0 AND created_at < ?", before).toArray().map((row) => row.id);
  }

  /** When the oldest unconfirmed reservation was made. */
  oldestUnconfirmed(): number | undefined {
    return this.sql.exec<{ at: number | null }>("SELECT MIN(created_at) AS at FROM uploads WHERE version < 0").one().at ?? undefined;
  }

  /** One page of the subject's uploads; ended ones past their retention are deleted first (they count for no quota). */
  page(query: ListQuery, cutoff: RetentionCutoff): IndexPage {
    if (cutoff !== undefined) this.purge(cutoff);
    return pageOf(this.run<IndexRow & Record<string, SqlStorageValue>>(pageStatement(query, undefined, cutoff)), query.limit);
  }

  /**
   * The entries of these uploads, as listed (confirmed ones only), asked
   * MAX_BOUND_PARAMETERS at a time: a Durable Object's SQL takes no more
   * in one statement, and an administrator's page has up to 200.
   */
  rows(ids: readonly string[]): IndexRow[] {
    const rows: IndexRow[] = [];
    for (let start = 0; start < ids.length; start += MAX_BOUND_PARAMETERS) {
      const some = ids.slice(start, start + MAX_BOUND_PARAMETERS);
      const placeholders = some.map(() => "?").join(", ");
      rows.push(...this.sql.exec<IndexRow & Record<string, SqlStorageValue>>(`SELECT ${ROW_COLUMNS} FROM uploads WHERE version >= 0 AND id IN (${placeholders})`, ...some));
    }
    return rows;
  }

  /** Deletes up to PURGE_BATCH ended entries past their retention; returns how many. */
  purge(cutoff: number): number {
    const purge = purgeStatement(cutoff);
    return this.sql.exec(purge.sql, ...purge.params).rowsWritten;
  }

  /** When the oldest ended entry last changed: the next purge is due its retention after that. */
  oldestEnded(): number | undefined {
    return this.sql.exec<{ at: number | null }>(`SELECT MIN(updated_at) AS at FROM uploads WHERE state IN ${ENDED_STATES_SQL}`).one().at ?? undefined;
  }
}
