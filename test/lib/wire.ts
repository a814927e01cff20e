/**
 * The wire client of every test suite: the requests of tus 1.0 and of the
 * IETF draft (Resumable Uploads for HTTP) written once, as data, and sent by
 * whatever transport a suite has.
 *
 *  - `tus.*` and `ietf.*` build a request without its URL (method, headers,
 *    body): what every transport sends.
 *  - `wireClient(fetch)` sends them with a fetch-like function: the runtime
 *    suites' `SELF.fetch` (test/runtime/helpers.ts), Node's `fetch` against a
 *    local server (test/e2e/raw.ts), bench/run.ts's keep-alive requests.
 *  - The fault suite's socket writer (test/faults/lib/wire.ts), which writes
 *    bodies piece by piece and cuts or stalls them at any byte, sends the
 *    same builders' headers.
 *
 * No imports: the file runs in workerd and in Node (also under
 * `node --experimental-strip-types`, which the bench and the soak use).
 */

export const TUS = { "Tus-Resumable": "1.0.0" } as const;
export const OCTET = "application/offset+octet-stream";
export const OCTETS = { "Content-Type": OCTET } as const;
/** The append body's media type of the IETF draft from interop version 6. */
export const PARTIAL_UPLOAD = "application/partial-upload";
export const INTEROP_HEADER = "Upload-Draft-Interop-Version";

export type HeaderFields = Record<string, string>;

/** A request without its URL. `Body` is what the transport takes (a fetch body, bytes for a socket). */
export interface WireRequest<Body = RequestBody> {
  method: string;
  headers: HeaderFields;
  body?: Body;
}

export type RequestBody = RequestInit["body"];

/* ---------- tus 1.0 ---------- */

export interface TusCreation<Body = RequestBody> {
  length?: number;
  deferred?: boolean;
  /** `Upload-Metadata` as sent. */
  metadata?: string;
  /** First bytes of the upload (creation-with-upload): sent as `application/offset+octet-stream`. */
  body?: Body;
  headers?: HeaderFields;
}

export const tus = {
  /** POST on the collection. */
  create<Body = never>(options: TusCreation<Body> = {}): WireRequest<Body> {
    // The options' fields win over the same fields in `headers`.
    const headers: HeaderFields = { ...TUS, ...options.headers };
    if (options.length !== undefined) headers["Upload-Length"] = String(options.length);
    if (options.deferred) headers["Upload-Defer-Length"] = "1";
    if (options.metadata !== undefined) headers["Upload-Metadata"] = options.metadata;
    if (options.body !== undefined && options.body !== null) headers["Content-Type"] = OCTET;
    return { method: "POST", headers, body: options.body };
  },

  /** POST of a final upload made of `partials` (concatenation). */
  final(partials: string[], headers: HeaderFields = {}): WireRequest<never> {
    return { method: "POST", headers: { ...TUS, "Upload-Concat": `final;${partials.join(" ")}`, ...headers } };
  },

  /** PATCH `body` at `offset`. */
  patch<Body = RequestBody>(offset: number, body: Body, headers: HeaderFields = {}): WireRequest<Body> {
    return { method: "PATCH", headers: { ...TUS, ...OCTETS, "Upload-Offset": String(offset), ...headers }, body };
  },

  head(headers: HeaderFields = {}): WireRequest<never> {
    return { method: "HEAD", headers: { ...TUS, ...headers } };
  },

  /** GET (a download): tus does not ask for `Tus-Resumable` here. */
  get(headers: HeaderFields = {}): WireRequest<never> {
    return { method: "GET", headers: { ...headers } };
  },

  /** DELETE (termination). */
  delete(headers: HeaderFields = {}): WireRequest<never> {
    return { method: "DELETE", headers: { ...TUS, ...headers } };
  },

  /** OPTIONS: the server's version and extensions; `Tus-Resumable` is not required. */
  options(headers: HeaderFields = {}): WireRequest<never> {
    return { method: "OPTIONS", headers: { ...headers } };
  },
};

/* ---------- the IETF draft ---------- */

/** `Upload-Draft-Interop-Version: <version>`. */
export function interop(version: number): HeaderFields {
  return { [INTEROP_HEADER]: String(version) };
}

/** The completion field of a version: `Upload-Incomplete` (inverted) at 3, `Upload-Complete` after. */
export function completion(version: number, complete: boolean): HeaderFields {
  return version === 3 ? { "Upload-Incomplete": complete ? "?0" : "?1" } : { "Upload-Complete": complete ? "?1" : "?0" };
}

/** Reads the completion field of an answer in the version's words; undefined if absent. */
export function isComplete(version: number, headers: { get(name: string): string | null }): boolean | undefined {
  const value = headers.get(version === 3 ? "Upload-Incomplete" : "Upload-Complete");
  if (value === null) return undefined;
  return version === 3 ? value === "?0" : value === "?1";
}

export interface IetfCreation<Body = RequestBody> {
  /** Whether the body is the whole upload (`?1`); `?0` leaves it open for appends. */
  complete: boolean;
  body?: Body;
  headers?: HeaderFields;
  /** The draft allows creation by PUT as well. */
  method?: "POST" | "PUT";
}

export const ietf = {
  /** An upload creation (POST on the collection) with the completion field. */
  create<Body = never>(version: number, options: IetfCreation<Body>): WireRequest<Body> {
    return {
      method: options.method ?? "POST",
      headers: { ...interop(version), ...completion(version, options.complete), ...options.headers },
      body: options.body,
    };
  },

  /** An append (PATCH) at `offset`, with `application/partial-upload` where the version asks for it. */
  append<Body = RequestBody>(version: number, offset: number, complete: boolean, body: Body, headers: HeaderFields = {}): WireRequest<Body> {
    return {
      method: "PATCH",
      headers: {
        ...interop(version),
        ...completion(version, complete),
        "Upload-Offset": String(offset),
        ...(version >= 6 ? { "Content-Type": PARTIAL_UPLOAD } : {}),
        ...headers,
      },
      body,
    };
  },

  /** Offset retrieval (HEAD). */
  offset(version: number, headers: HeaderFields = {}): WireRequest<never> {
    return { method: "HEAD", headers: { ...interop(version), ...headers } };
  },

  /** Upload cancellation (DELETE). */
  cancel(version: number, headers: HeaderFields = {}): WireRequest<never> {
    return { method: "DELETE", headers: { ...interop(version), ...headers } };
  },
};

/* ---------- sending them with fetch ---------- */

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The builders above, sent with `fetch` to a URL. */
export interface WireClient {
  send(url: string, request: WireRequest): Promise<Response>;
  create(collection: string, options?: TusCreation<RequestBody>): Promise<Response>;
  final(collection: string, partials: string[], headers?: HeaderFields): Promise<Response>;
  patch(url: string, offset: number, body: RequestBody, headers?: HeaderFields): Promise<Response>;
  head(url: string, headers?: HeaderFields): Promise<Response>;
  get(url: string, headers?: HeaderFields): Promise<Response>;
  delete(url: string, headers?: HeaderFields): Promise<Response>;
  options(url: string, headers?: HeaderFields): Promise<Response>;
  ietf: {
    create(collection: string, version: number, options: IetfCreation<RequestBody>): Promise<Response>;
    append(url: string, version: number, offset: number, complete: boolean, body: RequestBody, headers?: HeaderFields): Promise<Response>;
    offset(url: string, version: number, headers?: HeaderFields): Promise<Response>;
    cancel(url: string, version: number, headers?: HeaderFields): Promise<Response>;
  };
}

export function wireClient(fetch: FetchLike): WireClient {
  const send = (url: string, request: WireRequest) => fetch(url, request);
  return {
    send,
    create: (collection, options) => send(collection, tus.create(options)),
    final: (collection, partials, headers) => send(collection, tus.final(partials, headers)),
    patch: (url, offset, body, headers) => send(url, tus.patch(offset, body, headers)),
    head: (url, headers) => send(url, tus.head(headers)),
    get: (url, headers) => send(url, tus.get(headers)),
    delete: (url, headers) => send(url, tus.delete(headers)),
    options: (url, headers) => send(url, tus.options(headers)),
    ietf: {
      create: (collection, version, options) => send(collection, ietf.create(version, options)),
      append: (url, version, offset, complete, body, headers) => send(url, ietf.append(version, offset, complete, body, headers)),
      offset: (url, version, headers) => send(url, ietf.offset(version, headers)),
      cancel: (url, version, headers) => send(url, ietf.cancel(version, headers)),
    },
  };
}
