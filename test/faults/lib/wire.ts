/**
 * HTTP at the level the fault tests need: a request whose body is written
 * piece by piece, where every write is known to have reached the kernel, and
 * which can be cut (socket destroyed) or left stalled at any byte. Built on
 * `node:http` with one socket per request (no keep-alive), so a socket's fate
 * is its request's. The requests' headers are the shared wire client's
 * (test/lib/wire.ts); this is the transport that needs sockets.
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import { tus } from "../../lib/wire.ts";

export { OCTETS, TUS } from "../../lib/wire.ts";

export interface WireResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body, at most `maxBodyBytes` of it. */
  body: Buffer;
  /** `performance.now()` when the request was opened and when the response's headers arrived. */
  sentAt: number;
  answeredAt: number;
}

export interface OpenRequestInit {
  method: string;
  /** An object, or a flat `[name, value, name, value…]` list (which may repeat a name). */
  headers?: OutgoingHttpHeaders | string[];
  /** The raw request target, sent as is (e.g. `/files/../x`); default: the URL's path and query. */
  path?: string;
  /** The whole exchange must end within this time, or the request is destroyed and `response` rejects. */
  timeoutMs: number;
  /** Keep at most this much of the response body. Default 64 KiB. */
  maxBodyBytes?: number;
  /**
   * Stop reading once `maxBodyBytes` are in and end the exchange there (the
   * socket is destroyed): for callers that need the status, not a whole download.
   */
  stopAfterMaxBody?: boolean;
}

export interface OpenRequest {
  /**
   * Writes body bytes and resolves once Node handed them to the kernel (the
   * write callback), so a later `destroy()` cannot drop them in Node's own
   * buffers. Resolves false, writing nothing, once the request is over.
   */
  write(bytes: Uint8Array): Promise<boolean>;
  end(): void;
  /** Destroys the socket at once, mid-body if need be: a client that vanished. */
  destroy(): void;
  /** Body bytes handed to the kernel so far. */
  readonly written: number;
  readonly answered: boolean;
  /** The answer; rejects if the connection ends without one, or on timeout. */
  readonly response: Promise<WireResponse>;
}

export class NoAnswerError extends Error {
  /** True when the time ran out; false when the connection ended without an answer. */
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean) {
    super(message);
    this.name = "NoAnswerError";
    this.timedOut = timedOut;
  }
}

export function openRequest(url: string, init: OpenRequestInit): OpenRequest {
  const target = new URL(url);
  const sentAt = performance.now();
  const maxBodyBytes = init.maxBodyBytes ?? 64 * 1024;
  const request = httpRequest({
    host: target.hostname,
    port: target.port,
    method: init.method,
    path: init.path ?? `${target.pathname}${target.search}`,
    headers: init.headers,
    agent: false,
    // The fuzz sends header values Node's strict checks would stop; the server must cope with them.
    insecureHTTPParser: true,
  });
  // Headers go out now, not with the first body byte: a request may stall before sending any.
  request.flushHeaders();
  let written = 0;
  let answered = false;
  let over = false;
  const response = new Promise<WireResponse>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new NoAnswerError(`${init.method} ${url}: no complete answer within ${init.timeoutMs} ms`, true));
      over = true;
      request.destroy();
    }, init.timeoutMs);
    request.on("response", (incoming) => {
      answered = true;
      const answeredAt = performance.now();
      const chunks: Buffer[] = [];
      let kept = 0;
      const finish = () => {
        clearTimeout(timer);
        over = true;
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: Buffer.concat(chunks), sentAt, answeredAt });
        request.destroy();
      };
      incoming.on("data", (chunk: Buffer) => {
        if (kept < maxBodyBytes) chunks.push(chunk.subarray(0, maxBodyBytes - kept));
        kept += chunk.length;
        if (init.stopAfterMaxBody && kept >= maxBodyBytes) finish();
      });
      incoming.on("end", finish);
      incoming.on("error", (error) => {
        clearTimeout(timer);
        over = true;
        reject(new NoAnswerError(`${init.method} ${url}: the ${incoming.statusCode} answer was cut short (${error.message})`, false));
      });
    });
    request.on("error", (error) => {
      if (answered) return; // the rest of the body could not be sent after the answer: the server's choice
      clearTimeout(timer);
      over = true;
      reject(new NoAnswerError(`${init.method} ${url}: ${error.message}`, false));
    });
    request.on("close", () => {
      if (answered) return;
      clearTimeout(timer);
      over = true;
      reject(new NoAnswerError(`${init.method} ${url}: connection closed without an answer`, false));
    });
  });
  // Callers that cut a request on purpose need not await its (rejected) answer.
  response.catch(() => {});

  return {
    write(bytes) {
      if (over || request.destroyed || bytes.length === 0) return Promise.resolve(false);
      return new Promise((resolve) => {
        request.write(bytes, (error) => {
          if (!error) written += bytes.length;
          resolve(!error);
        });
      });
    },
    end() {
      if (!request.destroyed) request.end();
    },
    destroy() {
      over = true;
      request.destroy();
    },
    get written() {
      return written;
    },
    get answered() {
      return answered;
    },
    response,
  };
}

/** Writes `body` in pieces of `pieceSize`, each flushed before the next, optionally `pauseMs` apart; stops early if the request is over. */
export async function writeInPieces(request: OpenRequest, body: Uint8Array, pieceSize: number, pauseMs = 0): Promise<void> {
  for (let at = 0; at < body.length; at += pieceSize) {
    if (!(await request.write(body.subarray(at, at + pieceSize)))) return;
    if (pauseMs > 0) await new Promise((wake) => setTimeout(wake, pauseMs));
  }
}

/** One whole request: body written at once, answer awaited. */
export async function exchange(url: string, init: OpenRequestInit & { headers?: OutgoingHttpHeaders; body?: Uint8Array }): Promise<WireResponse> {
  const headers: OutgoingHttpHeaders = { ...init.headers };
  if (init.body && !Object.keys(headers).some((name) => /^(content-length|transfer-encoding)$/i.test(name))) {
    headers["Content-Length"] = String(init.body.length);
  }
  const request = openRequest(url, { ...init, headers });
  if (init.body?.length) await request.write(init.body);
  request.end();
  return request.response;
}

/** A PATCH of `body` at `offset`, with Content-Length announced; the caller writes, cuts or stalls it. */
export function openPatch(url: string, offset: number, declaredLength: number, timeoutMs: number, headers: OutgoingHttpHeaders = {}): OpenRequest {
  return openRequest(url, {
    method: "PATCH",
    headers: { ...tus.patch(offset, undefined).headers, "Content-Length": String(declaredLength), ...headers },
    timeoutMs,
  });
}

/**
 * A PATCH cut at byte `cutAt` of `body`: the pieces up to it are flushed to
 * the kernel, then the socket is destroyed. Returns the bytes written and
 * the answer, if the server answered before the cut.
 */
export async function cutPatch(
  url: string,
  offset: number,
  body: Uint8Array,
  cutAt: number,
  options: { pieceSize?: number; timeoutMs?: number } = {},
): Promise<{ written: number; response: WireResponse | undefined }> {
  const request = openPatch(url, offset, body.length, options.timeoutMs ?? 60_000);
  await writeInPieces(request, body.subarray(0, cutAt), options.pieceSize ?? 256 * 1024);
  const early = request.answered ? await request.response.catch(() => undefined) : undefined;
  request.destroy();
  return { written: request.written, response: early };
}

/** `Upload-Offset` of a response, if it carries a valid one. */
export function offsetOf(response: { headers: IncomingHttpHeaders }): number | undefined {
  const value = response.headers["upload-offset"];
  return typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : undefined;
}

export function head(url: string, timeoutMs = 30_000): Promise<WireResponse> {
  return exchange(url, { ...tus.head(), timeoutMs });
}

/** A PATCH sent whole. */
export function patch(url: string, offset: number, body: Uint8Array, timeoutMs = 60_000, headers: OutgoingHttpHeaders = {}): Promise<WireResponse> {
  const request = tus.patch(offset, body);
  return exchange(url, { ...request, headers: { ...request.headers, ...headers }, timeoutMs });
}
