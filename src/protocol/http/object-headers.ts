/**
 * Headers a finished upload is served with. Their inputs (`filetype`,
 * `filename`) come from Upload-Metadata, which any client can set to
 * anything, so both are checked or sanitised before they reach a response:
 * a header value with a line break or non-Latin-1 character would make the
 * Response constructor throw, and a filename must not steer where a browser
 * saves the file.
 */

const FALLBACK_CONTENT_TYPE = "application/octet-stream";

/** RFC 9110 §5.6.2 tchar. */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
/** RFC 9110 §5.6.4, limited to ASCII: obs-text is not safe to echo into a header. */
const QUOTED_STRING = '"(?:[ !#-\\[\\]-~]|\\\\[ -~])*"';
/** RFC 9110 §8.3.1: media-type = type "/" subtype parameters. */
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?: *; *(?:${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))?)*$`);

export function safeContentType(filetype: string | undefined): string {
  if (filetype === undefined || filetype.length > 255 || !MEDIA_TYPE.test(filetype)) {
    return FALLBACK_CONTENT_TYPE;
  }
  return filetype;
}

/** Controls are never part of a name and would break the header; C1 included. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;
const MAX_FILENAME_LENGTH = 255;

/** The last path segment, so `../../etc/passwd` is saved as `passwd`, never elsewhere. */
function sanitizeFilename(filename: string): string | undefined {
  const lastSegment = filename.split(/[/\\]/).pop() ?? "";
  let name = lastSegment.replace(CONTROL_CHARACTERS, "").trim();
  if (name.length > MAX_FILENAME_LENGTH) {
    name = name.slice(0, MAX_FILENAME_LENGTH);
    // Cutting between the halves of a surrogate pair would leave half a character.
    if (/[\ud800-\udbff]$/.test(name)) name = name.slice(0, -1);
    name = name.trimEnd();
  }
  return name === "" || name === "." || name === ".." ? undefined : name;
}

/** For clients that ignore `filename*`: a quoted-string with nothing that needs escaping. */
function asciiFallback(name: string): string {
  return name.replace(/[^\x20-\x7e]|["\\%]/gu, "_");
}

/** RFC 8187 §3.2.1 attr-char; everything else is percent-encoded UTF-8. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]$/;

function encodeExtValue(name: string): string {
  let encoded = "";
  for (const byte of new TextEncoder().encode(name)) {
    const char = String.fromCharCode(byte);
    encoded += ATTR_CHAR.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `UTF-8''${encoded}`;
}

/**
 * Always `attachment`: serving user-supplied content inline from this origin
 * would let an uploaded HTML file run script here.
 */
export function contentDisposition(filename: string | undefined): string {
  const name = filename === undefined ? undefined : sanitizeFilename(filename);
  if (name === undefined) return "attachment";
  return `attachment; filename="${asciiFallback(name)}"; filename*=${encodeExtValue(name)}`;
}
