/**
 * The memory an upload's writes use, kept from one PATCH to the next: one
 * part buffer and one read buffer, and the time until an abandoned streamed
 * part's upload lets go of its bytes. Allocating a fresh part (8 MiB by
 * default) for every PATCH left the runtime's garbage collector tens of MiB
 * behind when clients send part-sized chunks. The upload's lock lets one
 * writer run at a time, and a writer hands a buffer back only once nothing
 * refers to its bytes any more, so one of each is enough. Once the upload
 * has ended (finished, terminated, expired) they are let go: Durable Objects
 * that share an isolate share its memory, and a finished upload's object may
 * stay in memory for a while.
 */
export class WriteBuffers {
  readonly #budget: BufferBudget;
  #part: Uint8Array | undefined;
  #read: Uint8Array | undefined;
  /** Bytes of this upload's part and read buffers counted in the isolate's budget (only while a PATCH runs). */
  #counted = { part: 0, read: 0 };
  /** Settles once R2 has let go of an abandoned part's bytes (see StreamingPart). */
  #busy: Promise<void> = Promise.resolve();

  constructor(budget: BufferBudget) {
    this.#budget = budget;
  }

  /** A PATCH starts writing: the buffers it may reuse count against the isolate's budget again. */
  beginWrite(): void {
    this.#count("part", this.#part?.length ?? 0);
    this.#count("read", this.#read?.byteLength ?? 0);
  }

  /**
   * The PATCH is done: its buffers no longer count. An object may be
   * evicted before its next PATCH, so nothing is counted between PATCHes;
   * instead, while others hold more than half the budget, this upload keeps
   * no buffers for its next PATCH.
   */
  endWrite(): void {
    this.#count("part", 0);
    this.#count("read", 0);
    if (this.#budget.held > this.#budget.limit / 2) this.release();
  }

  /**
   * A part buffer for `size` bytes, once no abandoned upload can still read
   * the kept one: the kept buffer if it has that size, else a new one, of
   * `size` bytes while the isolate's budget allows it and smaller otherwise
   * (the writer then moves each full buffer to the stored tail).
   */
  async takePart(size: number): Promise<Uint8Array> {
    await this.#busy;
    const kept = this.#part;
    this.#part = undefined;
    if (kept?.length === size) return kept;
    return new Uint8Array(this.#grant("part", size));
  }

  /** Sets what `slot` counts in the budget to an existing buffer's size. */
  #count(slot: "part" | "read", bytes: number): void {
    this.#budget.give(this.#counted[slot]);
    this.#budget.hold(bytes);
    this.#counted[slot] = bytes;
  }

  /** Replaces what `slot` counts with a new buffer of `wanted` bytes, or fewer if the budget is spent. */
  #grant(slot: "part" | "read", wanted: number): number {
    this.#count(slot, 0);
    this.#counted[slot] = this.#budget.grant(wanted);
    return this.#counted[slot];
  }

  givePart(buffer: Uint8Array): void {
    this.#part = buffer;
  }

  /** The part buffer (and the part number it was for) may be read by R2 until `released` settles. */
  busyUntil(released: Promise<void>): void {
    const before = this.#busy;
    this.#busy = Promise.all([before, released]).then(() => {});
  }

  /** Settles once every abandoned part upload has ended, before the same part is sent again. */
  settled(): Promise<void> {
    return this.#busy;
  }

  /** A buffer for body reads of at least `size` bytes (of fewer, while the isolate's budget is spent). */
  takeRead(size: number): Uint8Array {
    const kept = this.#read;
    this.#read = undefined;
    if (kept && kept.byteLength >= size) return kept;
    return new Uint8Array(this.#grant("read", size));
  }

  /** No more writes will come: lets go of both buffers (an abandoned part's upload keeps its own reference). */
  release(): void {
    this.#part = undefined;
    this.#read = undefined;
  }

  /** Keeps a read buffer, unless a read detached it (its bytes moved to another view). */
  giveRead(buffer: Uint8Array): void {
    if (buffer.byteLength > 0) this.#read = buffer;
  }
}

/** What a PATCH gets when the isolate's budget is spent: part and read buffers of (at most) this size. */
export const SMALL_BUFFER_SIZE = 128 * 1024;

/**
 * The part and read buffers of the PATCHes in flight in one isolate, against
 * one budget (ISOLATE_BUFFER_BUDGET). Instances of a Durable Object class may
 * share an isolate and its 128 MB, and each upload in flight holds up to a
 * part in memory; once the budget is spent, further PATCHes get small
 * buffers whose bytes go to the stored tail as they fill — slower (no
 * streamed parts, more SQLite), but memory stays bounded.
 */
export class BufferBudget {
  readonly limit: number;
  #held = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes counted now. */
  get held(): number {
    return this.#held;
  }

  /** Counts and answers the size a new buffer of `wanted` bytes may have. */
  grant(wanted: number): number {
    const size = this.#held + wanted <= this.limit ? wanted : Math.min(wanted, SMALL_BUFFER_SIZE);
    this.#held += size;
    return size;
  }

  /** Counts a buffer that exists already (a kept one, reused). */
  hold(bytes: number): void {
    this.#held += bytes;
  }

  give(bytes: number): void {
    this.#held -= bytes;
  }
}

const isolateBudgets = new Map<number, BufferBudget>();

/** The budget every upload object in this isolate shares (module state is per isolate), one per configured limit. */
export function isolateBufferBudget(limit: number): BufferBudget {
  let budget = isolateBudgets.get(limit);
  if (!budget) isolateBudgets.set(limit, (budget = new BufferBudget(limit)));
  return budget;
}
