-- Administration's index across subjects (docs/listing.md): one row per upload,
-- fed by each subject's index (src/subjects) with the records that change an
-- upload's state, batched. The upload's Durable Object stays the truth (HEAD);
-- this copy may trail it by seconds, and shows no progress between them.
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  -- The token subject that owns the upload; NULL for uploads made in open mode.
  subject TEXT,
  -- unfinished, finished, terminated, expired or failed.
  state TEXT NOT NULL,
  offset_bytes INTEGER NOT NULL,
  -- NULL while the length is deferred.
  length INTEGER,
  -- Metadata as the client sent it: a JSON object of key to value (tus: Base64).
  metadata TEXT NOT NULL,
  -- The `filename` (or `name`) metadata value, decoded, for the filename filter.
  filename TEXT,
  object_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  finished_at INTEGER,
  -- Orders the records of one upload: a redelivered older record never
  -- replaces a newer one (src/upload/index-record.ts).
  version INTEGER NOT NULL
);

-- A subject's own uploads, newest first (the cursor is created_at, id).
CREATE INDEX uploads_by_subject ON uploads (subject, created_at DESC, id DESC);
-- Every upload, newest first (administration).
CREATE INDEX uploads_by_created ON uploads (created_at DESC, id DESC);
