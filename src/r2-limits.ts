/**
 * R2's limits (developers.cloudflare.com/r2/objects/multipart-objects,
 * /r2/platform/limits): facts of the platform that the configuration checks
 * settings against and the upload layer plans parts by. At the bottom of
 * the code, with the errors: everything may use them, they use nothing.
 */
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const R2_LIMITS = {
  minPartSize: 5 * MiB,
  maxPartSize: 5 * GiB,
  maxParts: 10_000,
  /** R2's largest object: 5 TiB minus 5 GiB. */
  maxObjectSize: 5 * 1024 * GiB - 5 * GiB,
} as const;

/** Checks a part size against R2's rules; used to validate configuration. */
export function isValidPartSize(partSize: number): boolean {
  return Number.isSafeInteger(partSize) && partSize >= R2_LIMITS.minPartSize && partSize <= R2_LIMITS.maxPartSize;
}
