import type { StoredPart } from "./storage/upload-store";
import type { Confirmation, UploadRecord } from "./upload-record";
import { decodeMetadataValue, indexRecordOf, type IndexedState } from "./index-record";

/**
 * One upload as its Durable Object holds it, for an administrator: the
 * truth the index may trail. Plain JSON, so it crosses the Durable Object
 * boundary and is the admin API's answer as it is.
 */
export interface UploadInspection {
  id: string;
  /** The token subject that owns it; null for an upload made in open mode. */
  owner: string | null;
  state: IndexedState;
  offset: number;
  length: number | null;
  partSize: number;
  /** R2 parts already uploaded (for an unfinished upload). */
  partsStored: number;
  partBytes: number;
  /** Bytes kept in the Durable Object that do not fill a part yet. */
  tailBytes: number;
  multipartId: string | null;
  objectKey: string;
  /** Decoded text (tus sends Base64). */
  metadata: Record<string, string>;
  created: string;
  finished: string | null;
  expires: string | null;
  /** Outbox entries (events, index records) not yet delivered. */
  undeliveredEvents: { type: string; attempts: number; occurredAt: string }[];
  /** With a pre-finish hook, once the object is complete: awaiting its decision (attempts so far), or what it decided. */
  preFinish: Confirmation | null;
}

export interface InspectionFacts {
  parts: StoredPart[];
  tailBytes: number;
  expiresAt: number | undefined;
  undelivered: { type: string; attempts: number; occurredAt: string }[];
}

export function inspectionOf(record: UploadRecord, facts: InspectionFacts): UploadInspection {
  return {
    id: record.id,
    owner: record.owner ?? null,
    state: indexRecordOf(record, Date.now()).state,
    offset: record.offset,
    length: record.length ?? null,
    partSize: record.partSize,
    partsStored: facts.parts.length,
    partBytes: facts.parts.reduce((sum, part) => sum + part.size, 0),
    tailBytes: facts.tailBytes,
    multipartId: record.multipartId ?? null,
    objectKey: record.objectKey,
    metadata: Object.fromEntries([...record.metadata].map(([key, value]) => [key, decodeMetadataValue(value)])),
    created: new Date(record.createdAt).toISOString(),
    finished: record.finishedAt === undefined ? null : new Date(record.finishedAt).toISOString(),
    expires: facts.expiresAt === undefined ? null : new Date(facts.expiresAt).toISOString(),
    undeliveredEvents: facts.undelivered,
    preFinish: record.confirmation ?? null,
  };
}
