import { r2 } from "../storage/r2-parts";

/**
 * An R2 part sent while its bytes are still arriving.
 *
 * Buffering a whole part and only then calling `uploadPart` leaves the
 * client idle while R2 stores the part, and R2 idle while the client sends
 * the next one. When a PATCH announces enough bytes to fill the part, the
 * writer opens the part's upload at once and feeds it each piece as it
 * arrives, with one write in flight while the next piece is read: receiving
 * and storing overlap, as in a plain streamed `put`.
 *
 * The writer keeps every byte in its part buffer as well, so a body that
 * breaks (or a newer request that takes over) loses nothing: the part's
 * upload is aborted, the bytes go to the tail as usual, and the part number
 * is uploaded again later. An aborted upload never becomes a part in R2.
 */
export class StreamingPart {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #uploaded: Promise<R2UploadedPart>;
  /**
   * Rejects when the upload fails before all bytes are written, or when the
   * part is abandoned: a write never waits on a dead upload, nor on a write
   * that R2 may not take up for a long time (a stream's abort waits for the
   * write in flight).
   */
  readonly #failed: Promise<never>;
  #abandon!: (reason: unknown) => void;
  #inFlight: Promise<void> = Promise.resolve();
  #aborted = false;

  constructor(multipart: R2MultipartUpload, partNumber: number, size: number) {
    const { readable, writable } = new FixedLengthStream(size);
    this.#writer = writable.getWriter();
    this.#uploaded = (async () => multipart.uploadPart(partNumber, readable))();
    const abandoned = new Promise<never>((_, reject) => (this.#abandon = reject));
    this.#failed = Promise.race([this.#uploaded.then(() => new Promise<never>(() => {})), abandoned]);
    // Observed through write() and finish(); an aborted upload's failure is expected and ignored.
    this.#uploaded.catch(() => {});
    this.#failed.catch(() => {});
  }

  /**
   * Queues `bytes` (which must stay unchanged until the part is finished or
   * abandoned) after waiting for the previous write to be taken up by R2.
   */
  async write(bytes: Uint8Array): Promise<void> {
    await this.#outcome(Promise.race([this.#inFlight, this.#failed]));
    this.#inFlight = this.#writer.write(bytes);
    this.#inFlight.catch(() => {});
  }

  /** All bytes are written: the uploaded part, once R2 has stored it. */
  async finish(): Promise<R2UploadedPart> {
    await this.#outcome(Promise.race([this.#inFlight.then(() => this.#writer.close()), this.#failed]));
    return this.#outcome(this.#uploaded);
  }

  /**
   * Gives the part up (the body broke or was taken over): R2 never stores
   * it. Resolves once R2 has let go of the part's bytes.
   */
  abort(reason: unknown): Promise<void> {
    this.#aborted = true;
    this.#abandon(reason);
    this.#writer.abort(reason).catch(() => {});
    return this.#uploaded.then(
      () => {},
      () => {},
    );
  }

  /** An R2 failure becomes the usual retryable 503; after `abort`, the failure is the writer's own doing and passes as it is. */
  async #outcome<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (this.#aborted) throw error;
      return r2("uploadPart", () => Promise.reject(error));
    }
  }
}
