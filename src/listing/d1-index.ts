import type { IndexRecord } from "../upload/index-record";
import type { ListQuery } from "./list-query";
import { pageOf, pageStatement, purgeStatement, upsertStatement, type IndexPage, type IndexRow, type RetentionCutoff, type Statement } from "./index-table";

/**
 * Administration's index across all subjects: a D1 database bound as
 * `INDEX` (migrations/), optional. It receives only what a cross-subject
 * listing needs, the records that change an upload's state (created,
 * finished, ended), batched by each subject's index (src/subjects), never
 * progress: D1 runs one query at a time, so every upload's every PATCH
 * would queue behind each other there.
 */

function prepared(db: D1Database, statement: Statement): D1PreparedStatement {
  return db.prepare(statement.sql).bind(...statement.params);
}

/** Writes records in one batch (one round trip, one transaction); throws on any D1 failure, so the caller retries all. */
export async function writeIndexRecords(db: D1Database, records: readonly IndexRecord[]): Promise<void> {
  if (records.length) await db.batch(records.map((record) => prepared(db, upsertStatement(record))));
}

/**
 * One page of every subject's uploads (or one subject's, with `?subject=`),
 * newest first. Ended uploads past their retention are neither listed nor
 * kept: up to PURGE_BATCH of their rows are deleted in the same batch,
 * before the page is read.
 */
export async function queryD1Index(db: D1Database, query: ListQuery, cutoff: RetentionCutoff): Promise<IndexPage> {
  const select = prepared(db, pageStatement(query, undefined, cutoff));
  if (cutoff === undefined) return pageOf((await select.all<IndexRow>()).results, query.limit);
  const [, page] = await db.batch<IndexRow>([prepared(db, purgeStatement(cutoff)), select]);
  return pageOf(page!.results, query.limit);
}
