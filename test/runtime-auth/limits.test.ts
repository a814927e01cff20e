/**
 * The server's limits, as configured for this project: uploads up to
 * 64 MiB (MAX_UPLOAD_SIZE, advertised as Tus-Max-Size), Upload-Metadata of
 * at most 512 bytes and 4 keys, and a `filetype` from ALLOWED_FILETYPES
 * (`image/png,video/*,application/octet-stream`). Each refusal says what was
 * wrong and what is allowed; a refused creation leaves nothing behind.
 */
import { env, listDurableObjectIds } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import {
  b64,
  bodyText,
  COLLECTION,
  expectNoServerErrors,
  expectStoredInvariant,
  MiB,
  patch,
  randomBytes,
  send,
  sha256Hex,
  TUS,
} from "../runtime/helpers";
import { ALLOWED_FILETYPES, createAs, downloadAs, expectError, FILETYPE, MAX_UPLOAD_SIZE, metadataHeader, objectKeyOf, TIMEOUT } from "./helpers";
import { bearer, tokenFor } from "./tokens";

afterEach(() => expectNoServerErrors());

/** POST with a raw Upload-Metadata header (or none). */
async function postWithMetadata(metadata: string | undefined, length = 1): Promise<Response> {
  const headers: Record<string, string> = { ...TUS, ...bearer(await tokenFor("alice")), "Upload-Length": String(length) };
  if (metadata !== undefined) headers["Upload-Metadata"] = metadata;
  return send(COLLECTION, { method: "POST", headers });
}

/** An Upload-Metadata header of exactly `bytes` bytes: an allowed filetype and one padding pair. */
function metadataOfSize(bytes: number): string {
  const start = `${metadataHeader({ filetype: FILETYPE })},p`;
  const value = ` ${b64("padding")}`;
  const header = start + "x".repeat(bytes - start.length - value.length) + value;
  expect(new TextEncoder().encode(header).length).toBe(bytes);
  return header;
}

async function uploadObjectCount(): Promise<number> {
  return (await listDurableObjectIds(env.UPLOADS)).length;
}

/**
 * A chunked body: `size` bytes of `data` (repeated) in 1 MiB pieces, made as
 * they are read, with no Content-Length. Counts what the gateway pulled.
 */
function chunkedBody(size: number, data = randomBytes(MiB, 40)): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (sent >= size) return controller.close();
        const piece = data.slice(0, Math.min(data.length, size - sent));
        sent += piece.length;
        controller.enqueue(piece);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => sent };
}

/** HEAD as `token`: the upload's offset. */
async function offsetAs(token: string, url: string): Promise<number> {
  const response = await send(url, { method: "HEAD", headers: { ...TUS, ...bearer(token) } });
  expect(response.status).toBe(200);
  return Number(response.headers.get("Upload-Offset"));
}

describe("upload size", () => {
  it("OPTIONS advertises Tus-Max-Size: 67108864", { timeout: TIMEOUT }, async () => {
    const response = await send(COLLECTION, { method: "OPTIONS" });
    expect(response.status).toBe(200);
    expect(response.headers.get("Tus-Max-Size")).toBe(String(MAX_UPLOAD_SIZE));
  });

  it("Upload-Length one byte over 64 MiB is 413 naming the limit, and creates nothing", { timeout: TIMEOUT }, async () => {
    const before = await uploadObjectCount();
    const response = await postWithMetadata(metadataHeader({ filetype: FILETYPE }), MAX_UPLOAD_SIZE + 1);
    await expectError(response, 413, new RegExp(`Upload-Length ${MAX_UPLOAD_SIZE + 1} exceeds .*${MAX_UPLOAD_SIZE} bytes`));
    expect(await uploadObjectCount()).toBe(before);
  });

  it("Upload-Length of exactly 64 MiB is accepted", { timeout: TIMEOUT }, async () => {
    await createAs(await tokenFor("alice"), { length: MAX_UPLOAD_SIZE });
  });

  it("a deferred upload cannot declare a length over 64 MiB", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    const { url } = await createAs(token, { deferred: true });
    const response = await patch(url, 0, randomBytes(4, 30), { ...bearer(token), "Upload-Length": String(MAX_UPLOAD_SIZE + 1) });
    await expectError(response, 413, new RegExp(`Upload-Length ${MAX_UPLOAD_SIZE + 1} .*${MAX_UPLOAD_SIZE} bytes`));
  });
});

/**
 * The limits hold for bytes as they arrive, not only for announced lengths:
 * a deferred-length upload fed a chunked body (no Content-Length) is refused
 * at the limit, with nothing past it stored. The limit is the upload's own,
 * fixed when it was created, so a later request with a laxer token of the
 * same subject cannot raise it.
 */
describe("size limits on bodies of unannounced length", () => {
  const TOKEN_LIMIT = 1000;

  it("a deferred upload under a 1000-byte max_upload_size refuses a chunked 20 MiB PATCH with 413 naming the limit, storing nothing past it", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice", { max_upload_size: TOKEN_LIMIT });
    const { url, id } = await createAs(token, { deferred: true });
    const body = chunkedBody(20 * MiB);
    const response = await patch(url, 0, body.stream, bearer(token));
    await expectError(response, 413, /at most 1000 bytes/);
    const offset = await offsetAs(token, url);
    expect(offset).toBeLessThanOrEqual(TOKEN_LIMIT);
    expect(response.headers.get("Upload-Offset")).toBe(String(offset));
    await expectStoredInvariant(id, offset);
    // Refused as it arrived: the gateway stopped reading well before the 20 MiB.
    expect(body.pulled()).toBeLessThan(20 * MiB);
  });

  it("a chunked creation-with-upload POST of a deferred upload is refused at the token's limit too", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice", { max_upload_size: TOKEN_LIMIT });
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...bearer(token), "Upload-Defer-Length": "1", "Content-Type": "application/offset+octet-stream", "Upload-Metadata": metadataHeader({ filetype: FILETYPE }) },
      body: chunkedBody(5 * MiB).stream,
    });
    await expectError(response, 413, /at most 1000 bytes/);
    const url = response.headers.get("Location")!;
    expect(await offsetAs(token, url)).toBeLessThanOrEqual(TOKEN_LIMIT);
  });

  it("the limit is the upload's own: a laxer token of the same subject can neither declare a larger Upload-Length nor send more bytes", { timeout: TIMEOUT }, async () => {
    const strict = await tokenFor("alice", { max_upload_size: TOKEN_LIMIT });
    const lax = await tokenFor("alice");
    const { url, id } = await createAs(strict, { deferred: true });

    const declared = await patch(url, 0, chunkedBody(20 * MiB).stream, { ...bearer(lax), "Upload-Length": String(20 * MiB) });
    await expectError(declared, 413, /Upload-Length 20971520 exceeds this upload's limit of 1000 bytes/);
    expect(await offsetAs(lax, url)).toBe(0);

    const undeclared = await patch(url, 0, chunkedBody(20 * MiB).stream, bearer(lax));
    await expectError(undeclared, 413, /at most 1000 bytes/);
    const offset = await offsetAs(lax, url);
    expect(offset).toBeLessThanOrEqual(TOKEN_LIMIT);
    await expectStoredInvariant(id, offset);

    // Up to the limit it is an ordinary upload: declare 1000 bytes and finish it.
    const rest = randomBytes(TOKEN_LIMIT - offset, 41);
    const finished = await patch(url, offset, rest, { ...bearer(lax), "Upload-Length": String(TOKEN_LIMIT) });
    expect(finished.status, await bodyText(finished)).toBe(204);
    const { bytes } = await downloadAs(lax, url);
    expect(bytes.length).toBe(TOKEN_LIMIT);
  });

  it("without a token limit, a chunked PATCH of 65 MiB on a deferred upload stops at the server's 64 MiB: 413, and the 64 MiB before it are kept", { timeout: 120_000 }, async () => {
    const token = await tokenFor("alice");
    const { url, id } = await createAs(token, { deferred: true });
    const piece = randomBytes(MiB, 42);
    const response = await patch(url, 0, chunkedBody(MAX_UPLOAD_SIZE + MiB, piece).stream, bearer(token));
    await expectError(response, 413, new RegExp(`at most ${MAX_UPLOAD_SIZE} bytes`));
    // Whole parts (16 MiB each for a deferred upload) were stored as they filled; none past the limit.
    const offset = await offsetAs(token, url);
    expect(offset).toBe(MAX_UPLOAD_SIZE);
    await expectStoredInvariant(id, offset);
    expect(await env.BUCKET.head(await objectKeyOf(id)), "no object was completed").toBeNull();

    // The upload can still be finished at exactly the limit.
    const declared = await patch(url, offset, new Uint8Array(0), { ...bearer(token), "Upload-Length": String(MAX_UPLOAD_SIZE) });
    expect(declared.status, await bodyText(declared)).toBe(204);
    const expected = new Uint8Array(MAX_UPLOAD_SIZE);
    for (let at = 0; at < MAX_UPLOAD_SIZE; at += MiB) expected.set(piece, at);
    const { response: download, bytes } = await downloadAs(token, url);
    expect(download.status).toBe(200);
    expect(bytes.length).toBe(MAX_UPLOAD_SIZE);
    expect(await sha256Hex(bytes)).toBe(await sha256Hex(expected));
  });
});

describe("metadata", () => {
  it("Upload-Metadata of 513 bytes is 413 naming its size and the 512-byte limit, and creates nothing", { timeout: TIMEOUT }, async () => {
    const before = await uploadObjectCount();
    await expectError(await postWithMetadata(metadataOfSize(513)), 413, /Upload-Metadata is 513 bytes.* at most 512/);
    expect(await uploadObjectCount()).toBe(before);
  });

  it("Upload-Metadata of exactly 512 bytes is accepted", { timeout: TIMEOUT }, async () => {
    const response = await postWithMetadata(metadataOfSize(512));
    expect(response.status, await bodyText(response)).toBe(201);
  });

  it("five metadata keys are 400 naming the count and the limit of four", { timeout: TIMEOUT }, async () => {
    const five = metadataHeader({ filetype: FILETYPE, a: "1", b: "2", c: "3", d: "4" });
    await expectError(await postWithMetadata(five), 400, /5 keys.* at most 4/);
  });

  it("four metadata keys are accepted", { timeout: TIMEOUT }, async () => {
    const response = await postWithMetadata(metadataHeader({ filetype: FILETYPE, a: "1", b: "2", c: "3" }));
    expect(response.status, await bodyText(response)).toBe(201);
  });
});

describe("filetype", () => {
  const allowedList = new RegExp(`allowed: ${ALLOWED_FILETYPES.replace(/[*/]/g, "\\$&")}`);

  it("filetype text/html is 400 naming the type and the allowed types", { timeout: TIMEOUT }, async () => {
    const response = await postWithMetadata(metadataHeader({ filetype: "text/html", filename: "page.html" }));
    const message = await expectError(response, 400, /filetype "text\/html" is not accepted/);
    expect(message).toMatch(allowedList);
  });

  for (const filetype of ["image/jpeg", "image/pngx", "video", "videos/mp4", "application/octet-stream-x", ""]) {
    it(`filetype ${JSON.stringify(filetype)} is refused with 400: it matches none of the allowed types`, { timeout: TIMEOUT }, async () => {
      const message = await expectError(await postWithMetadata(metadataHeader({ filetype })), 400, /filetype .* is not accepted/);
      expect(message).toMatch(allowedList);
    });
  }

  for (const filetype of ["video/mp4", "video/webm", "image/png", "IMAGE/PNG", "image/png; charset=binary", "application/octet-stream"]) {
    it(`filetype ${JSON.stringify(filetype)} is accepted`, { timeout: TIMEOUT }, async () => {
      const response = await postWithMetadata(metadataHeader({ filetype, filename: "clip" }));
      expect(response.status, await bodyText(response)).toBe(201);
    });
  }

  it("an upload without filetype is 400 when an allow-list is set, saying a filetype is needed", { timeout: TIMEOUT }, async () => {
    for (const metadata of [undefined, metadataHeader({ filename: "untyped.bin" })]) {
      const message = await expectError(await postWithMetadata(metadata), 400, /filetype/);
      expect(message).toMatch(allowedList);
    }
  });
});
