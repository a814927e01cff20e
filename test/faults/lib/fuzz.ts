/**
 * Hostile requests for the fuzz run: generated from a seed, one `Random` per
 * request index, so the same seed gives the same sequence of request shapes
 * (the upload ids they aim at are whatever the server assigned in that run).
 *
 * Most requests start as a valid tus request and get a few mutations (a
 * header dropped, doubled or replaced by a hostile value; another method,
 * path or body); the rest are random. A share goes over a raw socket, for
 * what `node:http` refuses to send (control bytes, bare LF, conflicting
 * lengths, broken chunked encoding, non-ASCII request targets).
 */
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { Random } from "./random";

export const UPLOAD_ID = /^[0-9a-f]{64}$/;

/** What the generator knows of the server: the collection, the fuzz run's own uploads, and the sentinels. */
export interface FuzzTargets {
  basePath: string;
  host: string;
  /** Uploads the fuzz run created (or saw created): any method may hit them. */
  own: string[];
  /** Last offset seen per own upload, to aim PATCHes where they are accepted. */
  offsets: Map<string, number>;
  /** Uploads that must come out untouched: only read-only methods reach them by their exact URL. */
  sentinels: string[];
}

export type FuzzBody =
  | { kind: "none" }
  /** `length` bytes; with `declared`, a Content-Length that differs; `chunked`: no length, chunked encoding. */
  | { kind: "bytes"; length: number; chunked: boolean }
  /** Content-Length `declared`, then only `sent` bytes, then the socket is destroyed. */
  | { kind: "truncated"; declared: number; sent: number };

export interface FuzzRequest {
  index: number;
  /** `http`: node:http; `raw`: the exact bytes in `raw` over a socket. */
  transport: "http" | "raw";
  method: string;
  path: string;
  headers: [string, string][];
  body: FuzzBody;
  /** For the raw transport: the whole request as sent. */
  raw?: Buffer;
  /** Whether the request may legitimately change an upload it names (own uploads only). */
  mayChange: boolean;
  /** What the generator meant to do, for the report. */
  intent: string;
}

const TUS_HEADERS = [
  "Tus-Resumable",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Defer-Length",
  "Upload-Metadata",
  "Upload-Checksum",
  "Upload-Concat",
  "Content-Type",
  "X-HTTP-Method-Override",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Upload-Expires",
  "Authorization",
  "Origin",
  "Access-Control-Request-Method",
  "Access-Control-Request-Headers",
  "Range",
  "Content-Disposition",
  "Upload-Complete",
  "Upload-Draft-Interop-Version",
] as const;

const ODD_METHODS = ["PUT", "TRACE", "PROPFIND", "MKCOL", "LOCK", "COPY", "MOVE", "SEARCH", "QUERY", "FOO", "M-SEARCH", "PURGE", "patch", "Patch", "X".repeat(200)];

function b64(random: Random, length: number): string {
  return random.bytes(length).toString("base64");
}

/** A hostile number: signs, exponents, hex, spaces, overflow, non-digits. */
function hostileNumber(random: Random): string {
  return random.pick([
    "-1",
    "-0",
    "1e3",
    "0x10",
    "+5",
    " 7",
    "1.5",
    "NaN",
    "Infinity",
    "",
    "0".repeat(random.int(2, 400)),
    "9".repeat(random.int(16, 400)),
    "9007199254740992",
    "18446744073709551616",
    "5492189429761",
    String(random.int(0, 2 ** 31)),
    `${random.int(0, 100)},${random.int(0, 100)}`,
    "1 2",
    "١٢٣",
  ]);
}

/** A hostile string of printable Latin-1 (what node:http lets through). */
function hostileText(random: Random): string {
  const length = random.weighted([
    [6, random.int(0, 40)],
    [2, random.int(40, 2000)],
    [1, random.int(8 * 1024, 70 * 1024)],
  ] as const);
  let text = "";
  for (let i = 0; i < length; i++) {
    text += String.fromCharCode(random.chance(0.9) ? random.int(0x20, 0x7e) : random.int(0xa0, 0xff));
  }
  return text;
}

function validMetadata(random: Random): string {
  const pairs = Array.from({ length: random.int(0, 5) }, (_, i) => {
    const key = random.pick(["filename", "filetype", "name", "type", `k${i}`, "relativePath"]) + (i > 0 && random.chance(0.3) ? i : "");
    return random.chance(0.2) ? key : `${key} ${b64(random, random.int(0, 60))}`;
  });
  return pairs.join(",");
}

function hostileMetadata(random: Random): string {
  return random.pick([
    () => "filename",
    () => "filename !!notbase64!!",
    () => "filename aGVsbG8=,filename aGVsbG8=",
    () => " aGVsbG8=",
    () => ",,,,",
    () => "a b c",
    () => `filetype ${Buffer.from("text/html; charset=\"x\"\r\n").toString("base64")}`,
    () => `filename ${Buffer.from("../../etc/passwd").toString("base64")}`,
    () => `filename ${Buffer.from("a\u0000b\u202e.exe").toString("base64")}`,
    () => Array.from({ length: random.int(30, 1200) }, (_, i) => `k${i} ${b64(random, 3)}`).join(","),
    () => `big ${b64(random, random.int(3000, 60_000))}`,
    () => hostileText(random),
    () => `k\u00e9y ${b64(random, 6)}`,
    () => validMetadata(random) + ",",
  ])();
}

function hostileChecksum(random: Random, body: number): string {
  return random.pick([
    () => "sha1",
    () => "sha1 ",
    () => "sha1 !!!",
    () => `sha1 ${createHash("sha1").update(random.bytes(8)).digest("base64")}`,
    () => `md5 ${createHash("md5").update(random.bytes(8)).digest("base64")}`,
    () => `crc32 ${b64(random, 4)}`,
    () => `SHA1 ${b64(random, 20)}`,
    () => `sha256 ${b64(random, random.int(0, 5000))}`,
    () => `sha512 ${b64(random, 64)} extra`,
    () => `sha1 ${createHash("sha1").update(Buffer.alloc(body)).digest("base64")}`,
  ])();
}

function hostileConcat(random: Random, targets: FuzzTargets): string {
  const url = (id: string) => (random.chance(0.5) ? `${targets.basePath}${id}` : `http://${targets.host}${targets.basePath}${id}`);
  const ids = () => Array.from({ length: random.int(0, 4) }, () => url(random.pick([...targets.own, ...targets.sentinels, "x", b64(random, 16).replace(/[+/=]/g, "A")])));
  return random.pick([
    () => "partial",
    () => "final;",
    () => `final;${ids().join(" ")}`,
    () => `final; ${ids().join("  ")}`,
    () => `final;http://evil.example${targets.basePath}${random.pick(targets.own.length ? targets.own : ["x"])}`,
    () => `partial;${hostileText(random)}`,
    () => hostileText(random),
    () => `final;${Array.from({ length: 300 }, () => url("AAAAAAAAAAAAAAAAAAAAAA")).join(" ")}`,
  ])();
}

function hostileValue(random: Random, name: string, targets: FuzzTargets, bodyLength: number): string {
  switch (name) {
    case "Upload-Offset":
    case "Upload-Length":
    case "Tus-Max-Size":
      return hostileNumber(random);
    case "Upload-Defer-Length":
      return random.pick(["0", "2", "true", "", "1 ", "01", hostileNumber(random)]);
    case "Upload-Metadata":
      return hostileMetadata(random);
    case "Upload-Checksum":
      return hostileChecksum(random, bodyLength);
    case "Upload-Concat":
      return hostileConcat(random, targets);
    case "Tus-Resumable":
      return random.pick(["1.0.0", "1.0", "0.2.2", "1.0.0, 1.0.0", "", "1.0.0 ", hostileText(random)]);
    case "Content-Type":
      return random.pick([
        "application/offset+octet-stream",
        "APPLICATION/OFFSET+OCTET-STREAM; charset=x",
        "application/octet-stream",
        "application/partial-upload",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
        hostileText(random),
      ]);
    case "X-HTTP-Method-Override":
      return random.pick(["PATCH", "DELETE", "HEAD", "GET", "POST", "OPTIONS", "PUT", "TRACE", "", "patch", hostileText(random)]);
    case "Authorization":
      return random.pick(["Bearer ", "Bearer x.y.z", `Bearer ${b64(random, 300)}`, "Basic Zm9vOmJhcg==", hostileText(random)]);
    case "Range":
      return random.pick(["bytes=0-0", "bytes=-1", "bytes=5-2", "bytes=0-1,3-4", "bytes=99999999999-", "items=0-1", hostileText(random)]);
    case "Origin":
      return random.pick(["https://evil.example", "null", "*", hostileText(random)]);
    default:
      return hostileText(random);
  }
}

/** A path the request is sent to, and whether a changing method may be sent there. */
function pickPath(random: Random, targets: FuzzTargets): { path: string; mayChange: boolean; intent: string } {
  const base = targets.basePath;
  const own = targets.own.length ? random.pick(targets.own) : "AAAAAAAAAAAAAAAAAAAAAA";
  const sentinel = random.pick(targets.sentinels);
  const anyId = random.chance(0.5) ? own : sentinel;
  /** Another id that differs from `id` (a sentinel's near miss must never be the sentinel). */
  const nearMiss = (id: string) => {
    const at = random.int(0, id.length - 1);
    const replacement = random.pick([..."ABCxyz019-_"].filter((char) => char !== id[at]));
    const flipped = id[at] === id[at]!.toUpperCase() ? id[at]!.toLowerCase() : id[at]!.toUpperCase();
    const miss = random.pick([id.slice(0, at) + replacement + id.slice(at + 1), id.slice(0, -1), `${id}A`, id.slice(0, at) + flipped + id.slice(at + 1)]);
    return miss === id ? `${id}A` : miss;
  };
  const encode = (id: string) => [...id].map((char) => (random.chance(0.3) ? `%${char.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}` : char)).join("");
  return random.weighted<() => { path: string; mayChange: boolean; intent: string }>([
    [30, () => ({ path: `${base}${own}`, mayChange: true, intent: "own upload" })],
    [15, () => ({ path: base, mayChange: true, intent: "collection" })],
    [8, () => ({ path: `${base}${nearMiss(anyId)}`, mayChange: true, intent: "near-miss id" })],
    [4, () => ({ path: `${base}${b64(random, 16).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`, mayChange: true, intent: "unknown id" })],
    [3, () => ({ path: `${base}${encode(own)}`, mayChange: true, intent: "percent-encoded own id" })],
    [3, () => ({ path: `${base}${encode(sentinel)}`, mayChange: false, intent: "percent-encoded sentinel id" })],
    [3, () => ({ path: `${base}../${base.slice(1)}${sentinel}`, mayChange: false, intent: "dot segments to a sentinel" })],
    [2, () => ({ path: `${base}${sentinel}/`, mayChange: false, intent: "sentinel with a trailing slash" })],
    [4, () => ({ path: `${base}${random.pick(["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/", "./", ".", "..", "%00", "%ff%fe", "%", "%zz", "a/b/c", `${own}/extra`, `${own};x=1`, `${own}?x=${hostileText(random).replace(/[^A-Za-z0-9]/g, "")}`])}`, mayChange: true, intent: "odd path under the collection" })],
    [2, () => ({ path: `${base}${"a".repeat(random.pick([23, 200, 4096, 20_000, 100_000]))}`, mayChange: true, intent: "long path" })],
    [3, () => ({ path: random.pick(["/", "/files", "/FILES/", `//files//${own}`, "/index.html", "/favicon.ico", "/__faults", "*", `http://${targets.host}${base}${own}`, `http://evil.example${base}${own}`]), mayChange: true, intent: "odd target" })],
    [6, () => ({ path: `${base}${sentinel}`, mayChange: false, intent: "sentinel, read only" })],
  ])();
}

function pickMethod(random: Random, intent: string): string {
  if (intent === "collection") return random.weighted([[8, "POST"], [2, "OPTIONS"], [1, "GET"], [1, "PATCH"], [1, "DELETE"], [1, random.pick(ODD_METHODS)]] as const);
  return random.weighted([
    [30, "PATCH"],
    [12, "HEAD"],
    [8, "GET"],
    [6, "DELETE"],
    [6, "OPTIONS"],
    [8, "POST"],
    [6, random.pick(ODD_METHODS)],
  ] as const);
}

/** The headers of a plausible request of `method`, before mutations. */
function validHeaders(random: Random, method: string, targets: FuzzTargets, id: string | undefined, bodyLength: number): [string, string][] {
  const headers: [string, string][] = [["Tus-Resumable", "1.0.0"]];
  if (method === "POST") {
    if (random.chance(0.8)) headers.push(["Upload-Length", String(random.weighted([[5, random.int(0, 64 * 1024)], [2, random.int(0, 20 * 1024 * 1024)], [1, random.int(0, 2 ** 40)]] as const))]);
    else headers.push(["Upload-Defer-Length", "1"]);
    if (random.chance(0.7)) headers.push(["Upload-Metadata", validMetadata(random)]);
    if (random.chance(0.15)) headers.push(["Upload-Concat", random.chance(0.6) ? "partial" : hostileConcat(random, targets)]);
    if (bodyLength > 0) headers.push(["Content-Type", "application/offset+octet-stream"]);
  }
  if (method === "PATCH") {
    headers.push(["Content-Type", "application/offset+octet-stream"]);
    headers.push(["Upload-Offset", String((id && targets.offsets.get(id)) ?? 0)]);
    if (random.chance(0.1)) headers.push(["Upload-Length", String(random.int(0, 30 * 1024 * 1024))]);
    if (random.chance(0.1)) headers.push(["Upload-Checksum", hostileChecksum(random, bodyLength)]);
  }
  return headers;
}

function bodyLength(random: Random, method: string): number {
  if (method !== "PATCH" && method !== "POST") return random.chance(0.1) ? random.int(1, 4096) : 0;
  return random.weighted([
    [3, 0],
    [10, random.int(1, 4096)],
    [6, random.int(4096, 256 * 1024)],
    // Rare but there: bodies that fill an R2 part.
    [0.25, random.int(1024 * 1024, 9 * 1024 * 1024)],
  ] as const);
}

/** Applies one mutation in place. */
function mutate(random: Random, request: FuzzRequest, targets: FuzzTargets): void {
  const { headers } = request;
  const kind = random.weighted([
    [5, "replace"],
    [3, "drop"],
    [2, "duplicate"],
    [2, "add"],
    [1, "override"],
    [2, "truncate"],
    [1, "oversize"],
    [1, "chunked"],
    [1, "method"],
  ] as const);
  const length = request.body.kind === "bytes" ? request.body.length : 0;
  switch (kind) {
    case "replace":
    case "add": {
      const name = random.pick(TUS_HEADERS);
      if (name === "X-HTTP-Method-Override" && !request.mayChange) return;
      const value = hostileValue(random, name, targets, length);
      const existing = headers.findIndex(([header]) => header === name);
      if (kind === "replace" && existing >= 0) headers[existing] = [name, value];
      else headers.push([name, value]);
      request.intent += `, ${kind} ${name}`;
      return;
    }
    case "drop":
      if (headers.length) headers.splice(random.int(0, headers.length - 1), 1);
      request.intent += ", drop a header";
      return;
    case "duplicate": {
      const [name] = headers.length ? random.pick(headers) : ["Tus-Resumable"];
      headers.push([name, hostileValue(random, name, targets, length)]);
      request.intent += `, duplicate ${name}`;
      return;
    }
    case "override":
      if (!request.mayChange) return;
      headers.push(["X-HTTP-Method-Override", hostileValue(random, "X-HTTP-Method-Override", targets, length)]);
      request.intent += ", method override";
      return;
    case "truncate": {
      const declared = Math.max(length, 1) + random.int(1, 5 * 1024 * 1024);
      request.body = { kind: "truncated", declared, sent: random.int(0, Math.min(length, declared - 1)) };
      request.intent += ", truncated body";
      return;
    }
    case "oversize":
      request.body = { kind: "bytes", length: length + random.int(1, 2 * 1024 * 1024), chunked: random.chance(0.3) };
      request.intent += ", oversized body";
      return;
    case "chunked":
      if (request.body.kind === "bytes") request.body.chunked = true;
      request.intent += ", chunked body";
      return;
    case "method":
      if (!request.mayChange) return;
      request.method = random.pick([...ODD_METHODS, "PATCH", "POST", "DELETE", "HEAD", "GET"]);
      request.intent += `, method ${request.method.slice(0, 20)}`;
      return;
  }
}

/** Request bytes that node:http would refuse to send: for the raw transport. */
function rawOnly(random: Random, targets: FuzzTargets, index: number): FuzzRequest {
  const own = targets.own.length ? random.pick(targets.own) : "AAAAAAAAAAAAAAAAAAAAAA";
  const host = `Host: ${targets.host}\r\n`;
  const target = `${targets.basePath}${own}`;
  const [intent, text] = random.pick<[string, () => string | Buffer]>([
    ["NUL in a header value", () => `HEAD ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0\u00000\r\nConnection: close\r\n\r\n`],
    ["bare LF line endings", () => `HEAD ${target} HTTP/1.1\n${host.replace("\r\n", "\n")}Tus-Resumable: 1.0.0\nConnection: close\n\n`],
    ["obs-fold header", () => `HEAD ${target} HTTP/1.1\r\n${host}Tus-Resumable:\r\n 1.0.0\r\nConnection: close\r\n\r\n`],
    ["two different Content-Lengths", () => `PATCH ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 5\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello`],
    ["Transfer-Encoding and Content-Length", () => `PATCH ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
    ["broken chunk size", () => `PATCH ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`],
    ["chunk longer than announced", () => `PATCH ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhello\r\n0\r\n\r\n`],
    ["body longer than Content-Length, then a second request", () => `PATCH ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 2\r\n\r\nhelloDELETE ${target} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`],
    ["negative Content-Length", () => `PATCH ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: -5\r\nConnection: close\r\n\r\nhello`],
    ["non-ASCII bytes in the target", () => Buffer.concat([Buffer.from(`HEAD ${targets.basePath}`), random.bytes(12), Buffer.from(` HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`)])],
    ["non-ASCII bytes in Upload-Metadata", () => Buffer.concat([Buffer.from(`POST ${targets.basePath} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nUpload-Length: 5\r\nUpload-Metadata: filename `), random.bytes(30), Buffer.from("\r\nConnection: close\r\n\r\n")])],
    ["CR inside a header value", () => `HEAD ${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\rX-Injected: 1\r\nConnection: close\r\n\r\n`],
    ["no Host header", () => `HEAD ${target} HTTP/1.1\r\nTus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`],
    ["HTTP/1.0", () => `HEAD ${target} HTTP/1.0\r\n${host}Tus-Resumable: 1.0.0\r\n\r\n`],
    ["HTTP/9.9", () => `HEAD ${target} HTTP/9.9\r\n${host}Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`],
    ["1,000 headers", () => `HEAD ${target} HTTP/1.1\r\n${host}${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${i}\r\n`).join("")}Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`],
    ["a 100 KB request line", () => `GET ${targets.basePath}${"a".repeat(100_000)} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`],
    ["garbage", () => random.bytes(random.int(1, 2000))],
    ["space before the colon", () => `HEAD ${target} HTTP/1.1\r\n${host}Tus-Resumable : 1.0.0\r\nConnection: close\r\n\r\n`],
    ["absolute-form target", () => `HEAD http://${targets.host}${target} HTTP/1.1\r\n${host}Tus-Resumable: 1.0.0\r\nConnection: close\r\n\r\n`],
  ]);
  const made = text();
  const raw = typeof made === "string" ? Buffer.from(made, "latin1") : made;
  return { index, transport: "raw", method: raw.subarray(0, raw.indexOf(32)).toString("latin1").slice(0, 30), path: "", headers: [], body: { kind: "none" }, raw, mayChange: true, intent: `raw: ${intent}` };
}

export function generateRequest(seed: string, index: number, targets: FuzzTargets): FuzzRequest {
  const random = new Random(`fuzz:${seed}:${index}`);
  if (random.chance(0.08)) return rawOnly(random, targets, index);
  const { path, mayChange, intent } = pickPath(random, targets);
  const method = mayChange ? pickMethod(random, intent) : random.pick(["HEAD", "GET", "OPTIONS"]);
  const id = path.startsWith(targets.basePath) ? path.slice(targets.basePath.length) : undefined;
  const length = mayChange ? bodyLength(random, method) : 0;
  const request: FuzzRequest = {
    index,
    transport: "http",
    method,
    path,
    headers: random.chance(0.85) ? validHeaders(random, method, targets, id, length) : [],
    body: length > 0 || (method === "PATCH" && random.chance(0.5)) ? { kind: "bytes", length, chunked: false } : { kind: "none" },
    mayChange,
    intent,
  };
  const mutations = random.weighted([[2, 0], [4, 1], [3, 2], [1, 3], [1, random.int(4, 10)]] as const);
  for (let i = 0; i < mutations; i++) mutate(random, request, targets);
  if (!request.mayChange) {
    // Exact URLs of sentinels take only reads, and nothing that turns them into writes.
    request.method = random.pick(["HEAD", "GET", "OPTIONS"]);
    request.headers = request.headers.filter(([name]) => name.toLowerCase() !== "x-http-method-override");
    request.body = { kind: "none" };
  }
  return request;
}

/** The request, one line per part, values cut short: for failure messages. */
export function describeRequest(request: FuzzRequest): string {
  const cut = (text: string, max = 200) => (text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text);
  if (request.transport === "raw") return `#${request.index} ${request.intent}\n  ${JSON.stringify(cut(request.raw!.toString("latin1"), 600))}`;
  const body = request.body.kind === "none" ? "no body" : request.body.kind === "bytes" ? `${request.body.length} bytes${request.body.chunked ? ", chunked" : ""}` : `declares ${request.body.declared}, sends ${request.body.sent}, then destroys the socket`;
  return [
    `#${request.index} ${request.intent}`,
    `  ${cut(request.method, 40)} ${cut(request.path)}`,
    ...request.headers.map(([name, value]) => `  ${name}: ${JSON.stringify(cut(value))}`),
    `  body: ${body}`,
  ].join("\n");
}

export interface RawOutcome {
  /** The first answer, if one came: status, headers (lower-case names) and up to 4 KiB of body. */
  answer: { status: number; headers: Record<string, string>; body: Buffer } | undefined;
}

/**
 * Sends raw request bytes and reads until the server closes or one answer is
 * complete (a Content-Length body, a chunked body, or none for HEAD/204/304).
 * With `cutAfterWrite`, the socket is destroyed as soon as the bytes are
 * written (a client that vanished mid-body); an answer already there is kept.
 */
export function sendRaw(host: string, port: number, raw: Buffer, timeoutMs: number, cutAfterWrite = false): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let received = Buffer.alloc(0);
    let done = false;
    const isHead = raw.subarray(0, 5).toString("latin1") === "HEAD ";
    const parse = (): RawOutcome["answer"] => {
      const end = received.indexOf("\r\n\r\n");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(received.subarray(0, 20).toString("latin1"));
      if (!match) return undefined;
      const lines = received.subarray(0, end < 0 ? received.length : end).toString("latin1").split("\r\n").slice(1);
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
      return { status: Number(match[1]), headers, body: end < 0 ? Buffer.alloc(0) : received.subarray(end + 4, end + 4 + 4096) };
    };
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answer: parse() });
    };
    const timer = setTimeout(() => {
      done = true;
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () =>
      socket.write(raw, () => {
        if (cutAfterWrite) finish();
      }),
    );
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      const answer = parse();
      if (end < 0 || !answer) return;
      if (received.length > 64 * 1024) return finish(); // the status is what counts, not a whole download
      const body = received.length - end - 4;
      const length = answer.headers["content-length"];
      if (isHead || answer.status === 204 || answer.status === 304 || (length !== undefined && body >= Number(length))) return finish();
      if (/chunked/.test(answer.headers["transfer-encoding"] ?? "") && received.subarray(-5).toString("latin1") === "0\r\n\r\n") finish();
    });
    socket.on("error", () => {}); // a reset after the answer (or instead of one) ends in "close"
    socket.on("close", finish);
  });
}
