import type { GatewayConfig } from "../../config";
import { checkMetadataLimits } from "../shared/limits";
import { encodeMetadataText, parseUploadMetadata, serializeUploadMetadata, type UploadMetadata } from "../shared/metadata";

/**
 * An upload's metadata from a creation request of this dialect. The drafts
 * carry it in ordinary headers: `Content-Type` is the file's media type and
 * `Content-Disposition` may name the file. tus-js-client in its IETF modes
 * sends tus `Upload-Metadata` instead; when present, that is used as in tus.
 * Either way it becomes the same `filename` and `filetype` entries, so an
 * upload reads the same in both dialects, and the same limits hold.
 */
export function creationMetadata(headers: Headers, config: GatewayConfig): UploadMetadata {
  const header = headers.get("Upload-Metadata");
  if (header !== null) {
    const metadata = parseUploadMetadata(header);
    checkMetadataLimits(header, metadata, config);
    return metadata;
  }
  const values: Record<string, string> = {};
  const filename = filenameOf(headers.get("Content-Disposition"));
  if (filename) values.filename = filename;
  const type = headers.get("Content-Type")?.trim();
  // A PATCH-style media type names the framing, not the file.
  if (type && !/^application\/partial-upload\b/i.test(type)) values.filetype = type;
  const metadata = encodeMetadataText(values);
  checkMetadataLimits(serializeUploadMetadata(metadata), metadata, config);
  return metadata;
}

/**
 * The file name of a `Content-Disposition` value (RFC 6266): `filename*`
 * (RFC 8187, UTF-8) when present and well-formed, else `filename`, quoted or
 * a token. Only the last path segment is kept; a malformed value names no file.
 */
export function filenameOf(value: string | null): string | undefined {
  if (!value) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*UTF-8'[^']*'([^;\s]+)/i.exec(value);
  let name: string | undefined;
  if (extended) {
    try {
      name = decodeURIComponent(extended[1]!);
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s"]+))/i.exec(value);
    name = plain ? (plain[1]?.replace(/\\(.)/g, "$1") ?? plain[2]) : undefined;
  }
  const last = name?.split(/[\\/]/).pop()?.trim();
  return last ? last : undefined;
}
