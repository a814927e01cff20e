/**
 * What a listing answers (`GET <BASE_PATH>`, and administration's listing):
 * the JSON a client reads. Types only, without the runtime's, so that code
 * outside a Worker (a Node client, the end-to-end tests) can use them too.
 */

import type { IndexedState } from "../upload/indexed-state";

export type { IndexedState };

export interface ListedUpload {
  id: string;
  /** The upload's URL on the gateway that answered. */
  url: string;
  /** Null while the length is deferred. */
  length: number | null;
  offset: number;
  state: IndexedState;
  /** Decoded text (tus sends Base64). */
  metadata: Record<string, string>;
  /** ISO 8601. */
  created: string;
  updated: string;
  /** When it expires, if it can. */
  expires: string | null;
  /** The owner's subject: only in administration's listing (null for an upload made in open mode). */
  subject?: string | null;
}

export interface Listing {
  uploads: ListedUpload[];
  /** The cursor of the next page, or null on the last. */
  next: string | null;
}
