/**
 * The tus 1.0.0 protocol as a client sees it: one declarative table of
 * request → expected status, headers and error message, covering every status
 * code the gateway produces; then the flows that need more than one request.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  b64,
  bodyText,
  COLLECTION,
  createUpload,
  download,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  head,
  headOffset,
  MAX_UPLOAD_SIZE,
  OCTET,
  ORIGIN,
  patch,
  randomBytes,
  send,
  TUS,
} from "./helpers";

const TIMEOUT = 20_000;

/** Metadata as a client writes it: the HEAD answer must echo it unchanged. */
const METADATA = `filename ${b64("hello.txt")},filetype ${b64("text/plain")},empty`;
const FINISHED_BYTES = randomBytes(10, 7);
const PARTIAL_BYTES = randomBytes(10, 8);
/** A well-formed id that no upload has. */
const UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA";

interface Fixtures {
  /** Upload-Length 10, 3 bytes received, with METADATA. */
  partial: string;
  /** Created with Upload-Defer-Length: 1, nothing received. */
  deferred: string;
  /** Upload-Length 10, all received, with METADATA. */
  finished: string;
}

type Expected = string | RegExp | null;

interface Case {
  name: string;
  method: string;
  url: (uploads: Fixtures) => string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  status: number;
  /** Expected response headers: a value, a pattern, or null for "absent". */
  expect?: Record<string, Expected>;
  /** What the error message must say (non-HEAD error responses). */
  message?: RegExp;
}

const collection = () => COLLECTION;
const partial = (f: Fixtures) => f.partial;
const deferred = (f: Fixtures) => f.deferred;
const finished = (f: Fixtures) => f.finished;
const unknown = () => `${COLLECTION}${UNKNOWN_ID}`;
const path = (p: string) => () => `${ORIGIN}${p}`;

const TUS_EXTENSION =
  "creation,creation-with-upload,creation-defer-length,checksum,termination,expiration,concatenation,concatenation-unfinished";
const BAD_NUMBERS = ["1e3", "+5", "0x10", "1.5", "", "-1"];
/** Well-formed lengths too large for a double (above 2^53): still only too large, 413. */
const HUGE_NUMBERS = ["9007199254740993", "99999999999999999999", "9".repeat(400)];
const LONG_ID = "A".repeat(4096);

const cases: Case[] = [
  // OPTIONS: what the server supports; no Tus-Resumable needed.
  ...[
    ["the collection", collection],
    ["an upload URL", partial],
  ].map(([where, url]) => ({
    name: `OPTIONS on ${where as string} answers 200 with Tus-Version, Tus-Extension and Tus-Max-Size`,
    method: "OPTIONS",
    url: url as Case["url"],
    status: 200,
    expect: {
      "Tus-Version": "1.0.0",
      "Tus-Extension": TUS_EXTENSION,
      "Tus-Max-Size": String(MAX_UPLOAD_SIZE),
    },
  })),
  {
    name: "OPTIONS is answered even with an unsupported Tus-Resumable",
    method: "OPTIONS",
    url: collection,
    headers: { "Tus-Resumable": "0.2.2" },
    status: 200,
    expect: { "Tus-Version": "1.0.0" },
  },

  // 412: Tus-Resumable missing or unsupported, on every tus method.
  ...(["POST", "HEAD", "PATCH"] as const).flatMap((method) =>
    [
      ["without Tus-Resumable", {}],
      ["with Tus-Resumable: 0.2.2", { "Tus-Resumable": "0.2.2" }],
    ].map(([how, headers]) => ({
      name: `${method} ${how as string} is refused with 412 and Tus-Version`,
      method,
      url: method === "POST" ? collection : partial,
      headers: {
        ...(headers as Record<string, string>),
        ...(method === "POST" ? { "Upload-Length": "10" } : {}),
        ...(method === "PATCH" ? { "Content-Type": OCTET, "Upload-Offset": "3" } : {}),
      },
      body: method === "PATCH" ? new Uint8Array(1) : undefined,
      status: 412,
      expect: { "Tus-Version": "1.0.0" },
      message: /Tus-Resumable/,
    })),
  ),

  // 415: PATCH bodies must be application/offset+octet-stream.
  {
    name: "PATCH with Content-Type: application/octet-stream is refused with 415",
    method: "PATCH",
    url: partial,
    headers: { ...TUS, "Content-Type": "application/octet-stream", "Upload-Offset": "3" },
    body: new Uint8Array(1),
    status: 415,
    message: /Content-Type: application\/offset\+octet-stream/,
  },
  {
    name: "PATCH without Content-Type is refused with 415",
    method: "PATCH",
    url: partial,
    headers: { ...TUS, "Upload-Offset": "3" },
    body: new Uint8Array(1),
    status: 415,
    message: /Content-Type/,
  },
  {
    name: "POST with a body that is not application/offset+octet-stream is refused with 415",
    method: "POST",
    url: collection,
    headers: { ...TUS, "Upload-Length": "10", "Content-Type": "text/plain" },
    body: new Uint8Array(3),
    status: 415,
    message: /Content-Type: application\/offset\+octet-stream/,
  },

  // 409: the offset must match.
  ...[0, 5].map((offset) => ({
    name: `PATCH at Upload-Offset ${offset} on an upload at offset 3 is refused with 409 and the current Upload-Offset`,
    method: "PATCH",
    url: partial,
    headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": String(offset) },
    body: new Uint8Array(2),
    status: 409,
    expect: { "Upload-Offset": "3" },
    message: new RegExp(`Upload-Offset is ${offset} but the upload's current offset is 3`),
  })),
  {
    name: "GET on an unfinished upload is refused with 409 and says it is not finished",
    method: "GET",
    url: partial,
    status: 409,
    message: /not finished.*3 of 10 bytes/,
  },

  // 404: unknown or malformed upload URLs.
  ...(["HEAD", "PATCH", "GET"] as const).flatMap((method) =>
    [
      ["an unknown upload", unknown],
      ["a malformed id (/files/abc)", path("/files/abc")],
      ["/files/..%2fx", path("/files/..%2fx")],
      ["a 4096-character id", path(`/files/${LONG_ID}`)],
    ].map(([what, url]) => ({
      name: `${method} on ${what as string} answers 404`,
      method,
      url: url as Case["url"],
      headers: method === "GET" ? {} : { ...TUS, ...(method === "PATCH" ? { "Content-Type": OCTET, "Upload-Offset": "0" } : {}) },
      body: method === "PATCH" ? new Uint8Array(1) : undefined,
      status: 404,
      message: /no upload exists at this URL/,
    })),
  ),
  {
    name: "HEAD on /files/../x (normalised to /x) answers 404",
    method: "HEAD",
    url: path("/files/../x"),
    headers: { ...TUS },
    status: 404,
  },
  {
    name: "HEAD below an upload URL (/files/<id>/more) answers 404",
    method: "HEAD",
    url: (f) => `${f.partial}/more`,
    headers: { ...TUS },
    status: 404,
  },
  ...["/", "/elsewhere", "/filesx/AAAAAAAAAAAAAAAAAAAAAA"].map((where) => ({
    name: `GET on ${where} (outside the base path) answers 404`,
    method: "GET",
    url: path(where),
    status: 404,
    message: /no upload exists/,
  })),

  // 405: methods the gateway does not offer.
  ...[
    ["PUT", partial, "an upload URL"],
    ["POST", partial, "an upload URL"],
    ["DELETE", collection, "the collection"],
    ["PATCH", collection, "the collection"],
  ].map(([method, url, where]) => ({
    name: `${method as string} on ${where as string} is refused with 405 and Allow`,
    method: method as string,
    url: url as Case["url"],
    headers: { ...TUS },
    status: 405,
    expect: { Allow: "OPTIONS, POST, HEAD, PATCH, GET, DELETE" },
    message: /method is not allowed/,
  })),
  // GET on the collection lists one's uploads (docs/listing.md), which needs tokens: open mode says so.
  {
    name: "GET on the collection is a listing, refused in open mode with 403 that says why",
    method: "GET",
    url: collection,
    headers: { ...TUS },
    status: 403,
    message: /listing and administration are off in open mode \(AUTH_MODE=open\).*AUTH_MODE = "jwt"/,
  },

  // 400: numbers that are not plain non-negative decimal integers.
  ...BAD_NUMBERS.flatMap((value) => [
    {
      name: `PATCH with Upload-Offset: ${JSON.stringify(value)} is refused with 400`,
      method: "PATCH",
      url: partial,
      headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": value },
      body: new Uint8Array(1),
      status: 400,
      message: /Upload-Offset/,
    },
    {
      name: `POST with Upload-Length: ${JSON.stringify(value)} is refused with 400`,
      method: "POST",
      url: collection,
      headers: { ...TUS, "Upload-Length": value },
      status: 400,
      message: /Upload-Length/,
    },
    {
      name: `PATCH declaring Upload-Length: ${JSON.stringify(value)} on a deferred upload is refused with 400`,
      method: "PATCH",
      url: deferred,
      headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Upload-Length": value },
      body: new Uint8Array(1),
      status: 400,
      message: /Upload-Length/,
    },
  ]),
  {
    name: "PATCH with an Upload-Offset past R2's largest object, too large for a double, is refused with 400",
    method: "PATCH",
    url: partial,
    headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "99999999999999999999" },
    body: new Uint8Array(1),
    status: 400,
    message: /Upload-Offset is "99999999999999999999", which is larger than the largest allowed/,
  },
  {
    name: "PATCH without Upload-Offset is refused with 400",
    method: "PATCH",
    url: partial,
    headers: { ...TUS, "Content-Type": OCTET },
    body: new Uint8Array(1),
    status: 400,
    message: /Upload-Offset is required/,
  },

  // 400: creation needs exactly one of Upload-Length and Upload-Defer-Length: 1.
  {
    name: "POST with both Upload-Length and Upload-Defer-Length is refused with 400",
    method: "POST",
    url: collection,
    headers: { ...TUS, "Upload-Length": "10", "Upload-Defer-Length": "1" },
    status: 400,
    message: /Upload-Length or Upload-Defer-Length: 1, not both/,
  },
  {
    name: "POST with Upload-Defer-Length: 2 is refused with 400",
    method: "POST",
    url: collection,
    headers: { ...TUS, "Upload-Defer-Length": "2" },
    status: 400,
    message: /Upload-Defer-Length must be 1/,
  },
  {
    name: "POST with neither Upload-Length nor Upload-Defer-Length is refused with 400",
    method: "POST",
    url: collection,
    headers: { ...TUS },
    status: 400,
    message: /Upload-Length.*Upload-Defer-Length: 1/,
  },

  // 413: too large for the server (whatever the number), or a body past the upload's length.
  ...[String(MAX_UPLOAD_SIZE + 1), String(Number.MAX_SAFE_INTEGER), ...HUGE_NUMBERS].flatMap((length) => [
    {
      name: `POST with Upload-Length ${length.slice(0, 24)} (above Tus-Max-Size) is refused with 413 naming the limit`,
      method: "POST",
      url: collection,
      headers: { ...TUS, "Upload-Length": length },
      status: 413,
      message: new RegExp(`Upload-Length \\d+.* exceeds the largest upload allowed, ${MAX_UPLOAD_SIZE} bytes`),
    },
    {
      name: `PATCH declaring Upload-Length ${length.slice(0, 24)} on a deferred upload is refused with 413 naming the limit`,
      method: "PATCH",
      url: deferred,
      headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Upload-Length": length },
      body: new Uint8Array(1),
      status: 413,
      message: new RegExp(`Upload-Length \\d+.* exceeds .*${MAX_UPLOAD_SIZE} bytes`),
    },
  ]),
  ...HUGE_NUMBERS.flatMap((contentLength) => [
    {
      name: `PATCH announcing Content-Length ${contentLength.slice(0, 24)} is refused with 413 naming the limit`,
      method: "PATCH",
      url: deferred,
      headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "0", "Content-Length": contentLength },
      body: new Uint8Array(1),
      status: 413,
      message: new RegExp(`Content-Length \\d+.* larger than the largest upload allowed, ${MAX_UPLOAD_SIZE} bytes`),
    },
    {
      name: `POST announcing a body of Content-Length ${contentLength.slice(0, 24)} is refused with 413 naming the limit`,
      method: "POST",
      url: collection,
      headers: { ...TUS, "Upload-Defer-Length": "1", "Content-Type": OCTET, "Content-Length": contentLength },
      body: new Uint8Array(1),
      status: 413,
      message: new RegExp(`Content-Length \\d+.* larger than the largest upload allowed, ${MAX_UPLOAD_SIZE} bytes`),
    },
  ]),
  {
    name: "PATCH whose Content-Length would pass Upload-Length is refused with 413 and the current Upload-Offset",
    method: "PATCH",
    url: partial,
    headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "3" },
    body: new Uint8Array(8),
    status: 413,
    expect: { "Upload-Offset": "3" },
    message: /Upload-Length 10/,
  },
  {
    name: "POST whose first bytes are longer than Upload-Length is refused with 413",
    method: "POST",
    url: collection,
    headers: { ...TUS, "Upload-Length": "2", "Content-Type": OCTET },
    body: new Uint8Array(3),
    status: 413,
    message: /Upload-Length 2/,
  },
  {
    name: "PATCH with a non-empty body on a finished upload is refused with 413",
    method: "PATCH",
    url: finished,
    headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "10" },
    body: new Uint8Array(1),
    status: 413,
    expect: { "Upload-Offset": "10" },
    message: /Upload-Length 10/,
  },

  // 400: malformed Upload-Metadata.
  ...[
    ["a value that is not Base64", "filename !!!notbase64"],
    ["a value with a 1-character Base64 tail", "filename aGVsb"],
    ["a duplicate key", `a ${b64("x")},a ${b64("y")}`],
    ["an empty pair between commas", `a ${b64("x")},,b ${b64("y")}`],
    ["a trailing comma", `a ${b64("x")},`],
    ["three fields in one pair", `a ${b64("x")} ${b64("y")}`],
  ].map(([what, metadata]) => ({
    name: `POST with Upload-Metadata holding ${what} is refused with 400`,
    method: "POST",
    url: collection,
    headers: { ...TUS, "Upload-Length": "10", "Upload-Metadata": metadata! },
    status: 400,
    message: /Upload-Metadata is malformed/,
  })),

  // 200: HEAD reports where an upload stands, never cached.
  {
    name: "HEAD on a partly received upload answers its offset, length and metadata, uncacheable",
    method: "HEAD",
    url: partial,
    headers: { ...TUS },
    status: 200,
    expect: {
      "Cache-Control": "no-store",
      "Upload-Offset": "3",
      "Upload-Length": "10",
      "Upload-Defer-Length": null,
      "Upload-Metadata": METADATA,
    },
  },
  {
    name: "HEAD on a deferred-length upload answers Upload-Defer-Length: 1 and no Upload-Length",
    method: "HEAD",
    url: deferred,
    headers: { ...TUS },
    status: 200,
    expect: {
      "Cache-Control": "no-store",
      "Upload-Offset": "0",
      "Upload-Length": null,
      "Upload-Defer-Length": "1",
      "Upload-Metadata": null,
    },
  },
  {
    name: "HEAD on a finished upload answers Upload-Offset equal to Upload-Length",
    method: "HEAD",
    url: finished,
    headers: { ...TUS },
    status: 200,
    expect: { "Cache-Control": "no-store", "Upload-Offset": "10", "Upload-Length": "10" },
  },

  // GET: finished uploads are downloadable, whole or by range.
  {
    name: "GET on a finished upload answers 200 with its length, type and file name",
    method: "GET",
    url: finished,
    status: 200,
    expect: {
      "Content-Length": "10",
      "Content-Type": "text/plain",
      "Content-Disposition": `attachment; filename="hello.txt"; filename*=UTF-8''hello.txt`,
      "Accept-Ranges": "bytes",
    },
  },
  {
    name: "GET with Range: bytes=2-5 answers 206 with Content-Range",
    method: "GET",
    url: finished,
    headers: { Range: "bytes=2-5" },
    status: 206,
    expect: { "Content-Range": "bytes 2-5/10", "Content-Length": "4" },
  },
  {
    name: "GET with a Range past the end answers 416 with the object's size",
    method: "GET",
    url: finished,
    headers: { Range: "bytes=10-" },
    status: 416,
    expect: { "Content-Range": "bytes */10" },
    message: /Range/,
  },
];

describe("tus protocol responses", () => {
  const fixtures = {} as Fixtures;

  beforeAll(async () => {
    fixtures.partial = (await createUpload({ length: 10, metadata: METADATA })).url;
    expect((await patch(fixtures.partial, 0, PARTIAL_BYTES.slice(0, 3))).status).toBe(204);
    fixtures.deferred = (await createUpload({ deferred: true })).url;
    fixtures.finished = (await createUpload({ length: 10, metadata: METADATA, body: FINISHED_BYTES })).url;
  }, TIMEOUT);

  afterEach(() => expectNoServerErrors());

  it.for(cases)("$name", { timeout: TIMEOUT }, async (testCase) => {
    const response = await send(testCase.url(fixtures), {
      method: testCase.method,
      headers: testCase.headers,
      body: testCase.body,
    });
    const text = await response.text();
    expect(response.status, text).toBe(testCase.status);
    // "The Tus-Resumable header MUST be included in every request and response
    // except for OPTIONS requests." Successful downloads are checked on their own below.
    if (!(testCase.method === "GET" && testCase.status < 300)) {
      expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");
    }
    for (const [name, expected] of Object.entries(testCase.expect ?? {})) {
      const actual = response.headers.get(name);
      if (expected instanceof RegExp) expect(actual, name).toMatch(expected);
      else expect(actual, name).toBe(expected);
    }
    if (testCase.method === "HEAD") {
      expect(text, "a HEAD response has no body").toBe("");
    } else if (testCase.status >= 400) {
      expect(text).toMatch(testCase.message ?? /./);
      expect(response.headers.get("Content-Type")).toMatch(/^text\/plain/);
    }
  });

  it("left every fixture as it was after all the refused requests", { timeout: TIMEOUT }, async () => {
    expect(await headOffset(fixtures.partial)).toBe(3);
    expect(await headOffset(fixtures.deferred)).toBe(0);
    expect((await head(fixtures.deferred)).headers.get("Upload-Defer-Length")).toBe("1");
    await expectDownloadEquals(fixtures.finished, FINISHED_BYTES);
  });

  it("successful downloads carry Tus-Resumable like every other response", { timeout: TIMEOUT }, async () => {
    for (const headers of [{}, { Range: "bytes=2-5" }] as Array<Record<string, string>>) {
      const { response } = await download(fixtures.finished, headers);
      expect(response.status).toBeLessThan(300);
      expect(response.headers.get("Tus-Resumable"), JSON.stringify(headers)).toBe("1.0.0");
    }
  });

  it("serves exactly the requested bytes for Range: bytes=2-5", { timeout: TIMEOUT }, async () => {
    const { response, bytes } = await download(fixtures.finished, { Range: "bytes=2-5" });
    expect(response.status).toBe(206);
    expect([...bytes]).toEqual([...FINISHED_BYTES.slice(2, 6)]);
  });
});

describe("tus protocol flows", () => {
  afterEach(() => expectNoServerErrors());

  it("creation-with-upload answers 201 with the Upload-Offset of the bytes it stored", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(1000, 11);
    const { response, url } = await createUpload({ length: 2000, body: data.slice(0, 600) });
    expect(response.headers.get("Upload-Offset")).toBe("600");
    expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");
    expect(await headOffset(url)).toBe(600);
  });

  it("a POST without a body answers 201 without Upload-Offset", { timeout: TIMEOUT }, async () => {
    const { response } = await createUpload({ length: 5 });
    expect(response.headers.get("Upload-Offset")).toBeNull();
    expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");
  });

  it("creation-defer-length takes the length from a later PATCH and then finishes", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(5000, 12);
    const { url, id } = await createUpload({ deferred: true });
    expect((await patch(url, 0, data.slice(0, 2000))).status).toBe(204);
    const before = await head(url);
    expect(before.headers.get("Upload-Defer-Length")).toBe("1");
    expect(before.headers.get("Upload-Length")).toBeNull();

    const last = await patch(url, 2000, data.slice(2000), { "Upload-Length": "5000" });
    expect(last.status, await bodyText(last)).toBe(204);
    expect(last.headers.get("Upload-Offset")).toBe("5000");
    const after = await head(url);
    expect(after.headers.get("Upload-Length")).toBe("5000");
    expect(after.headers.get("Upload-Defer-Length")).toBeNull();
    expect(after.headers.get("Upload-Offset")).toBe("5000");
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, 5000);
  });

  it("a deferred length can be declared by a PATCH with an empty body", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(700, 13);
    const { url } = await createUpload({ deferred: true });
    expect((await patch(url, 0, data)).status).toBe(204);
    const declare = await patch(url, 700, new Uint8Array(0), { "Upload-Length": "700" });
    expect(declare.status, await bodyText(declare)).toBe(204);
    expect(declare.headers.get("Upload-Offset")).toBe("700");
    await expectDownloadEquals(url, data);
  });

  it("once declared, a deferred length cannot change (400)", { timeout: TIMEOUT }, async () => {
    const { url } = await createUpload({ deferred: true });
    expect((await patch(url, 0, new Uint8Array(10), { "Upload-Length": "100" })).status).toBe(204);
    const change = await patch(url, 10, new Uint8Array(10), { "Upload-Length": "200" });
    expect(change.status).toBe(400);
    expect(await change.text()).toMatch(/Upload-Length is already 100/);
    expect(await headOffset(url)).toBe(10);
  });

  it("Upload-Length: 0 is complete at once and downloads as an empty body", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 0 });
    const state = await head(url);
    expect(state.headers.get("Upload-Offset")).toBe("0");
    expect(state.headers.get("Upload-Length")).toBe("0");
    const { response, bytes } = await download(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Length")).toBe("0");
    expect(bytes.length).toBe(0);
    await expectFinishedStorage(id, 0);
  });

  it("a PATCH whose Content-Length would pass Upload-Length stores nothing (413, offset unchanged)", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(100, 14);
    const { url } = await createUpload({ length: 100 });
    expect((await patch(url, 0, data.slice(0, 40))).status).toBe(204);
    const tooLong = await patch(url, 40, randomBytes(61, 15));
    expect(tooLong.status).toBe(413);
    expect(tooLong.headers.get("Upload-Offset")).toBe("40");
    expect(await tooLong.text()).toMatch(/Upload-Length 100/);
    expect(await headOffset(url)).toBe(40);
    // The upload is still usable from where it stood.
    expect((await patch(url, 40, data.slice(40))).status).toBe(204);
    await expectDownloadEquals(url, data);
  });

  it("an offset mismatch (409) leaves the upload untouched", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(50, 16);
    const { url } = await createUpload({ length: 50 });
    expect((await patch(url, 0, data.slice(0, 20))).status).toBe(204);
    const stale = await patch(url, 0, randomBytes(20, 17));
    expect(stale.status).toBe(409);
    expect(stale.headers.get("Upload-Offset")).toBe("20");
    expect((await patch(url, 20, data.slice(20))).status).toBe(204);
    await expectDownloadEquals(url, data);
  });

  it("an empty PATCH at the end of a finished upload answers 204 and leaves the object intact", { timeout: TIMEOUT }, async () => {
    // A client that lost the answer to its last PATCH may resend it with no bytes left.
    const data = randomBytes(10, 18);
    const { url, id } = await createUpload({ length: 10, body: data });
    const again = await patch(url, 10, new Uint8Array(0));
    expect(again.status, await bodyText(again)).toBe(204);
    expect(again.headers.get("Upload-Offset")).toBe("10");
    await expectDownloadEquals(url, data);
    await expectFinishedStorage(id, 10);
  });

  it("Upload-Metadata is echoed by HEAD exactly as the client sent it", { timeout: TIMEOUT }, async () => {
    // Including empty values, unusual but valid keys, and keys that look like numbers.
    for (const metadata of [
      METADATA,
      `only`,
      `__proto__ ${b64("x")},constructor ${b64("y")}`,
      `name ${b64("z")},2 ${b64("two")},1 ${b64("one")}`,
    ]) {
      const { url } = await createUpload({ length: 1, metadata });
      expect((await head(url)).headers.get("Upload-Metadata"), metadata).toBe(metadata);
    }
  });

  it("GET serves the upload's file name and type from its metadata", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(4, 19);
    const { url } = await createUpload({
      length: 4,
      metadata: `filename ${b64("../../report été.pdf")},filetype ${b64("application/pdf")}`,
      body: data,
    });
    const { response, bytes } = await download(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toBe("application/pdf");
    expect(response.headers.get("Content-Disposition")).toBe(
      `attachment; filename="report _t_.pdf"; filename*=UTF-8''report%20%C3%A9t%C3%A9.pdf`,
    );
    expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect([...bytes]).toEqual([...data]);
  });

  it("GET on an upload without metadata serves application/octet-stream as an attachment", { timeout: TIMEOUT }, async () => {
    const { url } = await createUpload({ length: 3, body: new Uint8Array([1, 2, 3]) });
    const { response } = await download(url);
    expect(response.headers.get("Content-Type")).toBe("application/octet-stream");
    expect(response.headers.get("Content-Disposition")).toBe("attachment");
  });

  it("the upload URL is absolute and under the request's origin and base path", { timeout: TIMEOUT }, async () => {
    const { url } = await createUpload({ length: 1 });
    expect(url.startsWith(COLLECTION)).toBe(true);
  });
});
