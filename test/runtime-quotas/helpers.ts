/**
 * Helpers for the quota tests (the runtime-quotas project, vitest.config.ts):
 * the root wrangler.toml (SUBJECTS bound) with AUTH_MODE=jwt and the
 * server's quotas SUBJECT_MAX_ACTIVE_UPLOADS=3, SUBJECT_MAX_ACTIVE_BYTES=40 MiB
 * and SUBJECT_MAX_STORED_BYTES=64 MiB, and a pre-finish hook that rejects
 * uploads whose metadata has the key `reject` (hook-network.ts).
 *
 * They talk to the gateway as a client would, and look behind it only at
 * what the subject's index (its Durable Object) holds and uses.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, expect, vi } from "vitest";
import type { QuotaUsage } from "../../src/upload/quota-gate";
import { b64, bodyText, COLLECTION, eventually, MiB, patch, send, TUS, uploadIdOf } from "../runtime/helpers";
export { eventually } from "../runtime/helpers";
import { bearer, claimsFor, signToken, type Claims } from "../runtime-auth/tokens";

export { MiB } from "../runtime/helpers";

export const TIMEOUT = 60_000;
/** The server's quotas (vitest.config.ts). */
export const MAX_ACTIVE_UPLOADS = 3;
export const MAX_ACTIVE_BYTES = 40 * MiB;
export const MAX_STORED_BYTES = 64 * MiB;

export function uniqueSubject(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A token for `subject`, with extra claims (quota claims, say). */
export function tokenFor(subject: string, extra: Claims = {}): Promise<string> {
  return signToken(claimsFor(subject, extra));
}

export interface Creation {
  length?: number;
  deferred?: boolean;
  /** Text metadata values. */
  metadata?: Record<string, string>;
  body?: Uint8Array;
  headers?: Record<string, string>;
}

/** A tus creation POST as `token`'s subject; the raw answer. */
export function post(token: string, creation: Creation = {}): Promise<Response> {
  const headers: Record<string, string> = { ...TUS, ...bearer(token), ...creation.headers };
  if (creation.length !== undefined) headers["Upload-Length"] = String(creation.length);
  if (creation.deferred) headers["Upload-Defer-Length"] = "1";
  if (creation.metadata) headers["Upload-Metadata"] = Object.entries(creation.metadata).map(([key, value]) => `${key} ${b64(value)}`).join(",");
  if (creation.body) headers["Content-Type"] = "application/offset+octet-stream";
  return send(COLLECTION, { method: "POST", headers, body: creation.body });
}

export interface Created {
  url: string;
  id: string;
}

/** A creation that must succeed (201). */
export async function create(token: string, creation: Creation = {}): Promise<Created> {
  const response = await post(token, creation);
  expect(response.status, await bodyText(response)).toBe(201);
  const url = response.headers.get("Location")!;
  return { url, id: uploadIdOf(url) };
}

/** Creates an upload of `length` bytes and sends all of them: finished (unless the hook rejects it). */
export async function upload(token: string, length: number, metadata?: Record<string, string>): Promise<Created & { finish: Response }> {
  const created = await create(token, { length, metadata });
  const finish = await patch(created.url, 0, new Uint8Array(length).fill(1), bearer(token));
  return { ...created, finish };
}

/** Asserts a quota refusal: 403, a text that names the variable, the claim, the limit and the use. */
export async function expectRefusal(response: Response, quota: { variable: string; claim: string; limit: number; used: number }): Promise<string> {
  const text = await bodyText(response);
  expect(response.status, text).toBe(403);
  expect(response.headers.get("Location")).toBeNull();
  expect(text).toContain(quota.variable);
  expect(text).toContain(quota.claim);
  expect(text).toContain(`allows ${quota.limit} `);
  expect(text).toContain(`this subject has ${quota.used}`);
  expect(text).toMatch(/Nothing was created/);
  return text;
}

export const ACTIVE_UPLOADS = { variable: "SUBJECT_MAX_ACTIVE_UPLOADS", claim: "max_active_uploads" } as const;
export const ACTIVE_BYTES = { variable: "SUBJECT_MAX_ACTIVE_BYTES", claim: "max_active_bytes" } as const;
export const STORED_BYTES = { variable: "SUBJECT_MAX_STORED_BYTES", claim: "max_stored_bytes" } as const;

export function subjectIndex(subject: string) {
  return env.SUBJECTS.get(env.SUBJECTS.idFromName(subject));
}

/** What the subject's index says the subject uses; asserts its running use equals the sum over its entries. */
export async function usageOf(subject: string): Promise<QuotaUsage> {
  const { running, counted } = await subjectIndex(subject).usage();
  expect(running, "the running use equals the use summed over the entries").toEqual(counted);
  return running;
}

/** Every entry of the subject's index (reservations included): id, state, version, reserved. */
export function entriesOf(subject: string): Promise<Array<{ id: string; state: string; version: number; reserved: number; length: number | null }>> {
  return runInDurableObject(subjectIndex(subject), (_instance, state) =>
    state.storage.sql
      .exec<{ id: string; state: string; version: number; reserved: number; length: number | null }>("SELECT id, state, version, reserved, length FROM uploads ORDER BY created_at")
      .toArray()
      .map((row) => ({ ...row })),
  );
}


/** Waits until the subject's index uses exactly this (the outbox brought every record). */
export function usageBecomes(subject: string, expected: Partial<QuotaUsage>, timeoutMs?: number): Promise<QuotaUsage> {
  return eventually(
    `${subject}'s use reaching ${JSON.stringify(expected)}`,
    () => usageOf(subject),
    (used) => Object.entries(expected).every(([quota, value]) => used[quota as keyof QuotaUsage] === value),
    timeoutMs,
  );
}

export interface LogLine {
  level: string;
  event: string;
  consoleMethod: string;
  [field: string]: unknown;
}

/**
 * Captures the console (the Worker, its Durable Objects and the tests share
 * one isolate) while each test runs, still passing it through; `logLines()`
 * answers the JSON lines written since the test began.
 */
export function captureLogs(): { logLines(event?: string): LogLine[] } {
  let written: Array<{ method: string; text: string }> = [];
  beforeEach(() => {
    written = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        written.push({ method, text: args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" ") });
      });
    }
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return {
    logLines(event) {
      return written.flatMap(({ method, text }) => {
        try {
          const line = JSON.parse(text) as LogLine;
          return line && typeof line === "object" && typeof line.event === "string" && (event === undefined || line.event === event) ? [{ ...line, consoleMethod: method }] : [];
        } catch {
          return [];
        }
      });
    },
  };
}
