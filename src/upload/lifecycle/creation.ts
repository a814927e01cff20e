import { touchLive } from "../access";
import type { UploadContext } from "../upload-context";
import type { NewUpload, UploadRecord } from "../upload-record";
import { PARTIAL_POLL_MS } from "./assembly";
import { finishIfDue } from "./completion";
import { nextExpiry } from "./lifecycle";
import { confirm } from "./pre-finish-gate";
import { storeWithinQuota } from "./quota";

/**
 * Creates the upload in its object's storage, once its subject's quotas
 * made room for it; an upload of length 0 is complete, and asks the
 * pre-finish hook, at once.
 */
export async function createUpload(context: UploadContext, upload: NewUpload): Promise<UploadRecord> {
  const { store, config, lock } = context;
  if (store.load()) throw new Error(`upload ${upload.id} already exists`);
  // The first expiry is stored with the upload's row: a row written less than setting it after.
  const record = await storeWithinQuota(context, upload, (admitted) => store.create(admitted, nextExpiry(admitted, Date.now(), config)));
  if (record.concat?.kind !== "final") {
    await finishIfDue(context, record);
    await lock.run(() => confirm(context, store.load()!, "completing"));
  }
  // A final upload is assembled once its partials are claimed (concatenation.ts `createFinal`);
  // should that never happen, the alarm starts it after a poll interval.
  return touchLive(context, record.concat?.kind === "final" ? Date.now() + PARTIAL_POLL_MS : undefined);
}
