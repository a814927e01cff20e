import { TusError } from "../errors";
import { QUOTA_SETTINGS, type QuotaLimits, type QuotaName } from "../quotas";

/**
 * Quotas per subject, as the upload layer sees them: before an upload of a
 * subject with quotas is stored, its Durable Object asks the subject's index
 * (src/subjects, wired in by the gateway, which this layer does not import)
 * to reserve room for it, and stores nothing if refused.
 */

/** What a subject uses, by quota. */
export interface QuotaUsage {
  activeUploads: number;
  activeBytes: number;
  storedBytes: number;
}

/** Room asked for one new upload. */
export interface QuotaRequest {
  uploadId: string;
  /** Undefined while deferred. */
  length: number | undefined;
  /** The most the upload may ever hold (its size limit): what a deferred length may grow to. */
  sizeLimit: number;
  limits: QuotaLimits;
}

export type QuotaAnswer =
  /** `bytes`: what the upload counts for until its length is known (its length, when known). */
  | { granted: true; bytes: number }
  | { granted: false; quota: QuotaName; limit: number; used: number; requested: number };

export type QuotaRefusal = Extract<QuotaAnswer, { granted: false }>;

/** Reserves room for an upload in its subject's quotas, or answers why not; throws when the subject's index cannot be reached. */
export interface QuotaGate {
  reserve(subject: string, request: QuotaRequest): Promise<QuotaAnswer>;
  /** Gives back a reservation whose upload was not stored after all. */
  release(subject: string, uploadId: string): Promise<void>;
}

/** The client's answer to a refusal: which quota, its limit, what the subject uses, and what to do. */
export function quotaExceededError(refusal: QuotaRefusal): TusError {
  const { variable, claim, counts } = QUOTA_SETTINGS[refusal.quota];
  const asked = refusal.quota === "activeUploads" ? "" : `, and this upload needs ${refusal.requested} more`;
  return new TusError(
    "quota-exceeded",
    `quota exceeded: ${variable} (token claim ${claim}) allows ${refusal.limit} ${counts} per subject; this subject has ${refusal.used}${asked}. ` +
      "Nothing was created: finish, terminate or delete uploads first, or ask for a larger quota",
  );
}
