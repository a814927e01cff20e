/**
 * `MAX_APPEND_SIZE` in the IETF dialect, at every interop version, for
 * bodies of unknown length (chunked): a Content-Length over the cap is
 * refused before any byte is read (limits.test.ts), but a chunked body
 * announces nothing, so the cap is counted on the bytes as they arrive. The
 * gateway is mounted here with the cap set (`createTusGateway`'s config), in
 * front of the same upload objects and R2 as the default Worker, which
 * answers the HEADs and downloads.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createTusGateway } from "../../../src/index";
import { bodyText, chunkedBody, COLLECTION, expectDownloadEquals, MiB, randomBytes } from "../helpers";
import { completion, create, headUpload, interop, uploadLimit, VERSIONS, type Version } from "./helpers";

const CAP = 1000;
const TIMEOUT = 60_000;

/** The gateway with MAX_APPEND_SIZE = `cap`. */
function cappedGateway(cap: number) {
  const gateway = createTusGateway({ config: { maxAppendSize: cap } });
  return (url: string, init: RequestInit) => gateway.fetch(new Request(url, init), env);
}

/** An append through `fetch`, as the rufh helpers' `append` sends it. */
function appendThrough(
  fetch: ReturnType<typeof cappedGateway>,
  version: Version,
  url: string,
  offset: number,
  complete: boolean,
  body: ReadableStream<Uint8Array>,
): Promise<Response> {
  return fetch(url, {
    method: "PATCH",
    headers: {
      ...interop(version),
      ...completion(version, complete),
      "Upload-Offset": String(offset),
      ...(version >= 6 ? { "Content-Type": "application/partial-upload" } : {}),
    },
    body,
  });
}

async function offsetOf(version: Version, url: string): Promise<string | null> {
  const state = await headUpload(version, url);
  expect(state.status).toBe(204);
  return state.headers.get("Upload-Offset");
}

/** A 413 for the per-request cap: it names the limit, and from version 6 comes with `Upload-Limit`. */
async function expectAppendCapRefusal(version: Version, response: Response, cap: number): Promise<void> {
  expect(response.status, await bodyText(response)).toBe(413);
  expect(await response.text()).toMatch(new RegExp(`at most ${cap} bytes per request`));
  if (version >= 6) expect(uploadLimit(response)).toMatchObject({ "max-append-size": cap });
  else expect(uploadLimit(response)).toBeUndefined();
}

describe.each(VERSIONS)("MAX_APPEND_SIZE on chunked bodies at interop version %i", (version) => {
  const capped = cappedGateway(CAP);

  it("a chunked append longer than the cap is 413, and the upload keeps none of it; appends within the cap complete it", async () => {
    const { url } = await create(version, { complete: false });
    const refused = await appendThrough(capped, version, url, 0, false, chunkedBody(randomBytes(5 * CAP, 500 + version), 512));
    await expectAppendCapRefusal(version, refused, CAP);
    // The bytes before the cap were only in memory: dropped, as for MAX_UPLOAD_SIZE (upload-writer.ts).
    expect(await offsetOf(version, url)).toBe("0");

    const bytes = randomBytes(CAP + 700, 510 + version);
    const within = await appendThrough(capped, version, url, 0, false, chunkedBody(bytes.slice(0, CAP), 300));
    expect(within.status, await bodyText(within)).toBe(204);
    expect(within.headers.get("Upload-Offset")).toBe(String(CAP));
    const last = await appendThrough(capped, version, url, CAP, true, chunkedBody(bytes.slice(CAP), 300));
    expect(last.status, await bodyText(last)).toBe(200);
    await expectDownloadEquals(url, bytes);
  });

  it("a creation whose chunked body is longer than the cap is 413 with the upload's Location, which holds none of it", async () => {
    const response = await capped(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, true) },
      body: chunkedBody(randomBytes(3 * CAP, 520 + version), 700),
    });
    await expectAppendCapRefusal(version, response, CAP);
    const url = response.headers.get("Location");
    expect(url).not.toBeNull();
    expect(await offsetOf(version, url!)).toBe("0");
  });
});

describe("MAX_APPEND_SIZE on a chunked body that fills a part before it passes the cap", () => {
  it("keeps the part it completed, never more than the cap, and the upload completes intact from there", { timeout: TIMEOUT }, async () => {
    const version = 9;
    const cap = 9 * MiB;
    const capped = cappedGateway(cap);
    const bytes = randomBytes(12 * MiB + 5, 530);
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": String(bytes.length) } });
    const refused = await appendThrough(capped, version, url, 0, false, chunkedBody(bytes, 256 * 1024));
    await expectAppendCapRefusal(version, refused, cap);
    // The first 8 MiB part went to R2 and was counted before the cap was passed; the MiB after it was dropped.
    const offset = Number(await offsetOf(version, url));
    expect(offset).toBe(8 * MiB);

    const last = await appendThrough(capped, version, url, offset, true, chunkedBody(bytes.slice(offset), 256 * 1024));
    expect(last.status, await bodyText(last)).toBe(200);
    await expectDownloadEquals(url, bytes);
  });
});
