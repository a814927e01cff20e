import type { GatewayConfig } from "../../config";
import type { UploadStore } from "../storage/upload-store";
import { PROGRESS_INTERVAL_MS } from "../storage/upload-store";
import { awaitsAssembly, awaitsCompletion, type UploadRecord } from "../upload-record";
import { assemblyRetryAt, completionRetryAt, expiryOf, nextAlarmAt } from "./background";
import { confirmationRetryAt } from "./finish-confirmation";
import { IdleClock } from "./idle-clock";
import { nextExpiry } from "./lifecycle";

/**
 * The upload's clocks, as one Durable Object instance keeps them: when it
 * expires if idle (the idle clock, idle-clock.ts, and the stored expiry),
 * and when its alarm is to run next (the earliest work due: an event to
 * deliver, a retry, an assembly step, the expiry).
 */
export class AlarmClock {
  private readonly idleClock: IdleClock;
  /** The alarm this instance set, if any; "unknown" until it sets or clears one. */
  private alarmAt: number | undefined | "unknown" = "unknown";
  /** When a PATCH in flight last looked for progress to deliver (`deliverProgressSoon`). */
  private progressCheckedAt = 0;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly store: UploadStore,
    private readonly config: GatewayConfig,
    /** Whether the upload index is on: progress records are then delivered while a PATCH runs. */
    private readonly indexed: boolean,
  ) {
    this.idleClock = new IdleClock(config.expireAfterMs);
  }

  /** The alarm ran: none is set until it sets the next. */
  alarmRan(): void {
    this.alarmAt = undefined;
  }

  /** Whether the upload has been idle past its expiry, counting activity this instance holds in memory. */
  isIdlePastExpiry(record: UploadRecord): boolean {
    const waitsForStorage = awaitsCompletion(record) || awaitsAssembly(record);
    const expiresAt = expiryOf(record, this.config, waitsForStorage ? this.store.completionFailures() : undefined);
    if (expiresAt === undefined) return false;
    return Date.now() >= expiresAt + (record.finishedAt === undefined ? this.idleClock.pendingMs : 0);
  }

  /** Bytes are arriving: the upload is not idle (the idle clock decides when that is a row written). */
  keepAlive(): void {
    const expiresAt = this.idleClock.bytesArrived(Date.now());
    if (expiresAt !== undefined) this.store.setExpiry(expiresAt);
  }

  /** Bytes arrived after the stored clock was last moved: the expiry the alarm stores instead of expiring the upload. */
  caughtUp(record: UploadRecord & { expiresAt: number }): number {
    return record.expiresAt + this.idleClock.catchUp();
  }

  /**
   * While a PATCH runs, a progress record written for the upload index is
   * delivered by the alarm at once, not at the PATCH's end (checked at most
   * every PROGRESS_INTERVAL_MS).
   */
  deliverProgressSoon(): void {
    if (!this.indexed || Date.now() - this.progressCheckedAt < PROGRESS_INTERVAL_MS) return;
    this.progressCheckedAt = Date.now();
    this.scheduleAlarm().catch((error) => console.error("setting the alarm for the upload index failed", error));
  }

  /**
   * Restarts the upload's idle clock after activity and re-arms the alarm;
   * returns the current record, or undefined when the upload ended while
   * the request ran (terminated, or refused at completion: its event is due).
   */
  async touch(workDueAt?: number, activity = true): Promise<UploadRecord | undefined> {
    // Not loadLive: a PATCH that ran past the old expiry is activity, not an expired upload.
    const record = this.store.load();
    if (!record || record.ended) {
      await this.scheduleAlarm();
      return undefined;
    }
    const now = Date.now();
    const expiresAt = record.finishedAt !== undefined ? undefined : activity ? nextExpiry(record, now, this.config) : record.expiresAt;
    // Each move is a row written: a small one is held by the idle clock.
    const stores = this.idleClock.touched(record.expiresAt, expiresAt, now, activity);
    if (stores && expiresAt !== record.expiresAt) this.store.setExpiry(expiresAt);
    await this.scheduleAlarm(workDueAt);
    return stores ? { ...record, expiresAt } : record;
  }

  /**
   * Sets the alarm to the earliest work due. An alarm already set earlier is
   * left alone: the alarm handler finds nothing due yet and sets the next
   * one. So an upload in progress, whose expiry moves later with every
   * PATCH, does not move its alarm twice per PATCH.
   */
  async scheduleAlarm(workDueAt?: number): Promise<void> {
    const record = this.store.load();
    const failures = this.store.completionFailures();
    const now = Date.now();
    const retryAt = completionRetryAt(record, failures, now) ?? assemblyRetryAt(record, failures) ?? confirmationRetryAt(record, this.config, now);
    const at = nextAlarmAt(record, this.store.nextEventDue(), workDueAt ?? retryAt, this.config, failures);
    if (at === undefined) {
      if (this.alarmAt !== undefined) await this.storage.deleteAlarm();
    } else if (this.alarmAt === undefined || this.alarmAt === "unknown" || at < this.alarmAt) {
      await this.storage.setAlarm(at);
    } else {
      return;
    }
    this.alarmAt = at;
  }
}
