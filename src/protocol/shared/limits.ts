import type { GatewayConfig } from "../../config";
import { TusError } from "../../errors";
import type { UploadMetadata } from "./metadata";

/**
 * The server's limits on what a client may attach to an upload: metadata
 * size, key count and names, and the file types it accepts.
 */
export function checkMetadataLimits(header: string | null, metadata: UploadMetadata, config: GatewayConfig): void {
  checkMetadataSize(header, metadata, config);
  const allowed = config.allowedMetadataKeys;
  const refused = allowed && [...metadata.keys()].filter((key) => !allowed.has(key));
  if (refused?.length) {
    throw new TusError("invalid-metadata", `Upload-Metadata key(s) ${refused.join(", ")} are not accepted; allowed: ${[...allowed!].join(", ")}`);
  }
}

/** MAX_METADATA_BYTES and MAX_METADATA_KEYS, which also hold for metadata from the pre-create hook. */
export function checkMetadataSize(header: string | null, metadata: UploadMetadata, config: GatewayConfig): void {
  const bytes = new TextEncoder().encode(header ?? "").length;
  if (bytes > config.maxMetadataBytes) {
    throw new TusError("metadata-too-large", `Upload-Metadata is ${bytes} bytes; this server accepts at most ${config.maxMetadataBytes}`);
  }
  if (metadata.size > config.maxMetadataKeys) {
    throw new TusError("invalid-metadata", `Upload-Metadata has ${metadata.size} keys; this server accepts at most ${config.maxMetadataKeys}`);
  }
}

/** `filetype` must match one of the allowed types (`image/png`, or `video/*` for a family). */
export function checkFiletype(filetype: string | undefined, config: GatewayConfig): void {
  const allowed = config.allowedFiletypes;
  if (!allowed) return;
  const type = filetype?.split(";")[0]?.trim().toLowerCase();
  const ok = type !== undefined && allowed.some((pattern) => pattern === type || (pattern.endsWith("/*") && type.startsWith(pattern.slice(0, -1))));
  if (!ok) {
    throw new TusError("invalid-metadata", `filetype ${JSON.stringify(filetype ?? "(none)")} is not accepted; allowed: ${allowed.join(", ")}`);
  }
}
