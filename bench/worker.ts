/**
 * The benchmark's Worker: the gateway through the library API
 * (`createTusGateway`), instrumented, plus routes that write and read R2
 * directly, so a tus upload can be compared with the fastest way the same
 * bytes can reach R2 from a Worker.
 *
 *   PUT    /__bench/r2/<key>   `BUCKET.put(key, request.body)`, 201 (the limit)
 *   GET    /__bench/r2/<key>   the object, to verify the limit's bytes
 *   DELETE /__bench/r2/<key>   removes it again (keeps the state directory small)
 *   POST   /__bench/multipart/<key>   starts an R2 multipart upload, answers its uploadId
 *   PUT    /__bench/multipart/<key>?uploadId=…&part=N   `uploadPart(N, request.body)`,
 *                             answers the part's etag: with these three, the limit for a
 *                             chunked client (the same chunks, as parts, straight into R2)
 *   POST   /__bench/multipart/<key>?uploadId=…  completes it with the parts in the body, 201
 *   GET    /__bench/sha256/<key>  the sha256 (hex) and size of the object R2 stores at <key>,
 *                             computed in the Worker: verification without sending the
 *                             bytes back through wrangler's proxy
 *   GET    /__bench/ping       204 at once: the runtime's floor for request latency
 *   GET    /__bench/read-ranges?start=…&end=…  the ranges the gateway reads those bytes
 *                             of an object in (JSON), for the download cases' expectations
 *   PUT    /__bench/floor/<label>  the body passed to a Durable Object (FloorObject) that
 *                             reads it to its end and answers its length: the runtime's
 *                             floor for moving bytes, with no tus code (memory reference)
 *   GET    /__bench/ops        every count so far, as JSON (see `Counts`)
 *   GET    /__bench/ops/<id>   the counts of one upload (or of one R2 key)
 *   GET    /__bench/do-calls   every Durable Object call the Worker made since it started, by method
 *   DELETE /__bench/ops        forgets every count
 *
 *   /null/…                    a second gateway (base path /null/, object keys under null/)
 *                             whose R2 writes are discarded: see "The sink" below
 *
 * Anything else goes to the gateway.
 *
 * Counting. The gateway's `wrapBucket` option wraps R2 wherever the gateway
 * uses it — in the Worker (HEAD of a key, GET for downloads) and in the
 * upload's Durable Object (multipart uploads, parts, put, complete) — so one
 * wrapper counts every R2 operation by kind and by object key, and adds up
 * the wall time spent awaiting each kind. Durable Object requests are counted
 * where they are made: the Worker's `UPLOADS` namespace is wrapped so that
 * each call on a stub (`fetch` for PATCH, and every RPC method: `create`,
 * `info`, `peek`, …, whatever their names) is counted under the upload id it
 * was made for, and in a running total by method that `GET /__bench/do-calls`
 * answers: the bench reads it before and after one client request, sent
 * alone, to count that request's calls. Alarms are counted in the Durable
 * Object class.
 *
 * Each upload object's storage is instrumented too (before the gateway's
 * class sees it): SQL statements by verb, rows read and written (from each
 * statement's cursor, what SQLite-backed objects are billed by), `setAlarm`
 * and `deleteAlarm` are counted per object and reported under the upload id.
 *
 * The sink. Uploads through `/null/` are real tus uploads handled by the same
 * gateway code and the same Durable Object class, but R2 calls on keys under
 * `null/` never reach (local) R2: bodies are read to their end and hashed
 * (sha256, in part order) instead, so the gateway's own time and memory can
 * be told apart from the local R2 simulator's, and the bytes can still be
 * verified (`GET /__bench/sha256/null/<id>` answers the hash of what the
 * sink received).
 *
 * The counts live in this module's state. Locally (`wrangler dev`), the
 * Worker and its Durable Objects run in one workerd isolate and share it:
 * each wrapper notes which module instance (isolate) counted, and the bench
 * checks, after its warm-up, that the Durable Object's `uploadPart` calls
 * show up in what the Worker's route reports. (On Cloudflare they would
 * not share an isolate; this Worker is never deployed.)
 */
import { createTusGateway, type GatewayEnv } from "../src/index";
import { planReadRanges } from "../src/upload/reading/object-reader";

/* ---------- counts ---------- */

/** Count and summed wall milliseconds of one kind of operation. */
export interface OpCount {
  n: number;
  ms: number;
}

export interface Counts {
  /** R2 operations by object key, then by kind (`uploadPart`, `put`, …). */
  r2: Record<string, Record<string, OpCount>>;
  /** Durable Object requests made by the Worker, by upload id, then by method (`fetch` is an append). */
  durableObject: Record<string, Record<string, OpCount>>;
  /** Storage calls of upload objects, by upload id, then by kind (`sql UPDATE`, `rows read`, `rows written`, `setAlarm`…). */
  storage: Record<string, Record<string, OpCount>>;
  /** Alarm invocations of any upload object. */
  alarms: number;
  /** Module instances that counted, by where they ran: one id each if they share an isolate. */
  isolates: { worker: string[]; durableObject: string[] };
}

const r2Counts = new Map<string, Map<string, OpCount>>();
const doCounts = new Map<string, Map<string, OpCount>>();
/** Storage counts by Durable Object id (hex); reported under the upload id that `idNames` knows for it. */
const storageCounts = new Map<string, Map<string, OpCount>>();
/** Durable Object id (hex) → upload id, recorded by the Worker's namespace wrapper. */
const idNames = new Map<string, string>();
/** Durable Object calls made by the Worker since the isolate started, by method; never cleared. */
const doCallTotals = new Map<string, number>();
let alarms = 0;
const isolatesSeen = { worker: new Set<string>(), durableObject: new Set<string>() };

/** This module instance, created lazily: workerd allows no random values at global scope. */
let isolateId: string | undefined;
const thisIsolate = () => (isolateId ??= crypto.randomUUID().slice(0, 8));

function bump(table: Map<string, Map<string, OpCount>>, key: string, kind: string, ms = 0, by = 1): void {
  let byKind = table.get(key);
  if (!byKind) table.set(key, (byKind = new Map()));
  const count = byKind.get(kind) ?? { n: 0, ms: 0 };
  count.n += by;
  count.ms += ms;
  byKind.set(kind, count);
}

/** Counts the call when it is made and adds the time until it settles. */
function timed<T>(table: Map<string, Map<string, OpCount>>, key: string, kind: string, call: () => Promise<T>): Promise<T> {
  const started = Date.now();
  bump(table, key, kind);
  const settle = () => {
    table.get(key)!.get(kind)!.ms += Date.now() - started;
  };
  return call().finally(settle);
}

function snapshot(keys?: string[]): Counts {
  const plain = (table: Map<string, Map<string, OpCount>>) =>
    Object.fromEntries(
      [...table]
        .filter(([key]) => !keys || keys.includes(key))
        .map(([key, byKind]) => [key, Object.fromEntries([...byKind].map(([kind, c]) => [kind, { ...c }]))]),
    );
  const storage = new Map<string, Map<string, OpCount>>();
  for (const [idHex, byKind] of storageCounts) storage.set(idNames.get(idHex) ?? idHex, byKind);
  return {
    r2: plain(r2Counts),
    durableObject: plain(doCounts),
    storage: plain(storage),
    alarms,
    isolates: { worker: [...isolatesSeen.worker], durableObject: [...isolatesSeen.durableObject] },
  };
}

/* ---------- the counting R2 wrapper ---------- */

function countingMultipart(upload: R2MultipartUpload): R2MultipartUpload {
  const key = upload.key;
  return {
    get key() {
      return upload.key;
    },
    get uploadId() {
      return upload.uploadId;
    },
    uploadPart: (partNumber: number, value: Parameters<R2MultipartUpload["uploadPart"]>[1], options?: R2UploadPartOptions) =>
      timed(r2Counts, key, "uploadPart", () => upload.uploadPart(partNumber, value, options)),
    complete: (parts: R2UploadedPart[]) => timed(r2Counts, key, "complete", () => upload.complete(parts)),
    abort: () => timed(r2Counts, key, "abort", () => upload.abort()),
  };
}

/** `where` says who wraps: the Worker's requests, or an upload's Durable Object. */
function countingBucket(bucket: R2Bucket, where: "worker" | "durableObject"): R2Bucket {
  isolatesSeen[where].add(thisIsolate());
  const wrapped = {
    head: (key: string) => timed(r2Counts, key, "head", () => bucket.head(key)),
    get: (key: string, options?: R2GetOptions) => timed(r2Counts, key, "get", () => bucket.get(key, options)),
    put: (key: string, value: Parameters<R2Bucket["put"]>[1], options?: R2PutOptions) =>
      timed(r2Counts, key, "put", () => bucket.put(key, value, options)),
    delete: (keys: string | string[]) => {
      for (const key of Array.isArray(keys) ? keys.slice(1) : []) bump(r2Counts, key, "delete");
      return timed(r2Counts, Array.isArray(keys) ? keys[0] ?? "" : keys, "delete", () => bucket.delete(keys));
    },
    list: (options?: R2ListOptions) => timed(r2Counts, "(list)", "list", () => bucket.list(options)),
    createMultipartUpload: async (key: string, options?: R2MultipartOptions) =>
      countingMultipart(await timed(r2Counts, key, "createMultipartUpload", () => bucket.createMultipartUpload(key, options))),
    // No request to R2: a handle for an upload id. Counted to show how often the writer makes one.
    resumeMultipartUpload: (key: string, uploadId: string) => {
      bump(r2Counts, key, "resumeMultipartUpload");
      return countingMultipart(bucket.resumeMultipartUpload(key, uploadId));
    },
  };
  return wrapped as unknown as R2Bucket;
}

/* ---------- the counting Durable Object namespace (Worker side) ---------- */

function countingNamespace(namespace: GatewayEnv["UPLOADS"]): GatewayEnv["UPLOADS"] {
  const names = new WeakMap<DurableObjectId, string>();
  const wrapped = {
    idFromName(name: string) {
      const id = namespace.idFromName(name);
      names.set(id, name);
      idNames.set(id.toString(), name);
      return id;
    },
    idFromString: (id: string) => namespace.idFromString(id),
    newUniqueId: (options?: DurableObjectNamespaceNewUniqueIdOptions) => namespace.newUniqueId(options),
    get(id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) {
      const stub = namespace.get(id, options) as unknown as Record<string | symbol, unknown>;
      const name = names.get(id) ?? id.toString();
      // Every method the gateway calls on the stub is counted, whatever its name: a list
      // of them would miss one added to the upload object's RPC interface later.
      return new Proxy(
        {},
        {
          get(_target, property) {
            if (typeof property === "symbol" || property === "id" || property === "name") return stub[property];
            // Not a method: awaiting the stub must not look like an RPC call named `then`.
            if (property === "then") return undefined;
            return (...args: unknown[]) => {
              doCallTotals.set(property, (doCallTotals.get(property) ?? 0) + 1);
              return timed(doCounts, name, property, () => (stub[property] as (...args: unknown[]) => Promise<unknown>)(...args));
            };
          },
        },
      );
    },
  };
  return wrapped as unknown as GatewayEnv["UPLOADS"];
}

/** The env the gateway sees: one per real env, so the gateway's per-env caches keep working. */
const benchEnvs = new WeakMap<GatewayEnv, GatewayEnv>();
function benchEnv(env: GatewayEnv): GatewayEnv {
  let wrapped = benchEnvs.get(env);
  if (!wrapped) benchEnvs.set(env, (wrapped = { ...env, UPLOADS: countingNamespace(env.UPLOADS) }));
  return wrapped;
}

/* ---------- the sink: R2 writes under null/ are hashed and discarded ---------- */

const SINK_PREFIX = "null/";
/** sha256 of what the sink received per key, in part order; `error` if parts came out of order. */
const sinkDigests = new Map<string, { digest?: Promise<ArrayBuffer>; size: number; error?: string }>();

async function drain(value: unknown, into: WritableStreamDefaultWriter<Uint8Array>): Promise<number> {
  if (value === null || value === undefined) return 0;
  if (typeof value === "string") value = new TextEncoder().encode(value);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    await into.write(bytes);
    return bytes.length;
  }
  if (value instanceof ReadableStream) {
    // Read natively, as R2 would, rather than chunk by chunk in JavaScript
    // (which is several times slower for a FixedLengthStream): one part in memory.
    const bytes = new Uint8Array(await new Response(value).arrayBuffer());
    await into.write(bytes);
    return bytes.length;
  }
  throw new Error(`the bench sink cannot read a ${Object.prototype.toString.call(value)}`);
}

/** A hashing sink for one key: parts must arrive in order (1, 2, 3…), as tus-edge sends them. */
class SinkObject {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly digestStream = new crypto.DigestStream("SHA-256");
  private nextPart = 1;
  private size = 0;
  private error: string | undefined;
  constructor(readonly key: string) {
    this.writer = this.digestStream.getWriter();
  }
  async part(partNumber: number, value: unknown): Promise<void> {
    if (partNumber !== this.nextPart) this.error ??= `part ${partNumber} arrived when part ${this.nextPart} was due`;
    this.nextPart = partNumber + 1;
    this.size += await drain(value, this.writer);
  }
  async finish(): Promise<void> {
    await this.writer.close();
    sinkDigests.set(this.key, { digest: this.digestStream.digest, size: this.size, error: this.error });
  }
}

const sinkUploads = new Map<string, SinkObject>();

function fakeObject(key: string, size: number): R2Object {
  return { key, size, etag: "bench-sink", httpEtag: '"bench-sink"', uploaded: new Date(), version: "0", checksums: {}, storageClass: "Standard" } as unknown as R2Object;
}

/** R2 for keys under `null/` is the sink; other keys go to the real bucket. */
function sinkingBucket(bucket: R2Bucket): R2Bucket {
  const multipart = (key: string, uploadId: string): R2MultipartUpload => ({
    key,
    uploadId,
    async uploadPart(partNumber: number, value: unknown) {
      const sink = sinkUploads.get(uploadId);
      if (!sink) throw new Error(`bench sink: no multipart upload ${uploadId}`);
      await sink.part(partNumber, value);
      return { partNumber, etag: `bench-sink-${partNumber}` };
    },
    async complete() {
      const sink = sinkUploads.get(uploadId);
      if (!sink) throw new Error(`bench sink: no multipart upload ${uploadId}`);
      sinkUploads.delete(uploadId);
      await sink.finish();
      return fakeObject(key, sinkDigests.get(key)!.size);
    },
    async abort() {
      sinkUploads.delete(uploadId);
    },
  });
  const inSink = (key: string) => key.startsWith(SINK_PREFIX);
  return {
    head: (key: string) => (inSink(key) ? Promise.resolve(null) : bucket.head(key)),
    get: (key: string, options?: R2GetOptions) => (inSink(key) ? Promise.resolve(null) : bucket.get(key, options)),
    async put(key: string, value: unknown, options?: R2PutOptions) {
      if (!inSink(key)) return bucket.put(key, value as Parameters<R2Bucket["put"]>[1], options);
      const sink = new SinkObject(key);
      await sink.part(1, value);
      await sink.finish();
      return fakeObject(key, sinkDigests.get(key)!.size);
    },
    delete: (keys: string | string[]) => {
      const real = (Array.isArray(keys) ? keys : [keys]).filter((key) => !inSink(key));
      for (const key of Array.isArray(keys) ? keys : [keys]) if (inSink(key)) sinkDigests.delete(key);
      return real.length ? bucket.delete(real) : Promise.resolve();
    },
    list: (options?: R2ListOptions) => bucket.list(options),
    async createMultipartUpload(key: string, options?: R2MultipartOptions) {
      if (!inSink(key)) return bucket.createMultipartUpload(key, options);
      const uploadId = `sink-${crypto.randomUUID()}`;
      sinkUploads.set(uploadId, new SinkObject(key));
      return multipart(key, uploadId);
    },
    resumeMultipartUpload: (key: string, uploadId: string) => (inSink(key) ? multipart(key, uploadId) : bucket.resumeMultipartUpload(key, uploadId)),
  } as unknown as R2Bucket;
}

/* ---------- the gateways ---------- */

/**
 * `wrapBucket` is called per Worker request and once per Durable Object; the
 * Durable Object's call comes from its constructor: tell them apart by a
 * flag set around construction.
 */
let constructingObject = false;
const wrapBucket = (bucket: R2Bucket) => countingBucket(sinkingBucket(bucket), constructingObject ? "durableObject" : "worker");
const gateway = createTusGateway({ wrapBucket });
/** The same gateway over the sink. Its uploads live in the same Durable Object class (the one exported below). */
const sinkGateway = createTusGateway({ wrapBucket, config: { basePath: "/null/", objectKeyPrefix: SINK_PREFIX } });

/**
 * Makes the object's storage count SQL statements (by verb), rows written
 * and alarm calls. The runtime's DurableObject class takes only the real
 * `ctx`, so the storage object's methods are replaced in place (own
 * properties shadowing the prototype's), before the gateway's class uses them.
 */
function countStorage(storage: DurableObjectStorage, idHex: string): void {
  const sql = storage.sql;
  if (storage.sql !== sql) throw new Error("bench: ctx.storage.sql is not one object; storage counts need another way in");
  const exec = sql.exec.bind(sql);
  Object.defineProperty(sql, "exec", {
    configurable: true,
    value: (query: string, ...bindings: SqlStorageValue[]) => {
      const cursor = exec(query, ...bindings);
      // Miniflare's Durable Object wrapper keeps the object's name in a table
      // of its own, for its local explorer (3 rows written per upload, and a
      // row per new instance): not the gateway's, and not there on Cloudflare.
      if (query.includes("__miniflare_")) return cursor;
      const verb = /^\s*(\w+)/.exec(query)?.[1]?.toUpperCase() ?? "?";
      bump(storageCounts, idHex, `sql ${verb}`);
      // The store consumes a cursor synchronously (`.one()`, `.toArray()`) or not at
      // all; by the next microtask the statement has run and its rows are counted.
      // Every statement counts, as Cloudflare bills them (a CREATE writes rows too).
      queueMicrotask(() => {
        bump(storageCounts, idHex, "rows written", 0, cursor.rowsWritten);
        bump(storageCounts, idHex, "rows read", 0, cursor.rowsRead);
      });
      return cursor;
    },
  });
  for (const name of ["setAlarm", "deleteAlarm", "transactionSync"] as const) {
    const original = (storage[name] as (...args: unknown[]) => unknown).bind(storage);
    Object.defineProperty(storage, name, {
      configurable: true,
      value: (...args: unknown[]) => {
        bump(storageCounts, idHex, name);
        return original(...args);
      },
    });
  }
}

export class UploadObject extends gateway.UploadObject {
  constructor(ctx: DurableObjectState, env: GatewayEnv) {
    countStorage(ctx.storage, ctx.id.toString());
    constructingObject = true;
    try {
      super(ctx, env);
    } finally {
      constructingObject = false;
    }
  }

  override async alarm(): Promise<void> {
    alarms += 1;
    return super.alarm();
  }
}

/* ---------- routes ---------- */

const R2_PREFIX = "/__bench/r2/";
const OPS_PATH = "/__bench/ops";
const SHA256_PREFIX = "/__bench/sha256/";
const MULTIPART_PREFIX = "/__bench/multipart/";

/**
 * The limit for a chunked client: each chunk one request, written as one
 * part of an R2 multipart upload by the Worker itself — what a tus PATCH of
 * the same chunk costs at the least, with no protocol, Durable Object or
 * offset bookkeeping. The client completes the upload with the etags.
 */
async function chunkedLimit(request: Request, bucket: R2Bucket, key: string, query: URLSearchParams): Promise<Response> {
  const uploadId = query.get("uploadId");
  if (request.method === "POST" && !uploadId) return Response.json({ uploadId: (await bucket.createMultipartUpload(key)).uploadId });
  if (!uploadId) return new Response("uploadId is missing\n", { status: 400 });
  const upload = bucket.resumeMultipartUpload(key, uploadId);
  if (request.method === "PUT" && request.body) {
    const part = await upload.uploadPart(Number(query.get("part")), request.body);
    return Response.json(part);
  }
  if (request.method === "POST") {
    await upload.complete(await request.json<R2UploadedPart[]>());
    return new Response(null, { status: 201 });
  }
  return new Response("POST, or PUT a part\n", { status: 405 });
}

async function sha256Of(bucket: R2Bucket, key: string): Promise<Response> {
  if (key.startsWith(SINK_PREFIX)) {
    const sunk = sinkDigests.get(key);
    if (!sunk?.digest) return new Response("the sink received no object at this key\n", { status: 404 });
    if (sunk.error) return new Response(`${sunk.error}\n`, { status: 500 });
    return Response.json({ key, size: sunk.size, sha256: hex(await sunk.digest) });
  }
  const object = await bucket.get(key);
  if (!object) return new Response("no such object\n", { status: 404 });
  const digest = new crypto.DigestStream("SHA-256");
  await object.body.pipeTo(digest);
  return Response.json({ key, size: object.size, sha256: hex(await digest.digest) });
}

const hex = (digest: ArrayBuffer) => [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * The runtime's own cost of moving a body from the Worker into a Durable
 * Object, as a PATCH's bytes go: read to the end (BYOB, 1 MiB at a time, as
 * the gateway reads) and dropped. Its resident memory over a 256 MiB and a
 * 1 GiB body shows how much workerd itself grows with the bytes streamed.
 */
export class FloorObject {
  async fetch(request: Request): Promise<Response> {
    const reader = request.body!.getReader({ mode: "byob" });
    let buffer = new Uint8Array(1024 * 1024);
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read(buffer);
      if (value) buffer = new Uint8Array(value.buffer as ArrayBuffer);
      if (done) break;
      size += value!.length;
    }
    return new Response(String(size));
  }
}

async function floor(request: Request, env: BenchEnv): Promise<Response> {
  if (request.method !== "PUT" || !request.body) return new Response("PUT a body\n", { status: 405 });
  const stub = env.FLOOR.get(env.FLOOR.idFromName("floor"));
  const answer = await stub.fetch("https://floor.internal/", { method: "PUT", body: request.body });
  const size = await answer.text();
  const expected = request.headers.get("Content-Length");
  if (size !== expected) return new Response(`the Durable Object read ${size} bytes of ${expected}\n`, { status: 500 });
  return new Response(null, { status: 201 });
}

interface BenchEnv extends GatewayEnv {
  FLOOR: DurableObjectNamespace;
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/__bench/ping") return new Response(null, { status: 204 });
    if (pathname === "/__bench/read-ranges") {
      const query = new URL(request.url).searchParams;
      return Response.json(planReadRanges(Number(query.get("start")), Number(query.get("end"))));
    }
    if (pathname.startsWith("/__bench/floor/")) return floor(request, env);
    if (pathname.startsWith(SHA256_PREFIX)) return sha256Of(env.BUCKET, decodeURIComponent(pathname.slice(SHA256_PREFIX.length)));
    if (pathname === OPS_PATH || pathname.startsWith(`${OPS_PATH}/`)) return ops(request, pathname.slice(OPS_PATH.length + 1));
    if (pathname === "/__bench/do-calls") return Response.json({ calls: Object.fromEntries(doCallTotals), reportedBy: thisIsolate() });
    if (pathname.startsWith("/null/")) return sinkGateway.fetch(request, benchEnv(env));
    if (pathname.startsWith(MULTIPART_PREFIX)) {
      const key = decodeURIComponent(pathname.slice(MULTIPART_PREFIX.length));
      return chunkedLimit(request, countingBucket(env.BUCKET, "worker"), key, new URL(request.url).searchParams);
    }
    if (!pathname.startsWith(R2_PREFIX)) return gateway.fetch(request, benchEnv(env));
    const key = decodeURIComponent(pathname.slice(R2_PREFIX.length));
    const bucket = countingBucket(env.BUCKET, "worker");
    if (request.method === "PUT") {
      // A body with Content-Length: R2 needs a stream of known length.
      await bucket.put(key, request.body);
      return new Response(null, { status: 201 });
    }
    if (request.method === "GET") {
      const object = await env.BUCKET.get(key);
      if (!object) return new Response("no such object\n", { status: 404 });
      return new Response(object.body, { headers: { "Content-Length": String(object.size) } });
    }
    if (request.method === "DELETE") {
      await env.BUCKET.delete(key);
      return new Response(null, { status: 204 });
    }
    return new Response("PUT, GET or DELETE\n", { status: 405 });
  },
};

/** `id`: an upload id (its default object key is `uploads/<id>`) or an R2 key; empty for everything. */
function ops(request: Request, id: string): Response {
  if (request.method === "DELETE") {
    r2Counts.clear();
    doCounts.clear();
    storageCounts.clear();
    alarms = 0;
    return new Response(null, { status: 204 });
  }
  if (request.method !== "GET") return new Response("GET or DELETE\n", { status: 405 });
  const keys = id ? [decodeURIComponent(id), `uploads/${decodeURIComponent(id)}`, `${SINK_PREFIX}${decodeURIComponent(id)}`] : undefined;
  return Response.json({ ...snapshot(keys), reportedBy: thisIsolate() });
}
