import { TusError } from "../errors";
import { partCapacity, partNumberAt } from "./part-plan";
import type { UploadRecord } from "./upload-record";
import type { UploadStore } from "./upload-store";
import type { LockHolder } from "./write-lock";

export interface WriterDeps {
  store: UploadStore;
  bucket: R2Bucket;
  /** Largest part assembled in memory; larger parts spill to the tail as they fill. */
  partBufferLimit: number;
  now: () => number;
}

/** Why a body stopped before its end. */
export type BodyOutcome = "complete" | "taken-over" | "disconnected";

/**
 * Streams request bodies into an upload's R2 parts.
 *
 * The part under construction is the upload's tail (durable, in SQLite)
 * followed by bytes only in memory. When the part reaches the upload's part
 * size it goes to R2 in one `uploadPart` and is committed together with the
 * offset; when a body ends or breaks, the in-memory bytes join the tail. So
 * every counted byte is durable, memory stays near one part, and parts are
 * cut at exact multiples of the part size whatever the clients' chunk sizes.
 *
 * A part that arrives within one PATCH is sent straight from memory, the
 * fastest way into R2. A part with a stored tail (the client's chunks are
 * smaller than a part) is sent as a stream of the tail's rows and the
 * buffer, so the tail is read once, when its part is sent. A part larger than
 * `partBufferLimit` (only uploads over 10,000 × that limit) moves each full
 * buffer to the tail as it fills, so memory stays bounded.
 */
export class UploadWriter {
  private readonly record: UploadRecord;
  private length: number | undefined;
  /** Offset at which the part under construction begins. */
  private partStart: number;
  /** Size the part under construction will have. */
  private capacity: number;
  /** Bytes of the part under construction that are in the tail (durable, counted). */
  private stored: number;
  /** Bytes of the part under construction that are only in memory, in `buffer[0, filled)`. */
  private buffer: Uint8Array | undefined;
  private filled = 0;

  constructor(
    private readonly deps: WriterDeps,
    record: UploadRecord,
    length: number | undefined,
  ) {
    this.record = record;
    this.length = length;
    this.stored = deps.store.tailSize();
    this.partStart = record.offset - this.stored;
    this.capacity = partCapacity(this.partStart, record.partSize, length);
  }

  /** Bytes received so far, durable or not. */
  private get received(): number {
    return this.partStart + this.stored + this.filled;
  }

  private get isComplete(): boolean {
    return this.length !== undefined && this.received === this.length;
  }

  /** Reads `body` into the upload until it ends, breaks, or a newer request takes over. */
  async write(body: ReadableStream<Uint8Array>, holder: LockHolder): Promise<BodyOutcome> {
    const reader = openReader(body);
    holder.onStop((reason) => {
      reader.cancel(reason).catch(() => {});
    });
    let scratch = new Uint8Array(READ_SIZE);
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read(scratch);
      } catch {
        // "Network connection lost" or our own cancel. A read delivers bytes
        // only when it resolves, so nothing that arrived is lost here.
        return holder.stopped ? "taken-over" : "disconnected";
      }
      if (chunk.value?.length) {
        await this.push(chunk.value);
        scratch = new Uint8Array(chunk.value.buffer as ArrayBuffer);
      }
      if (chunk.done) return holder.stopped ? "taken-over" : "complete";
    }
  }

  /**
   * Makes every received byte durable, and completes the R2 object when the
   * last byte is in. Runs after `write` however it ended.
   */
  async settle(): Promise<void> {
    if (this.isComplete) {
      await this.finishIfDue();
    } else {
      this.persistMemory();
    }
  }

  /** Completes the object once all bytes are in; also recovers one whose completion failed in R2 last time. */
  async finishIfDue(): Promise<void> {
    if (this.isComplete && this.record.finishedAt === undefined) await this.finish();
  }

  /** Forgets bytes that are only in memory: used when a body turns out to be invalid. */
  discardMemory(): void {
    this.filled = 0;
  }

  private async push(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.length !== undefined && this.received >= this.length) {
        this.discardMemory();
        throw new TusError(
          "exceeds-upload-length",
          `the body goes past Upload-Length ${this.length}; the bytes of this request that were not yet stored were discarded`,
          { offset: this.received },
        );
      }
      const buffer = (this.buffer ??= new Uint8Array(Math.min(this.capacity - this.stored, this.deps.partBufferLimit)));
      const take = Math.min(chunk.length - at, buffer.length - this.filled);
      buffer.set(chunk.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === buffer.length) await this.onBufferFull();
    }
  }

  private async onBufferFull(): Promise<void> {
    if (this.stored + this.filled < this.capacity) {
      // Only parts over the memory limit get here: move the buffer to the tail.
      this.persistMemory();
      if (this.buffer!.length > this.capacity - this.stored) this.buffer = undefined;
      return;
    }
    // The last part waits for the body's end, so that an overlong body is
    // refused before the object is completed.
    if (!this.isComplete) await this.sendPart();
  }

  /** Sends the part under construction to R2 and counts it. */
  private async sendPart(): Promise<void> {
    const multipart = await this.multipart();
    const partNumber = partNumberAt(this.partStart, this.record.partSize);
    const size = this.stored + this.filled;
    const uploaded = await r2("uploadPart", () => withBody(this.partPieces(), size, (body) => multipart.uploadPart(partNumber, body)));
    this.deps.store.commitPart({ partNumber, etag: uploaded.etag, size }, this.filled);
    this.partStart += size;
    this.capacity = partCapacity(this.partStart, this.record.partSize, this.length);
    this.stored = this.filled = 0;
    if (this.buffer?.length !== Math.min(this.capacity, this.deps.partBufferLimit)) this.buffer = undefined;
  }

  /** The part under construction: its stored tail, then the bytes in memory. */
  private partPieces(): Iterable<Uint8Array> {
    const memory = this.buffer?.subarray(0, this.filled) ?? new Uint8Array(0);
    if (this.stored === 0) return [memory];
    const tail = this.deps.store.tailRows();
    return (function* () {
      yield* tail;
      yield memory;
    })();
  }

  private persistMemory(): void {
    if (this.filled > 0) {
      this.deps.store.appendTail(this.buffer!.subarray(0, this.filled));
      this.stored += this.filled;
      this.filled = 0;
    }
  }

  /**
   * All bytes are in: write the object. An upload that never filled a part is
   * one `put`; otherwise the remainder is the last part and the multipart
   * upload is completed. If R2 fails, the bytes stay durable and the next
   * request for the upload tries again.
   */
  private async finish(): Promise<void> {
    const { store, bucket, now } = this.deps;
    try {
      if (this.partStart === 0 && this.record.multipartId === undefined) {
        const size = this.stored + this.filled;
        await r2("put", () =>
          withBody(this.partPieces(), size, (body) => bucket.put(this.record.objectKey, body, { httpMetadata: this.httpMetadata() })),
        );
        store.markFinished(now(), this.filled);
        return;
      }
      if (this.stored + this.filled > 0) await this.sendPart();
      const multipart = await this.multipart();
      const parts = store.parts().map(({ partNumber, etag }) => ({ partNumber, etag }));
      await r2("complete", () => multipart.complete(parts));
      store.markFinished(now(), 0);
    } catch (error) {
      this.persistMemory();
      throw error;
    }
  }

  private async multipart(): Promise<R2MultipartUpload> {
    const { bucket, store } = this.deps;
    const { objectKey, multipartId } = this.record;
    if (multipartId !== undefined) return bucket.resumeMultipartUpload(objectKey, multipartId);
    const created = await r2("createMultipartUpload", () =>
      bucket.createMultipartUpload(objectKey, { httpMetadata: this.httpMetadata() }),
    );
    store.setMultipartId(created.uploadId);
    this.record.multipartId = created.uploadId;
    return created;
  }

  private httpMetadata(): R2HTTPMetadata {
    return { contentType: this.record.contentType, contentDisposition: this.record.contentDisposition };
  }
}

/**
 * How much one read may take from the body. Reads fill a buffer of this size
 * with everything that has arrived (a BYOB reader), so a body is read in a
 * few hundred large reads rather than thousands of small ones; bytes are then
 * copied into the part. Reading into the part buffer directly would save the
 * copy but a failed read detaches the buffer it was given, and with it the
 * bytes already assembled there.
 */
const READ_SIZE = 1024 * 1024;

interface BodyReader {
  read(into: Uint8Array): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason: unknown): Promise<void>;
}

function openReader(body: ReadableStream<Uint8Array>): BodyReader {
  try {
    const byob = body.getReader({ mode: "byob" });
    return { read: (into) => byob.read(into), cancel: (reason) => byob.cancel(reason) };
  } catch {
    // Not a byte stream: read whatever chunks it yields.
    const reader = body.getReader();
    return { read: () => reader.read(), cancel: (reason) => reader.cancel(reason) };
  }
}

/**
 * Hands `send` a body of `size` bytes made of `pieces`: a lone array as it is
 * (R2 takes it in one go), several as a stream of known length, written piece
 * by piece so they are never all in memory at once.
 */
async function withBody<T>(
  pieces: Iterable<Uint8Array>,
  size: number,
  send: (body: Uint8Array | ReadableStream) => Promise<T>,
): Promise<T> {
  if (Array.isArray(pieces) && pieces.length === 1) return send(pieces[0] as Uint8Array);
  const { readable, writable } = new FixedLengthStream(size);
  const writing = (async () => {
    const writer = writable.getWriter();
    for (const piece of pieces) if (piece.length) await writer.write(piece);
    await writer.close();
  })();
  const [result] = await Promise.all([send(readable), writing]);
  return result;
}

/**
 * Runs one R2 operation; a failure becomes a retryable 503. The bytes the
 * operation carried are still durable or still in memory, so nothing
 * acknowledged is lost and the client resumes from the reported offset.
 */
async function r2<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TusError) throw error;
    console.error(`R2 ${operation} failed`, error);
    throw new TusError("storage-unavailable", `the storage backend failed (${operation}); retry the request`, {
      retryAfterSeconds: 1,
    });
  }
}
