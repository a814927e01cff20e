import type { IndexedState } from "./index-record";
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
 * One page of uploads, newest first. `owner` limits it to one subject's
 * uploads (a subject's own listing); undefined lists everyone's (administrators).
 */
export async function queryIndex(db: D1Database, query: ListQuery, owner: string | undefined): Promise<IndexPage> {
  const where: string[] = [];
  const values: (string | number)[] = [];
  const add = (clause: string, ...params: (string | number)[]) => {
    where.push(clause);
    values.push(...params);
  };
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
  const { results } = await db.prepare(sql).bind(...values, query.limit + 1).all<IndexRow>();
  const rows = results.slice(0, query.limit);
  const last = rows[rows.length - 1];
  return { rows, next: results.length > query.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : undefined };
}
