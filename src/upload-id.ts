/**
 * Upload ids are the ids of the uploads' Durable Objects: minted by the
 * namespace (`newUniqueId`, 64 hex digits), which signs each one for itself.
 * The Worker turns an id back into its object with `idFromString`, which
 * refuses an id the namespace did not mint; so a made-up id is answered 404
 * by the Worker alone, and probing ids wakes no object and leaves no storage
 * behind. An id is also the whole address of an upload: nobody reaches one
 * without having been given its URL, and there is no index to keep.
 */
const ID_PATTERN = /^[0-9a-f]{64}$/;

/** A new upload's id; its Durable Object is created near the Worker that first asks for it. */
export function newUploadId(namespace: Pick<DurableObjectNamespace, "newUniqueId">): string {
  return namespace.newUniqueId().toString();
}

/** Whether `value` has an upload id's form (for logs and parsing URLs); only `uploadObjectId` says whether it is genuine. */
export function isUploadId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The Durable Object of upload `id`, or undefined when the namespace did not mint the id. */
export function uploadObjectId(namespace: Pick<DurableObjectNamespace, "idFromString">, id: string): DurableObjectId | undefined {
  if (!isUploadId(id)) return undefined;
  try {
    return namespace.idFromString(id);
  } catch {
    // A well-formed id whose signature is not this namespace's: made up, or another namespace's.
    return undefined;
  }
}
