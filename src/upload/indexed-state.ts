/**
 * An upload's state as the upload index records it and listings show it.
 * Alone in its module, importing nothing, so that the listing's answer type
 * (listing/listing-answer.ts) stays usable outside a Worker.
 */
export type IndexedState = "unfinished" | "finished" | "terminated" | "expired" | "failed";
