import { ENDED_STATES, filenameOf, type IndexedState, type IndexRecord } from "../upload/index-record";
import { encodeCursor, type ListQuery } from "./list-query";

/**
 * The upload index's table, one row per upload, in SQL that both of its
 * homes run: each subject's index (a Durable Object's SQLite,
 * src/subjects) and administration's cross-subject copy (D1, migrations/).
 * Both are SQLite, so one statement serves both; each home runs it with
 * its own driver.
 */

/** A row of the index (migrations/0001_uploads.sql). */
export interface IndexRow {
  id: string;
  subject: string | null;
  state: IndexedState;
  offset_bytes: number;
  length: number | null;
  metadata: string;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
  finished_at: number | null;
  version: number;
}

/** A statement and its parameters, for whichever driver runs it. */
export interface Statement {
  sql: string;
  params: (string | number | null)[];
}

/** `state IN (…)` of the ended states. */
export const ENDED_STATES_SQL = `(${ENDED_STATES.map((state) => `'${state}'`).join(", ")})`;

/** The columns a listing reads. */
export const ROW_COLUMNS = "id, subject, state, offset_bytes, length, metadata, created_at, updated_at, expires_at, finished_at, version";

/**
 * Insert or move forward. Subject and creation time never change after the
 * first record; metadata neither, until the upload ends, when it is cleared
 * (file names are personal data, and an ended upload has no file to name).
 * A length once known stays known. A record older than the row (a
 * redelivery, or one overtaken) changes nothing.
 */
export function upsertStatement(record: IndexRecord): Statement {
  return {
    sql: `
      INSERT INTO uploads (id, subject, state, offset_bytes, length, metadata, filename, object_key, created_at, updated_at, expires_at, finished_at, version)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
      ON CONFLICT (id) DO UPDATE SET
        state = excluded.state,
        metadata = CASE WHEN excluded.state IN ${ENDED_STATES_SQL} THEN '{}' ELSE excluded.metadata END,
        filename = CASE WHEN excluded.state IN ${ENDED_STATES_SQL} THEN NULL ELSE excluded.filename END,
        object_key = excluded.object_key,
        offset_bytes = excluded.offset_bytes,
        length = COALESCE(excluded.length, uploads.length),
        created_at = excluded.created_at,
        updated_at = excluded.updated_at,
        expires_at = excluded.expires_at,
        finished_at = COALESCE(excluded.finished_at, uploads.finished_at),
        version = excluded.version
      WHERE excluded.version >= uploads.version`,
    params: [
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
    ],
  };
}

/**
 * Rows of ended uploads last changed before this time are past
 * INDEX_RETENTION_SECONDS; undefined: kept for good.
 */
export type RetentionCutoff = number | undefined;

/**
 * One page of uploads, newest first, one more than the limit (to tell
 * whether a next page exists: `pageOf`). `owner` limits it to one
 * subject's uploads; undefined lists everyone's (administrators, in D1).
 * Ended uploads past their retention are not listed; rows of a negative
 * version (a quota's reservation the upload has not confirmed yet) neither.
 */
export function pageStatement(query: ListQuery, owner: string | undefined, cutoff: RetentionCutoff): Statement {
  const where: string[] = ["version >= 0"];
  const params: (string | number)[] = [];
  const add = (clause: string, ...values: (string | number)[]) => {
    where.push(clause);
    params.push(...values);
  };
  if (cutoff !== undefined) add(`NOT (state IN ${ENDED_STATES_SQL} AND updated_at < ?)`, cutoff);
  const subject = owner ?? query.subject;
  if (subject !== undefined) add("subject = ?", subject);
  if (query.state !== undefined) add("state = ?", query.state);
  if (query.filename !== undefined) add("filename = ?", query.filename);
  if (query.createdBefore !== undefined) add("created_at < ?", query.createdBefore);
  if (query.createdAfter !== undefined) add("created_at > ?", query.createdAfter);
  if (query.minSize !== undefined) add("COALESCE(length, offset_bytes) >= ?", query.minSize);
  if (query.cursor) add("(created_at < ? OR (created_at = ? AND id < ?))", query.cursor.createdAt, query.cursor.createdAt, query.cursor.id);
  return {
    sql: `SELECT ${ROW_COLUMNS} FROM uploads WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ?`,
    params: [...params, query.limit + 1],
  };
}

export interface IndexPage {
  rows: IndexRow[];
  /** The cursor of the next page; undefined on the last. */
  next: string | undefined;
}

/** The page of `pageStatement`'s result: at most `limit` rows, and the cursor after them if there are more. */
export function pageOf(results: IndexRow[], limit: number): IndexPage {
  const rows = results.slice(0, limit);
  const last = rows[rows.length - 1];
  return { rows, next: results.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : undefined };
}

/**
 * At most this many expired rows are deleted at a time, so one listing or
 * alarm after a long quiet spell stays quick; the rest go with the next.
 */
export const PURGE_BATCH = 500;

/** Deletes up to PURGE_BATCH rows of ended uploads past their retention. */
export function purgeStatement(cutoff: number): Statement {
  return {
    sql: `DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE state IN ${ENDED_STATES_SQL} AND updated_at < ? LIMIT ${PURGE_BATCH})`,
    params: [cutoff],
  };
}
