/**
 * An unfinished upload's idle clock, as one Durable Object instance keeps
 * it. The stored expiry is the durable truth, but moving it is a row
 * written, so activity moves it only once it has fallen `saveIntervalMs`
 * behind: EXPIRY_SAVE_FRACTION of EXPIRE_AFTER_SECONDS, at least
 * EXPIRY_SAVE_MIN_MS. The move not yet stored is held here, and the alarm
 * adds it before calling an upload idle. So a stored expiry, and the
 * Upload-Expires that reports it, may be up to that much earlier than the
 * idle time after the last activity, never later (docs/protocol.md, expiration). With
 * the default day, 864 s: an upload of minutes writes its expiry once, when
 * it is created.
 */
const EXPIRY_SAVE_FRACTION = 0.01;
const EXPIRY_SAVE_MIN_MS = 1000;

export class IdleClock {
  private readonly saveIntervalMs: number;
  /** The activity the stored clock counts from, as far as this instance knows. */
  private movedAt = 0;
  /**
   * How much later than the stored clock the latest activity was (under
   * `saveIntervalMs`), so the throttle cannot make a PATCH that is still
   * sending, or a client just gone, look idle.
   */
  private unsavedMs = 0;

  constructor(private readonly expireAfterMs: number) {
    this.saveIntervalMs = Math.max(EXPIRY_SAVE_MIN_MS, expireAfterMs * EXPIRY_SAVE_FRACTION);
  }

  /** Activity not yet in the stored expiry: the alarm adds it before calling the upload idle. */
  get pendingMs(): number {
    return this.unsavedMs;
  }

  /**
   * Bytes arrived at `now` (a PATCH longer than the idle time, on a slow
   * link, must not expire as it goes). Returns the expiry to store, or
   * undefined while the move is held here.
   */
  bytesArrived(now: number): number | undefined {
    if (this.expireAfterMs === 0) return undefined;
    if (now - this.movedAt < this.saveIntervalMs) {
      this.unsavedMs = now - this.movedAt;
      return undefined;
    }
    this.movedAt = now;
    this.unsavedMs = 0;
    return now + this.expireAfterMs;
  }

  /**
   * A request touched the upload at `now`: `next` is the expiry its
   * activity (if any) brings, `stored` the one in storage. Returns whether
   * `next` must be stored; a small move is held here instead, counted from
   * the stored clock (also in a new instance, which knows nothing yet).
   */
  touched(stored: number | undefined, next: number | undefined, now: number, activity: boolean): boolean {
    const unsaved = activity && next !== undefined && stored !== undefined ? next - stored : undefined;
    if (unsaved !== undefined && unsaved >= 0 && unsaved < this.saveIntervalMs) {
      this.movedAt = now - unsaved;
      this.unsavedMs = unsaved;
      return false;
    }
    if (activity) {
      // Stored now: the clock counts from here.
      this.movedAt = now;
      this.unsavedMs = 0;
    }
    return true;
  }

  /** The alarm found the stored expiry passed while activity was held here: returns how far to move it on, now stored. */
  catchUp(): number {
    const moved = this.unsavedMs;
    this.movedAt += moved;
    this.unsavedMs = 0;
    return moved;
  }
}
