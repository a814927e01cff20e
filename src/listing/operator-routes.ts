import type { Principal } from "../auth/authenticate";
import type { GatewayConfig } from "../config";
import { TusError } from "../errors";
import type { Uploads } from "../upload/uploads";
import { isUploadId } from "../upload-id";
import { decodeMetadataValue } from "../upload/index-record";
import type { Listing, ListedUpload } from "./listing-answer";
import { parseListQuery } from "./list-query";
import { queryIndex, type IndexRow, type RetentionCutoff } from "./upload-index";

/**
 * Listing and administration (docs/listing.md): JSON
 * requests beside the tus dialects, answered from the upload index (D1) and,
 * for inspection and termination, from the upload's Durable Object.
 *
 *   GET    <BASE_PATH>           the caller's own uploads
 *   GET    <ADMIN_PATH>          every upload (scope tus:admin)
 *   GET    <ADMIN_PATH><id>      one upload as its Durable Object holds it (tus:admin)
 *   DELETE <ADMIN_PATH><id>      terminates it, whoever owns it (tus:admin)
 */
export type OperatorRequest = { kind: "list-own" } | { kind: "admin-list" } | { kind: "admin-upload"; id: string };

/**
 * Which of these the request is, if any; everything else is the tus
 * dialects' business. Without the index, GET on the collection stays theirs
 * (405, as it always was).
 */
export function operatorRequest(request: Request, config: GatewayConfig, index: D1Database | undefined): OperatorRequest | undefined {
  if (request.method === "OPTIONS") return undefined; // preflights are the tus dialects' (CORS)
  const { pathname } = new URL(request.url);
  if (pathname.startsWith(config.adminPath)) {
    const rest = pathname.slice(config.adminPath.length);
    return rest === "" ? { kind: "admin-list" } : { kind: "admin-upload", id: rest };
  }
  if (index && pathname === config.basePath && request.method === "GET") return { kind: "list-own" };
  return undefined;
}

export interface OperatorContext {
  request: Request;
  config: GatewayConfig;
  principal: Principal;
  index: D1Database | undefined;
  uploads: () => Uploads;
}

const ADMIN_SCOPE = "tus:admin";

export async function answerOperatorRequest(target: OperatorRequest, context: OperatorContext): Promise<Response> {
  const { request, config, principal } = context;
  if (config.auth.mode !== "jwt") {
    // Say which open mode it is: a developer who never set AUTH_MODE should not read that they chose it.
    const why = config.auth.loopbackOnly
      ? "AUTH_MODE is not set, so the gateway is open to loopback clients only"
      : "AUTH_MODE=open";
    throw new TusError(
      "forbidden",
      `listing and administration are off in open mode (${why}): anyone could list every upload; set AUTH_MODE = "jwt" and send a token (for npm start: JWT_SECRET in .dev.vars, then npm run token)`,
    );
  }
  refuseLinkTokens(principal, target.kind === "list-own" ? "listing uploads" : "administration");
  if (target.kind === "list-own") return listOwn(context);
  if (!principal.scopes?.has(ADMIN_SCOPE)) throw new TusError("forbidden", `administration needs a token with the scope ${ADMIN_SCOPE}`);
  const started = Date.now();
  let status = 500;
  try {
    const response = await answerAdmin(target, context);
    status = response.status;
    return response;
  } catch (error) {
    status = error instanceof TusError ? error.status : 500;
    throw error;
  } finally {
    // Every administrator's call is on record, whatever its outcome.
    console.log(
      JSON.stringify({
        level: "info",
        event: "AdminRequest",
        admin: true,
        method: request.method,
        path: new URL(request.url).pathname,
        subject: principal.subject,
        status,
        durationMs: Date.now() - started,
      }),
    );
  }
}

/**
 * Listing and administration see many uploads (every subject's, for an
 * administrator), so they take no token made for one download: neither one
 * bound to one upload (`upload_id`), whatever else its scopes say, nor one
 * that came in a URL (`?access_token=`), where links leave it in logs,
 * history and Referer headers. Either is refused before any upload is read.
 */
function refuseLinkTokens(principal: Principal, what: string): void {
  if (principal.tokenInQuery) {
    throw new TusError("unauthorized", `${what} takes its token only from the Authorization header (Bearer), never from ?access_token=`, {
      headers: { "WWW-Authenticate": 'Bearer realm="tus-edge", error="invalid_request"' },
    });
  }
  if (principal.uploadId !== undefined) {
    throw new TusError("forbidden", `the token is bound to one upload (upload_id claim): ${what} needs a token that is not`);
  }
}

async function listOwn({ request, config, principal, index }: OperatorContext): Promise<Response> {
  const db = requireIndex(index);
  const { scopes } = principal;
  if (scopes && !["tus:upload", "tus:download", ADMIN_SCOPE].some((scope) => scopes.has(scope as never))) {
    throw new TusError("forbidden", "listing your uploads needs a token with the scope tus:upload, tus:download or tus:admin");
  }
  const query = parseListQuery(new URL(request.url).searchParams, false);
  const page = await queryIndex(db, query, principal.subject, retentionCutoff(config));
  return json({ uploads: page.rows.map((row) => entryOf(row, request, config, false)), next: page.next ?? null } satisfies Listing);
}

async function answerAdmin(target: OperatorRequest, context: OperatorContext): Promise<Response> {
  const { request, config } = context;
  if (target.kind === "admin-list") {
    if (request.method !== "GET") throw new TusError("method-not-allowed", `${config.adminPath} takes GET only`, { headers: { Allow: "GET" } });
    const query = parseListQuery(new URL(request.url).searchParams, true);
    const page = await queryIndex(requireIndex(context.index), query, undefined, retentionCutoff(config));
    return json({ uploads: page.rows.map((row) => entryOf(row, request, config, true)), next: page.next ?? null } satisfies Listing);
  }
  if (target.kind !== "admin-upload" || !isUploadId(target.id)) throw new TusError("upload-not-found");
  if (request.method === "GET") return json(await context.uploads().inspect(target.id));
  if (request.method === "DELETE") {
    await context.uploads().terminateAny(target.id);
    return new Response(null, { status: 204 });
  }
  throw new TusError("method-not-allowed", `${config.adminPath}<id> takes GET (inspect) and DELETE (terminate)`, { headers: { Allow: "GET, DELETE" } });
}

function retentionCutoff(config: GatewayConfig): RetentionCutoff {
  return config.indexRetentionMs > 0 ? Date.now() - config.indexRetentionMs : undefined;
}

function requireIndex(index: D1Database | undefined): D1Database {
  if (!index) throw new TusError("method-not-allowed", "listing uploads needs the upload index: this gateway has no INDEX (D1) binding");
  return index;
}

/** One upload of a listing; `withSubject` for administrators. */
function entryOf(row: IndexRow, request: Request, config: GatewayConfig, withSubject: boolean): ListedUpload {
  const metadata = JSON.parse(row.metadata) as Record<string, string>;
  const expiresAt =
    row.state === "unfinished"
      ? row.expires_at
      : row.state === "finished" && row.finished_at !== null && config.expireFinishedAfterMs > 0
        ? row.finished_at + config.expireFinishedAfterMs
        : null;
  return {
    id: row.id,
    url: `${new URL(request.url).origin}${config.basePath}${row.id}`,
    length: row.length,
    offset: row.offset_bytes,
    state: row.state,
    metadata: Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, decodeMetadataValue(value)])),
    created: new Date(row.created_at).toISOString(),
    updated: new Date(row.updated_at).toISOString(),
    expires: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    ...(withSubject && { subject: row.subject }),
  };
}

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json", "Cache-Control": "no-store" } });
}
