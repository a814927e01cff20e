import { TusError } from "../../errors";
import { loadLive, touchLive } from "../access";
import type { AppendCall } from "../call-contract";
import { loadFinished } from "../lifecycle/completion";
import { endUpload } from "../lifecycle/lifecycle";
import { notifyFinals } from "../lifecycle/peers";
import { confirm } from "../lifecycle/pre-finish-gate";
import { partSizeForChunk } from "../storage/part-plan";
import type { UploadContext } from "../upload-context";
import { awaitsConfirmation, checkAppend, replayFinished, sizeLimitOf, toInfo, type UploadInfo, type UploadRecord } from "../upload-record";
import { isRefusedBody, UploadWriter, type BodyEnding } from "./upload-writer";
import type { LockHolder } from "./write-lock";

/**
 * An append and what it intends (call-contract.ts `AppendIntent`): a
 * finished upload replays or refuses, the body is written, the upload is
 * completed where the body ends, and a body past the length invalidates
 * the upload, each as the call asks; all under the lock the caller holds.
 */
export async function append(context: UploadContext, call: AppendCall, body: ReadableStream<Uint8Array> | null, holder: LockHolder): Promise<UploadInfo> {
  const record = await loadFinished(context);
  if (call.replayWhenFinished && toInfo(record).finished) return toInfo(replayFinished(record, call));
  try {
    const info = await appendBody(context, call, body, holder, record);
    if (!call.completeAtEnd || info.finished) return info;
    // Complete where the body ended: the length becomes the offset reached.
    const completion = { ...call, offset: info.offset, declaredLength: info.offset, contentLength: 0, checksum: undefined };
    return await appendBody(context, completion, null, holder, await loadFinished(context));
  } catch (error) {
    if (!call.invalidateOnOverflow || !(error instanceof TusError && error.code === "exceeds-upload-length")) throw error;
    return invalidate(context, error);
  }
}

/**
 * A body past the upload's length: "the server MUST prevent the offset
 * from exceeding the upload length by rejecting the request ..., marking
 * the upload resource invalid": it is terminated. Unless it completed
 * meanwhile (a client resending its last append): a complete upload is
 * never altered, and the client is told it is complete.
 */
async function invalidate(context: UploadContext, error: TusError): Promise<never> {
  const current = loadLive(context);
  if (toInfo(current).finished) throw new TusError("upload-completed");
  await endUpload(context.writerDeps, current, "terminated", context.config.terminateDeletesObject);
  await context.clock.scheduleAlarm();
  throw new TusError("exceeds-upload-length", `${error.message}; the upload is now invalid: create a new one`);
}

/** Writes one request's body into the upload (UploadWriter), then asks the pre-finish hook if that completed it. */
async function appendBody(context: UploadContext, call: AppendCall, body: ReadableStream<Uint8Array> | null, holder: LockHolder, record: UploadRecord): Promise<UploadInfo> {
  const { store, writerDeps, telemetry, config } = context;
  // A retry of the request that completed the upload asks the hook again, when its back-off allows.
  const wasAwaitingConfirmation = awaitsConfirmation(record);
  if (record.concat?.kind === "final") throw new TusError("final-upload-is-read-only");
  const length = checkAppend(record, call);
  if (length !== record.length) store.setLength(length!);
  const partSize = partSizeFor(record, call.contentLength, length, config.partBufferLimit);
  if (partSize !== record.partSize) store.setPartSize(partSize);
  await touchLive(context);
  const writer = new UploadWriter(writerDeps, { ...record, partSize }, length);
  let ending: BodyEnding = "complete";
  let writeError: unknown;
  const { buffers } = writerDeps;
  buffers.beginWrite();
  try {
    ending = await writer.write(body, holder, {
      checksum: call.checksum,
      contentLength: call.contentLength,
      sizeLimit: sizeLimitOf({ ...record, partSize }, call.lengthLimit),
      appendLimit: call.appendLimit,
    });
  } catch (error) {
    writeError = error;
    ending = isRefusedBody(error) ? "refused" : "interrupted";
  }
  try {
    await writer.settle(ending);
  } catch (error) {
    writeError ??= error;
  } finally {
    buffers.endWrite();
  }
  // A body cut short is not new activity: its bytes already kept the upload alive as they came.
  store.recordProgress(); // for the upload index, if on; delivered by the alarm touch sets
  const after = await touchLive(context, undefined, ending !== "interrupted");
  telemetry.chunkWritten(after, after.offset - record.offset);
  if (after.finishedAt !== undefined) buffers.release();
  if (writeError) throw withOffset(writeError, after.offset);
  if (awaitsConfirmation(after)) return toInfo(await confirm(context, after, wasAwaitingConfirmation ? "retry" : "completing"));
  if (after.finishedAt !== undefined && after.concat?.kind === "partial") await notifyFinals(context, after.concat.finals);
  return toInfo(after);
}

/**
 * The upload's part size: until its first byte is stored (no R2 multipart
 * upload exists yet), one that the PATCH's announced length is a multiple
 * of, when R2's rules allow one (see `partSizeForChunk`).
 */
function partSizeFor(record: UploadRecord, contentLength: number | undefined, length: number | undefined, partBufferLimit: number): number {
  if (record.offset > 0 || record.multipartId !== undefined || contentLength === undefined) return record.partSize;
  return partSizeForChunk(record.partSize, contentLength, length, partBufferLimit);
}

function withOffset(error: unknown, offset: number): unknown {
  return error instanceof TusError ? new TusError(error.code, error.message, { ...error.details, offset }) : error;
}
