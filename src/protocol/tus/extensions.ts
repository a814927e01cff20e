/**
 * The tus extensions this server implements. `Tus-Extension` is built from
 * this list, so an extension is advertised exactly when its code is here.
 */
export const TUS_EXTENSIONS = ["creation", "creation-with-upload", "creation-defer-length"] as const;

export type TusExtension = (typeof TUS_EXTENSIONS)[number];
