/**
 * The tus protocol spoken by hand with Node's `fetch` (and `node:http` where a
 * body must trickle in over time), for the end-to-end tests of the tus
 * extensions. Each helper returns the raw Response so tests check statuses
 * and headers themselves.
 */
import { createHash } from "node:crypto";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tus, wireClient } from "../lib/wire";
import { sleep } from "./server";

export { OCTETS, TUS } from "../lib/wire";

/** The shared wire client (test/lib/wire.ts) over Node's fetch. */
export const wire = wireClient((url, init) => fetch(url, init));

/** Base64 digest of `data`, as `Upload-Checksum` carries it. */
export function digest(algorithm: "sha1" | "sha256" | "sha512" | "md5", data: Uint8Array): string {
  return createHash(algorithm).update(data).digest("base64");
}

/** POST on the collection; anything but 201 is an error. Returns the absolute upload URL. */
export async function createUpload(endpoint: string, headers: Record<string, string>): Promise<string> {
  const response = await wire.create(endpoint, { headers });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST ${endpoint} answered ${response.status}: ${text}`);
  const location = response.headers.get("Location");
  if (!location) throw new Error(`POST ${endpoint} answered 201 without Location`);
  return new URL(location, endpoint).href;
}

/** PATCH `body` at `offset`. The body is read (and dropped) so the connection can be reused. */
export async function patch(url: string, offset: number, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  const response = await wire.patch(url, offset, body, headers);
  await response.arrayBuffer();
  return response;
}

export async function head(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { ...tus.head(headers), cache: "no-store" });
}

/** A request with no body of interest (GET/DELETE/OPTIONS…); its body is drained. */
export async function send(method: string, url: string, headers: Record<string, string> = {}): Promise<Response> {
  const response = await wire.send(url, { method, headers });
  await response.arrayBuffer();
  return response;
}

/** HEAD's `Upload-Offset`, which must be there. */
export async function headOffset(url: string): Promise<number> {
  const response = await head(url);
  if (response.status !== 200) throw new Error(`HEAD ${url} answered ${response.status}`);
  const offset = response.headers.get("Upload-Offset");
  if (offset === null || !/^[0-9]+$/.test(offset)) throw new Error(`HEAD ${url} has no valid Upload-Offset (${offset})`);
  return Number(offset);
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function pollUntil<T>(what: string, timeoutMs: number, intervalMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

export interface SlowResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A PATCH whose body trickles in: `pieces` are written `intervalMs` apart on
 * one connection with a Content-Length announced up front, like a client on
 * a slow link. Resolves with the response once the server answers; rejects
 * if the connection fails before that.
 */
export function slowPatch(
  url: string,
  offset: number,
  pieces: Uint8Array[],
  intervalMs: number,
  headers: Record<string, string> = {},
): Promise<SlowResponse> {
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: "PATCH",
      agent: false,
      headers: tus.patch(offset, null, { "Content-Length": String(length), ...headers }).headers,
    });
    let answered = false;
    request.on("response", (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") });
        request.destroy();
      });
      response.on("error", reject);
    });
    // Once answered, a failure to send the rest is the server's choice, not an error.
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    void (async () => {
      for (const piece of pieces) {
        if (answered || request.destroyed) return;
        request.write(piece);
        await sleep(intervalMs);
      }
      if (!answered && !request.destroyed) request.end();
    })();
  });
}
