import { loadLive } from "../access";
import type { Caller } from "../call-contract";
import type { UploadContext } from "../upload-context";
import { endUpload } from "./lifecycle";

/** DELETE: stops any PATCH in flight (by taking the lock), then removes the upload and its bytes. */
export async function terminate(context: UploadContext, caller: Caller): Promise<null> {
  loadLive(context, caller);
  return context.lock.run(async () => {
    await endUpload(context.writerDeps, loadLive(context), "terminated", context.config.terminateDeletesObject);
    await context.clock.scheduleAlarm();
    return null;
  });
}
