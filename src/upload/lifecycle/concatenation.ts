import { deserializeError, TusError } from "../../errors";
import { loadLive } from "../access";
import type { Caller } from "../call-contract";
import type { UploadContext } from "../upload-context";
import { uploadObjectId } from "../../upload-id";
import { awaitsConfirmation, toInfo, type NewUpload, type PartialSource, type UploadInfo } from "../upload-record";
import { assemble } from "./assembly";
import { createUpload } from "./creation";
import { endUpload } from "./lifecycle";
import { peerUpload } from "./peers";
import { confirm } from "./pre-finish-gate";

/**
 * Concatenation as the objects of its uploads carry it out: a final POST's
 * two calls to the final's object (plan, then create), a partial's claim by
 * its final, and the notice that a partial finished.
 */

/**
 * The first of a final POST's two calls, made to the final upload's object
 * before the final exists (the pre-create hook, which runs in the Worker,
 * is told the final's length between the two): checks each partial (it
 * exists, is the caller's, is partial, has a length). Writes nothing.
 */
export async function planFinal(context: UploadContext, partialIds: string[], caller: Caller): Promise<{ partials: PartialSource[]; partialsFinished: boolean }> {
  const partials: PartialSource[] = [];
  let partialsFinished = true;
  for (const id of partialIds) {
    const partial = await partialInfo(context, id, caller);
    partials.push({ id, length: partial.length });
    partialsFinished &&= partial.finished;
  }
  return { partials, partialsFinished };
}

async function partialInfo(context: UploadContext, id: string, caller: Caller): Promise<UploadInfo & { length: number }> {
  const url = context.config.basePath + id;
  // A made-up id is refused before any object is asked: the same answer as an upload the caller may not see.
  const objectId = uploadObjectId(context.uploads, id);
  const outcome = objectId ? await peerUpload(context, objectId).peek(caller) : undefined;
  if (!outcome?.ok) {
    const why = outcome ? outcome.error.message : new TusError("upload-not-found").message;
    throw new TusError("invalid-concat", `Upload-Concat: ${url} is not an upload that can be concatenated (${why})`);
  }
  const info = outcome.value;
  if (info.concat?.kind !== "partial") throw new TusError("invalid-concat", `Upload-Concat: ${url} is not a partial upload (it was created without Upload-Concat: partial)`);
  if (info.length === undefined) throw new TusError("invalid-concat", `Upload-Concat: ${url} has no length yet; declare it before concatenating`);
  return { ...info, length: info.length };
}

/**
 * The second call of a final POST: creates the final upload from its
 * checked partials, then claims each of them. If a claim fails, the final
 * is removed again, so a refused request leaves every partial free for
 * another try. Once all are claimed it is assembled: up to `budgetMs` of
 * that happens here, while the creating POST waits, so that a small final
 * can be downloaded as soon as it is created; whatever is left, and any
 * fault, goes on in the alarm. A budget of 0 (or partials still
 * unfinished) leaves everything to the alarm.
 */
export async function createFinal(context: UploadContext, upload: NewUpload, caller: Caller, budgetMs: number): Promise<UploadInfo> {
  const { lock, store, clock, writerDeps, config } = context;
  const final = await createUpload(context, upload);
  try {
    for (const partial of upload.concat?.kind === "final" ? upload.concat.partials : []) {
      const claim = await peerUpload(context, partial.id).attachFinal(final.id, caller);
      if (!claim.ok) throw deserializeError(claim.error);
    }
  } catch (error) {
    await lock.run(() => endUpload(writerDeps, loadLive(context), "terminated", config.terminateDeletesObject));
    await clock.scheduleAlarm();
    throw error;
  }
  let workDueAt: number | undefined = Date.now();
  if (budgetMs > 0) {
    // R2's faults are counted in `assemble`, and the alarm tries again with back-off.
    workDueAt = await lock.run((holder) => assemble(context, holder, budgetMs));
  }
  const record = store.load();
  if (record?.ended === "terminated") {
    throw new TusError("invalid-concat", "a partial upload of this final upload was removed while it was being assembled; create the final upload again");
  }
  // Assembled within the budget: the creating POST answers with the hook's
  // decision, if it gives one now; if not, HEAD tells it later.
  if (record && awaitsConfirmation(record)) await lock.run(() => confirm(context, record, "completing", "background"));
  await clock.scheduleAlarm(workDueAt);
  return toInfo(loadLive(context));
}

/**
 * A final upload claims this partial upload. A partial belongs to one live
 * final only, since partials are deleted after assembly; a claim by a final
 * that was since removed does not count. Asking whether earlier claimants
 * still live takes awaits, during which another final may claim: so the
 * claim itself is a check-and-set in one synchronous transaction, which
 * refuses any claimant not found gone here.
 */
export async function attachFinal(context: UploadContext, finalId: string, caller: Caller): Promise<null> {
  const record = loadLive(context, caller);
  if (record.concat?.kind !== "partial") throw new TusError("invalid-concat", `upload ${record.id} is not a partial upload`);
  const gone: string[] = [];
  for (const other of record.concat.finals) {
    if (other !== finalId && !(await peerUpload(context, other).peek(record.owner)).ok) gone.push(other);
  }
  loadLive(context, caller); // terminated or expired meanwhile: say so, not "claimed"
  if (!context.store.claimPartial(finalId, gone)) {
    throw new TusError("invalid-concat", `partial upload ${record.id} already belongs to another final upload`);
  }
  return null;
}

/** A partial upload of this final one finished: assemble now rather than at the next poll. */
export async function partialFinished(context: UploadContext): Promise<void> {
  const record = context.store.load();
  if (record?.concat?.kind === "final" && record.finishedAt === undefined && !record.ended) {
    await context.clock.scheduleAlarm(Date.now());
  }
}
