/**
 * Whom the page trusts, as its gateway configured it (src/page/serve-page.ts
 * writes `<meta name="tus-edge-page">`): the page's own gateway, the further
 * upload endpoints the operator listed (UPLOAD_PAGE_ENDPOINTS) and the
 * origins that may embed the page (UPLOAD_PAGE_EMBED_ORIGINS). Nothing in
 * the page's address, its storage or a message can widen this: a link with
 * `?endpoint=https://elsewhere/` must not make the page send someone's files
 * or token there.
 *
 * Without the meta (a page served some other way) the page trusts its own
 * origin's `/files/` and nothing else. Pure, so the unit tests run it in Node.
 */

/** The settings in the meta, as the gateway wrote them. */
export interface PageSettings {
  basePath: string;
  endpoints: string[];
  embedOrigins: string[];
}

const DEFAULT_BASE_PATH = "/files/";

export class GatewayTrust {
  /** The page's own gateway's upload collection, `<page origin><basePath>`. */
  readonly ownEndpoint: string;
  /** Every endpoint the page may upload to, its own first. */
  readonly endpoints: readonly string[];
  /** Origins that receive the token: the page's own and the endpoints'. */
  private readonly origins: ReadonlySet<string>;
  /** Parents that may pass a token and hear of finished uploads. */
  readonly embedOrigins: readonly string[];

  constructor(pageOrigin: string, settings: PageSettings) {
    this.ownEndpoint = new URL(settings.basePath, pageOrigin).href;
    this.endpoints = [...new Set([this.ownEndpoint, ...settings.endpoints])];
    this.origins = new Set([pageOrigin, ...this.endpoints.map((endpoint) => new URL(endpoint).origin)]);
    this.embedOrigins = settings.embedOrigins;
  }

  /** Whether the page may upload to `endpoint` (an absolute URL ending in `/`). */
  allowsEndpoint(endpoint: string): boolean {
    return this.endpoints.includes(endpoint);
  }

  /** Whether `url` belongs to a gateway the page trusts with its token (tus requests, HEAD probes, download links). */
  trusts(url: string): boolean {
    try {
      return this.origins.has(new URL(url).origin);
    } catch {
      return false;
    }
  }

  /** Whether a parent window of `origin` may pass a token and hear of finished uploads. */
  allowsEmbedder(origin: string): boolean {
    return this.embedOrigins.includes(origin);
  }
}

/**
 * The meta's content. A missing or damaged one gives the defaults (own
 * gateway only, no embedding): it can only ever narrow what the page trusts.
 */
export function parsePageSettings(content: string | null | undefined): PageSettings {
  const defaults: PageSettings = { basePath: DEFAULT_BASE_PATH, endpoints: [], embedOrigins: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(content ?? "");
  } catch {
    return defaults;
  }
  if (typeof parsed !== "object" || parsed === null) return defaults;
  const { basePath, endpoints, embedOrigins } = parsed as Record<string, unknown>;
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []);
  return {
    basePath: typeof basePath === "string" && basePath.startsWith("/") ? basePath : DEFAULT_BASE_PATH,
    endpoints: strings(endpoints).filter(isHttpUrl),
    embedOrigins: strings(embedOrigins),
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}
