/**
 * The outbox (table `event`): what the upload has to tell others and has not
 * delivered yet. An entry is written in the same transaction as the change
 * it reports, so none is lost and none is reported that did not happen; the
 * alarm delivers it (lifecycle/background.ts) and deletes it once every
 * sink took it. An entry is an upload event with the upload index's record
 * of it when the index is on, or (`progress`) an index record alone, which
 * no other sink ever sees and which an upload keeps one of at most.
 */
import type { EventSinks, UploadEvent, UploadEventType, UploadFailureReason } from "../../hooks/events";
import { indexRecordOf, type IndexedState, type IndexRecord } from "../index-record";
import type { UploadRecord } from "../upload-record";

/**
 * What an upload's outbox holds: an upload event, with the upload index's
 * record of it when the index is on, or (`progress`) an index record alone,
 * which no other sink ever sees. Coalesced: an upload keeps one at most.
 */
export interface OutboxEntry extends Omit<UploadEvent, "type"> {
  type: UploadEventType | "progress";
  index?: IndexRecord;
}

/**
 * Where the upload index's records go: written by whoever keeps the index
 * (src/listing, wired in by the gateway), so that this layer only produces
 * the records and never imports the index. Throws when the write failed.
 */
export type IndexSink = (record: IndexRecord) => Promise<void>;

/** Where outbox entries go: the event sinks, and the index's records to the index. */
export interface OutboxSinks extends EventSinks {
  index: IndexSink | undefined;
}

/** The upload index hears of a growing offset at most this often while bytes arrive (and at each PATCH's end). */
export const PROGRESS_INTERVAL_MS = 5000;
/** Progress records' ids start with this; an upload keeps the latest one only. */
const PROGRESS_ID_PREFIX = "progress:";

export interface StoredEvent {
  event: OutboxEntry;
  attempts: number;
}

export interface OutboxOptions {
  /** Whether any event sink is configured; without one, no events are kept. */
  recordEvents: boolean;
  /** Told of every event as it happens, sinks or not (the lifecycle log lines). */
  observeEvent: (type: UploadEventType, record: UploadRecord) => void;
  /** Whether the upload index is on: events then carry its record, and progress records are kept. */
  indexed: boolean;
}

export class Outbox {
  /** When this instance last recorded progress for the upload index. */
  private progressAt = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly options: OutboxOptions,
  ) {}

  /** Adds an event about the upload as `record` shows it; called inside the transaction that changed it. */
  recordEvent(type: UploadEventType, record: UploadRecord, reason?: UploadFailureReason, ending?: IndexedState): void {
    this.options.observeEvent(type, record);
    if (!this.options.recordEvents) return;
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
      ...(this.options.indexed && { index: indexRecordOf(record, Date.now(), ending) }),
    };
    this.sql.exec("INSERT INTO event (id, body, due_at) VALUES (?, ?, ?)", event.id, JSON.stringify(event), Date.now());
  }

  /** Whether the upload index keeps progress records at all. */
  get keepsProgress(): boolean {
    return this.options.indexed;
  }

  /** Whether an offset that moved by `bytes` is due to be recorded as progress now. */
  progressDue(bytes: number): boolean {
    return this.options.indexed && bytes > 0 && Date.now() - this.progressAt >= PROGRESS_INTERVAL_MS;
  }

  /**
   * Records the upload's offset for the upload index, in place of any
   * progress record not yet delivered, so an upload keeps one at most. Run
   * it in a transaction: the old record's deletion and the new one's
   * insertion go together.
   */
  recordProgress(record: UploadRecord): void {
    const now = Date.now();
    const entry: OutboxEntry = {
      id: `${PROGRESS_ID_PREFIX}${crypto.randomUUID()}`,
      type: "progress",
      occurredAt: new Date(now).toISOString(),
      upload: { id: record.id, objectKey: record.objectKey, size: record.offset, length: record.length, metadata: {}, subject: record.owner },
      index: indexRecordOf(record, now),
    };
    this.sql.exec("DELETE FROM event WHERE id LIKE ?", `${PROGRESS_ID_PREFIX}%`);
    this.sql.exec("INSERT INTO event (id, body, due_at) VALUES (?, ?, ?)", entry.id, JSON.stringify(entry), now);
    this.progressAt = now;
  }

  /** Undelivered entries due by `now`, oldest first. */
  due(now: number): StoredEvent[] {
    return this.sql
      .exec<{ body: string; attempts: number }>("SELECT body, attempts FROM event WHERE due_at <= ? ORDER BY due_at, rowid", now)
      .toArray()
      .map((row) => ({ event: JSON.parse(row.body) as OutboxEntry, attempts: row.attempts }));
  }

  nextDue(): number | undefined {
    return this.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM event").one().due ?? undefined;
  }

  delivered(id: string): void {
    this.sql.exec("DELETE FROM event WHERE id = ?", id);
  }

  failed(id: string, dueAt: number): void {
    this.sql.exec("UPDATE event SET attempts = attempts + 1, due_at = ? WHERE id = ?", dueAt, id);
  }
}
