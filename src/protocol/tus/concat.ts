import { TusError } from "../../errors";
import { isUploadId } from "../../upload-id";
import { quoteForMessage } from "./headers";

export type UploadConcat = { kind: "partial" } | { kind: "final"; partialIds: string[] };

/**
 * concatenation extension: `Upload-Concat: partial`, or `final;<url> <url>`
 * where "the URLs of the partial uploads that will be concatenated ... MUST
 * be separated by a space". URLs may be absolute or relative; only uploads of
 * this gateway (same origin, under the base path) can be concatenated, each
 * at most once per final upload, and at most `maxPartials` of them: each
 * costs Durable Object calls in the creating request.
 */
export function parseUploadConcat(headers: Headers, requestUrl: string, basePath: string, maxPartials: number): UploadConcat | undefined {
  const value = headers.get("Upload-Concat");
  if (value === null) return undefined;
  if (value === "partial") return { kind: "partial" };
  if (!value.startsWith("final;")) {
    throw new TusError("invalid-concat", `Upload-Concat must be "partial" or "final;<url> <url> ...", got ${quoteForMessage(value)}`);
  }
  const urls = value.slice("final;".length).trim().split(/ +/).filter(Boolean);
  if (urls.length === 0) throw new TusError("invalid-concat", "Upload-Concat: final names no partial uploads");
  if (urls.length > maxPartials) {
    throw new TusError(
      "invalid-concat",
      `Upload-Concat: final names ${urls.length} partial uploads; this server joins at most ${maxPartials} (MAX_CONCAT_PARTIALS) into one final upload`,
    );
  }
  const origin = new URL(requestUrl).origin;
  const partialIds = urls.map((url) => uploadIdOf(url, requestUrl, origin, basePath));
  const duplicate = partialIds.find((id, index) => partialIds.indexOf(id) !== index);
  if (duplicate) throw new TusError("invalid-concat", `Upload-Concat: final names the partial upload ${duplicate} more than once`);
  return { kind: "final", partialIds };
}

function uploadIdOf(url: string, requestUrl: string, origin: string, basePath: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url, requestUrl);
  } catch {
    throw new TusError("invalid-concat", `Upload-Concat: ${quoteForMessage(url)} is not a URL`);
  }
  const id = parsed.pathname.startsWith(basePath) ? parsed.pathname.slice(basePath.length) : "";
  if (parsed.origin !== origin || !isUploadId(id)) {
    throw new TusError("invalid-concat", `Upload-Concat: ${quoteForMessage(url)} is not an upload of this server`);
  }
  return id;
}

/** The `Upload-Concat` value HEAD echoes: upload URLs as paths, which clients resolve against the server. */
export function formatUploadConcat(concat: { kind: "partial" } | { kind: "final"; partials: string[] }, basePath: string): string {
  return concat.kind === "partial" ? "partial" : `final;${concat.partials.map((id) => basePath + id).join(" ")}`;
}
