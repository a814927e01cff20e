import type { Principal } from "../auth/authenticate";
import type { GatewayConfig } from "../config";
import { TusError } from "../errors";
import type { Uploads } from "../upload/uploads";
import { isUploadId } from "../upload-id";
import { decodeMetadataValue } from "../upload/index-record";
import { queryD1Index } from "../listing/d1-index";
import type { IndexPage, IndexRow, RetentionCutoff } from "../listing/index-table";
import type { Listing, ListedUpload } from "../listing/listing-answer";
import { parseListQuery, type ListQuery } from "../listing/list-query";
import { describeError } from "../observability/telemetry";
import { subjectIndexOf, type SubjectNamespace } from "../subjects/subject-indexes";

/**
 * Listing and administration (docs/listing.md): JSON
 * requests beside the tus dialects, answered from each subject's index
 * (src/subjects), across subjects from administration's D1 copy, and, for
 * inspection and termination, from the upload's Durable Object.
 *
 *   GET    <BASE_PATH>           the caller's own uploads
 *   GET    <ADMIN_PATH>          every upload (scope tus:admin)
 *   GET    <ADMIN_PATH><id>      one upload as its Durable Object holds it (tus:admin)
 *   DELETE <ADMIN_PATH><id>      terminates it, whoever owns it (tus:admin)
 */
export type OperatorRequest = { kind: "list-own" } | { kind: "admin-list" } | { kind: "admin-upload"; id: string };

/** Which of these the request is, if any; everything else is the tus dialects' business. */
export function operatorRequest(request: Request, config: GatewayConfig): OperatorRequest | undefined {
  if (request.method === "OPTIONS") return undefined; // preflights are the tus dialects' (CORS)
  const { pathname } = new URL(request.url);
  if (pathname.startsWith(config.adminPath)) {
    const rest = pathname.slice(config.adminPath.length);
    return rest === "" ? { kind: "admin-list" } : { kind: "admin-upload", id: rest };
  }
  if (pathname === config.basePath && request.method === "GET") return { kind: "list-own" };
  return undefined;
}

export interface OperatorContext {
  request: Request;
  config: GatewayConfig;
  principal: Principal;
  /** Each subject's index (SUBJECTS), if bound. */
  subjects: SubjectNamespace | undefined;
  /** Administration's cross-subject copy (INDEX, D1), if bound. */
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

async function listOwn({ request, config, principal, subjects }: OperatorContext): Promise<Response> {
  const { scopes } = principal;
  if (scopes && !["tus:upload", "tus:download", ADMIN_SCOPE].some((scope) => scopes.has(scope as never))) {
    throw new TusError("forbidden", "listing your uploads needs a token with the scope tus:upload, tus:download or tus:admin");
  }
  const query = parseListQuery(new URL(request.url).searchParams, false);
  const page = await subjectPage(subjects, principal.subject!, query, config);
  return json({ uploads: page.rows.map((row) => entryOf(row, request, config, false)), next: page.next ?? null } satisfies Listing);
}

async function answerAdmin(target: OperatorRequest, context: OperatorContext): Promise<Response> {
  const { request, config } = context;
  if (target.kind === "admin-list") {
    if (request.method !== "GET") throw new TusError("method-not-allowed", `${config.adminPath} takes GET only`, { headers: { Allow: "GET" } });
    const query = parseListQuery(new URL(request.url).searchParams, true);
    const page = query.subject !== undefined ? await subjectPage(context.subjects, query.subject, query, config) : await everyonesPage(context, query);
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

/** A page of one subject's uploads, from its own index. */
async function subjectPage(subjects: SubjectNamespace | undefined, subject: string, query: ListQuery, config: GatewayConfig): Promise<IndexPage> {
  if (!subjects) {
    throw new TusError(
      "method-not-allowed",
      "listing uploads needs each subject's index: this gateway has no SUBJECTS binding (a Durable Object binding of the class SubjectIndex, see docs/listing.md)",
    );
  }
  return answered("the subject's index", () => subjectIndexOf(subjects, subject).list(query, retentionCutoff(config)));
}

/**
 * An index that did not answer (a subject's index overloaded or restarting,
 * D1 failing) is a 503 the client may retry, with a line that says which:
 * the uploads themselves are not touched, only the listing of them.
 */
async function answered<T>(index: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof TusError) throw error;
    console.error(JSON.stringify({ level: "error", event: "ListingIndexError", index, error: describeError(error) }));
    throw new TusError("storage-unavailable", `${index} did not answer, so the listing could not be read; retry in a moment (the uploads are not affected)`, {
      retryAfterSeconds: 1,
    });
  }
}

/**
 * A page of every subject's uploads, from administration's D1 copy, which
 * hears of creation and ends only: each row is replaced by its subject
 * index's, where that is newer (the offset of an unfinished upload).
 */
async function everyonesPage({ index, subjects, config }: OperatorContext, query: ListQuery): Promise<IndexPage> {
  if (!index) {
    throw new TusError(
      "invalid-query",
      "listing every subject's uploads needs administration's index, a D1 database bound as INDEX (docs/listing.md, \"Administration across subjects\"); " +
        "without it, list one subject's uploads with ?subject=<sub>",
    );
  }
  const page = await answered("administration's index (D1)", () => queryD1Index(index, query, retentionCutoff(config)));
  if (!subjects) return page;
  const bySubject = new Map<string, string[]>();
  for (const row of page.rows) {
    if (row.subject === null) continue;
    const ids = bySubject.get(row.subject);
    if (ids) ids.push(row.id);
    else bySubject.set(row.subject, [row.id]);
  }
  const newer = new Map<string, IndexRow>();
  await Promise.all(
    [...bySubject].map(async ([subject, ids]) => {
      for (const row of await answered("the subject's index", () => subjectIndexOf(subjects, subject).rows(ids))) newer.set(row.id, row);
    }),
  );
  return {
    ...page,
    rows: page.rows.map((row) => {
      const fresher = newer.get(row.id);
      return fresher && fresher.version >= row.version ? fresher : row;
    }),
  };
}

function retentionCutoff(config: GatewayConfig): RetentionCutoff {
  return config.indexRetentionMs > 0 ? Date.now() - config.indexRetentionMs : undefined;
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
