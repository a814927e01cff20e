/**
 * Where a finished upload lands in R2: a key built from a template. Every
 * value that comes from a client (filename, subject, token prefix) is
 * sanitised to plain characters per path segment, so no key can escape the
 * configured prefix (`..`, absolute paths, control characters) or grow past
 * R2's 1,024-byte limit.
 */
import type { Placeholder } from "../config/key-template";

const R2_MAX_KEY_BYTES = 1024;
const MAX_SEGMENT_LENGTH = 128;

export interface KeyInputs {
  id: string;
  subject: string | undefined;
  filename: string | undefined;
  now: Date;
  /** From the token's `key_prefix` claim: its uploads go below it. */
  tokenPrefix: string | undefined;
}

/**
 * The object key of a new upload: prefix, the token's prefix, then the
 * rendered template. Falls back to the upload id for the template part if the
 * whole would pass R2's limit.
 */
export async function renderObjectKey(prefix: string, template: string, inputs: KeyInputs): Promise<string> {
  const values: Record<Placeholder, string> = {
    id: inputs.id,
    subject: await subjectSegment(inputs.subject),
    filename: sanitizeSegment(lastSegment(inputs.filename ?? "") || inputs.id),
    date: inputs.now.toISOString().slice(0, 10),
  };
  const rendered = template.replace(/\{([a-z]+)\}/g, (_, name: Placeholder) => values[name]);
  const tokenPrefix = inputs.tokenPrefix ? inputs.tokenPrefix.split("/").filter(Boolean).map(sanitizeSegment).join("/") + "/" : "";
  const key = prefix + tokenPrefix + rendered;
  return new TextEncoder().encode(key).length <= R2_MAX_KEY_BYTES ? key : prefix + tokenPrefix + inputs.id;
}

/**
 * A subject as one path segment, distinct for distinct subjects: one that is
 * already plain stays as it is; any other is shortened and suffixed with a
 * hash (`~` never survives sanitising, so the two forms cannot meet). Without
 * this, `X/alice` and `X_alice` would share a folder.
 */
async function subjectSegment(subject: string | undefined): Promise<string> {
  if (subject === undefined) return "anonymous";
  const plain = sanitizeSegment(subject);
  if (plain === subject) return plain;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(subject)));
  const hash = [...digest.subarray(0, 8)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${plain.slice(0, 100)}~${hash}`;
}

/** One path segment of plain characters; never empty, never "." or "..". */
export function sanitizeSegment(value: string): string {
  const plain = value
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^\.+/, "_")
    .slice(0, MAX_SEGMENT_LENGTH);
  return plain === "" ? "_" : plain;
}

function lastSegment(path: string): string {
  return path.split(/[/\\]/).pop() ?? "";
}
