/**
 * The upload row (table `upload`): the upload's identity and state, read as
 * an UploadRecord and changed one field at a time. While the upload is live
 * its `offset` column is not kept (the byte ledger counts it); once it is
 * finished or ended the column holds the offset.
 */
import type { Concatenation, Confirmation, NewUpload, UploadEnd, UploadMetadata, UploadRecord } from "../upload-record";

interface UploadRowValues extends Record<string, SqlStorageValue> {
  id: string;
  object_key: string;
  length: number | null;
  part_size: number;
  offset: number;
  metadata: string;
  content_type: string;
  content_disposition: string;
  multipart_id: string | null;
  created_at: number;
  finished_at: number | null;
  expires_at: number | null;
  ended: string | null;
  concat: string | null;
  owner: string | null;
  size_limit: number | null;
  tail_size: number;
  completion_failures: number;
  completion_failed_at: number | null;
  confirmation: string | null;
}

/** Failed attempts at completing the upload's object (storage faults), for the retries' back-off. */
export interface CompletionFailures {
  count: number;
  /** When the latest one failed. */
  lastAt: number | undefined;
}

export class UploadRow {
  constructor(private readonly sql: SqlStorage) {}

  insert(upload: NewUpload, expiresAt: number | undefined): void {
    this.sql.exec(
      `INSERT INTO upload (id, object_key, length, part_size, offset, metadata, content_type, content_disposition, created_at, concat, owner, size_limit, expires_at)
       VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`,
      upload.id,
      upload.objectKey,
      upload.length ?? null,
      upload.partSize,
      JSON.stringify([...upload.metadata]),
      upload.contentType,
      upload.contentDisposition,
      upload.createdAt,
      upload.concat ? JSON.stringify(upload.concat) : null,
      upload.owner ?? null,
      upload.sizeLimit ?? null,
      expiresAt ?? null,
    );
  }

  /**
   * The upload as stored; `liveOffset` gives the offset while it is live
   * (the byte ledger's count), from the tail's size this row holds: no
   * second read of the row for it (rows read are billed).
   */
  read(liveOffset: (tailSize: number) => number): UploadRecord | undefined {
    const row = this.sql.exec<UploadRowValues>("SELECT * FROM upload LIMIT 1").toArray()[0];
    return row && toRecord(row, isLive(row) ? liveOffset(row.tail_size) : row.offset);
  }

  setLength(length: number): void {
    this.sql.exec("UPDATE upload SET length = ?", length);
  }

  /** Only before the first byte is stored (see `partSizeForChunk`). */
  setPartSize(partSize: number): void {
    this.sql.exec("UPDATE upload SET part_size = ?", partSize);
  }

  setMultipartId(multipartId: string): void {
    this.sql.exec("UPDATE upload SET multipart_id = ?", multipartId);
  }

  setConcat(concat: Concatenation): void {
    this.sql.exec("UPDATE upload SET concat = ?", JSON.stringify(concat));
  }

  setExpiry(expiresAt: number | undefined): void {
    this.sql.exec("UPDATE upload SET expires_at = ?", expiresAt ?? null);
  }

  setConfirmation(confirmation: Confirmation): void {
    this.sql.exec("UPDATE upload SET confirmation = ?", JSON.stringify(confirmation));
  }

  completionFailed(at: number): void {
    this.sql.exec("UPDATE upload SET completion_failures = completion_failures + 1, completion_failed_at = ?", at);
  }

  clearCompletionFailures(): void {
    this.sql.exec("UPDATE upload SET completion_failures = 0, completion_failed_at = NULL");
  }

  completionFailures(): CompletionFailures {
    const row = this.sql
      .exec<{ count: number; lastAt: number | null }>("SELECT completion_failures AS count, completion_failed_at AS lastAt FROM upload")
      .toArray()[0];
    return { count: row?.count ?? 0, lastAt: row?.lastAt ?? undefined };
  }

  /**
   * The upload leaves the live state finished: the offset it reached is
   * stored with the rest of the finish in one statement (each UPDATE of the
   * row is billed as a row written).
   */
  markFinished(offset: number, finishedAt: number, confirmation: Confirmation | undefined): void {
    this.sql.exec(
      "UPDATE upload SET offset = ?, finished_at = ?, multipart_id = NULL, expires_at = NULL, tail_size = 0, confirmation = ?",
      offset,
      finishedAt,
      confirmation ? JSON.stringify(confirmation) : null,
    );
  }

  /** The upload leaves the live state ended: only a tombstone remains, with the offset it reached and no metadata. */
  markEnded(reason: UploadEnd, offset: number): void {
    // The offset is stored only for an upload that was live: a finished one has stored its own.
    this.sql.exec("UPDATE upload SET offset = ? WHERE finished_at IS NULL AND ended IS NULL", offset);
    this.sql.exec("UPDATE upload SET ended = ?, metadata = '[]', multipart_id = NULL, expires_at = NULL, concat = NULL, tail_size = 0", reason);
  }
}

/** Neither finished nor ended: the offset is what the parts and the tail hold, not the stored column. */
function isLive(row: UploadRowValues): boolean {
  return row.finished_at === null && row.ended === null;
}

function toRecord(row: UploadRowValues, offset: number): UploadRecord {
  return {
    id: row.id,
    objectKey: row.object_key,
    length: row.length ?? undefined,
    partSize: row.part_size,
    offset,
    metadata: new Map(JSON.parse(row.metadata) as [string, string][]) as UploadMetadata,
    contentType: row.content_type,
    contentDisposition: row.content_disposition,
    multipartId: row.multipart_id ?? undefined,
    createdAt: row.created_at,
    finishedAt: row.finished_at ?? undefined,
    expiresAt: row.expires_at ?? undefined,
    ended: (row.ended as UploadEnd | null) ?? undefined,
    concat: row.concat ? (JSON.parse(row.concat) as Concatenation) : undefined,
    owner: row.owner ?? undefined,
    sizeLimit: row.size_limit ?? undefined,
    confirmation: row.confirmation ? (JSON.parse(row.confirmation) as Confirmation) : undefined,
  };
}
