import type { IndexedState } from "../upload/index-record";
import { ENDED_STATES_SQL } from "./index-writer";
import { encodeCursor, type ListQuery } from "./list-query";

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
}

export interface IndexPage {
  rows: IndexRow[];
  /** The cursor of the next page; undefined on the last. */
  next: string | undefined;
}

/**
 * Rows of ended uploads last changed before this time are past
 * INDEX_RETENTION_SECONDS; undefined: kept for good.
 */
export type RetentionCutoff = number | undefined;

/**
 * One page of uploads, newest first. `owner` limits it to one subject's
 * uploads (a subject's own listing); undefined lists everyone's (administrators).
 * Ended uploads past their retention are neither listed nor kept: the rows
 * are deleted in the same batch, before the page is read.
 */
export async function queryIndex(db: D1Database, query: ListQuery, owner: string | undefined, cutoff: RetentionCutoff): Promise<IndexPage> {
  const where: string[] = [];
  const values: (string | number)[] = [];
  const add = (clause: string, ...params: (string | number)[]) => {
    where.push(clause);
    values.push(...params);
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
  const sql =
    "SELECT id, subject, state, offset_bytes, length, metadata, created_at, updated_at, expires_at, finished_at FROM uploads" +
    (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
    " ORDER BY created_at DESC, id DESC LIMIT ?";
  const select = db.prepare(sql).bind(...values, query.limit + 1);
  const results = cutoff === undefined ? (await select.all<IndexRow>()).results : await purgeThenRead(db, cutoff, select);
  const rows = results.slice(0, query.limit);
  const last = rows[rows.length - 1];
  return { rows, next: results.length > query.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : undefined };
}

/**
 * At most this many expired rows are deleted per listing, so one listing
 * after a long quiet spell stays quick; the rest go with the next ones (and
 * are never listed meanwhile).
 */
const PURGE_BATCH = 500;

async function purgeThenRead(db: D1Database, cutoff: number, select: D1PreparedStatement): Promise<IndexRow[]> {
  const purge = db
    .prepare(`DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE state IN ${ENDED_STATES_SQL} AND updated_at < ? LIMIT ${PURGE_BATCH})`)
    .bind(cutoff);
  const [, page] = await db.batch<IndexRow>([purge, select]);
  return page!.results;
}
