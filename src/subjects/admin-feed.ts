import { retryDelayMs, MAX_DELIVERY_ATTEMPTS } from "../hooks/events";
import { writeIndexRecords } from "../listing/d1-index";
import type { Telemetry } from "../observability";
import type { IndexRecord } from "../upload/index-record";

/** A subject's records for D1 wait this long, so that those of one second go in one batch. */
export const FEED_BATCH_DELAY_MS = 1000;
/** Most records in one D1 batch. */
export const FEED_BATCH_ROWS = 100;

/**
 * What a subject's index passes on to administration's cross-subject copy
 * in D1 (listing/d1-index.ts): the records that change an upload's state,
 * kept in the subject index's SQLite until D1 took them, one per upload
 * (a newer record replaces one not yet sent), and written in batches.
 * At least once and only forward, as the uploads' outboxes deliver to the
 * subject index.
 */
export class AdminFeed {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: D1Database,
    private readonly subject: string,
    private readonly telemetry: Telemetry,
  ) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS admin_feed (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
      );
    `);
  }

  /** Queues a record for D1, replacing an older one of the same upload. */
  add(record: IndexRecord, now: number): void {
    this.sql.exec(
      `INSERT INTO admin_feed (id, version, record, due_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, record = excluded.record WHERE excluded.version >= admin_feed.version`,
      record.id,
      record.version,
      JSON.stringify(record),
      now + FEED_BATCH_DELAY_MS,
    );
  }

  nextDue(): number | undefined {
    return this.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM admin_feed").one().due ?? undefined;
  }

  /**
   * Writes the records due by `now` to D1, a batch at a time. A failed batch
   * is retried with back-off (from 1 s, doubling to an hour), and dropped
   * after MAX_DELIVERY_ATTEMPTS, at error level: the subject's own index
   * still has the upload, and the next record of it replaces the row.
   */
  async flush(now: number): Promise<void> {
    for (;;) {
      const due = this.sql
        .exec<{ id: string; version: number; record: string; attempts: number }>(
          // The batch takes every record not tried yet, due or not: the first one's delay was the batch's.
          "SELECT id, version, record, attempts FROM admin_feed WHERE due_at <= ? OR attempts = 0 ORDER BY due_at LIMIT ?",
          now,
          FEED_BATCH_ROWS,
        )
        .toArray();
      if (!due.length) return;
      try {
        await writeIndexRecords(this.db, due.map((row) => JSON.parse(row.record) as IndexRecord));
        // A newer record that came in meanwhile stays queued.
        for (const row of due) this.sql.exec("DELETE FROM admin_feed WHERE id = ? AND version = ?", row.id, row.version);
        this.telemetry.subjectIndexEvent("debug", "AdminFeedFlushed", { subject: this.subject, rows: due.length });
      } catch (error) {
        const attempts = Math.max(...due.map((row) => row.attempts)) + 1;
        const dropped = attempts >= MAX_DELIVERY_ATTEMPTS;
        this.telemetry.subjectIndexEvent(
          dropped ? "error" : "warn",
          "AdminFeedError",
          { subject: this.subject, rows: due.length, attempt: attempts, dropped, error: error instanceof Error ? error.message.slice(0, 300) : String(error) },
          { errorCode: dropped ? "delivery-dropped" : "delivery-failed", attempt: attempts, bytes: due.length },
        );
        for (const row of due) {
          if (dropped) this.sql.exec("DELETE FROM admin_feed WHERE id = ? AND version = ?", row.id, row.version);
          else this.sql.exec("UPDATE admin_feed SET attempts = ?, due_at = ? WHERE id = ?", attempts, now + retryDelayMs(attempts), row.id);
        }
        return;
      }
    }
  }
}
