/**
 * The memory an upload's writes use, kept from one PATCH to the next: one
 * part buffer and one read buffer. Allocating a fresh part (8 MiB by
 * default) for every PATCH left the runtime's garbage collector tens of MiB
 * behind when clients send part-sized chunks. The upload's lock lets one
 * writer run at a time, and a writer hands a buffer back only once nothing
 * refers to its bytes any more, so one of each is enough.
 */
export class WriteBuffers {
  #part: Uint8Array | undefined;
  #read: Uint8Array | undefined;

  /** A part buffer of exactly `size` bytes: the kept one if it fits, else a new one. */
  takePart(size: number): Uint8Array {
    const kept = this.#part;
    this.#part = undefined;
    return kept?.length === size ? kept : new Uint8Array(size);
  }

  givePart(buffer: Uint8Array): void {
    this.#part = buffer;
  }

  /** A buffer for body reads of `size` bytes. */
  takeRead(size: number): Uint8Array {
    const kept = this.#read;
    this.#read = undefined;
    return kept?.byteLength === size ? kept : new Uint8Array(size);
  }

  /** Keeps a read buffer, unless a read detached it (its bytes moved to another view). */
  giveRead(buffer: Uint8Array): void {
    if (buffer.byteLength > 0) this.#read = buffer;
  }
}
