import { ENDED_STATES, filenameOf, type IndexRecord } from "../upload/index-record";

/**
 * Writes the upload layer's index records (upload/index-record.ts) into the
 * upload index's D1 database (migrations/), for listing and administration.
 */

/** `state IN (…)` of the ended states, for SQL. */
export const ENDED_STATES_SQL = `(${ENDED_STATES.map((state) => `'${state}'`).join(", ")})`;

/**
 * Insert or move forward. Subject and creation time never change after the
 * first record; metadata neither, until the upload ends, when it is cleared
 * (file names are personal data, and an ended upload has no file to name).
 * A length once known stays known.
 */
const UPSERT = `
  INSERT INTO uploads (id, subject, state, offset_bytes, length, metadata, filename, object_key, created_at, updated_at, expires_at, finished_at, version)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
  ON CONFLICT (id) DO UPDATE SET
    state = excluded.state,
    metadata = CASE WHEN excluded.state IN ${ENDED_STATES_SQL} THEN '{}' ELSE uploads.metadata END,
    filename = CASE WHEN excluded.state IN ${ENDED_STATES_SQL} THEN NULL ELSE uploads.filename END,
    offset_bytes = excluded.offset_bytes,
    length = COALESCE(excluded.length, uploads.length),
    updated_at = excluded.updated_at,
    expires_at = excluded.expires_at,
    finished_at = COALESCE(excluded.finished_at, uploads.finished_at),
    version = excluded.version
  WHERE excluded.version >= uploads.version`;

/** Writes one record into the index; throws on any D1 failure, so the outbox retries it. */
export async function writeIndexRecord(db: D1Database, record: IndexRecord): Promise<void> {
  await db
    .prepare(UPSERT)
    .bind(
      record.id,
      record.subject ?? null,
      record.state,
      record.offset,
      record.length ?? null,
      JSON.stringify(record.metadata),
      filenameOf(record.metadata) ?? null,
      record.objectKey,
      record.createdAt,
      record.updatedAt,
      record.expiresAt ?? null,
      record.finishedAt ?? null,
      record.version,
    )
    .run();
}
