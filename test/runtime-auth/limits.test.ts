/**
 * The server's limits, as configured for this project: uploads up to
 * 64 MiB (MAX_UPLOAD_SIZE, advertised as Tus-Max-Size), Upload-Metadata of
 * at most 512 bytes and 4 keys, and a `filetype` from ALLOWED_FILETYPES
 * (`image/png,video/*,application/octet-stream`). Each refusal says what was
 * wrong and what is allowed; a refused creation leaves nothing behind.
 */
import { env, listDurableObjectIds } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { b64, bodyText, COLLECTION, expectNoServerErrors, patch, randomBytes, send, TUS } from "../runtime/helpers";
import { ALLOWED_FILETYPES, createAs, expectError, FILETYPE, MAX_UPLOAD_SIZE, metadataHeader, TIMEOUT } from "./helpers";
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
