import { MiB } from "../../src/r2-limits";
import type { UploadRecord } from "../../src/upload/upload-record";

/** No size limit (for `checkAppend`'s `lengthLimit`). */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** An upload's record for the rules that read it: by default 100 bytes long, 40 received, not finished. */
export function uploadRecord(overrides: Partial<UploadRecord> = {}): UploadRecord {
  return {
    id: "AAAAAAAAAAAAAAAAAAAAAA",
    objectKey: "uploads/AAAAAAAAAAAAAAAAAAAAAA",
    length: 100,
    partSize: 8 * MiB,
    offset: 40,
    metadata: new Map(),
    contentType: "application/octet-stream",
    contentDisposition: "attachment",
    createdAt: 0,
    multipartId: undefined,
    finishedAt: undefined,
    expiresAt: undefined,
    ended: undefined,
    ...overrides,
  };
}
