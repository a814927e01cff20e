import { askFinishingHooks, DEFAULT_REJECT_STATUS, HookUnanswered, type FinishingHooks, type FinishingQuestion } from "../../hooks/pre-finish";
import type { Telemetry } from "../../observability";
import { endUpload } from "./lifecycle";
import { awaitsConfirmation, type Confirmation, type UploadRecord } from "../upload-record";
import type { UploadStore } from "../storage/upload-store";
import type { WriteBuffers } from "../writing/write-buffers";

/**
 * The step between "the object is complete" and "the upload is finished"
 * when a pre-finish hook is configured: the hook decides (accept, answer the
 * client, or reject), and only then is the upload finished for anyone
 * (`finished` event, downloads, concatenation). A hook that gives no
 * decision is asked again with back-off, from 1 s doubling to 5 minutes,
 * until PRE_FINISH_HOOK_GIVE_UP_SECONDS after the object was completed;
 * then the fallback rule decides, so no upload waits forever.
 */
export const CONFIRM_RETRY_FIRST_MS = 1000;
export const CONFIRM_RETRY_MAX_MS = 5 * 60_000;

export interface ConfirmationPolicy {
  preFinishGiveUpMs: number;
  preFinishFallback: "accept" | "reject";
  preFinishRejectDeletesObject: boolean;
}

export interface ConfirmationDeps {
  store: UploadStore;
  bucket: R2Bucket;
  buffers: WriteBuffers;
  hooks: FinishingHooks;
  policy: ConfirmationPolicy;
  telemetry: Telemetry;
  now: () => number;
}

/** When the hook is next asked about an upload awaiting it, if it is: at once the first time, then with back-off, never after the fallback's time. */
export function confirmationRetryAt(record: UploadRecord | undefined, policy: ConfirmationPolicy, now: number): number | undefined {
  if (!record || !awaitsConfirmation(record)) return undefined;
  const { since, attempts, lastAttemptAt } = record.confirmation;
  const giveUpAt = since + policy.preFinishGiveUpMs;
  if (attempts === 0 || lastAttemptAt === undefined) return Math.min(now, giveUpAt);
  return Math.min(lastAttemptAt + Math.min(CONFIRM_RETRY_FIRST_MS * 2 ** (attempts - 1), CONFIRM_RETRY_MAX_MS), giveUpAt);
}

/** The same key on every call about one upload, so the hook can tell a retry from a new upload. */
export function idempotencyKeyOf(uploadId: string): string {
  return `pre-finish:${uploadId}`;
}

/**
 * Asks the hook about an upload awaiting it and records the decision:
 * accepted or answered (the upload is finished), or rejected (it ends, its
 * object deleted if so configured). When the hook gives none, the failure
 * is counted and the upload stays as it was; past the give-up time the
 * fallback decides instead of the hook. Returns the upload as it is now.
 */
export async function confirmFinish(deps: ConfirmationDeps, record: UploadRecord & { confirmation: { state: "pending" } }): Promise<UploadRecord> {
  const { store, policy, telemetry, now } = deps;
  const { since, attempts } = record.confirmation;
  if (now() >= since + policy.preFinishGiveUpMs) {
    const waited = `no decision from the pre-finish hook within ${Math.round(policy.preFinishGiveUpMs / 1000)} s`;
    telemetry.preFinishHookFailed(record, attempts, new Error(`${waited}; PRE_FINISH_HOOK_FALLBACK=${policy.preFinishFallback}`), true);
    if (policy.preFinishFallback === "accept") {
      store.markConfirmed({ state: "accepted" });
    } else {
      await reject(deps, record, { state: "rejected", status: DEFAULT_REJECT_STATUS, message: `${waited}: this server rejects such uploads` });
    }
    return store.load()!;
  }
  let decision;
  try {
    decision = await askFinishingHooks(questionOf(record, attempts + 1), deps.hooks);
  } catch (error) {
    if (!(error instanceof HookUnanswered)) throw error;
    store.confirmationFailed(now());
    telemetry.preFinishHookFailed(record, attempts + 1, error, false);
    return store.load()!;
  }
  switch (decision.kind) {
    case "accept":
      store.markConfirmed({ state: "accepted" });
      break;
    case "answer":
      store.markConfirmed({ state: "answered", answer: decision.answer });
      break;
    case "reject":
      await reject(deps, record, { state: "rejected", status: decision.status, message: decision.message });
      break;
  }
  return store.load()!;
}

async function reject(deps: ConfirmationDeps, record: UploadRecord, rejection: Extract<Confirmation, { state: "rejected" }>): Promise<void> {
  await endUpload(deps, record, "rejected", deps.policy.preFinishRejectDeletesObject, rejection);
}

function questionOf(record: UploadRecord, attempt: number): FinishingQuestion {
  return {
    type: "pre-finish",
    idempotencyKey: idempotencyKeyOf(record.id),
    attempt,
    upload: {
      id: record.id,
      objectKey: record.objectKey,
      size: record.offset,
      metadata: Object.fromEntries(record.metadata),
      subject: record.owner,
      concat: record.concat?.kind,
    },
  };
}
