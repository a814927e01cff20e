import type { UploadStore } from "../storage/upload-store";
import type { WriteBuffers } from "./write-buffers";

/**
 * What writing a body and completing the object work with: the upload's
 * store, R2, the part buffers. Its own module, so that the writer and the
 * completion step it hands its last part to (lifecycle/object-completion.ts)
 * both take it without importing each other.
 */
export interface WriterDeps {
  store: UploadStore;
  bucket: R2Bucket;
  /** Largest part assembled in memory; larger parts spill to the tail as they fill. */
  partBufferLimit: number;
  /** Whether completing may replace an object that appeared at the key meanwhile. */
  overwriteObjects: boolean;
  /** Told whenever bytes arrive, so a long PATCH counts as activity. */
  onBytes?: () => void;
  now: () => number;
  /** The upload's part and read buffers, kept from one PATCH to the next. */
  buffers: WriteBuffers;
}
