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
  #part: Uint8Array | undefined;
  #read: Uint8Array | undefined;
  /** Settles once R2 has let go of an abandoned part's bytes (see StreamingPart). */
  #busy: Promise<void> = Promise.resolve();

  /** A part buffer of exactly `size` bytes, once no abandoned upload can still read the kept one. */
  async takePart(size: number): Promise<Uint8Array> {
    await this.#busy;
    const kept = this.#part;
    this.#part = undefined;
    return kept?.length === size ? kept : new Uint8Array(size);
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

  /** A buffer for body reads of at least `size` bytes. */
  takeRead(size: number): Uint8Array {
    const kept = this.#read;
    this.#read = undefined;
    return kept && kept.byteLength >= size ? kept : new Uint8Array(size);
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
