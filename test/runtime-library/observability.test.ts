/**
 * Structured logs and metrics (README, "Operating"). Log lines are read
 * where the runtime writes them, the console (the Worker, its Durable
 * Objects and these tests share one isolate); data points through the real
 * local METRICS binding, which worker.ts wraps to record them
 * (recorded-metrics.ts).
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setExpiresAt } from "../runtime/extensions/helpers";
import { bodyText, download, expectNoServerErrors, MiB, patch, randomBytes, send, TUS, uploadStub } from "../runtime/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import keys from "../fixtures/jwt-test-keys.json";
import { COLLECTION, create, holdAfterFailure, retryNow, TIMEOUT, upload, waitFor } from "./helpers";
import { recordedPoints } from "./recorded-metrics";
import worker, { BASE_PATH } from "./worker";

interface Line {
  level: string;
  event: string;
  [field: string]: unknown;
}

/** Everything written to the console, as text, by method. */
let written: Array<{ method: string; text: string }> = [];

beforeEach(() => {
  written = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      written.push({ method, text: args.map((arg) => (typeof arg === "string" ? arg : arg instanceof Error ? `${arg.message}\n${arg.stack}` : JSON.stringify(arg))).join(" ") });
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
  expectNoServerErrors();
});

/** The JSON lines written so far, with the console method that wrote each. */
function lines(): Array<Line & { consoleMethod: string }> {
  return written.flatMap(({ method, text }) => {
    try {
      const line = JSON.parse(text) as Line;
      return typeof line === "object" && line && typeof line.event === "string" ? [{ ...line, consoleMethod: method }] : [];
    } catch {
      return [];
    }
  });
}

function linesOf(event: string, uploadId?: string): Array<Line & { consoleMethod: string }> {
  return lines().filter((line) => line.event === event && (uploadId === undefined || line.uploadId === uploadId));
}

/** A recorded data point, read back through the documented positions (src/observability/metrics.ts). */
interface Point {
  event: string;
  method: string;
  status: string;
  errorCode: string;
  dialect: string;
  uploadId: string;
  subject: string;
  bytes: number;
  durationMs: number;
  offset: number;
  attempt: number;
  index: string;
}

function points(): Point[] {
  return recordedPoints.map(({ blobs = [], doubles = [], indexes = [] }) => {
    const [event, method, status, errorCode, dialect, uploadId, subject] = blobs as string[];
    const [bytes, durationMs, offset, attempt] = doubles;
    return {
      event: event!,
      method: method!,
      status: status!,
      errorCode: errorCode!,
      dialect: dialect!,
      uploadId: uploadId!,
      subject: subject!,
      bytes: bytes!,
      durationMs: durationMs!,
      offset: offset!,
      attempt: attempt!,
      index: indexes[0] as string,
    };
  });
}

describe("request lines", () => {
  it("one JSON line per request, at info level, with method, path, status, dialect, upload id, subject, bytes, duration and error code", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("olivia");
    const data = randomBytes(MiB + 7, 71);
    const { url, id } = await create(token, { length: data.length, metadata: { filename: "olivia.bin" } });
    const mismatch = await patch(url, 5, data.subarray(0, 10), bearer(token));
    expect(mismatch.status).toBe(409);
    const stored = await patch(url, 0, data, bearer(token));
    expect(stored.status, await bodyText(stored)).toBe(204);

    const requests = linesOf("ResponseOutgoing");
    expect(requests.map((line) => `${line.consoleMethod} ${line.level} ${line.status}`)).toEqual(["log info 201", "log info 409", "log info 204"]);
    const [created, refused, appended] = requests;
    // The creation's line names the upload it created.
    expect(created).toMatchObject({ method: "POST", path: BASE_PATH, status: 201, dialect: "tus", subject: "olivia", uploadId: id });
    expect(created!.errorCode).toBeUndefined();
    expect(refused).toMatchObject({ method: "PATCH", path: `${BASE_PATH}${id}`, status: 409, uploadId: id, errorCode: "offset-mismatch", bytesReceived: 10 });
    expect(appended).toMatchObject({ method: "PATCH", status: 204, uploadId: id, subject: "olivia", bytesReceived: data.length });
    for (const line of requests) expect(typeof line.durationMs === "number" && line.durationMs >= 0, JSON.stringify(line)).toBe(true);
  });

  it("names the IETF dialect with its interop version", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("olivia");
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...bearer(token), "Upload-Draft-Interop-Version": "6", "Upload-Complete": "?1", "Content-Type": "application/octet-stream" },
      body: new Uint8Array(5),
    });
    expect(response.status, await bodyText(response)).toBe(201);
    expect(linesOf("ResponseOutgoing")).toMatchObject([{ method: "POST", status: 201, dialect: "ietf-6", bytesReceived: 5 }]);
  });

  it("never holds a token, a query string, an Authorization header or a secret", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("quinn");
    const data = randomBytes(4000, 72);
    const { url, id } = await upload(token, data, { metadata: { filename: "quinn.txt" } });
    // A download link with its token in the query, and a request with a forged token.
    const { response } = await download(`${url}?access_token=${token}&note=private`);
    expect(response.status).toBe(200);
    const forged = `${token.slice(0, -4)}AAAA`;
    expect((await send(url, { method: "HEAD", headers: { ...TUS, Authorization: `Bearer ${forged}` } })).status).toBe(401);

    const everything = written.map(({ text }) => text).join("\n");
    expect(linesOf("ResponseOutgoing").length).toBeGreaterThanOrEqual(4);
    for (const secret of [token, forged, ...token.split("."), keys.hs256Secret, "access_token", "note=private", "Bearer", "authorization"]) {
      expect(everything.toLowerCase().includes(secret.toLowerCase()), `the logs hold ${secret}`).toBe(false);
    }
    expect(linesOf("ResponseOutgoing").find((line) => line.method === "GET")).toMatchObject({ path: `${BASE_PATH}${id}`, status: 200 });
    expect(linesOf("ResponseOutgoing").at(-1)).toMatchObject({ method: "HEAD", status: 401, errorCode: "unauthorized", uploadId: id });
  });
});

describe("lifecycle lines", () => {
  it("UploadCreated, ChunkWriteComplete per PATCH, UploadFinished and UploadTerminated, from the upload's Durable Object", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("rosa");
    const data = randomBytes(6 * MiB, 73);
    const { url, id } = await create(token, { length: data.length });
    expect((await patch(url, 0, data.subarray(0, 2 * MiB), bearer(token))).status).toBe(204);
    expect((await patch(url, 2 * MiB, data.subarray(2 * MiB), bearer(token))).status).toBe(204);
    expect((await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);

    expect(linesOf("UploadCreated", id)).toMatchObject([{ level: "info", subject: "rosa", offset: 0, length: data.length }]);
    expect(linesOf("ChunkWriteComplete", id)).toMatchObject([
      { level: "info", bytesWritten: 2 * MiB, offset: 2 * MiB },
      { level: "info", bytesWritten: 4 * MiB, offset: data.length },
    ]);
    expect(linesOf("UploadFinished", id)).toMatchObject([{ level: "info", offset: data.length, length: data.length }]);
    expect(linesOf("UploadTerminated", id)).toMatchObject([{ level: "info", subject: "rosa" }]);
  });

  it("UploadExpired when the alarm expires an idle upload", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("rosa");
    const { url, id } = await create(token, { length: 100 });
    expect((await patch(url, 0, new Uint8Array(40), bearer(token))).status).toBe(204);
    await setExpiresAt(id, Date.now() - 1000);
    expect(await runDurableObjectAlarm(uploadStub(id))).toBe(true);
    expect(linesOf("UploadExpired", id)).toMatchObject([{ level: "info", offset: 40, length: 100 }]);
  });

  it("HookInvocationError at warn level when an event's delivery fails, with the attempt", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("sam");
    const { id } = await create(token, { length: 10, metadata: { failEvent: "created:1" } });
    await holdAfterFailure(id, "created", 1);
    const [failure] = linesOf("HookInvocationError", id);
    expect(failure).toMatchObject({ consoleMethod: "warn", level: "warn", eventType: "created", attempt: 1, errorCode: "delivery-failed", subject: "sam" });
    expect(String(failure!.error)).toContain("fails on purpose");
    expect(points().filter((point) => point.event === "HookInvocationError" && point.uploadId === id)).toMatchObject([
      { method: "created", errorCode: "delivery-failed", attempt: 1, subject: "sam", index: "sam" },
    ]);
    await retryNow(id);
    expect(linesOf("HookInvocationError", id)).toHaveLength(1);
  });
});

describe("metrics", () => {
  it("one data point per request and per lifecycle event, at the documented positions", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("tess");
    const data = randomBytes(3 * MiB, 74);
    const { url, id } = await create(token, { length: data.length });
    expect((await patch(url, 1, data, bearer(token))).status).toBe(409);
    expect((await patch(url, 0, data, bearer(token))).status).toBe(204);

    const about = points().filter((point) => point.uploadId === id);
    // The object is completed inside the PATCH; this Worker has a pre-finish hook (onUploadFinishing),
    // which decides after the chunk is written: UploadFinished comes after the PATCH's ChunkWriteComplete.
    expect(about.map((point) => point.event)).toEqual([
      "UploadCreated",
      "ResponseOutgoing",
      "ResponseOutgoing",
      "ChunkWriteComplete",
      "UploadFinished",
      "ResponseOutgoing",
    ]);
    const [created, creation, refused, chunk, finished, appended] = about;
    expect(created).toMatchObject({ bytes: data.length, offset: 0, subject: "tess", index: "tess" });
    expect(creation).toMatchObject({ method: "POST", status: "201", errorCode: "", dialect: "tus", bytes: 0 });
    expect(refused).toMatchObject({ method: "PATCH", status: "409", errorCode: "offset-mismatch", dialect: "tus", subject: "tess", index: "tess", bytes: data.length });
    expect(chunk).toMatchObject({ bytes: data.length, offset: data.length });
    expect(finished).toMatchObject({ bytes: data.length, offset: data.length });
    expect(appended).toMatchObject({ method: "PATCH", status: "204", errorCode: "", dialect: "tus", bytes: data.length });
    expect(appended!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("R2 calls with their latency, by operation", { timeout: TIMEOUT }, async () => {
    const before = recordedPoints.length;
    const token = await tokenFor("uma");
    await upload(token, randomBytes(12 * MiB, 75));
    const calls = points().slice(before).filter((point) => point.event === "R2Call");
    const operations = new Set(calls.map((point) => point.method));
    for (const operation of ["createMultipartUpload", "uploadPart", "completeMultipartUpload"]) expect(operations, operation).toContain(operation);
    for (const call of calls) {
      expect(call.status).toBe("ok");
      expect(call.durationMs).toBeGreaterThanOrEqual(0);
      expect(call.index).toBe("anonymous");
    }
  });

  it("writes nothing without the METRICS binding, and logs the same", { timeout: TIMEOUT }, async () => {
    const withoutMetrics = { ...env, METRICS: undefined };
    const before = recordedPoints.length;
    const request = () => new Request(COLLECTION, { method: "OPTIONS" });
    expect((await worker.fetch(request(), withoutMetrics)).status).toBeLessThan(300);
    expect(recordedPoints.length).toBe(before);
    expect(linesOf("ResponseOutgoing")).toMatchObject([{ method: "OPTIONS", path: BASE_PATH }]);

    // The same request with the binding: one data point.
    expect((await worker.fetch(request(), env)).status).toBeLessThan(300);
    await waitFor("the data point", async () => (recordedPoints.length > before ? true : undefined));
    expect(points().slice(before)).toMatchObject([{ event: "ResponseOutgoing", method: "OPTIONS", index: "anonymous" }]);
  });
});
