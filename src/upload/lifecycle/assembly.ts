import type { UploadContext } from "../upload-context";
import { awaitsAssembly, type UploadRecord } from "../upload-record";
import type { LockHolder } from "../writing/write-lock";
import { assemblyRetryAt } from "./background";
import { assembleStep } from "./concat-assembler";
import { endUpload } from "./lifecycle";
import { locatePartial, peerUpload } from "./peers";

/** A final upload waiting for partials polls this often, in case a partial's notice was lost. */
export const PARTIAL_POLL_MS = 30_000;
/**
 * Wall time one assembly step may take before the next alarm continues.
 * Short, because locally every Durable Object shares one runtime thread and a
 * step holds up other uploads' requests while it streams.
 */
const ASSEMBLY_STEP_MS = 2000;

/**
 * Drives a final upload's assembly (concat-assembler.ts does the copying):
 * one step of at most about `budgetMs`; returns when the next step is due,
 * if any. A fault (R2, or a partial's Durable Object) is counted, and the
 * next step waits for the back-off. Run it under the upload's lock.
 */
export async function assemble(context: UploadContext, holder: LockHolder, budgetMs = ASSEMBLY_STEP_MS): Promise<number | undefined> {
  const { store } = context;
  const record = store.load();
  if (!record || !awaitsAssembly(record)) return undefined;
  try {
    return await runAssemblyStep(context, record, holder, budgetMs);
  } catch (error) {
    const current = store.load();
    if (!current || !awaitsAssembly(current)) {
      // Assembled (or ended) already: what failed was deleting the partials, which is not retried.
      console.error(`final upload ${record.id}: after its assembly ended, deleting its partials failed`, error);
      return undefined;
    }
    forgetFailuresAfterProgress(context, record);
    store.completionFailed(Date.now());
    const failures = store.completionFailures();
    const retryAt = assemblyRetryAt(current, failures);
    const next = retryAt === undefined ? "no more retries; it expires the idle time after this attempt" : `retrying in ${retryAt - Date.now()} ms`;
    console.error(`final upload ${record.id}: an assembly step failed (${failures.count} in a row; ${next})`, error);
    return retryAt;
  }
}

/**
 * Assembly failures count in a row only (see background.ts): a step that
 * stored parts since `before`, whether it then failed or not, shows that
 * R2 works, and the back-off starts afresh at the next fault.
 */
function forgetFailuresAfterProgress(context: UploadContext, before: UploadRecord): void {
  const { store } = context;
  const current = store.load();
  if (current && current.offset > before.offset && store.completionFailures().count > 0) store.clearCompletionFailures();
}

async function runAssemblyStep(context: UploadContext, record: UploadRecord, holder: LockHolder, budgetMs: number): Promise<number | undefined> {
  const { store, writerDeps, config } = context;
  const result = await assembleStep(
    {
      store,
      bucket: writerDeps.bucket,
      now: Date.now,
      stepBudgetMs: budgetMs,
      shouldYield: () => holder.stopped,
      locatePartial: (id) => locatePartial(context, id, record.owner),
      overwriteObjects: config.overwriteObjects,
    },
    record,
  );
  forgetFailuresAfterProgress(context, record);
  switch (result.state) {
    case "waiting":
      return Date.now() + PARTIAL_POLL_MS;
    case "continue":
      return Date.now();
    case "failed":
      console.error(`final upload ${record.id} cannot be assembled: ${result.reason}`);
      await endUpload(writerDeps, store.load()!, "terminated", true);
      return undefined;
    case "object-exists":
      // As an ordinary upload's completion is refused (UploadWriter's `refuse`):
      // for good, with a `failed` event; its partials stay, as after any failed assembly.
      await endUpload(writerDeps, store.load()!, "object-exists", false);
      console.warn(`final upload ${record.id}: refused: another object was stored at ${record.objectKey}; its parts were released`);
      return undefined;
    case "finished":
      if (config.concatDeletesPartials && record.concat?.kind === "final") {
        await Promise.all(record.concat.partials.map(({ id }) => peerUpload(context, id).terminate(record.owner)));
      }
      return undefined;
  }
}
