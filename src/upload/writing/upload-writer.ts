import { TusError } from "../../errors";
import { ChunkDigest, type ExpectedChecksum } from "./chunk-digest";
import { partCapacity, partNumberAt } from "../storage/part-plan";
import type { UploadRecord } from "../upload-record";
import type { StoredPart } from "../storage/upload-store";
import { completeObject, type LastPart } from "../lifecycle/object-completion";
import { openMultipart, r2, withBody } from "../storage/r2-parts";
import { StreamingPart } from "./streaming-part";
import type { LockHolder } from "./write-lock";
import type { WriterDeps } from "./writer-deps";

export type { WriterDeps } from "./writer-deps";

/**
 * How a request's body ended: read to its end; cut short (connection lost,
 * taken over, or R2 failed), when what arrived is kept; or refused, when the
 * bytes not yet stored are dropped.
 */
export type BodyEnding = "complete" | "interrupted" | "refused";

/**
 * A body refused as it was read: it went past the upload's length, past
 * the most bytes the upload may hold, or past the most one request may
 * bring. What it brought that is not yet stored is dropped; parts it
 * already completed stay.
 */
export function isRefusedBody(error: unknown): boolean {
  return error instanceof TusError && (error.code === "exceeds-upload-length" || error.code === "upload-too-large");
}

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
 *
 * A chunk with a checksum is all or nothing: its parts go to R2 as they
 * fill, but nothing is counted until the whole chunk is verified. Parts stay
 * pending, spilled rows are stored as pending, and the tail rows a pending
 * part took are only deleted on commit. A chunk that fails verification (or
 * never ends) leaves the upload exactly as it was; its parts in R2 are
 * replaced when the same part numbers are uploaded again.
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
  /** Set while a checksummed chunk is unverified. */
  private digest: ChunkDigest | undefined;
  private pendingParts: StoredPart[] = [];
  /** Tail rows up to this one were taken by pending parts. */
  private consumedThroughSeq = 0;
  /** Where the body being written ends, when its length was announced. */
  private bodyEnd: number | undefined;
  /** The part under construction, when it is being sent to R2 as its bytes arrive. */
  private streaming: StreamingPart | undefined;
  /** R2 refused a streamed part in this request: the rest of its parts are sent whole. */
  private streamingFailed = false;
  /** Set once this request stops reading its body because a newer one took over. */
  private stopped = false;
  /** Body bytes read so far by this request. */
  private bytesRead = 0;
  /** The most bytes the upload may hold; a body that would pass it is refused as it arrives. */
  private sizeLimit = Infinity;
  /** The most bytes this request may bring (MAX_APPEND_SIZE), and the offset they end at. */
  private appendLimit: { bytes: number; end: number } | undefined;

  constructor(
    private readonly deps: WriterDeps,
    record: UploadRecord,
    length: number | undefined,
  ) {
    this.record = record;
    this.length = length;
    // Pending rows belong to a checksummed chunk in progress; a writer is
    // made under the upload's lock, so any found now were left by a chunk
    // that never ended (the object was reset) and are not part of the tail.
    deps.store.discardPending();
    this.stored = deps.store.tailSize();
    this.partStart = record.offset - this.stored;
    this.capacity = partCapacity(this.partStart, record.partSize, length);
  }

  /** A read buffer no larger than the bytes this body or the upload can still bring. */
  private readSize(): number {
    const end = this.bodyEnd ?? this.length;
    return end === undefined ? READ_SIZE : Math.min(READ_SIZE, Math.max(MIN_READ_SIZE, end - this.received));
  }

  /** Bytes received so far, durable or not. */
  private get received(): number {
    return this.partStart + this.stored + this.filled;
  }

  private get isComplete(): boolean {
    return this.length !== undefined && this.received === this.length;
  }

  /**
   * Reads `body` into the upload until it ends, breaks, or a newer request
   * takes over. With `checksum`, the chunk is only counted once verified.
   * `contentLength`, when the client announced it, lets parts the body will
   * fill be streamed to R2 as they arrive. `sizeLimit` and `appendLimit`
   * (the most bytes one request may bring) are enforced on the bytes as
   * they are read, since a chunked body announces no length and a
   * deferred-length upload has none to check it against.
   */
  async write(
    body: ReadableStream<Uint8Array> | null,
    holder: LockHolder,
    { checksum, contentLength, sizeLimit, appendLimit }: { checksum?: ExpectedChecksum; contentLength?: number; sizeLimit?: number; appendLimit?: number } = {},
  ): Promise<BodyEnding> {
    if (checksum) this.digest = new ChunkDigest(checksum);
    if (sizeLimit !== undefined) this.sizeLimit = sizeLimit;
    if (appendLimit !== undefined) this.appendLimit = { bytes: appendLimit, end: this.received + appendLimit };
    if (!body) return "complete";
    if (contentLength !== undefined) this.bodyEnd = this.received + contentLength;
    const reader = openReader(body);
    const stop = (reason: unknown) => {
      this.stopped = true;
      reader.cancel(reason).catch(() => {});
      this.abandonStreaming(reason);
    };
    const grace = holder.stopped ? undefined : new TakeOverGrace(() => this.bytesRead);
    holder.onStop((reason) => (grace ? grace.whenQuiet(() => stop(reason)) : stop(reason)));
    const { buffers } = this.deps;
    // A BYOB read hands the buffer back as a new view (the old one is
    // detached); a failed read keeps it, so the next body gets a fresh one.
    let scratch = buffers.takeRead(this.readSize());
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read(scratch);
        } catch {
          // "Network connection lost" or our own cancel. A read delivers bytes
          // only when it resolves, so nothing that arrived is lost here.
          return "interrupted";
        }
        if (chunk.value) scratch = new Uint8Array(chunk.value.buffer as ArrayBuffer);
        if (chunk.value?.length) {
          this.bytesRead += chunk.value.length;
          this.deps.onBytes?.();
          await this.digest?.update(chunk.value);
          try {
            await this.push(chunk.value);
          } catch (error) {
            // Taken over while a streamed part waited on R2: the bytes are in memory, keep them.
            if (this.stopped && !isRefusedBody(error)) return "interrupted";
            throw error;
          }
        }
        if (chunk.done) {
          buffers.giveRead(scratch);
          // A cancelled reader ends as if the body had: only a body read to its end is complete.
          return this.stopped ? "interrupted" : "complete";
        }
      }
    } finally {
      // However the body ended, a take-over still in its grace has nothing left to stop.
      grace?.cancel();
    }
  }

  /**
   * After `write`, however it ended: verifies a checksummed chunk, makes
   * every received byte durable, and completes the R2 object when the last
   * byte is in.
   */
  async settle(ending: BodyEnding): Promise<void> {
    if (ending === "refused") this.filled = 0;
    if (this.digest) {
      const verified = ending === "complete" && (await this.digest.matches());
      this.digest = undefined;
      if (!verified) {
        this.abandonStreaming("the chunk failed its checksum");
        this.deps.store.discardPending();
        if (ending === "complete") throw new TusError("checksum-mismatch", undefined, { offset: this.record.offset });
        return;
      }
      // Bytes still in memory are counted below, like those of any chunk.
      this.deps.store.commitVerified(this.pendingParts, this.consumedThroughSeq);
    }
    try {
      if (this.isComplete) {
        // The last byte is in: completion is its own step (lifecycle/object-completion.ts), handed the last part.
        if (this.record.finishedAt === undefined) await completeObject(this.deps, this.record, this.lastPart());
        this.filled = 0;
      } else {
        this.abandonStreaming("the body ended before the part was full");
        this.persistMemory();
      }
    } finally {
      this.abandonStreaming("the request is over");
      this.releaseBuffer();
    }
  }

  private async push(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      if (this.length !== undefined && this.received >= this.length) {
        throw new TusError(
          "exceeds-upload-length",
          `the body goes past Upload-Length ${this.length}; the bytes of this request that were not yet stored were discarded`,
          { offset: this.received },
        );
      }
      this.refuseBeyondLimits();
      this.buffer ??= await this.deps.buffers.takePart(Math.min(this.capacity - this.stored, this.deps.partBufferLimit));
      if (!this.streaming && this.bodyFillsPart()) await this.stream(() => this.startStreaming());
      const buffer = this.buffer;
      const start = this.filled;
      // Never past a limit: the bytes beyond it are refused above, not stored.
      const take = Math.min(chunk.length - at, buffer.length - start, this.sizeLimit - this.received, this.appendEnd - this.received);
      buffer.set(chunk.subarray(at, at + take), start);
      this.filled += take;
      at += take;
      if (this.streaming) await this.stream(() => this.streaming!.write(buffer.subarray(start, this.filled)));
      if (this.filled === buffer.length) await this.onBufferFull();
    }
  }

  /**
   * A body that goes on past the upload's size limit, or past the most bytes
   * one request may bring, is refused (413) when its first byte beyond the
   * limit arrives. Both limits are refused alike: the bytes of the request
   * not yet stored (those in memory, all before the limit) are dropped, and
   * parts it already completed stay, being in R2 and counted. So a 413 means
   * the same whichever limit was passed: the request was refused, what it
   * left is at the offset HEAD answers, and the client, told the limit
   * (`Upload-Limit` in the IETF dialect), sends the rest in requests within
   * it. Keeping the bytes before the cap would store most of a request the
   * client was told had been refused.
   */
  private get appendEnd(): number {
    return this.appendLimit?.end ?? Infinity;
  }

  private refuseBeyondLimits(): void {
    const discarded = "the bytes of this request that were not yet stored were discarded";
    if (this.received >= this.sizeLimit) {
      throw new TusError(
        "upload-too-large",
        `the body goes past this upload's limit: it may hold at most ${this.sizeLimit} bytes (the server's maximum, the token's max_upload_size, or for a deferred length the room its subject's quota reserved); ${discarded}`,
        { offset: this.received },
      );
    }
    if (this.appendLimit && this.received >= this.appendEnd) {
      throw new TusError(
        "upload-too-large",
        `the body goes past ${this.appendLimit.bytes} bytes: this server takes at most ${this.appendLimit.bytes} bytes per request (Upload-Limit max-append-size), so send the rest in appends within it from the upload's offset; ${discarded}`,
        { offset: this.received },
      );
    }
  }

  private async onBufferFull(): Promise<void> {
    if (this.stored + this.filled < this.capacity) {
      // Only parts over the memory limit get here: move the buffer to the tail.
      this.persistMemory();
      if (this.buffer!.length > this.capacity - this.stored) this.releaseBuffer();
      return;
    }
    // The last part waits for the body's end, so that an overlong body is
    // refused before the object is completed.
    if (!this.isComplete) await this.sendPart();
  }

  /**
   * Whether this body will fill the part that starts now, so that it can be
   * streamed to R2 as it arrives: the client announced enough bytes, the
   * part fits in memory (the bytes must also stay at hand in case the body
   * breaks), and the upload is not one that a single `put` writes.
   */
  private bodyFillsPart(): boolean {
    const partEnd = this.partStart + this.capacity;
    const singlePut = this.partStart === 0 && this.record.multipartId === undefined && this.length === partEnd;
    return (
      !this.stopped &&
      !this.streamingFailed &&
      this.filled === 0 &&
      this.bodyEnd !== undefined &&
      this.bodyEnd >= partEnd &&
      this.buffer !== undefined &&
      this.buffer.length >= this.capacity - this.stored &&
      !singlePut
    );
  }

  /** Opens the part's upload in R2 and sends it what the tail holds of it; the body's bytes follow as they arrive. */
  private async startStreaming(): Promise<void> {
    const multipart = await this.multipart();
    await this.deps.buffers.settled();
    this.streaming = new StreamingPart(multipart, partNumberAt(this.partStart, this.record.partSize), this.capacity);
    if (this.stored > 0) {
      for (const row of this.deps.store.tailRows(this.consumedThroughSeq)) await this.streaming.write(row);
    }
  }

  /**
   * Runs a step of the streamed part. If R2 fails, the part is given up and
   * the request carries on as if it had never streamed: the bytes are in
   * memory, and the part is sent whole when full (R2's second chance).
   */
  private async stream(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      this.abandonStreaming(error);
      this.fallBackToWholeParts(error);
    }
  }

  /** After a streamed part failed: R2 refused it, so later parts are sent whole; anything else passes on. */
  private fallBackToWholeParts(error: unknown): void {
    if (this.stopped || !(error instanceof TusError && error.code === "storage-unavailable")) throw error;
    this.streamingFailed = true;
  }

  /** Gives up the streamed part under construction, if any (see `abandon`). */
  private abandonStreaming(reason: unknown): void {
    if (this.streaming) this.abandon(this.streaming, reason);
    this.streaming = undefined;
  }

  /**
   * Gives up a streamed part (it will be sent again, whole, later). Until
   * R2 has let go of it, its bytes may still be read, so the part buffer is
   * not reused before then, and no upload of the same part number starts
   * before it: a late success could otherwise replace the newer part.
   */
  private abandon(part: StreamingPart, reason: unknown): void {
    this.deps.buffers.busyUntil(part.abort(reason));
  }

  /** Sends the part under construction to R2 and counts it (or, in a checksummed chunk, holds it pending). */
  private async sendPart(): Promise<void> {
    const { store, partBufferLimit } = this.deps;
    const partNumber = partNumberAt(this.partStart, this.record.partSize);
    const size = this.stored + this.filled;
    // Taken out first: a take-over while R2 finishes a fully written part must not abort it.
    const streaming = this.streaming;
    this.streaming = undefined;
    let uploaded: R2UploadedPart | undefined;
    if (streaming) {
      try {
        uploaded = await streaming.finish();
      } catch (error) {
        this.abandon(streaming, error);
        this.fallBackToWholeParts(error); // and send it whole, below
      }
    }
    if (!uploaded) {
      const multipart = await this.multipart();
      await this.deps.buffers.settled();
      uploaded = await r2("uploadPart", () => withBody(this.partPieces(), size, (body) => multipart.uploadPart(partNumber, body)));
    }
    const part = { partNumber, etag: uploaded.etag, size };
    if (this.digest) {
      this.pendingParts.push(part);
      this.consumedThroughSeq = store.lastTailSeq();
    } else {
      store.commitPart(part);
    }
    this.partStart += size;
    this.capacity = partCapacity(this.partStart, this.record.partSize, this.length);
    this.stored = this.filled = 0;
    if (this.buffer?.length !== Math.min(this.capacity, partBufferLimit)) this.releaseBuffer();
  }

  /** Hands the part buffer back for the next part or PATCH; only once its bytes are stored. */
  private releaseBuffer(): void {
    if (this.buffer && this.filled === 0) this.deps.buffers.givePart(this.buffer);
    this.buffer = undefined;
  }

  /** The part under construction: its stored tail, then the bytes in memory. */
  private partPieces(): Iterable<Uint8Array> {
    const memory = this.buffer?.subarray(0, this.filled) ?? new Uint8Array(0);
    if (this.stored === 0) return [memory];
    const tail = this.deps.store.tailRows(this.consumedThroughSeq);
    return (function* () {
      yield* tail;
      yield memory;
    })();
  }

  private persistMemory(): void {
    if (this.filled > 0) {
      this.deps.store.appendTail(this.buffer!.subarray(0, this.filled), this.digest !== undefined);
      this.stored += this.filled;
      this.filled = 0;
    }
  }

  /** The part under construction, as completion takes it once the last byte is in. */
  private lastPart(): LastPart {
    // The getters read the writer's state as it is when completion asks, not as it is now.
    const writer = this;
    return {
      get whole() {
        return writer.partStart === 0 && writer.record.multipartId === undefined;
      },
      get size() {
        return writer.stored + writer.filled;
      },
      pieces: () => this.partPieces(),
      send: () => this.sendPart(),
      get inMemory() {
        return writer.filled;
      },
      persist: () => this.persistMemory(),
      release: () => this.releaseBuffer(),
    };
  }

  private multipart(): Promise<R2MultipartUpload> {
    return openMultipart(this.deps, this.record);
  }
}

/**
 * How long a request that was writing keeps reading after a newer request
 * took over. A client that reconnects at once (tus-js-client's first retry
 * has no delay) would otherwise take over before the runtime has delivered
 * the bytes its dead connection had already sent, and send them again. So
 * the old request reads on while bytes keep coming, and stops after
 * TAKEOVER_QUIET_MS without any (a stalled connection) or TAKEOVER_MAX_MS
 * in all (a live one: the newcomer wins).
 */
const TAKEOVER_QUIET_MS = 200;
const TAKEOVER_MAX_MS = 1000;

class TakeOverGrace {
  // Not `number`: with @types/node beside the Workers types (a consumer's
  // project may have both) setTimeout is typed to return a Timeout object.
  #timer: ReturnType<typeof setTimeout> | undefined;
  #cancelled = false;

  constructor(private readonly bytesRead: () => number) {}

  /** Calls `stop` once the body has gone quiet, or the grace is over. */
  whenQuiet(stop: () => void): void {
    const deadline = Date.now() + TAKEOVER_MAX_MS;
    let seen = this.bytesRead();
    const check = () => {
      if (this.#cancelled) return;
      const now = this.bytesRead();
      if (now === seen || Date.now() >= deadline) stop();
      else {
        seen = now;
        this.#timer = setTimeout(check, TAKEOVER_QUIET_MS);
      }
    };
    this.#timer = setTimeout(check, TAKEOVER_QUIET_MS);
  }

  /** The body ended first: nothing to stop. */
  cancel(): void {
    this.#cancelled = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
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
/** The smallest read buffer, for bodies announced (or left) smaller than that. */
const MIN_READ_SIZE = 64 * 1024;

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

