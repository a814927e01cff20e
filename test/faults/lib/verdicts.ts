/**
 * Telling the gateway's answers from the local dev server's own.
 *
 * When a Worker answers before it has read the whole request body (a 409
 * sent without reading, or a PATCH stopped by a newer request), `wrangler
 * dev`'s proxy in front of the Worker may reset the client's connection or
 * answer 500 itself, with miniflare's stack trace ("Network connection
 * lost") and none of the gateway's headers. This happens with any Worker
 * that answers early, not only with the gateway (a Worker of five lines
 * shows it too), so the suite counts these answers apart and fails only
 * on 5xx answers that come from the gateway.
 */
import { expect } from "vitest";
import type { IncomingHttpHeaders } from "node:http";

/** What a verdict needs of an answer; `WireResponse` has it. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A 500 made by wrangler dev's proxy, not the gateway: the request body
 * broke between the proxy and the Worker (the Worker answered before
 * reading it all, or the client's chunked encoding was malformed).
 */
export function isDevProxyEarlyAnswer(response: Answer): boolean {
  return response.status === 500 && response.headers["tus-resumable"] === undefined && /^Error: Network connection lost\./.test(response.body.toString("utf8"));
}

/** workerd's HTTP server refuses a method it does not know before any Worker sees the request. */
export function isRuntimeUnknownMethod(response: Answer): boolean {
  return response.status === 501 && response.headers["tus-resumable"] === undefined && response.body.toString("utf8").startsWith("ERROR: Unrecognized request method.");
}

/**
 * workerd answers a request whose target is `*` (asterisk-form, meant for
 * `OPTIONS *`) with a bare 500 before any Worker runs: no Worker log line,
 * none of the gateway's headers. Only counted as such for that target.
 */
export function isRuntimeAsteriskTarget(response: Answer, target: string): boolean {
  const body = response.body.toString("utf8");
  // A HEAD answer has no body, only its length.
  const bare = body === "Internal Server Error" || (body === "" && response.headers["content-length"] === "21");
  return target === "*" && response.status === 500 && response.headers["tus-resumable"] === undefined && bare;
}

export type ServerErrorOrigin = "dev-proxy 500" | "runtime 501 (unknown method)" | "runtime 500 (target *)" | "gateway";

/**
 * Who made a 5xx: the local server's own answers above, or else the
 * gateway, which is a failure. `target` is the request target as sent.
 */
export function serverErrorOrigin(response: Answer, target = ""): ServerErrorOrigin | undefined {
  if (response.status < 500) return undefined;
  if (isDevProxyEarlyAnswer(response)) return "dev-proxy 500";
  if (isRuntimeUnknownMethod(response)) return "runtime 501 (unknown method)";
  if (isRuntimeAsteriskTarget(response, target)) return "runtime 500 (target *)";
  return "gateway";
}

/** Outcomes counted by kind, for the suite's summaries. */
export class Tally {
  readonly counts: Record<string, number> = {};
  add(kind: string | number): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }
  toString(): string {
    return Object.entries(this.counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, count]) => `${kind}: ${count}`)
      .join(", ");
  }
}

/**
 * Fails on a 5xx from the gateway; a dev-proxy 500 (see above) passes but is
 * counted as `dev-proxy 500` in `tally`. Every other status is counted as itself.
 */
export function expectNoGateway5xx(response: Answer, what: string, tally?: Tally): void {
  if (isDevProxyEarlyAnswer(response)) {
    tally?.add("dev-proxy 500");
    return;
  }
  tally?.add(response.status);
  expect(response.status, `${what} answered ${response.status}: ${response.body.toString("utf8").slice(0, 500)}`).toBeLessThan(500);
}
