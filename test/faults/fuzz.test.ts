/**
 * Hostile input against a real local gateway: a seeded run of at least
 * 10,000 generated requests (lib/fuzz.ts) — odd methods, hostile values for
 * every tus header, garbage and huge Upload-Metadata, odd paths and ids,
 * random bodies, truncated and oversized bodies, and raw bytes node:http
 * would not send — 16 at a time.
 *
 * No request may get a 5xx from the gateway or go unanswered for 45 s, and
 * sentinel uploads made before the run (finished, half done, deferred,
 * empty) must come out byte for byte and offset for offset as they were.
 * `FUZZ_SEED` replays a run's sequence of requests; `FUZZ_REQUESTS` changes
 * its length.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MiB, seededBytes, startServer, type TestServer } from "../e2e/server";
import { describeRequest, generateRequest, sendRaw, UPLOAD_ID, type FuzzRequest, type FuzzTargets } from "./lib/fuzz";
import { runSeed } from "./lib/random";
import { mapConcurrently, saveResult, spread } from "./lib/results";
import { createDeferredLength, createKnownLength, expectIntact } from "./lib/uploads";
import { serverErrorOrigin, Tally, type Answer } from "./lib/verdicts";
import { exchange, head, NoAnswerError, offsetOf, openRequest, patch, type WireResponse } from "./lib/wire";

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const CONCURRENCY = 16;
/** Generous: an early answer to a request with a body of megabytes waits while wrangler dev drains the body (up to ~20 s seen on a busy machine). */
const REQUEST_TIMEOUT_MS = 45_000;
const SEED = runSeed("FUZZ_SEED");
/** Own uploads the generator aims at; new ones from successful POSTs replace old ones. */
const OWN_POOL = 64;

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

/* ---------- sentinels ---------- */

interface Sentinel {
  label: string;
  url: string;
  data: Buffer;
  /** Bytes sent before the fuzz run. */
  sent: number;
  deferred: boolean;
  /** HEAD before the run: status and the headers that describe the upload. */
  before: string;
}

function headState(response: WireResponse): string {
  const { headers } = response;
  return JSON.stringify([response.status, headers["upload-offset"], headers["upload-length"], headers["upload-defer-length"], headers["upload-metadata"]]);
}

async function createSentinels(): Promise<Sentinel[]> {
  const specs = [
    { label: "finished, one put", size: 100 * 1024, sent: 100 * 1024, deferred: false },
    { label: "finished, multipart", size: 9 * MiB + 3, sent: 9 * MiB + 3, deferred: false },
    { label: "half done, tail only", size: 20 * MiB, sent: 5 * MiB, deferred: false },
    { label: "half done, a part and a tail", size: 20 * MiB, sent: 10 * MiB + 5, deferred: false },
    { label: "deferred length, half done", size: 3 * MiB + 7, sent: 3 * MiB, deferred: true },
    { label: "empty, finished at creation", size: 0, sent: 0, deferred: false },
  ];
  return Promise.all(
    specs.map(async ({ label, size, sent, deferred }) => {
      const data = seededBytes(size, `fuzz sentinel ${label}`);
      const metadata = { "Upload-Metadata": `filename ${Buffer.from(`${label}.bin`).toString("base64")},filetype YXBwbGljYXRpb24vb2N0ZXQtc3RyZWFt` };
      const url = deferred ? await createDeferredLength(server.endpoint, metadata) : await createKnownLength(server.endpoint, size, metadata);
      if (sent > 0) expect((await patch(url, 0, data.subarray(0, sent))).status).toBe(204);
      return { label, url, data, sent, deferred, before: headState(await head(url)) };
    }),
  );
}

async function expectSentinelsUntouched(sentinels: Sentinel[]): Promise<void> {
  for (const sentinel of sentinels) {
    expect(headState(await head(sentinel.url)), `sentinel "${sentinel.label}": HEAD changed`).toBe(sentinel.before);
    if (sentinel.sent < sentinel.data.length || sentinel.deferred) {
      // Half done: its stored bytes are only visible once it is finished.
      const rest = await patch(sentinel.url, sentinel.sent, sentinel.data.subarray(sentinel.sent), 60_000, sentinel.deferred ? { "Upload-Length": String(sentinel.data.length) } : {});
      expect(rest.status, `sentinel "${sentinel.label}": finishing answered ${rest.status}: ${rest.body}`).toBe(204);
    }
    await expectIntact(sentinel.url, sentinel.data, `sentinel "${sentinel.label}"`);
  }
}

/* ---------- sending ---------- */

type Outcome =
  | { kind: "answered"; answer: Answer; response?: WireResponse }
  | { kind: "closed without an answer" }
  | { kind: "truncated"; early?: Answer }
  | { kind: "timeout"; message: string };

/** The request as raw bytes, for what node:http refuses to send (a non-Latin-1 header value, a space in the target). */
function toRaw(request: FuzzRequest, host: string, body: Buffer): Buffer {
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `Host: ${host}`, ...request.headers.map(([name, value]) => `${name}: ${value}`)];
  if (request.body.kind !== "none") lines.push(`Content-Length: ${request.body.kind === "truncated" ? request.body.declared : body.length}`);
  lines.push("Connection: close", "", "");
  return Buffer.concat([Buffer.from(lines.join("\r\n"), "utf8"), body]);
}

async function send(request: FuzzRequest, hostname: string, port: number): Promise<Outcome> {
  const host = `${hostname}:${port}`;
  const bodySize = request.body.kind === "bytes" ? request.body.length : request.body.kind === "truncated" ? request.body.sent : 0;
  const body = seededBytes(bodySize, `fuzz body ${SEED} ${request.index}`);
  const viaRaw = async (raw: Buffer, cut: boolean): Promise<Outcome> => {
    try {
      const { answer } = await sendRaw(hostname, port, raw, REQUEST_TIMEOUT_MS, cut);
      if (cut) return { kind: "truncated", early: answer };
      return answer ? { kind: "answered", answer } : { kind: "closed without an answer" };
    } catch (error) {
      return { kind: "timeout", message: (error as Error).message };
    }
  };
  if (request.transport === "raw") return viaRaw(request.raw!, false);

  const headers = ["Host", host, ...request.headers.flat()];
  if (request.body.kind === "bytes" && !request.body.chunked) headers.push("Content-Length", String(body.length));
  if (request.body.kind === "truncated") headers.push("Content-Length", String(request.body.declared));
  let open: ReturnType<typeof openRequest>;
  try {
    // Only the status matters: a download is cut after its first 64 KiB (one more way for a client to vanish).
    open = openRequest(`http://${host}`, { method: request.method, path: request.path, headers, timeoutMs: REQUEST_TIMEOUT_MS, stopAfterMaxBody: true });
  } catch {
    // ERR_INVALID_CHAR, ERR_UNESCAPED_CHARACTERS, ERR_INVALID_HTTP_TOKEN: node:http will not send it; a socket will.
    return viaRaw(toRaw(request, host, body), request.body.kind === "truncated");
  }
  if (body.length) await open.write(body);
  if (request.body.kind === "truncated") {
    const early = open.answered ? await open.response.catch(() => undefined) : undefined;
    open.destroy();
    return { kind: "truncated", early };
  }
  open.end();
  try {
    const response = await open.response;
    return { kind: "answered", answer: response, response };
  } catch (error) {
    if (error instanceof NoAnswerError && error.timedOut) return { kind: "timeout", message: error.message };
    return { kind: "closed without an answer" };
  }
}

/** How an outcome is counted, and whether it is a failure (a 5xx of the gateway's own, or no answer in time). */
function judge(outcome: Outcome, request: FuzzRequest): { label: string; failed: boolean } {
  const target = request.transport === "raw" ? (request.raw!.toString("latin1").split(" ")[1] ?? "") : request.path;
  switch (outcome.kind) {
    case "answered": {
      const origin = serverErrorOrigin(outcome.answer, target);
      return { label: origin && origin !== "gateway" ? origin : String(outcome.answer.status), failed: origin === "gateway" };
    }
    case "truncated": {
      if (!outcome.early) return { label: "truncated", failed: false };
      const origin = serverErrorOrigin(outcome.early, target);
      return { label: `truncated, answered ${origin && origin !== "gateway" ? origin : outcome.early.status} first`, failed: origin === "gateway" };
    }
    case "timeout":
      return { label: "no answer within the timeout", failed: true };
    default:
      return { label: outcome.kind, failed: false };
  }
}

/** Learns from an answer: new uploads join the pool, offsets of own uploads are remembered. */
function learn(targets: FuzzTargets, request: FuzzRequest, response: WireResponse | undefined): void {
  if (!response) return;
  const location = response.headers.location;
  if (response.status === 201 && typeof location === "string") {
    const id = new URL(location, server.endpoint).pathname.slice(targets.basePath.length);
    if (UPLOAD_ID.test(id)) {
      if (targets.own.length < OWN_POOL) targets.own.push(id);
      else targets.own[request.index % OWN_POOL] = id;
    }
  }
  const id = request.path.slice(targets.basePath.length);
  const offset = offsetOf(response);
  if (offset !== undefined && targets.own.includes(id)) targets.offsets.set(id, offset);
}

/* ---------- the run ---------- */

describe(`fuzz: ${REQUESTS} hostile requests (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  it("no 5xx from the gateway, no hang, and sentinel uploads untouched", async () => {
    console.log(`fuzz: seed ${SEED}, ${REQUESTS} requests, ${CONCURRENCY} at a time`);
    const sentinels = await createSentinels();
    const { hostname, port } = new URL(server.url);
    const host = `${hostname}:${port}`;
    const targets: FuzzTargets = {
      basePath: "/files/",
      host,
      own: [],
      offsets: new Map(),
      sentinels: sentinels.map((sentinel) => new URL(sentinel.url).pathname.slice("/files/".length)),
    };
    // A pool of own uploads to aim at: small, large (parts), deferred.
    for (let i = 0; i < 24; i++) {
      const length = [0, 1, 1000, 64 * 1024, 20 * MiB, 9 * MiB][i % 6]!;
      const url = i % 6 === 5 ? await createDeferredLength(server.endpoint) : await createKnownLength(server.endpoint, length);
      targets.own.push(new URL(url).pathname.slice("/files/".length));
    }

    const byKind = new Tally();
    const byMethod = new Map<string, Tally>();
    const failures: string[] = [];
    const durations: { ms: number; request: FuzzRequest; label: string }[] = [];
    const startedAt = Date.now();
    const indexes = Array.from({ length: REQUESTS }, (_, index) => index);
    await mapConcurrently(indexes, CONCURRENCY, async (index) => {
      const request = generateRequest(SEED, index, targets);
      const sentAt = Date.now();
      const outcome = await send(request, hostname, Number(port));
      const { label, failed } = judge(outcome, request);
      durations.push({ ms: Date.now() - sentAt, request, label });
      byKind.add(label);
      const method = request.transport === "raw" ? "(raw)" : request.method.length > 12 ? "(long method)" : request.method;
      if (!byMethod.has(method)) byMethod.set(method, new Tally());
      byMethod.get(method)!.add(label);
      if (outcome.kind === "answered") learn(targets, request, outcome.response);
      if (failed) {
        const answer = outcome.kind === "answered" ? outcome.answer : outcome.kind === "truncated" ? outcome.early : undefined;
        const detail = outcome.kind === "timeout" ? outcome.message : JSON.stringify(answer?.body.toString("utf8").slice(0, 300));
        failures.push(`${label}: ${detail}\n${describeRequest(request)}`);
      }
    });
    const seconds = (Date.now() - startedAt) / 1000;

    const alive = await exchange(server.endpoint, { method: "OPTIONS", timeoutMs: 10_000 });
    expect(alive.status, "the gateway still answers after the run").toBeLessThan(300);

    // The fuzz run's own uploads are in a state HEAD can describe, none past its length.
    for (const id of targets.own) {
      const state = await head(`${server.endpoint}${id}`);
      expect(state.status, `own upload ${id}: HEAD ${state.status}`).toBeLessThan(500);
      const length = state.headers["upload-length"];
      if (state.status === 200 && typeof length === "string") expect(offsetOf(state)!).toBeLessThanOrEqual(Number(length));
    }

    const times = spread(durations.map(({ ms }) => ms));
    const slowest = [...durations].sort((a, b) => b.ms - a.ms).slice(0, 5);
    const methods = [...byMethod.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([method, tally]) => `| ${method} | ${tally} |`);
    const summary = [
      `## Fuzz run (seed ${SEED})`,
      "",
      `${REQUESTS} requests, ${CONCURRENCY} at a time, in ${seconds.toFixed(0)} s (${(REQUESTS / seconds).toFixed(0)} requests/s). Gateway 5xx or hangs: ${failures.length}.`,
      "",
      `Outcomes: ${byKind}`,
      "",
      `Time per request: median ${times.median} ms, mean ${times.mean.toFixed(0)} ms, max ${times.max} ms. Slowest: ${slowest.map(({ ms, request, label }) => `#${request.index} ${request.method.slice(0, 12)} ${request.intent.split(",")[0]} → ${label} in ${ms} ms`).join("; ")}.`,
      "",
      "`dev-proxy 500` (and most `closed without an answer`) are wrangler dev's own answers when a request body breaks between its proxy and the Worker, e.g. when the gateway answers before reading the whole body; `runtime 501` and `runtime 500 (target *)` are workerd refusing an unknown method or the `*` target before any Worker runs (see lib/verdicts.ts). `truncated` requests were cut by the client on purpose.",
      "",
      "| method | outcomes |",
      "|---|---|",
      ...methods,
    ].join("\n");
    await saveResult("fuzz", summary, { seed: SEED, requests: REQUESTS, seconds, millisecondsPerRequest: times, outcomes: byKind.counts, byMethod: Object.fromEntries([...byMethod].map(([method, tally]) => [method, tally.counts])), failures });

    await expectSentinelsUntouched(sentinels);
    expect(failures.length, `requests that got a gateway 5xx or no answer within ${REQUEST_TIMEOUT_MS} ms (seed ${SEED}):\n\n${failures.slice(0, 20).join("\n\n")}`).toBe(0);
  }, 900_000);
});

