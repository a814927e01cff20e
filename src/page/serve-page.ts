/**
 * Serving the browser upload page (page/, built into public/ and bound as
 * ASSETS) with the headers and settings that keep it talking to its own
 * gateway only. The page holds a bearer token and the files a person drops
 * on it, so where it may send them is decided here, from the configuration,
 * and not by anything in its URL or storage:
 *
 *  - a Content-Security-Policy whose `connect-src` names the page's own
 *    origin and the configured endpoints' origins, and whose
 *    `frame-ancestors` names the configured embedding origins (none by
 *    default), so the browser itself refuses everything else;
 *  - a `<meta name="tus-edge-page">` in the HTML that tells the page the same
 *    lists, so it can refuse an endpoint with a message rather than fail,
 *    never attach its token elsewhere, and accept postMessage only from a
 *    listed parent.
 */
import type { GatewayConfig } from "../config";

/** What the page reads from its `<meta name="tus-edge-page">` (page/gateway-trust.ts parses it). */
export interface PageSettings {
  /** The gateway's upload collection on the page's own origin. */
  basePath: string;
  /** Further endpoints the page may upload to. */
  endpoints: readonly string[];
  /** Parents whose postMessage the page accepts and to which it reports. */
  embedOrigins: readonly string[];
}

/**
 * The page's response for `request`, or undefined when the page is not
 * served here: it answers GET and HEAD outside the upload collection, where
 * UPLOAD_PAGE allows it (by default only on loopback hosts, so a deployment
 * shows no page unless it asks for one).
 */
export function uploadPageResponse(config: GatewayConfig, request: Request, assets: Fetcher | undefined): Promise<Response> | undefined {
  if (!assets || config.uploadPage === "off" || (request.method !== "GET" && request.method !== "HEAD")) return undefined;
  const { pathname } = new URL(request.url);
  if (pathname.startsWith(config.basePath) || pathname.startsWith(config.adminPath)) return undefined;
  if (config.uploadPage === "auto" && !isLoopback(request)) return undefined;
  return servePage(config, request, assets);
}

async function servePage(config: GatewayConfig, request: Request, assets: Fetcher): Promise<Response> {
  // GET and HEAD carry no meaningful body: the page's files are asked for
  // without one, so a client that sends a body anyway is not left waiting
  // while it is passed on to the assets service.
  const asset = await assets.fetch(new Request(request.url, { method: request.method, headers: request.headers }));
  const response = new Response(asset.body, asset);
  for (const [name, value] of Object.entries(pageHeaders(config))) response.headers.set(name, value);
  if (!response.headers.get("Content-Type")?.startsWith("text/html")) return response;
  // The settings are in the HTML: a copy cached under an ETag would keep
  // them after the configuration changed, so the HTML is always fetched anew.
  response.headers.delete("ETag");
  response.headers.set("Cache-Control", "no-cache");
  const meta = `<meta name="tus-edge-page" content="${escapeAttribute(JSON.stringify(pageSettings(config)))}" />`;
  return new HTMLRewriter().on("head", { element: (head) => void head.prepend(meta, { html: true }) }).transform(response);
}

export function pageSettings(config: GatewayConfig): PageSettings {
  return { basePath: config.basePath, endpoints: config.uploadPageEndpoints, embedOrigins: config.uploadPageEmbedOrigins };
}

/** Headers of every file of the page. */
export function pageHeaders(config: GatewayConfig): Record<string, string> {
  return {
    "Content-Security-Policy": contentSecurityPolicy(config),
    "X-Content-Type-Options": "nosniff",
    // Nothing of the page's address (which may briefly hold ?token=) leaves with a request.
    "Referrer-Policy": "no-referrer",
  };
}

export function contentSecurityPolicy(config: GatewayConfig): string {
  const endpointOrigins = [...new Set(config.uploadPageEndpoints.map((endpoint) => new URL(endpoint).origin))];
  const embedders = config.uploadPageEmbedOrigins.length ? config.uploadPageEmbedOrigins.join(" ") : "'none'";
  return [
    "default-src 'self'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...endpointOrigins].join(" "),
    `frame-ancestors ${embedders}`,
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
  ].join("; ");
}

export function isLoopback(request: Request): boolean {
  const host = new URL(request.url).hostname;
  // The URL parser writes every IPv4 form (127.1, 0x7f.0.0.1) as four decimals; a name like 127.example.com is not loopback.
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function escapeAttribute(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
