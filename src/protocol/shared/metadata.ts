/**
 * Upload-Metadata, tus 1.0.0: "The Upload-Metadata request and response
 * header MUST consist of one or more comma-separated key-value pairs. The key
 * and value MUST be separated by a space. The key MUST NOT contain spaces and
 * commas and MUST NOT be empty. The key SHOULD be ASCII encoded and the value
 * MUST be Base64 encoded. All keys MUST be unique. The value MAY be empty. In
 * these cases, the space, which would normally separate the key and the value,
 * MAY be left out."
 */
import { TusError } from "../../errors";
import { quoteForMessage } from "../tus/headers";

/**
 * Key → the Base64 value exactly as the client sent it ("" when empty). A Map,
 * so HEAD echoes the pairs in the client's order (an object would move keys
 * such as "1" to the front) and any key, `__proto__` included, is just a key.
 */
export type UploadMetadata = Map<string, string>;

/** Printable ASCII without space: "SHOULD be ASCII" is enforced, since keys end up in logs and responses. */
const KEY = /^[\x21-\x7e]+$/;

/**
 * Standard Base64 with correct `=` padding. Unpadded tails of 2 or 3
 * characters are also accepted because some clients strip the padding; a
 * tail of 1 character can never be Base64.
 */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

function invalid(message: string): TusError {
  return new TusError("invalid-metadata", `Upload-Metadata is malformed: ${message}`);
}

export function parseUploadMetadata(header: string | null): UploadMetadata {
  const metadata: UploadMetadata = new Map();
  if (header === null || header.trim() === "") return metadata;

  for (const rawPair of header.split(",")) {
    // Some clients write `a x, b y`; whitespace around a pair is not part of it.
    const pair = rawPair.trim();
    const fields = pair.split(" ");
    const key = fields[0] ?? "";
    const value = fields[1] ?? "";
    if (key === "") {
      throw invalid(`a pair has an empty key in ${quoteForMessage(header)}; keys must not be empty`);
    }
    if (!KEY.test(key)) {
      throw invalid(`the key ${quoteForMessage(key)} must be printable ASCII without spaces or commas`);
    }
    if (fields.length > 2) {
      throw invalid(
        `the pair ${quoteForMessage(pair)} must be a key and a value separated by exactly one space`,
      );
    }
    if (!BASE64.test(value)) {
      throw invalid(`the value of ${quoteForMessage(key)} is not Base64: ${quoteForMessage(value)}`);
    }
    if (metadata.has(key)) {
      throw invalid(`the key ${quoteForMessage(key)} appears more than once; keys must be unique`);
    }
    metadata.set(key, value);
  }
  return metadata;
}

export function serializeUploadMetadata(metadata: UploadMetadata): string {
  return [...metadata]
    .map(([key, value]) => (value === "" ? key : `${key} ${value}`))
    .join(",");
}

/**
 * The value of `key` as UTF-8 text; bytes that are not UTF-8 become U+FFFD.
 * Undefined when the key is absent or (for metadata not from the parser) the
 * value is not Base64 — a caller only ever wants usable text.
 */
export function decodeMetadataText(metadata: UploadMetadata, key: string): string | undefined {
  const value = metadata.get(key);
  if (value === undefined) return undefined;
  let binary: string;
  try {
    binary = atob(value);
  } catch {
    return undefined;
  }
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Metadata from text values (e.g. a hook's answer), Base64-encoding each as UTF-8. */
export function encodeMetadataText(values: Record<string, string>): UploadMetadata {
  const metadata: UploadMetadata = new Map();
  for (const [key, text] of Object.entries(values)) {
    const bytes = new TextEncoder().encode(text);
    metadata.set(key, btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join("")));
  }
  return metadata;
}
