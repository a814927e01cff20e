/**
 * Quotas per subject (docs/configuration.md, "Quotas"): what they are
 * called in settings and token claims. Here, apart from the layers, as
 * configuration, tokens and the upload layer all name them.
 */

/** A subject's quotas; a missing one is no limit. */
export interface QuotaLimits {
  /** SUBJECT_MAX_ACTIVE_UPLOADS, or the token's `max_active_uploads`: unfinished uploads at once. */
  activeUploads?: number;
  /** SUBJECT_MAX_ACTIVE_BYTES, or `max_active_bytes`: total length of unfinished uploads. */
  activeBytes?: number;
  /** SUBJECT_MAX_STORED_BYTES, or `max_stored_bytes`: finished uploads still stored plus unfinished ones. */
  storedBytes?: number;
}

export type QuotaName = keyof QuotaLimits;

/** Each quota's setting and token claim, and what it counts. */
export const QUOTA_SETTINGS: Readonly<Record<QuotaName, { variable: string; claim: string; counts: string }>> = {
  activeUploads: { variable: "SUBJECT_MAX_ACTIVE_UPLOADS", claim: "max_active_uploads", counts: "unfinished uploads" },
  activeBytes: { variable: "SUBJECT_MAX_ACTIVE_BYTES", claim: "max_active_bytes", counts: "bytes of unfinished uploads" },
  storedBytes: { variable: "SUBJECT_MAX_STORED_BYTES", claim: "max_stored_bytes", counts: "bytes stored (finished uploads still kept, plus unfinished ones)" },
};

export const QUOTA_NAMES = Object.keys(QUOTA_SETTINGS) as QuotaName[];

/** Whether any quota applies. */
export function hasQuotas(limits: QuotaLimits): boolean {
  return QUOTA_NAMES.some((quota) => limits[quota] !== undefined);
}
