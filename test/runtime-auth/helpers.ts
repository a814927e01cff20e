/**
 * Helpers for the access-control tests, on top of ../runtime/helpers.ts:
 * requests with a bearer token, uploads made by a given subject, and a look
 * at the key an upload's Durable Object chose for its R2 object.
 *
 * The runtime-auth project (vitest.config.ts) runs the gateway with
 * AUTH_MODE=jwt, a 64 MiB upload limit, at most 4 metadata keys in 512
 * bytes, ALLOWED_FILETYPES `image/png,video/*,application/octet-stream` and
 * OBJECT_KEY_TEMPLATE `{subject}/{filename}` under the default `uploads/`.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { newUploadId } from "../../src/upload-id";
import { b64, bodyText, COLLECTION, createUpload, download, patch, send, TUS, uploadStub, type CreatedUpload } from "../runtime/helpers";
import { bearer } from "./tokens";

export const TIMEOUT = 30_000;
export const MAX_UPLOAD_SIZE = 64 * 1024 * 1024;
export const ALLOWED_FILETYPES = "image/png, video/*, application/octet-stream";
/** Every upload needs an allowed `filetype`, since the allow-list is set. */
export const FILETYPE = "application/octet-stream";

/** Upload-Metadata from text values, in order. */
export function metadataHeader(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key} ${b64(value)}`)
    .join(",");
}

export interface UploadOptions {
  length?: number;
  deferred?: boolean;
  /** Text values; `filetype` defaults to an allowed one unless given (or `null` to leave it out). */
  metadata?: Record<string, string | null>;
  headers?: Record<string, string>;
}

function metadataWithFiletype(fields: Record<string, string | null> = {}): string {
  const withType: Record<string, string | null> = { filetype: FILETYPE, ...fields };
  const present = Object.fromEntries(Object.entries(withType).filter((entry): entry is [string, string] => entry[1] !== null));
  return metadataHeader(present);
}

/** The headers of a creation POST. */
export function creationHeaders(token: string, options: UploadOptions = {}): Record<string, string> {
  const headers: Record<string, string> = { ...TUS, ...bearer(token), "Upload-Metadata": metadataWithFiletype(options.metadata), ...options.headers };
  if (options.length !== undefined) headers["Upload-Length"] = String(options.length);
  if (options.deferred) headers["Upload-Defer-Length"] = "1";
  return headers;
}

/** POST on the collection with `token`; answers the raw response. */
export function postAs(token: string, options: UploadOptions = {}): Promise<Response> {
  return send(COLLECTION, { method: "POST", headers: creationHeaders(token, options) });
}

/** Creates an upload as the token's subject; asserts 201. */
export function createAs(token: string, options: UploadOptions = {}): Promise<CreatedUpload> {
  return createUpload({ headers: creationHeaders(token, options) });
}

/** Creates an upload of `data` and sends all of it in one PATCH; asserts each step. */
export async function uploadAs(token: string, data: Uint8Array, options: Omit<UploadOptions, "length" | "deferred"> = {}): Promise<CreatedUpload> {
  const created = await createAs(token, { ...options, length: data.length });
  if (data.length > 0) {
    const response = await patch(created.url, 0, data, bearer(token));
    expect(response.status, await bodyText(response)).toBe(204);
  }
  return created;
}

/** The key the upload's Durable Object stores its object under. */
export function objectKeyOf(id: string): Promise<string> {
  return runInDurableObject(uploadStub(id), (_instance, state) =>
    state.storage.sql.exec<{ object_key: string }>("SELECT object_key FROM upload").one().object_key,
  );
}

/** The URL of an upload nobody created (a genuine id the namespace minted, so it reaches a Durable Object). */
export function unknownUploadUrl(): string {
  return `${COLLECTION}${newUploadId(env.UPLOADS)}`;
}

/** GET with a token; the response and its bytes. */
export function downloadAs(token: string, url: string): Promise<{ response: Response; bytes: Uint8Array }> {
  return download(url, bearer(token));
}

/** Asserts an error answer: its status and a plain-text message matching `message`. */
export async function expectError(response: Response, status: number, message: RegExp): Promise<string> {
  const text = await bodyText(response);
  expect(response.status, text).toBe(status);
  expect(text).toMatch(message);
  return text;
}

/** A subject no other test uses, so keys built from `{subject}/{filename}` never collide between tests. */
export function uniqueSubject(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}`;
}
