import type { IndexedState } from "./indexed-state";
import type { UploadRecord } from "./upload-record";

/**
 * What the upload index holds of one upload, as its Durable Object writes
 * it into its outbox (storage/outbox.ts): beside an upload event (created,
 * finished, terminated, expired, failed) or as a coalesced progress record.
 * The record is the upload layer's own; the index that keeps it
 * (src/listing) only reads it. Delivered at least once, so writing it is an
 * upsert by upload id that only ever moves the row forward (see `versionOf`).
 */

export type { IndexedState };

export const INDEXED_STATES: readonly IndexedState[] = ["unfinished", "finished", "terminated", "expired", "failed"];

/** States of an upload that has ended: its metadata is cleared, and its row removed after INDEX_RETENTION_SECONDS. */
export const ENDED_STATES: readonly IndexedState[] = ["terminated", "expired", "failed"];

export interface IndexRecord {
  id: string;
  subject: string | undefined;
  state: IndexedState;
  offset: number;
  length: number | undefined;
  /** As the client sent it (tus: Base64 values). */
  metadata: Record<string, string>;
  objectKey: string;
  createdAt: number;
  updatedAt: number;
  /** An unfinished upload's idle expiry; a finished one's follows from finishedAt and the policy. */
  expiresAt: number | undefined;
  finishedAt: number | undefined;
  version: number;
}

/** Every offset fits below this (R2's largest object is under 5 TiB = 2^42.2). */
const OFFSET_SPAN = 2 ** 44;
const STATE_RANK: Record<IndexedState, number> = { unfinished: 0, finished: 1, terminated: 2, expired: 2, failed: 2 };

/**
 * An upload only moves forward: its offset grows while it is unfinished, and
 * its state goes from unfinished to finished to ended, never back. So (state
 * rank, offset) orders its records without a stored counter, and an older
 * record redelivered after a newer one has a smaller version and is ignored.
 */
export function versionOf(state: IndexedState, offset: number): number {
  return STATE_RANK[state] * OFFSET_SPAN + offset;
}

/**
 * The index record of an upload as it is now, in the transaction that
 * changed it; `ending` names the state an ending brings it to, when the
 * record is taken just before the row says so.
 */
export function indexRecordOf(record: UploadRecord, now: number, ending?: IndexedState): IndexRecord {
  const state: IndexedState = ending ?? currentState(record);
  return {
    id: record.id,
    subject: record.owner,
    state,
    offset: record.offset,
    length: record.length,
    // An ended upload keeps no file names: its record says only that it ended.
    metadata: ENDED_STATES.includes(state) ? {} : Object.fromEntries(record.metadata),
    objectKey: record.objectKey,
    createdAt: record.createdAt,
    updatedAt: now,
    expiresAt: state === "unfinished" ? record.expiresAt : undefined,
    finishedAt: record.finishedAt,
    version: versionOf(state, record.offset),
  };
}

function currentState(record: UploadRecord): IndexedState {
  if (record.ended === "object-exists" || record.ended === "rejected") return "failed";
  if (record.ended) return record.ended;
  // Awaiting the pre-finish hook's decision is not finished yet.
  return record.finishedAt !== undefined && record.confirmation?.state !== "pending" ? "finished" : "unfinished";
}

/** The file name an app would show: tus clients send `filename` (tus-js-client, Uppy) or `name`. */
export function filenameOf(metadata: Record<string, string>): string | undefined {
  const value = metadata.filename ?? metadata.name;
  return value === undefined ? undefined : decodeMetadataValue(value);
}

/**
 * A tus metadata value is Base64; an app wants the text. A value that is not
 * Base64 of UTF-8 text is shown as sent.
 */
export function decodeMetadataValue(value: string): string {
  try {
    const bytes = Uint8Array.from(atob(value), (char) => char.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return value;
  }
}
