/**
 * The soak's clients. Each scenario makes one or more uploads, records them
 * (lib/record.ts) and drives them through faults of its own (cuts, stalls,
 * racing PATCHes, wrong checksums, a tus-js-client stopped mid-PATCH) while
 * the runner injects the global ones (SIGKILL, R2 failures, the hook). A
 * client that cannot finish before the fault phase ends leaves its upload
 * `interrupted`, for the quiet phase to resume (check 3).
 */
import { performance } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { Upload, type HttpRequest, type HttpResponse } from "tus-js-client";
import { MiB, seededBytes, sleep } from "../../e2e/server.ts";
import { writeInPieces, type WireResponse } from "../../faults/lib/wire.ts";
import type { Random } from "../../faults/lib/random.ts";
import type { Http } from "./http.ts";
import { sha256Hex, type HookMode, type Recorder, type UploadRecord } from "./record.ts";
import type { SoakGateway } from "./gateway.ts";

export interface Ctx {
  rec: Recorder;
  http: Http;
  gw: SoakGateway;
  rng: Random;
  /** performance.now() at which the fault phase ends: clients stop and leave their uploads for the quiet phase. */
  deadline: number;
  /** Upload labels are numbered in creation order. */
  next(): number;
  log(line: string): void;
}

export const SUBJECTS = ["soak-alice", "soak-bob", "soak-carol"] as const;
const TUS = { "Tus-Resumable": "1.0.0" };
/** tus-js-client's retries: long enough to outlast a restart of the runtime (a few seconds) or an undecided hook. */
export const TUS_JS_RETRY_DELAYS = [0, 500, 1000, 2000, 3000, 5000, 5000, 5000, 5000];

/* ---------- data ---------- */

/** What the upload's client sends: seeded bytes, or for a final its partials' bytes in order. */
export function dataOf(upload: UploadRecord): Buffer {
  if (upload.partials) return Buffer.concat(upload.partials.map(dataOf));
  return seededBytes(upload.length, upload.dataSeed);
}

function size(rng: Random): number {
  return rng.weighted<() => number>([
    [3, () => rng.int(1 * MiB, 5 * MiB)],
    [3, () => rng.int(5 * MiB, 10 * MiB)],
    [3, () => rng.int(10 * MiB + 1, 24 * MiB)],
    [1, () => rng.pick([5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 10 * MiB, 10 * MiB + 1])],
  ])();
}

function hookMode(rng: Random): HookMode {
  return rng.weighted<HookMode>([
    [6, "accept"],
    [1.5, "fail"],
    [1, "slow"],
    [1.5, "late"],
  ]);
}

function newUpload(ctx: Ctx, kind: string, length: number, extra: Partial<UploadRecord> = {}): UploadRecord {
  const n = ctx.next();
  const dataSeed = `${ctx.rec.seed}:${n}`;
  const subject = ctx.rng.pick(SUBJECTS);
  const record = ctx.rec.upload({
    label: `u${n} ${kind}`,
    kind,
    subject,
    dataSeed,
    length,
    sha256: "",
    hookMode: hookMode(ctx.rng),
    ...extra,
  });
  if (!record.partials) record.sha256 = sha256Hex(seededBytes(length, dataSeed));
  return record;
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

function metadataHeader(upload: UploadRecord): string {
  return `case ${b64(upload.label)},filename ${b64(`${upload.label.replace(/\W+/g, "-")}.bin`)},filetype ${b64("application/octet-stream")}`;
}

function auth(ctx: Ctx, upload: UploadRecord): Record<string, string> {
  return { Authorization: `Bearer ${ctx.gw.token(upload.subject)}` };
}

const past = (ctx: Ctx) => performance.now() > ctx.deadline;

/**
 * The upload answered 404 or 410 without its client ending it: expected only
 * once the last expiry it announced has passed (README: an upload never
 * expires before the Upload-Expires it last announced); otherwise it was lost.
 */
export function gone(ctx: Ctx, upload: UploadRecord, status: number, where: string): void {
  const slackMs = 2_000;
  if (upload.state === "terminated" || upload.state === "consumed") return;
  // A partial claimed by a final is deleted once the final is assembled (CONCAT_DELETES_PARTIALS):
  // consumed, not lost, when its final finishes (checked after the quiet phase: the answer that
  // acknowledged its last bytes may have been lost, so its acknowledged offset does not tell).
  if (upload.finalOf && status === 410) {
    upload.state = "consumed";
    return;
  }
  // A final whose partial expired cannot be assembled and is ended by the gateway.
  if (upload.partials && status === 410 && upload.partials.some((partial) => partial.state === "expired")) {
    upload.state = "expired";
    ctx.rec.expect("final ended because a partial of it expired");
    return;
  }
  if (status === 410 && upload.expiresAt !== undefined && Date.now() >= upload.expiresAt - slackMs) {
    upload.state = "expired";
    ctx.rec.expect("expired while its client was away (restart, faults)");
    return;
  }
  if (status === 410 && upload.expiresAt === undefined) {
    upload.state = "expired";
    ctx.rec.expect("expired (no expiry announced to compare: IETF interop < 6)");
    return;
  }
  upload.state = "lost";
  ctx.rec.violation(3, upload, `${where} answered ${status} at ${new Date().toISOString()}, before the expiry it last announced (${upload.expiresAt ? new Date(upload.expiresAt).toISOString() : "none"}); its client never ended it`);
}

/* ---------- raw tus ---------- */

type Push = "done" | "interrupted" | "gone";

interface Dialect {
  /** Headers every request of the upload carries. */
  base(ctx: Ctx, upload: UploadRecord): Record<string, string>;
  /** HEAD's verdict: the offset, and whether the upload is complete (and decided). */
  probe(response: WireResponse, upload: UploadRecord): { offset: number; complete: boolean } | undefined;
  patchHeaders(upload: UploadRecord, offset: number, last: boolean, bodyLength: number): Record<string, string>;
}

const tusDialect = (deferred: boolean): Dialect => ({
  base: (ctx, upload) => ({ ...TUS, ...auth(ctx, upload) }),
  probe(response, upload) {
    if (response.status !== 200) return undefined;
    const offset = Number(response.headers["upload-offset"]);
    if (!Number.isFinite(offset)) return undefined;
    const length = response.headers["upload-length"];
    return { offset, complete: length !== undefined && Number(length) === upload.length && offset === upload.length };
  },
  patchHeaders(upload, offset, last) {
    return {
      "Content-Type": "application/offset+octet-stream",
      "Upload-Offset": String(offset),
      ...(deferred && last ? { "Upload-Length": String(upload.length) } : {}),
    };
  },
});

/** IETF draft dialect at interop `version` (README: the table of versions). */
function ietfDialect(version: number): Dialect {
  return {
    base: (ctx, upload) => ({ "Upload-Draft-Interop-Version": String(version), ...auth(ctx, upload) }),
    probe(response) {
      if (response.status !== 204 && response.status !== 200) return undefined;
      const offset = Number(response.headers["upload-offset"]);
      if (!Number.isFinite(offset)) return undefined;
      const complete = version === 3 ? response.headers["upload-incomplete"] === "?0" : response.headers["upload-complete"] === "?1";
      return { offset, complete };
    },
    patchHeaders(_upload, offset, last) {
      return {
        "Content-Type": version >= 6 ? "application/partial-upload" : "application/octet-stream",
        "Upload-Offset": String(offset),
        ...(version === 3 ? { "Upload-Incomplete": last ? "?0" : "?1" } : { "Upload-Complete": last ? "?1" : "?0" }),
      };
    },
  };
}

function chunkSize(rng: Random, remaining: number): number {
  const size = rng.weighted<number>([
    [2, rng.int(64 * 1024, MiB)],
    [2, rng.int(MiB, 5 * MiB - 1)],
    [2, rng.pick([5 * MiB - 1, 5 * MiB, 5 * MiB + 1])],
    [2, rng.int(5 * MiB, 12 * MiB)],
    [1, remaining],
  ]);
  return Math.max(1, Math.min(size, remaining));
}

/**
 * HEAD until the upload answers what it holds. Undefined: the deadline passed.
 * A 423 (another request, or a pending completion or hook) or a 503 is asked again.
 */
async function probe(ctx: Ctx, upload: UploadRecord, dialect: Dialect, deadline: number): Promise<{ offset: number; complete: boolean } | "gone" | undefined> {
  for (let attempt = 0; ; attempt++) {
    if (performance.now() > deadline) return undefined;
    const response = await ctx.http.send({ method: "HEAD", url: upload.url!, headers: dialect.base(ctx, upload), upload, timeoutMs: 30_000 });
    if (response) {
      if (response.status === 404 || response.status === 410) {
        gone(ctx, upload, response.status, "HEAD");
        return "gone";
      }
      const seen = dialect.probe(response, upload);
      if (seen) return seen;
      if (response.status === 423) ctx.rec.expect("HEAD 423 (writer, completion or hook pending)");
    }
    await sleep(Math.min(3000, 200 * 2 ** Math.min(attempt, 4)));
  }
}

/**
 * Sends `data` to the upload from wherever HEAD says it stands, with faults
 * of the client's own on some PATCHes, until HEAD says it is complete.
 */
async function push(ctx: Ctx, upload: UploadRecord, data: Buffer, dialect: Dialect, options: { checksums?: boolean; faults?: boolean; deadline?: number; script?: string[] } = {}): Promise<Push> {
  const deadline = options.deadline ?? ctx.deadline;
  const faults = options.faults ?? true;
  /** Faults for the first PATCHes, in order, before drawing them. */
  const script = [...(options.script ?? [])];
  for (;;) {
    const seen = await probe(ctx, upload, dialect, deadline);
    if (seen === "gone") return "gone";
    if (seen === undefined) return "interrupted";
    if (seen.complete) return "done";
    if (seen.offset > data.length) {
      ctx.rec.violation(1, upload, `HEAD reports offset ${seen.offset}, past the ${data.length} bytes its client has`);
      return "gone";
    }
    const offset = seen.offset;
    // A prefix only (an upload to abandon, a termination's first bytes): stop once it is sent.
    if (offset >= data.length && data.length < upload.length) return "interrupted";
    // Every byte is there but the upload is not complete (the request that carried the last ones,
    // with `?1` or the deferred length, was cut after them): an empty last request completes it.
    const count = offset === data.length ? 0 : chunkSize(ctx.rng, data.length - offset);
    const body = data.subarray(offset, offset + count);
    const last = offset + count === data.length;
    const headers: Record<string, string> = { ...dialect.base(ctx, upload), ...dialect.patchHeaders(upload, offset, last, count) };
    const fault = !faults || count === 0 ? "none" : script.shift() ?? ctx.rng.weighted<string>([[70, "none"], [10, "cut"], [7, "stall"], [7, "race"], [options.checksums ? 6 : 0, "bad checksum"]]);
    if (options.checksums && fault !== "bad checksum") headers["Upload-Checksum"] = `sha256 ${createHash("sha256").update(body).digest("base64")}`;
    const init = { method: "PATCH", url: upload.url!, headers, upload };
    switch (fault) {
      case "none": {
        const response = await ctx.http.send({ ...init, body, timeoutMs: 90_000 });
        if (response && (response.status === 404 || response.status === 410)) {
          gone(ctx, upload, response.status, "PATCH");
          return "gone";
        }
        if (response?.status === 460) ctx.rec.violation(1, upload, `PATCH with a correct sha256 checksum answered 460`);
        break;
      }
      case "cut": {
        const cutAt = ctx.rng.int(0, Math.max(0, count - 1));
        ctx.rec.fault("connection cut mid-PATCH");
        await ctx.http.cut({ ...init, body }, cutAt);
        break;
      }
      case "stall": {
        // The body stops with the connection open; a HEAD on a new connection takes over (README: take-over).
        ctx.rec.fault("body stalled mid-PATCH (taken over)");
        const stalled = ctx.http.open({ ...init, declaredLength: count });
        await writeInPieces(stalled, body.subarray(0, ctx.rng.int(0, Math.max(0, count - 1))), 256 * 1024);
        await sleep(ctx.rng.int(200, 2000));
        const taken = await probe(ctx, upload, dialect, deadline);
        stalled.destroy();
        if (taken === "gone") return "gone";
        break;
      }
      case "race": {
        // Two PATCHes at one offset with the same bytes: one wins, the other is stopped or refused.
        ctx.rec.fault("two PATCHes racing at one offset");
        const [first] = await Promise.all([ctx.http.send({ ...init, body, timeoutMs: 90_000 }), sleep(ctx.rng.int(0, 50)).then(() => ctx.http.send({ ...init, body, timeoutMs: 90_000 }))]);
        if (first && (first.status === 404 || first.status === 410)) {
          gone(ctx, upload, first.status, "PATCH");
          return "gone";
        }
        break;
      }
      case "bad checksum": {
        ctx.rec.fault("wrong Upload-Checksum");
        headers["Upload-Checksum"] = `sha256 ${createHash("sha256").update("not the body").digest("base64")}`;
        const before = ctx.rec.acknowledged(upload.url!);
        const response = await ctx.http.send({ ...init, body, timeoutMs: 90_000 });
        if (response?.status === 460) {
          ctx.rec.expect("460 for a wrong checksum");
          const after = await probe(ctx, upload, dialect, deadline);
          if (after && after !== "gone" && after.offset > Math.max(before, offset)) {
            ctx.rec.violation(1, upload, `a PATCH refused with 460 moved the offset from ${offset} to ${after.offset}`);
          }
        }
        break;
      }
    }
  }
}

function finish(ctx: Ctx, upload: UploadRecord, outcome: Push): void {
  if (outcome === "done") upload.state = "finished";
  else if (outcome === "interrupted") upload.state = "interrupted";
}

/** POST a tus upload; creation-with-upload when `firstBytes` is given. Undefined: no upload made (or its answer was lost). */
async function createTus(ctx: Ctx, upload: UploadRecord, headers: Record<string, string>, firstBytes?: Buffer): Promise<boolean> {
  const endpoint = ctx.gw.server.endpoint;
  for (let attempt = 0; attempt < 20 && !past(ctx); attempt++) {
    const init = {
      method: "POST",
      url: endpoint,
      headers: { ...TUS, ...auth(ctx, upload), "Upload-Metadata": metadataHeader(upload), ...headers, ...(firstBytes ? { "Content-Type": "application/offset+octet-stream" } : {}) },
      upload,
    };
    let response: WireResponse | undefined;
    if (firstBytes && ctx.rng.chance(0.15)) {
      // A creation-with-upload cut mid-body: the upload may exist, but its client never learns where.
      ctx.rec.fault("connection cut mid-POST (creation-with-upload)");
      response = await ctx.http.cut({ ...init, body: firstBytes }, ctx.rng.int(0, firstBytes.length - 1));
      if (!response) {
        ctx.rec.expect("creation without an answer (retried; an upload it made unseen is left to expire)");
        continue;
      }
    } else {
      response = await ctx.http.send({ ...init, body: firstBytes, timeoutMs: 90_000 });
    }
    if (response?.status === 201 && response.headers.location) {
      ctx.rec.located(upload, new URL(response.headers.location, endpoint).href);
      return true;
    }
    if (response && response.status < 500 && response.status !== 423) {
      ctx.rec.violation(3, upload, `POST answered ${response.status}: ${response.body.toString("utf8").slice(0, 200)}`);
      return false;
    }
    if (!response) ctx.rec.expect("creation without an answer (retried; an upload it made unseen is left to expire)");
    await sleep(500 * (attempt + 1));
  }
  upload.state = "abandoned";
  return false;
}

/** raw tus: known length or deferred, optionally creation-with-upload and per-PATCH sha256 checksums. */
export async function rawTus(ctx: Ctx, variant: { deferred: boolean; withUpload: boolean; checksums: boolean; script?: string[] }): Promise<void> {
  const name = ["raw tus", variant.deferred ? "deferred" : "", variant.withUpload ? "creation-with-upload" : "", variant.checksums ? "checksums" : ""].filter(Boolean).join(" ");
  const upload = newUpload(ctx, name, size(ctx.rng));
  const data = dataOf(upload);
  const first = variant.withUpload ? data.subarray(0, ctx.rng.int(1, Math.min(data.length, 6 * MiB))) : undefined;
  const headers: Record<string, string> = variant.deferred ? { "Upload-Defer-Length": "1" } : { "Upload-Length": String(upload.length) };
  if (!(await createTus(ctx, upload, headers, first))) return;
  finish(ctx, upload, await push(ctx, upload, data, tusDialect(variant.deferred), { checksums: variant.checksums, script: variant.script }));
}

/** The IETF dialect at `version`: an empty `?0` creation, then appends, the last with `?1`. */
export async function ietf(ctx: Ctx, version: number, script?: string[]): Promise<void> {
  const upload = newUpload(ctx, `ietf interop ${version}`, size(ctx.rng), { interop: version });
  const data = dataOf(upload);
  const endpoint = ctx.gw.server.endpoint;
  const dialect = ietfDialect(version);
  for (let attempt = 0; ; attempt++) {
    if (past(ctx) || attempt >= 20) {
      upload.state = "abandoned";
      return;
    }
    const response = await ctx.http.send({
      method: "POST",
      url: endpoint,
      headers: { ...dialect.base(ctx, upload), ...(version === 3 ? { "Upload-Incomplete": "?1" } : { "Upload-Complete": "?0" }), "Upload-Metadata": metadataHeader(upload) },
      upload,
    });
    if (response?.status === 201 && response.headers.location) {
      ctx.rec.located(upload, new URL(response.headers.location, endpoint).href);
      break;
    }
    if (response && response.status < 500) {
      ctx.rec.violation(3, upload, `IETF creation answered ${response.status}: ${response.body.toString("utf8").slice(0, 200)}`);
      return;
    }
    await sleep(500 * (attempt + 1));
  }
  finish(ctx, upload, await push(ctx, upload, data, dialect, { script }));
}

/* ---------- tus-js-client ---------- */

/**
 * tus-js-client with `chunkSize`; sometimes stopped mid-PATCH (abort, as a
 * closing laptop) and started again from the upload URL. Every answer is
 * recorded; a new upload it makes after a failed HEAD is followed.
 */
export async function tusJs(ctx: Ctx, chunkSize: number): Promise<void> {
  const near = (size: number) => [[-1, "-1"], [0, ""], [1, "+1"], [3, "+3"]].find(([delta]) => (size - (delta as number)) % MiB === 0);
  const nearMiB = near(chunkSize);
  const label = chunkSize === Infinity ? "one PATCH" : chunkSize < MiB ? `${chunkSize / 1024}KiB` : nearMiB ? `${(chunkSize - (nearMiB[0] as number)) / MiB}MiB${nearMiB[1]}` : `${chunkSize}B`;
  const upload = newUpload(ctx, `tus-js-client ${label}`, size(ctx.rng));
  const data = dataOf(upload);
  for (let round = 0; ; round++) {
    if (past(ctx)) {
      upload.state = upload.url ? "interrupted" : "abandoned";
      return;
    }
    const outcome = await runTusJs(ctx, upload, data, chunkSize, round === 0 || !upload.url, ctx.rng.chance(0.35) ? ctx.rng.int(300, 4000) : undefined);
    if (outcome === "done") {
      upload.state = "finished";
      return;
    }
    if (outcome === "gone") return;
    await sleep(500);
  }
}

/** One tus-js-client run to success, failure, a stop after `stopAfterMs`, or the deadline. */
export function runTusJs(ctx: Ctx, upload: UploadRecord, data: Buffer, chunkSize: number, create: boolean, stopAfterMs: number | undefined, deadline = ctx.deadline): Promise<"done" | "failed" | "stopped" | "gone"> {
  const sentAt = new WeakMap<HttpRequest, number>();
  const endpoint = ctx.gw.server.endpoint;
  let timer: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  return new Promise((resolve) => {
    const tus = new Upload(data, {
      ...(create ? { endpoint } : { uploadUrl: upload.url! }),
      chunkSize,
      retryDelays: TUS_JS_RETRY_DELAYS,
      headers: auth(ctx, upload),
      metadata: { case: upload.label, filename: `${upload.label.replace(/\W+/g, "-")}.bin`, filetype: "application/octet-stream" },
      removeFingerprintOnSuccess: true,
      storeFingerprintForResuming: false,
      onBeforeRequest(request) {
        sentAt.set(request, performance.now());
      },
      onAfterResponse(request: HttpRequest, response: HttpResponse) {
        const method = request.getMethod();
        let url = request.getURL();
        if (method === "POST" && response.getStatus() === 201) {
          const location = response.getHeader("Location");
          if (location) {
            url = new URL(location, endpoint).href;
            ctx.rec.located(upload, url);
          }
        }
        ctx.rec.answer({
          method,
          url,
          status: response.getStatus(),
          headers: (name) => response.getHeader(name) ?? undefined,
          body: response.getStatus() >= 400 ? String(response.getBody() ?? "") : "",
          sentAt: sentAt.get(request) ?? performance.now(),
          answeredAt: performance.now(),
          upload,
        });
      },
      onChunkComplete(size) {
        ctx.rec.bytesSent += size;
      },
      onSuccess() {
        settle("done");
      },
      onError(error) {
        const status = (error as { originalResponse?: HttpResponse | null }).originalResponse?.getStatus();
        if ((status === 404 || status === 410) && upload.url) {
          gone(ctx, upload, status, "tus-js-client");
          if (upload.state === "expired" || upload.state === "lost") return settle("gone");
        }
        settle("failed");
      },
    });
    let settled = false;
    const settle = (outcome: "done" | "failed" | "stopped" | "gone") => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(deadlineTimer);
      resolve(outcome);
    };
    tus.start();
    if (stopAfterMs !== undefined) {
      timer = setTimeout(() => {
        ctx.rec.fault("tus-js-client stopped mid-upload (resumed from its URL)");
        void tus.abort().finally(() => settle("stopped"));
      }, stopAfterMs);
    }
    deadlineTimer = setTimeout(() => void tus.abort().finally(() => settle("stopped")), Math.max(0, deadline - performance.now()));
  });
}

/* ---------- concatenation ---------- */

/**
 * 2–4 partials and a final: the final created after the partials finish, or
 * before (concatenation-unfinished, assembled in the background); sometimes
 * the partials are left unfinished and no final comes (they expire).
 */
export async function concatenation(ctx: Ctx): Promise<void> {
  const variant = ctx.rng.weighted<"after" | "before" | "abandoned">([[5, "after"], [3, "before"], [1.5, "abandoned"]]);
  // A final may name only uploads of its own subject (another's are 404 to it, as to any request).
  const subject = ctx.rng.pick(SUBJECTS);
  const partials = Array.from({ length: ctx.rng.int(2, 4) }, () => newUpload(ctx, `partial (${variant})`, ctx.rng.int(256 * 1024, 7 * MiB), { subject }));
  const create = (partial: UploadRecord) => createTus(ctx, partial, { "Upload-Concat": "partial", "Upload-Length": String(partial.length) });
  // Each partial is sent as soon as it is made: one left waiting for the others could expire meanwhile.
  const send = async (partial: UploadRecord) => {
    if (variant === "abandoned") {
      const data = dataOf(partial);
      await push(ctx, partial, data.subarray(0, ctx.rng.int(0, data.length - 1)), tusDialect(false), { faults: false });
      partial.state = "abandoned";
      return;
    }
    finish(ctx, partial, await push(ctx, partial, dataOf(partial), tusDialect(false)));
  };
  // Created before the final (which names them), then sent side by side.
  const pushAll = () => Promise.all(partials.map(send));
  if (variant === "before") {
    for (const partial of partials) if (!(await create(partial))) return;
  } else {
    for (const partial of partials) {
      if (!(await create(partial))) return;
      await send(partial);
    }
  }
  if (variant === "abandoned") {
    ctx.rec.expect("partials abandoned (to expire)");
    return;
  }
  if (variant === "after" && partials.some((partial) => partial.state !== "finished")) return;
  const final = newUpload(ctx, `final (${variant})`, partials.reduce((sum, partial) => sum + partial.length, 0), { partials, subject });
  final.sha256 = sha256Hex(dataOf(final));
  // Claimed from the moment the POST is sent: a final whose answer is lost still assembles them.
  for (const partial of partials) partial.finalOf = final;
  const response = await ctx.http.send({
    method: "POST",
    url: ctx.gw.server.endpoint,
    headers: { ...TUS, ...auth(ctx, final), "Upload-Metadata": metadataHeader(final), "Upload-Concat": `final;${partials.map((partial) => partial.url).join(" ")}` },
    upload: final,
    timeoutMs: 90_000,
  });
  if (response?.status !== 201 || !response.headers.location) {
    // A lost answer: the final may exist (the partials are claimed) at a URL its client never learned.
    final.state = "abandoned";
    if (response && response.status < 500) ctx.rec.violation(3, final, `final POST answered ${response.status}: ${response.body.toString("utf8").slice(0, 200)}`);
    else ctx.rec.expect("final's creation answer lost (its partials claimed by a final of unknown URL)");
    if (variant === "before") await pushAll();
    return;
  }
  ctx.rec.located(final, new URL(response.headers.location, ctx.gw.server.endpoint).href);
  if (variant === "before") await pushAll();
  await awaitFinal(ctx, final, ctx.deadline);
}

/** HEAD the final until it shows every byte (assembly, completion and hook done), or the deadline. */
export async function awaitFinal(ctx: Ctx, final: UploadRecord, deadline: number): Promise<void> {
  const seen = await probeUntil(ctx, final, deadline, (offset) => offset === final.length);
  if (seen === "done") {
    final.state = "finished";
    for (const partial of final.partials ?? []) partial.state = "consumed";
  } else if (seen === "interrupted") final.state = "interrupted";
}

async function probeUntil(ctx: Ctx, upload: UploadRecord, deadline: number, done: (offset: number) => boolean): Promise<Push> {
  const dialect = tusDialect(false);
  for (;;) {
    const seen = await probe(ctx, upload, dialect, deadline);
    if (seen === "gone") return "gone";
    if (seen === undefined) return "interrupted";
    if (done(seen.offset)) return "done";
    if (performance.now() > deadline) return "interrupted";
    await sleep(500);
  }
}

/* ---------- termination, abandonment, downloads ---------- */

/** Creates, sends some bytes, and DELETEs, sometimes while a PATCH is still sending. */
export async function termination(ctx: Ctx): Promise<void> {
  const upload = newUpload(ctx, "terminated mid-upload", size(ctx.rng));
  const data = dataOf(upload);
  if (!(await createTus(ctx, upload, { "Upload-Length": String(upload.length) }))) return;
  const sent = ctx.rng.int(0, data.length - 1);
  await push(ctx, upload, data.subarray(0, sent), tusDialect(false), { faults: false, deadline: performance.now() + 30_000 });
  let inFlight: ReturnType<Http["open"]> | undefined;
  if (ctx.rng.chance(0.5)) {
    const offset = ctx.rec.acknowledged(upload.url!);
    inFlight = ctx.http.open({ method: "PATCH", url: upload.url!, headers: { ...TUS, ...auth(ctx, upload), "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(offset) }, declaredLength: data.length - offset, upload });
    await writeInPieces(inFlight, data.subarray(offset, offset + ctx.rng.int(0, Math.min(4 * MiB, data.length - offset - 1))), 256 * 1024);
  }
  ctx.rec.fault("termination mid-upload");
  for (let attempt = 0; attempt < 30; attempt++) {
    const response = await ctx.http.send({ method: "DELETE", url: upload.url!, headers: { ...TUS, ...auth(ctx, upload) }, upload });
    if (response && (response.status === 204 || response.status === 410)) {
      upload.state = "terminated";
      break;
    }
    await sleep(1000);
  }
  inFlight?.destroy();
  if (upload.state !== "terminated") upload.state = "interrupted";
}

/** Creates and sends a part of the file, then never comes back: the upload must expire. */
export async function abandonment(ctx: Ctx): Promise<void> {
  const upload = newUpload(ctx, "abandoned", size(ctx.rng));
  const data = dataOf(upload);
  if (!(await createTus(ctx, upload, { "Upload-Length": String(upload.length) }))) return;
  await push(ctx, upload, data.subarray(0, ctx.rng.int(0, data.length - 1)), tusDialect(false), { faults: false, deadline: performance.now() + 30_000 });
  upload.state = "abandoned";
  ctx.rec.expect("uploads abandoned (to expire)");
}

/** Downloads a finished upload whole or by Range and compares the bytes with what its client sent. */
export async function downloadOne(ctx: Ctx): Promise<void> {
  // Not a partial claimed by a final: it is deleted once the final is assembled.
  const finished = ctx.rec.uploads.filter((upload) => upload.state === "finished" && upload.url && !upload.finalOf);
  if (finished.length === 0) {
    await sleep(1000);
    return;
  }
  const upload = ctx.rng.pick(finished);
  const data = dataOf(upload);
  const ranged = ctx.rng.chance(0.5) && data.length > 1;
  const start = ranged ? ctx.rng.int(0, data.length - 1) : 0;
  const end = ranged ? ctx.rng.int(start, Math.min(data.length - 1, start + 8 * MiB)) : data.length - 1;
  const got = await ctx.http.get(upload.url!, { ...auth(ctx, upload), ...(ranged ? { Range: `bytes=${start}-${end}` } : {}) }, upload);
  if (!got) return;
  if (got.status === 503 || upload.state !== "finished") return;
  const expectedStatus = ranged ? 206 : 200;
  if (got.status !== expectedStatus) {
    ctx.rec.violation(1, upload, `GET${ranged ? ` Range bytes=${start}-${end}` : ""} of a finished upload answered ${got.status}: ${got.body.toString("utf8").slice(0, 200)}`);
    return;
  }
  const expected = data.subarray(start, end + 1);
  if (!got.body.equals(expected)) {
    ctx.rec.violation(1, upload, `GET${ranged ? ` Range bytes=${start}-${end}` : ""} returned ${got.body.length} bytes that differ from what its client sent (sha256 ${sha256Hex(got.body)}, expected ${sha256Hex(expected)})`);
  }
}

/** Resumes an interrupted upload with no faults of the client's own (the quiet phase). */
export async function resume(ctx: Ctx, upload: UploadRecord, deadline: number): Promise<void> {
  if (upload.partials) return awaitFinal(ctx, upload, deadline);
  const data = dataOf(upload);
  if (upload.kind.startsWith("tus-js-client")) {
    const outcome = await runTusJs(ctx, upload, data, 5 * MiB, false, undefined, deadline);
    if (outcome === "done") upload.state = "finished";
    return;
  }
  const dialect = upload.interop ? ietfDialect(upload.interop) : tusDialect(upload.kind.includes("deferred"));
  finish(ctx, upload, await push(ctx, upload, data, dialect, { faults: false, deadline }));
}

export const CHUNK_SIZES = [5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 10 * MiB, 1 * MiB, 256 * 1024, 7 * MiB + 3, 50 * MiB, Infinity];
