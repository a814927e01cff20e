/**
 * The tables of one upload in its Durable Object's SQLite storage, and how
 * those of an earlier version are brought up to date. The tables are created
 * with the upload: an object that holds none has no upload, and reading it
 * writes nothing.
 *
 *   upload  one row: identity, length, metadata, R2 multipart id, expiry,
 *           concatenation, size limit, the tail's size, failed completions,
 *           the pre-finish hook's decision (`confirmation`), and the offset
 *           once the upload is finished or ended; after termination, expiry,
 *           a refused completion or a rejection only a tombstone (`ended`)
 *           so that later requests get 410 (409, or the rejection's status)
 *           — upload-row.ts
 *   part    R2 parts already uploaded (number, etag, size); each number once
 *   tail    bytes that arrived but do not yet fill a part — byte-ledger.ts
 *   event   the outbox: entries not yet delivered — outbox.ts
 */
export const PART_TABLE = "CREATE TABLE IF NOT EXISTS part (number INTEGER PRIMARY KEY, etag TEXT NOT NULL, size INTEGER NOT NULL)";

export function tablesExist(sql: SqlStorage): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'upload'").toArray().length > 0;
}

/** The tables of an upload; only when one is created. */
export function createTables(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS upload (
      id TEXT PRIMARY KEY,
      object_key TEXT NOT NULL,
      length INTEGER,
      part_size INTEGER NOT NULL,
      offset INTEGER NOT NULL,
      metadata TEXT NOT NULL,
      content_type TEXT NOT NULL,
      content_disposition TEXT NOT NULL,
      multipart_id TEXT,
      created_at INTEGER NOT NULL,
      finished_at INTEGER,
      expires_at INTEGER,
      ended TEXT,
      concat TEXT,
      owner TEXT,
      size_limit INTEGER,
      tail_size INTEGER NOT NULL DEFAULT 0,
      completion_failures INTEGER NOT NULL DEFAULT 0,
      completion_failed_at INTEGER,
      confirmation TEXT
    );
    ${PART_TABLE};
    CREATE TABLE IF NOT EXISTS tail (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL, pending INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS event (id TEXT PRIMARY KEY, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL);
  `);
}

/** Brings the tables of an upload stored by an earlier version up to date. */
export function migrateTables(storage: DurableObjectStorage): void {
  const { sql } = storage;
  const columns = sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('upload')").toArray();
  // Uploads stored before the size limit was recorded: the column is added, empty.
  if (!columns.some((column) => column.name === "size_limit")) sql.exec("ALTER TABLE upload ADD COLUMN size_limit INTEGER");
  // Uploads stored before the tail's size was kept: counted once from the rows.
  if (!columns.some((column) => column.name === "tail_size")) {
    storage.transactionSync(() => {
      sql.exec("ALTER TABLE upload ADD COLUMN tail_size INTEGER NOT NULL DEFAULT 0");
      sql.exec("UPDATE upload SET tail_size = (SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM tail WHERE pending = 0)");
    });
  }
  // Uploads stored before failed completions were counted: none counted yet.
  if (!columns.some((column) => column.name === "completion_failures")) {
    sql.exec("ALTER TABLE upload ADD COLUMN completion_failures INTEGER NOT NULL DEFAULT 0");
    sql.exec("ALTER TABLE upload ADD COLUMN completion_failed_at INTEGER");
  }
  // Uploads stored before the pre-finish hook: none awaits it.
  if (!columns.some((column) => column.name === "confirmation")) sql.exec("ALTER TABLE upload ADD COLUMN confirmation TEXT");
}
