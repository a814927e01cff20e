/**
 * Requests to the soak's gateway, each recorded (lib/record.ts): raw tus and
 * IETF requests through test/faults/lib/wire.ts (cut or stalled at any
 * byte), downloads through fetch. A request that gets no answer (the runtime
 * was killed, the connection cut) resolves undefined: the caller retries.
 */
import type { OutgoingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import { exchange, openRequest, writeInPieces, type OpenRequest, type WireResponse } from "../../faults/lib/wire.ts";
import type { Recorder, UploadRecord } from "./record.ts";

export interface SendInit {
  method: string;
  url: string;
  headers: OutgoingHttpHeaders;
  body?: Uint8Array;
  upload?: UploadRecord;
  timeoutMs?: number;
}

export class Http {
  readonly rec: Recorder;
  constructor(rec: Recorder) {
    this.rec = rec;
  }

  /** Records a wire answer. */
  note(init: SendInit, response: WireResponse): WireResponse {
    this.rec.answer({
      method: init.method,
      url: init.method === "POST" && response.headers.location ? new URL(response.headers.location, init.url).href : init.url,
      status: response.status,
      headers: response.headers,
      body: response.body.toString("utf8"),
      sentAt: response.sentAt,
      answeredAt: response.answeredAt,
      upload: init.upload,
    });
    return response;
  }

  /** One whole request; undefined when no answer came (connection refused, reset, timeout). */
  async send(init: SendInit): Promise<WireResponse | undefined> {
    const headers: OutgoingHttpHeaders = { ...init.headers };
    if (init.body) this.rec.bytesSent += init.body.length;
    try {
      const response = await exchange(init.url, { method: init.method, headers, body: init.body ?? (init.method === "POST" || init.method === "PATCH" ? new Uint8Array(0) : undefined), timeoutMs: init.timeoutMs ?? 60_000 });
      return this.note(init, response);
    } catch {
      return undefined;
    }
  }

  /**
   * A request whose body is written in pieces and that the caller may cut
   * or stall: answers are recorded when they come.
   */
  open(init: SendInit & { declaredLength: number }): OpenRequest {
    const request = openRequest(init.url, {
      method: init.method,
      headers: { ...init.headers, "Content-Length": String(init.declaredLength) },
      timeoutMs: init.timeoutMs ?? 60_000,
    });
    request.response.then((response) => this.note(init, response), () => {});
    return request;
  }

  /** A request cut (socket destroyed) after `cutAt` bytes of `body`; the answer, if one came before the cut. */
  async cut(init: SendInit & { body: Uint8Array }, cutAt: number): Promise<WireResponse | undefined> {
    const request = this.open({ ...init, declaredLength: init.body.length });
    await writeInPieces(request, init.body.subarray(0, cutAt), 256 * 1024);
    this.rec.bytesSent += request.written;
    const early = request.answered ? await request.response.catch(() => undefined) : undefined;
    request.destroy();
    return early;
  }

  /** GET through fetch (a download): status, headers and the body's bytes; undefined when it broke off. */
  async get(url: string, headers: Record<string, string>, upload?: UploadRecord): Promise<{ status: number; body: Buffer } | undefined> {
    const sentAt = performance.now();
    try {
      const response = await fetch(url, { headers, signal: AbortSignal.timeout(120_000) });
      const answeredAt = performance.now();
      const body = Buffer.from(await response.arrayBuffer());
      this.rec.answer({
        method: "GET",
        url,
        status: response.status,
        headers: (name) => response.headers.get(name) ?? undefined,
        body: response.status >= 400 ? body.toString("utf8") : "",
        sentAt,
        answeredAt,
        upload,
      });
      return { status: response.status, body };
    } catch {
      return undefined;
    }
  }
}
