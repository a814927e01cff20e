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
 *
 * Kept buffers hold no upload bytes: a PATCH ends only once what it
 * received is in the stored tail or in R2, so letting go of them loses
 * nothing, and the isolate's budget may take them back whenever a PATCH of
 * another upload needs the room (see BufferBudget).
 */
export class WriteBuffers {
  readonly #budget: BufferBudget;
  #part: Uint8Array | undefined;
  #read: Uint8Array | undefined;
  /** Bytes of this upload's part and read buffers counted in the isolate's budget, in a PATCH and while kept. */
  #counted = { part: 0, read: 0 };
  /** Settles once R2 has let go of an abandoned part's bytes (see StreamingPart). */
  #busy: Promise<void> = Promise.resolve();

  constructor(budget: BufferBudget) {
    this.#budget = budget;
  }

  /** A PATCH starts writing: the budget may no longer take back the buffers it will reuse. */
  beginWrite(): void {
    this.#budget.unpark(this);
  }

  /**
   * The PATCH is done. The buffers it handed back stay counted while they
   * are kept, lent by the isolate's budget until another upload's PATCH
   * needs the room. They are kept only while the budget is within its
   * limit: past it (PATCHes in flight got small buffers), this upload keeps
   * none, so what is kept between PATCHes never exceeds the budget.
   */
  endWrite(): void {
    this.#count("part", this.#part?.length ?? 0);
    this.#count("read", this.#read?.byteLength ?? 0);
    if (this.#budget.held > this.#budget.limit) this.release();
    else if (this.keptBytes > 0) this.#budget.park(this);
  }

  /** Bytes of the buffers kept for the next PATCH (none while a PATCH has them). */
  get keptBytes(): number {
    return (this.#part?.length ?? 0) + (this.#read?.byteLength ?? 0);
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

  /**
   * Lets go of both buffers and gives their room back to the budget: no
   * more writes will come, or the budget takes them back for another
   * upload (an abandoned part's upload keeps its own reference until R2
   * lets go of it).
   */
  release(): void {
    this.#part = undefined;
    this.#read = undefined;
    this.#count("part", 0);
    this.#count("read", 0);
    this.#budget.unpark(this);
  }

  /** Keeps a read buffer, unless a read detached it (its bytes moved to another view). */
  giveRead(buffer: Uint8Array): void {
    if (buffer.byteLength > 0) this.#read = buffer;
  }
}

/** What a PATCH gets when the isolate's budget is spent: part and read buffers of (at most) this size. */
export const SMALL_BUFFER_SIZE = 128 * 1024;

/**
 * The part and read buffers of one isolate's uploads, against one budget
 * (ISOLATE_BUFFER_BUDGET): those of the PATCHes in flight and those kept
 * between PATCHes. Instances of a Durable Object class may share an isolate
 * and its 128 MB, and each upload in flight holds up to a part in memory;
 * once the budget is spent, further PATCHes get small buffers whose bytes
 * go to the stored tail as they fill — slower (no streamed parts, more
 * SQLite), but memory stays bounded.
 *
 * Buffers kept between PATCHes count too, or a thousand uploads each left
 * waiting with a part buffer would hold gigabytes that no budget sees. But
 * an upload may never send another PATCH, and its object may be evicted
 * with nothing to say so, so kept buffers are only lent: a PATCH that needs
 * room takes back the buffers of the uploads that have waited longest.
 * The budget refers to those uploads until then, which keeps their buffers
 * alive even after an eviction; that is memory it counts, and can take back.
 */
export class BufferBudget {
  readonly limit: number;
  #held = 0;
  /** Uploads between PATCHes whose kept buffers count here, longest waiting first (a Set keeps insertion order). */
  readonly #parked = new Set<ParkedBuffers>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes counted now: in PATCHes in flight and kept between them. */
  get held(): number {
    return this.#held;
  }

  /**
   * Counts and answers the size a new buffer of `wanted` bytes may have:
   * all of it if the budget has the room, after taking back kept buffers if
   * that makes it, else a small buffer.
   */
  grant(wanted: number): number {
    if (this.#held + wanted > this.limit && this.#held - this.#parkedBytes() + wanted <= this.limit) {
      for (const parked of this.#parked) {
        if (this.#held + wanted <= this.limit) break;
        parked.release();
      }
    }
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

  /** `buffers` are kept until the upload's next PATCH, and may be taken back before it. */
  park(buffers: ParkedBuffers): void {
    this.#parked.delete(buffers);
    this.#parked.add(buffers);
  }

  /** `buffers` are in use again (or let go of): no longer to be taken back. */
  unpark(buffers: ParkedBuffers): void {
    this.#parked.delete(buffers);
  }

  #parkedBytes(): number {
    let bytes = 0;
    for (const parked of this.#parked) bytes += parked.keptBytes;
    return bytes;
  }
}

/** Kept buffers, as the budget sees them: their size, and a way to have them let go of (which unparks them). */
interface ParkedBuffers {
  readonly keptBytes: number;
  release(): void;
}

const isolateBudgets = new Map<number, BufferBudget>();

/** The budget every upload object in this isolate shares (module state is per isolate), one per configured limit. */
export function isolateBufferBudget(limit: number): BufferBudget {
  let budget = isolateBudgets.get(limit);
  if (!budget) isolateBudgets.set(limit, (budget = new BufferBudget(limit)));
  return budget;
}
