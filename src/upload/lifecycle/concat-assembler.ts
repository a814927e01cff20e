import { TusError } from "../../errors";
import { partCapacity, partNumberAt } from "../storage/part-plan";
import { isUploadsObject, KeyTaken, keyMayBeTaken, objectIsComplete, openMultipart, putObject, r2, refuseOverwrite } from "../storage/r2-parts";
import type { PartialSource, UploadRecord } from "../upload-record";
import type { UploadStore } from "../storage/upload-store";

/** A stretch of one partial upload's object. */
export interface SourceRange {
  index: number;
  offset: number;
  length: number;
}

/**
 * Which stretches of the partial objects make up bytes [start, end) of the
 * final upload. Pure, so the boundaries can be tested without R2.
 */
export function sourceRanges(lengths: readonly number[], start: number, end: number): SourceRange[] {
  const ranges: SourceRange[] = [];
  let sourceStart = 0;
  lengths.forEach((length, index) => {
    const from = Math.max(start, sourceStart);
    const to = Math.min(end, sourceStart + length);
    if (from < to) ranges.push({ index, offset: from - sourceStart, length: to - from });
    sourceStart += length;
  });
  return ranges;
}

export interface AssemblerDeps {
  store: UploadStore;
  bucket: R2Bucket;
  now: () => number;
  /** Where each partial upload's finished object is, or why it cannot be used. */
  locatePartial: (id: string) => Promise<PartialState>;
  /**
   * Wall time one step may spend before handing over to the next alarm. A
   * step sends at least one part, and no further part that the slowest so
   * far says would end past the budget.
   */
  stepBudgetMs: number;
  /** True once another request wants the upload: the step ends after the part in flight. */
  shouldYield: () => boolean;
  /** Whether completing may replace an object that appeared at the key meanwhile (OVERWRITE_OBJECTS). */
  overwriteObjects: boolean;
}

export type PartialState = { state: "finished"; objectKey: string } | { state: "unfinished" } | { state: "gone" };

/**
 * What a step left: partials still unfinished, more parts to send, the
 * object complete, a partial gone, or another object at the final's key
 * (`object-exists`: the final cannot complete there, as an ordinary upload
 * cannot, see UploadWriter's `refuse`).
 */
export type StepResult =
  | { state: "waiting" }
  | { state: "continue" }
  | { state: "finished" }
  | { state: "failed"; reason: string }
  | { state: "object-exists" };

/**
 * Assembles a final upload from its partials' objects into one R2 object
 * whose parts follow R2's rules whatever the partials' sizes. The binding has
 * no server-side part copy, so each part is streamed from ranges of the
 * partial objects. Work proceeds in steps (one per alarm, or the first one
 * in the creating request) that each commit whole parts, so gigabytes never
 * depend on one invocation's time, and an eviction loses at most the part in
 * flight.
 */
export async function assembleStep(deps: AssemblerDeps, record: UploadRecord): Promise<StepResult> {
  if (record.concat?.kind !== "final" || record.length === undefined) return { state: "finished" };
  const partials = record.concat.partials;
  const sources: PartialObject[] = [];
  for (const partial of partials) {
    const found = await deps.locatePartial(partial.id);
    if (found.state === "gone") return { state: "failed", reason: `partial upload ${partial.id} no longer exists` };
    if (found.state === "unfinished") return { state: "waiting" };
    sources.push({ key: found.objectKey, uploadId: partial.id });
  }
  const { store, bucket, now } = deps;
  const guarded = keyMayBeTaken(record, deps.overwriteObjects);
  if (record.length === 0) {
    if (await keyTaken(() => putObject(bucket, record, guarded, (put) => put(new Uint8Array(0))))) return { state: "object-exists" };
    store.markFinished(now(), 0);
    return { state: "finished" };
  }
  // Before the first part too: a key taken already would otherwise cost the whole copy before the refusal.
  if (guarded && record.offset === 0 && (await keyTaken(() => refuseOverwrite(bucket, record, false)))) return { state: "object-exists" };
  const deadline = now() + deps.stepBudgetMs;
  const multipart = await openMultipart(deps, record);
  let offset = record.offset;
  let slowestPartMs = 0;
  while (offset < record.length) {
    if (now() + slowestPartMs > deadline || deps.shouldYield()) return { state: "continue" };
    const startedAt = now();
    const size = partCapacity(offset, record.partSize, record.length);
    const partNumber = partNumberAt(offset, record.partSize);
    const ranges = sourceRanges(partials.map((partial: PartialSource) => partial.length), offset, offset + size);
    let uploaded: R2UploadedPart;
    try {
      uploaded = await r2("uploadPart", () => uploadFromRanges(bucket, multipart, partNumber, size, ranges, sources));
    } catch (error) {
      if (error instanceof PartialObjectGone) return { state: "failed", reason: error.message };
      throw error;
    }
    offset = store.commitPart({ partNumber, etag: uploaded.etag, size });
    slowestPartMs = Math.max(slowestPartMs, now() - startedAt);
  }
  // Checked only now, when nothing else is left: the key may be taken at any
  // time before `complete`, which takes no condition (docs/protocol.md, Concatenation).
  if (guarded && (await keyTaken(() => refuseOverwrite(bucket, record, false)))) return { state: "object-exists" };
  const parts = store.parts().map(({ partNumber, etag }) => ({ partNumber, etag }));
  try {
    await r2("complete", () => multipart.complete(parts));
  } catch (error) {
    // Completed in R2 with the answer lost: every retry would fail, yet the object is whole.
    if (!(await objectIsComplete(bucket, record))) throw error;
  }
  store.markFinished(now(), 0);
  return { state: "finished" };
}

/** Runs a check or write that throws `KeyTaken`; answers whether it did. */
async function keyTaken(attempt: () => Promise<void>): Promise<boolean> {
  try {
    await attempt();
    return false;
  } catch (error) {
    if (error instanceof KeyTaken) return true;
    throw error;
  }
}

/** A partial upload's object: its key, and the upload that must have written it. */
interface PartialObject {
  key: string;
  uploadId: string;
}

/**
 * A partial's object is missing, or another upload's object is at its key
 * (a key without the upload id, overwritten): its bytes are not the
 * partial's, so the final fails rather than take them. A TusError, so that
 * `r2` passes it on as it is rather than as a storage fault to retry.
 */
class PartialObjectGone extends TusError {
  constructor(source: PartialObject) {
    super("upload-gone", `the object of partial upload ${source.uploadId} is no longer stored`);
  }
}

async function uploadFromRanges(
  bucket: R2Bucket,
  multipart: R2MultipartUpload,
  partNumber: number,
  size: number,
  ranges: SourceRange[],
  sources: PartialObject[],
): Promise<R2UploadedPart> {
  const { readable, writable } = new FixedLengthStream(size);
  const copying = (async () => {
    for (const range of ranges) {
      const source = sources[range.index]!;
      const object = await bucket.get(source.key, { range: { offset: range.offset, length: range.length } });
      if (!object || !isUploadsObject(object, source.uploadId)) {
        await object?.body.cancel();
        const gone = new PartialObjectGone(source);
        // The part's body ends in an error, so R2 stores no part of it.
        await writable.abort(gone).catch(() => {});
        throw gone;
      }
      await object.body.pipeTo(writable, { preventClose: true });
    }
    await writable.close();
  })();
  const [uploaded] = await Promise.all([multipart.uploadPart(partNumber, readable), copying]);
  return uploaded;
}
