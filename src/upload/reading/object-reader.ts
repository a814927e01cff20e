import { TusError } from "../../errors";
import { isUploadsObject, r2 } from "../storage/r2-parts";

/**
 * Reads a stored object for a download in byte ranges of bounded size, one
 * `get` each, fetching the next range while the current one streams.
 *
 * Why not one `get`: local R2 (miniflare, under `wrangler dev`) assembles
 * the bytes it is asked for before it sends the first of them. A whole
 * 10 GiB multipart object took about 11 GB of memory and 8 minutes to its
 * first byte; a ranged `get` reads only the parts the range overlaps, so its
 * cost is the range's. Measured there (2 GiB object of 10 MiB parts): first
 * byte of an 8 MiB range after 0.1 s, of 64 MiB after 0.6–1.1 s, of 256 MiB
 * after 3.3 s, the same at offset 0 and at 1,000 MiB.
 *
 * Why ranges that grow: production R2 streams any object at once, and bills
 * each `get` as a Class B operation, so ranges should be few there; a small
 * first range gives a quick first byte locally, and later ranges need only
 * be ready when the one before has been sent.
 */
export interface RangePlan {
  /** The first range's length: the wait for the first byte depends on it locally. */
  first: number;
  /** Each further range is twice the one before, up to this: the most a range holds in local R2. */
  largest: number;
}

const MiB = 1024 * 1024;

/** 8, 16, 32, then 64 MiB: a 10 GiB download is 163 `get`s. See docs/performance.md. */
export const DOWNLOAD_RANGES: RangePlan = { first: 8 * MiB, largest: 64 * MiB };

/** A byte range as R2 takes it. */
export interface ReadRange {
  offset: number;
  length: number;
}

/** The ranges that cover bytes `start`…`end` (inclusive), in order, following `plan`. Pure. */
export function planReadRanges(start: number, end: number, plan: RangePlan = DOWNLOAD_RANGES): ReadRange[] {
  const ranges: ReadRange[] = [];
  let length = plan.first;
  for (let offset = start; offset <= end; offset += length) {
    if (ranges.length) length = Math.min(length * 2, plan.largest);
    ranges.push({ offset, length: Math.min(length, end - offset + 1) });
  }
  return ranges;
}

/** What a download needs of its object: the headers' values and the bytes. */
export interface ObjectDownload {
  size: number;
  httpEtag: string;
  httpMetadata?: R2HTTPMetadata;
  /** The requested bytes, in full: it errors rather than end short. */
  body: ReadableStream<Uint8Array>;
}

/** Which object a download reads: the key, and the upload that must have written what is there. */
export interface OwnedObject {
  key: string;
  uploadId: string;
}

/**
 * Opens bytes `start`…`end` of the upload's object (the whole object when no
 * span is given): resolves once the first range answers, so a missing object
 * or a failing R2 is still an error response. The object must be the one the
 * upload wrote (its custom metadata names the upload): a key without the
 * upload id may hold another upload's object by now, whose bytes are not
 * this upload's to give, so the upload answers as one whose object is gone.
 * Later ranges are read while the body is being sent; each must come from
 * the same object (its ETag), so an object replaced mid-download ends the
 * body with an error instead of splicing two objects. When the client goes
 * away the body is cancelled, and so are the range being sent and the one
 * fetched ahead: no further `get`.
 */
export async function openObjectInRanges(
  bucket: R2Bucket,
  { key, uploadId }: OwnedObject,
  span: { start: number; end: number } | undefined,
  plan: RangePlan = DOWNLOAD_RANGES,
): Promise<ObjectDownload> {
  const ownOrGone = (object: R2ObjectBody | null): R2ObjectBody => {
    if (object && isUploadsObject(object, uploadId)) return object;
    if (object) {
      void object.body.cancel();
      console.warn(`upload ${uploadId}: the object at ${key} was written by another upload; not read`);
    }
    throw objectGone();
  };
  // An empty object has no byte to name in a range.
  if (span === undefined || span.end < span.start) return ownOrGone(await r2("get", () => bucket.get(key)));
  const [first, ...rest] = planReadRanges(span.start, span.end, plan);
  const object = ownOrGone(await r2("get", () => bucket.get(key, { range: first! })));
  if (!rest.length) return object;

  const { readable, writable } = new FixedLengthStream(span.end - span.start + 1);
  const readRange = async (range: ReadRange): Promise<ReadableStream> => {
    const next = await bucket.get(key, { range, onlyIf: { etagMatches: object.etag } });
    if (!next || !("body" in next)) throw new Error(`the object at ${key} was replaced or deleted during the download`);
    return next.body;
  };
  void sendRanges(object.body, rest, readRange, writable).catch((error: unknown) => {
    // The client went away (the body was cancelled), or R2 failed mid-way: the
    // status is sent already, so the body ends short of its length, which clients see.
    console.warn(`download of ${key} (bytes ${span.start}-${span.end}) stopped:`, error);
  });
  return { size: object.size, httpEtag: object.httpEtag, httpMetadata: object.httpMetadata, body: readable };
}

/**
 * Pipes the first range's body and then each further range's into
 * `writable`, with the next range's `get` in flight while the current range
 * is piped. Native pipes: the bytes never pass through JavaScript.
 */
async function sendRanges(
  firstBody: ReadableStream,
  rest: ReadRange[],
  readRange: (range: ReadRange) => Promise<ReadableStream>,
  writable: WritableStream,
): Promise<void> {
  let ahead: Promise<ReadableStream> | undefined;
  try {
    let body = firstBody;
    for (let index = 0; ; index++) {
      ahead = index < rest.length ? readRange(rest[index]!) : undefined;
      // Keeps an early failure of the read ahead from being unhandled while this range is piped.
      ahead?.catch(() => {});
      // A cancelled download errors `writable`, which rejects this pipe and cancels `body`.
      await body.pipeTo(writable, { preventClose: true });
      if (!ahead) break;
      body = await ahead;
      ahead = undefined;
    }
    await writable.close();
  } catch (error) {
    await ahead?.then((body) => body.cancel(error), () => {});
    await writable.abort(error).catch(() => {});
    throw error;
  }
}

function objectGone(): TusError {
  return new TusError("upload-not-found", "the upload's object is no longer stored");
}
