import type { Caller, Outcome } from "../call-contract";
import type { UploadContext } from "../upload-context";
import type { UploadInfo } from "../upload-record";
import type { PartialState } from "./concat-assembler";

/**
 * What an upload's object asks of another upload's: the partials and finals
 * of a concatenation know each other by id. The calls of UploadObject it
 * uses, so that this module need not import the class.
 */
export interface PeerUpload {
  peek(caller: Caller): Promise<Outcome<UploadInfo>>;
  attachFinal(finalId: string, caller: Caller): Promise<Outcome<null>>;
  partialFinished(): Promise<void>;
  terminate(caller: Caller): Promise<Outcome<null>>;
}

/** Another upload's object: by an id from this upload's own storage (minted by the namespace), or an id already checked. */
export function peerUpload(context: UploadContext, id: string | DurableObjectId): PeerUpload {
  const { uploads } = context;
  return uploads.get(typeof id === "string" ? uploads.idFromString(id) : id) as unknown as PeerUpload;
}

/** This partial upload finished: its finals assemble now rather than at their next poll. */
export async function notifyFinals(context: UploadContext, finalIds: string[]): Promise<void> {
  await Promise.all(finalIds.map((id) => peerUpload(context, id).partialFinished()));
}

/** Where a partial upload's finished object is, or why it cannot be used. */
export async function locatePartial(context: UploadContext, id: string, owner: Caller): Promise<PartialState> {
  const outcome = await peerUpload(context, id).peek(owner);
  if (!outcome.ok) return { state: "gone" };
  return outcome.value.finished ? { state: "finished", objectKey: outcome.value.objectKey } : { state: "unfinished" };
}
