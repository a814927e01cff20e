-- Ended uploads (terminated, expired, failed) by when they last changed: the
-- rows past INDEX_RETENTION_SECONDS are found and deleted by listing
-- (src/listing/index-table.ts, d1-index.ts) without scanning the table.
CREATE INDEX uploads_ended_by_update ON uploads (state, updated_at);
