import type { UploadEventType, UploadFailureReason } from "../../hooks/events";
import type { IndexedState } from "../index-record";
import type { Confirmation, NewUpload, UploadEnd, UploadRecord } from "../upload-record";
import { ByteLedger, type StoredPart } from "./byte-ledger";
import { Outbox, type StoredEvent } from "./outbox";
import { createTables, migrateTables, tablesExist } from "./schema";
import { UploadRow, type CompletionFailures } from "./upload-row";

export { TAIL_ROW_BYTES, type StoredPart } from "./byte-ledger";
export { PROGRESS_INTERVAL_MS, type StoredEvent } from "./outbox";
export type { CompletionFailures } from "./upload-row";

/**
 * The Durable Object's SQLite storage: the whole durable state of one
 * upload, kept in four places, each its own module: the tables (schema.ts),
 * the upload row (upload-row.ts), the byte ledger of parts and tail that a
 * live upload's offset counts (byte-ledger.ts), and the outbox of what is to
 * be told (outbox.ts). This class owns the transactions that tie them: every
 * method that moves the offset changes what it counts, the row and the
 * outbox in one synchronous transaction, so a crash leaves either the old or
 * the new state, and no event is recorded for a change that did not happen.
 */
export class UploadStore {
  /**
   * Whether the schema exists. It is created with the upload, not with the
   * object: an object that holds no upload must answer "no such upload"
   * without writing anything.
   */
  private hasTables: boolean;
  private readonly row: UploadRow;
  private readonly ledger: ByteLedger;
  private readonly outbox: Outbox;

  /**
   * @param recordEvents whether any event sink is configured; without one, no events are kept.
   * @param observeEvent told of every event as it happens, sinks or not (the lifecycle log lines).
   * @param indexed whether the upload index is on: events then carry its record, and progress records are kept.
   * @param confirmsFinish whether a pre-finish hook decides about each finished upload: `finished` then waits for it.
   */
  constructor(
    private readonly storage: DurableObjectStorage,
    recordEvents: boolean,
    observeEvent: (type: UploadEventType, record: UploadRecord) => void = () => {},
    indexed = false,
    private readonly confirmsFinish = false,
  ) {
    this.row = new UploadRow(storage.sql);
    this.ledger = new ByteLedger(storage.sql);
    this.outbox = new Outbox(storage.sql, { recordEvents, observeEvent, indexed });
    this.hasTables = tablesExist(storage.sql);
    if (this.hasTables) migrateTables(storage);
  }

  load(): UploadRecord | undefined {
    if (!this.hasTables) return undefined;
    return this.row.read((tailSize) => this.ledger.partSum() + tailSize);
  }

  /**
   * Runs `work` in one synchronous transaction; if it rolls back, the parts'
   * sum kept in memory is counted again from the table, which rolled back too.
   */
  private transaction<T>(work: () => T): T {
    try {
      return this.storage.transactionSync(work);
    } catch (error) {
      this.ledger.forgetPartSum();
      throw error;
    }
  }

  create(upload: NewUpload, expiresAt: number | undefined): UploadRecord {
    try {
      return this.storage.transactionSync(() => {
        if (!this.hasTables) {
          createTables(this.storage.sql);
          this.hasTables = true;
        }
        this.row.insert(upload, expiresAt);
        this.recordEvent("created");
        return this.load()!;
      });
    } catch (error) {
      // Rolled back, tables and all, if they were new.
      this.hasTables = tablesExist(this.storage.sql);
      throw error;
    }
  }

  setLength(length: number): void {
    this.row.setLength(length);
  }

  /** Only before the first byte is stored (see `partSizeForChunk`). */
  setPartSize(partSize: number): void {
    this.row.setPartSize(partSize);
  }

  setMultipartId(multipartId: string): void {
    this.row.setMultipartId(multipartId);
  }

  setExpiry(expiresAt: number | undefined): void {
    this.row.setExpiry(expiresAt);
  }

  parts(): StoredPart[] {
    return this.ledger.parts();
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
      this.row.setConcat({ kind: "partial", finals: [finalId] });
      return true;
    });
  }

  /**
   * Completing the object (or a final upload's assembly step) failed in the
   * storage backend at `at`; counted for the retries' back-off.
   */
  completionFailed(at: number): void {
    this.row.completionFailed(at);
  }

  /** The attempts so far are forgotten: the next failure is back-off's first again. */
  clearCompletionFailures(): void {
    this.row.clearCompletionFailures();
  }

  completionFailures(): CompletionFailures {
    return this.hasTables ? this.row.completionFailures() : { count: 0, lastAt: undefined };
  }

  /** Bytes of the tail that are counted in the offset. */
  tailSize(): number {
    return this.ledger.tailSize();
  }

  /** The newest tail row, or 0: a writer remembers it to know which rows a part took. */
  lastTailSeq(): number {
    return this.ledger.lastTailSeq();
  }

  /** The tail's rows after `afterSeq`, in order, a few rows in memory at a time (ByteLedger.tailRows). */
  tailRows(afterSeq = 0): Generator<Uint8Array> {
    return this.ledger.tailRows(afterSeq);
  }

  /** Stores `bytes` at the end of the tail, counted at once or `pending` until `commitVerified` (ByteLedger.appendTail). */
  appendTail(bytes: Uint8Array, pending = false): number {
    return this.transaction(() => {
      const offset = this.ledger.appendTail(bytes, pending);
      if (!pending) this.offsetMoved(bytes.length);
      return offset;
    });
  }

  /** Records an uploaded part, which took the tail (ByteLedger.commitPart); returns the parts' sum. */
  commitPart(part: StoredPart): number {
    return this.transaction(() => {
      this.offsetMoved(this.ledger.commitPart(part));
      return this.ledger.partSum();
    });
  }

  /** A checksummed chunk was verified: its parts and pending rows count (ByteLedger.commitVerified). */
  commitVerified(parts: StoredPart[], consumedThroughSeq: number): number {
    return this.transaction(() => {
      this.offsetMoved(this.ledger.commitVerified(parts, consumedThroughSeq));
      return this.ledger.liveOffset();
    });
  }

  /** A checksummed chunk failed, or never ended: forget its pending rows. */
  discardPending(): void {
    this.ledger.discardPending();
  }

  /**
   * The R2 object is complete: only the upload row remains, with offset =
   * length (the live offset plus `newBytes` that were only in memory). With
   * a pre-finish hook the upload now awaits its decision, and `finished` is
   * reported once it accepts (`markConfirmed`).
   */
  markFinished(finishedAt: number, newBytes: number): void {
    this.storage.transactionSync(() => {
      const pending: Confirmation = { state: "pending", since: finishedAt, attempts: 0 };
      this.row.markFinished(this.ledger.liveOffset() + newBytes, finishedAt, this.confirmsFinish ? pending : undefined);
      this.offsetMoved(newBytes);
      this.ledger.clear();
      if (!this.confirmsFinish) this.recordEvent("finished");
    });
  }

  /** The pre-finish hook gave no decision at `at`; counted for the retries' back-off. */
  confirmationFailed(at: number): void {
    const record = this.load();
    if (record?.confirmation?.state !== "pending") return;
    this.row.setConfirmation({ ...record.confirmation, attempts: record.confirmation.attempts + 1, lastAttemptAt: at });
  }

  /** The pre-finish hook accepted the upload, or answered the client: now it is finished, for everyone. */
  markConfirmed(confirmation: Extract<Confirmation, { state: "accepted" | "answered" }>): void {
    this.storage.transactionSync(() => {
      this.row.setConfirmation(confirmation);
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
      if (rejection) this.row.setConfirmation(rejection);
      if (reason === "object-exists") this.recordEvent("failed", reason, "failed");
      else if (reason === "rejected") this.recordEvent("rejected", undefined, "failed");
      else this.recordEvent(reason, undefined, reason);
      const offset = this.ledger.liveOffset();
      this.ledger.clear();
      this.row.markEnded(reason, offset);
    });
  }

  /** Undelivered outbox entries due by `now`, oldest first. */
  dueEvents(now: number): StoredEvent[] {
    return this.hasTables ? this.outbox.due(now) : [];
  }

  nextEventDue(): number | undefined {
    return this.hasTables ? this.outbox.nextDue() : undefined;
  }

  eventDelivered(id: string): void {
    this.outbox.delivered(id);
  }

  eventFailed(id: string, dueAt: number): void {
    this.outbox.failed(id, dueAt);
  }

  /**
   * Records the upload's offset for the upload index (when it is on), in
   * place of any progress record not yet delivered: the end of each PATCH
   * calls it, and the offset's growth at most every PROGRESS_INTERVAL_MS.
   * Never seen by the other event sinks. Returns whether it recorded one.
   */
  recordProgress(): boolean {
    if (!this.outbox.keepsProgress || !this.hasTables) return false;
    const record = this.load();
    if (!record || record.ended) return false;
    this.storage.transactionSync(() => this.outbox.recordProgress(record));
    return true;
  }

  /** Adds an event about the upload as it is now; called inside the transaction that changed it. */
  private recordEvent(type: UploadEventType, reason?: UploadFailureReason, ending?: IndexedState): void {
    this.outbox.recordEvent(type, this.load()!, reason, ending);
  }

  /**
   * The offset moved by `bytes`, in the transaction that moved it: records
   * progress for the upload index when it is due (a PATCH's end records it
   * again anyway).
   */
  private offsetMoved(bytes: number): void {
    if (this.outbox.progressDue(bytes)) this.recordProgress();
  }
}
