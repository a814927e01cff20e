/**
 * Upload steps shared by the fault scenarios: create, resume with
 * tus-js-client from the upload's URL, and check the stored object against
 * its source.
 */
import { expect } from "vitest";
import type { UploadOptions } from "tus-js-client";
import { downloadSha256, sha256 } from "../../e2e/server";
import { createUpload } from "../../e2e/raw";
import { startTusUpload, type TusRun } from "../../e2e/tus";
import type { OffsetHistory } from "./offsets";

export function createKnownLength(endpoint: string, length: number, headers: Record<string, string> = {}): Promise<string> {
  return createUpload(endpoint, { "Upload-Length": String(length), ...headers });
}

export function createDeferredLength(endpoint: string, headers: Record<string, string> = {}): Promise<string> {
  return createUpload(endpoint, { "Upload-Defer-Length": "1", ...headers });
}

/** Bounds for a tus-js-client run: it has no timeout of its own, and repeats a PATCH that makes no progress forever. */
export interface RunLimits {
  /** Default 120 s. */
  timeoutMs?: number;
  /** Default 200. */
  maxRequests?: number;
}

/**
 * Starts tus-js-client on `data`, recording every offset it sees in
 * `history`; `done` rejects (and the upload is aborted) when the run passes
 * its time or request limit. Options whose value is undefined are left out,
 * so tus-js-client keeps its defaults (an explicit `chunkSize: undefined`
 * would become NaN and send empty PATCHes).
 */
export function startBoundedTusUpload(data: Buffer, history: OffsetHistory, options: UploadOptions, limits: RunLimits = {}): TusRun {
  const { timeoutMs = 120_000, maxRequests = 200 } = limits;
  const recording = history.tusCallbacks();
  let requests = 0;
  let fail!: (error: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as UploadOptions;
  const run = startTusUpload(data, {
    ...defined,
    onBeforeRequest(request) {
      recording.onBeforeRequest(request);
      if (++requests > maxRequests) {
        void run.upload.abort();
        fail(new Error(`${history.label}: tus-js-client sent more than ${maxRequests} requests\n${history.describe()}`));
      }
      return defined.onBeforeRequest?.(request);
    },
    onAfterResponse(request, response) {
      recording.onAfterResponse(request, response);
      return defined.onAfterResponse?.(request, response);
    },
  });
  const timer = setTimeout(() => {
    void run.upload.abort();
    fail(new Error(`${history.label}: tus-js-client did not finish within ${timeoutMs} ms\n${history.describe()}`));
  }, timeoutMs);
  failed.catch(() => {});
  const done = Promise.race([run.done, failed]).finally(() => clearTimeout(timer));
  done.catch(() => {});
  return { ...run, done };
}

/**
 * Resumes `url` with tus-js-client (HEAD, then PATCHes from the offset it
 * reports) until the upload is complete; every offset it sees goes into
 * `history`. Never creates a new upload: without `endpoint` it cannot.
 */
export async function resumeWithTusClient(
  url: string,
  data: Buffer,
  history: OffsetHistory,
  options: UploadOptions = {},
  limits: RunLimits = {},
): Promise<TusRun> {
  const run = startBoundedTusUpload(data, history, { ...options, uploadUrl: url }, limits);
  await run.done;
  return run;
}

/** The stored object is exactly `data` (streamed through sha256, never held twice). */
export async function expectIntact(url: string, data: Buffer, label = url): Promise<void> {
  const stored = await downloadSha256(url, { signal: AbortSignal.timeout(120_000) });
  expect(stored.size, `${label}: stored size`).toBe(data.length);
  expect(stored.sha256, `${label}: stored sha256`).toBe(sha256(data));
}
