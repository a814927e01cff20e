/**
 * The tus extensions this server implements. `Tus-Extension` is built from
 * this list, so an extension is advertised exactly when its code is here.
 * `checksum-trailer` is absent: a Worker cannot read request trailers.
 */
export const TUS_EXTENSIONS = [
  "creation",
  "creation-with-upload",
  "creation-defer-length",
  "checksum",
  "termination",
  "expiration",
  "concatenation",
  "concatenation-unfinished",
] as const;

export type TusExtension = (typeof TUS_EXTENSIONS)[number];
