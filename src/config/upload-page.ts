import { ConfigError } from "./parse";

/*
 * The upload page's two trust settings. The page holds tokens and files, so
 * whatever is listed here is trusted with both: an endpoint listed in
 * UPLOAD_PAGE_ENDPOINTS receives the page's bearer token, and an origin listed
 * in UPLOAD_PAGE_EMBED_ORIGINS may give the page a token and hears of every
 * finished upload. Both default to nothing.
 */

/** `UPLOAD_PAGE_ENDPOINTS`: comma-separated absolute http(s) URLs of tus collections. */
export function parseUploadPageEndpoints(list: string[] | undefined): string[] {
  return (list ?? []).map((raw) => {
    const url = parseHttpUrl(raw);
    if (!url || url.search || url.hash || url.username || url.password || raw.includes("#")) {
      throw new ConfigError(
        "UPLOAD_PAGE_ENDPOINTS",
        `must be a comma-separated list of tus endpoints like https://uploads.example.com/files/ (http or https, no query or credentials), got "${raw}"`,
      );
    }
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    return url.href;
  });
}

/** `UPLOAD_PAGE_EMBED_ORIGINS`: comma-separated origins, each exactly as a browser reports it. */
export function parseUploadPageEmbedOrigins(list: string[] | undefined): string[] {
  return (list ?? []).map((raw) => {
    const url = parseHttpUrl(raw);
    if (!url || url.origin !== raw) {
      throw new ConfigError(
        "UPLOAD_PAGE_EMBED_ORIGINS",
        `must be a comma-separated list of origins like https://app.example.com (http or https, no path or trailing slash), got "${raw}"`,
      );
    }
    return raw;
  });
}

function parseHttpUrl(raw: string): URL | undefined {
  try {
    const url = new URL(raw);
    return url.protocol === "https:" || url.protocol === "http:" ? url : undefined;
  } catch {
    return undefined;
  }
}
