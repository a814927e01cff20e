import { TusError } from "../errors";
import { INDEXED_STATES, type IndexedState } from "../upload/index-record";

/** A page of the listing: `?limit=` (default 50, at most 200), `?cursor=` from the previous page, filters. */
export interface ListQuery {
  limit: number;
  cursor: ListCursor | undefined;
  state: IndexedState | undefined;
  /** The decoded `filename` (or `name`) metadata value, exactly. */
  filename: string | undefined;
  /** Administrators only: */
  subject: string | undefined;
  createdBefore: number | undefined;
  createdAfter: number | undefined;
  /** Uploads of at least this many bytes (their length, or what arrived while it is deferred). */
  minSize: number | undefined;
}

/** Where the previous page ended: newest first, by creation time, then id. */
export interface ListCursor {
  createdAt: number;
  id: string;
}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

const COMMON = ["limit", "cursor", "state", "filename", "access_token"];
const ADMIN_ONLY = ["subject", "created_before", "created_after", "min_size"];

function invalid(message: string): TusError {
  return new TusError("invalid-query", message);
}

/** Reads a listing's query string; anything unknown or malformed is a 400 that says what was wrong. */
export function parseListQuery(params: URLSearchParams, admin: boolean): ListQuery {
  for (const name of params.keys()) {
    if (COMMON.includes(name) || (admin && ADMIN_ONLY.includes(name))) continue;
    const allowed = admin ? [...COMMON.slice(0, 4), ...ADMIN_ONLY] : COMMON.slice(0, 4);
    const why = ADMIN_ONLY.includes(name) ? `?${name}= is for administrators (${"`"}GET <ADMIN_PATH>${"`"})` : `unknown query parameter ?${name}=`;
    throw invalid(`${why}; a listing takes ${allowed.map((item) => `?${item}=`).join(", ")}`);
  }
  const limit = params.get("limit");
  const state = params.get("state");
  if (state !== null && !(INDEXED_STATES as readonly string[]).includes(state)) {
    throw invalid(`?state= must be one of ${INDEXED_STATES.join(", ")}, got "${state}"`);
  }
  return {
    limit: limit === null ? DEFAULT_LIMIT : integer("limit", limit, 1, MAX_LIMIT),
    cursor: parseCursor(params.get("cursor")),
    state: (state ?? undefined) as IndexedState | undefined,
    filename: params.get("filename") ?? undefined,
    subject: params.get("subject") ?? undefined,
    createdBefore: time("created_before", params.get("created_before")),
    createdAfter: time("created_after", params.get("created_after")),
    minSize: params.get("min_size") === null ? undefined : integer("min_size", params.get("min_size")!, 0, Number.MAX_SAFE_INTEGER),
  };
}

function integer(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!/^[0-9]+$/.test(raw) || value < min || value > max) throw invalid(`?${name}= must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

/** An ISO 8601 time (e.g. 2026-12-01T00:00:00Z) or milliseconds since the epoch. */
function time(name: string, raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const value = /^[0-9]+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(value)) throw invalid(`?${name}= must be an ISO 8601 time or milliseconds since the epoch, got "${raw}"`);
  return value;
}

/** Opaque to clients: base64url of `[createdAt, id]`. */
export function encodeCursor(cursor: ListCursor): string {
  return btoa(JSON.stringify([cursor.createdAt, cursor.id])).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function parseCursor(raw: string | null): ListCursor | undefined {
  if (raw === null) return undefined;
  try {
    const [createdAt, id] = JSON.parse(atob(raw.replace(/-/g, "+").replace(/_/g, "/"))) as unknown[];
    if (typeof createdAt === "number" && typeof id === "string") return { createdAt, id };
  } catch {
    // malformed: answered below
  }
  throw invalid("?cursor= is not a cursor this server gave out; pass the `next` value of the previous page as it is");
}
