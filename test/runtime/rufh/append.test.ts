/**
 * Appends, offset retrieval, completion, cancellation and discovery in the
 * IETF dialect, at every interop version: the rules of the drafts as a
 * client meets them, and what the stored object looks like afterwards.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  bodyText,
  COLLECTION,
  expectDownloadEquals,
  expectFinishedStorage,
  expectNoServerErrors,
  MiB,
  randomBytes,
  send,
  settle,
  sleep,
  stalledBody,
  uploadIdOf,
  within,
} from "../helpers";
import { append, create, headUpload, interop, isComplete, uploadLimit, VERSIONS } from "./helpers";

const PROBLEM = "https://iana.org/assignments/http-problem-types#";

describe.each(VERSIONS)("appending at interop version %i", (version) => {
  it("create empty, append in pieces, complete with an empty ?1: the object is the bytes in order", async () => {
    const bytes = randomBytes(3000, version);
    const { url } = await create(version, { complete: false });
    let response = await append(version, url, 0, false, bytes.slice(0, 1000));
    expect(response.status, await bodyText(response)).toBe(204);
    expect(response.headers.get("Upload-Offset")).toBe("1000");
    expect(isComplete(version, response)).toBe(false);
    response = await append(version, url, 1000, false, bytes.slice(1000));
    expect(response.headers.get("Upload-Offset")).toBe("3000");
    expect((await headUpload(version, url)).headers.get("Upload-Length")).toBeNull();

    response = await append(version, url, 3000, true, null);
    expect(response.status).toBe(200);
    expect(isComplete(version, response)).toBe(true);
    expect(await response.json()).toEqual({ url, length: 3000 });
    await expectFinishedStorage(uploadIdOf(url), 3000);
    await expectDownloadEquals(url, bytes);
    expectNoServerErrors();
  });

  it("over 10 MiB in appends (a multipart object), the last one ?1 with its body", async () => {
    const bytes = randomBytes(21 * MiB + 17, 40 + version);
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": String(bytes.length) } });
    const cut = 9 * MiB;
    expect((await append(version, url, 0, false, bytes.slice(0, cut))).headers.get("Upload-Offset")).toBe(String(cut));
    const last = await append(version, url, cut, true, bytes.slice(cut));
    expect(last.status, await bodyText(last)).toBe(200);
    expect(isComplete(version, last)).toBe(true);
    await expectFinishedStorage(uploadIdOf(url), bytes.length);
    await expectDownloadEquals(url, bytes);
  });

  it("a wrong offset is 409 with the right one; from version 6 a mismatching-upload-offset problem", async () => {
    const { url } = await create(version, { complete: false, body: randomBytes(10, 1) });
    const response = await append(version, url, 4, false, randomBytes(5, 2));
    expect(response.status).toBe(409);
    expect(response.headers.get("Upload-Offset")).toBe("10");
    if (version >= 9) expect(isComplete(version, response)).toBe(false);
    if (version >= 6) {
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect(await response.json()).toMatchObject({ type: `${PROBLEM}mismatching-upload-offset`, "expected-offset": 10, "provided-offset": 4 });
    } else {
      expect(await response.text()).toMatch(/current offset is 10/);
    }
    expect((await headUpload(version, url)).headers.get("Upload-Offset")).toBe("10");
  });

  it("the append media type: application/partial-upload from version 6 (else 415), anything before", async () => {
    const { url } = await create(version, { complete: false });
    const response = await append(version, url, 0, false, randomBytes(10, 3), { "Content-Type": "application/octet-stream" });
    if (version >= 6) {
      expect(response.status).toBe(415);
      expect(await response.text()).toMatch(/application\/partial-upload/);
      expect((await headUpload(version, url)).headers.get("Upload-Offset")).toBe("0");
    } else {
      expect(response.status).toBe(204);
      expect(response.headers.get("Upload-Offset")).toBe("10");
    }
  });

  it("a known length never changes: a different Upload-Length or ?1 length is 400, nothing stored", async () => {
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": "100" } });
    let response = await append(version, url, 0, false, randomBytes(10, 4), { "Upload-Length": "90" });
    expect(response.status).toBe(400);
    response = await append(version, url, 0, true, randomBytes(10, 4));
    expect(response.status).toBe(400);
    if (version >= 7) expect(await response.json()).toMatchObject({ type: `${PROBLEM}inconsistent-upload-length` });
    const state = await headUpload(version, url);
    expect(state.headers.get("Upload-Offset")).toBe("0");
    expect(state.headers.get("Upload-Length")).toBe("100");
  });

  it("completing short of the known length is refused (400), and the upload stays resumable where it was", async () => {
    const bytes = randomBytes(100, 16);
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": "100" } });
    expect((await append(version, url, 0, false, bytes.slice(0, 30))).status).toBe(204);
    for (const body of [null, bytes.slice(30, 60)]) {
      const response = await append(version, url, 30, true, body);
      expect(response.status).toBe(400);
      if (version >= 7) expect(await response.json()).toMatchObject({ type: `${PROBLEM}inconsistent-upload-length` });
      else expect(await response.text()).toMatch(/length|Upload-Length/i);
    }
    const state = await headUpload(version, url);
    expect(state.headers.get("Upload-Offset")).toBe("30");
    expect(isComplete(version, state)).toBe(false);
    expect((await append(version, url, 30, true, bytes.slice(30))).status).toBe(200);
    await expectDownloadEquals(url, bytes);
  });

  it(`a refusal ${version >= 9 ? "says Upload-Complete: ?0 (the protocol's answer, not the resource's)" : "carries no completion field"}`, async () => {
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": "10" } });
    const refusals = [
      await append(version, url, 0, false, randomBytes(3, 17), { "Upload-Offset": "-1" }),
      await append(version, url, 0, true, randomBytes(3, 17)),
      await append(version, url, 5, false, randomBytes(3, 17)),
    ];
    if (version >= 6) refusals.push(await append(version, url, 0, false, randomBytes(3, 17), { "Content-Type": "text/plain" }));
    for (const response of refusals) {
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(isComplete(version, response), String(response.status)).toBe(version >= 9 ? false : undefined);
      await response.arrayBuffer();
    }
  });

  it("bytes past the length are refused and the upload becomes invalid", async () => {
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": "20" } });
    expect((await append(version, url, 0, false, randomBytes(15, 5))).status).toBe(204);
    const response = await append(version, url, 15, false, randomBytes(10, 6));
    expect(response.status).toBe(version >= 7 ? 400 : 413);
    expect(await response.text()).toMatch(/invalid/);
    expect((await headUpload(version, url)).status).toBe(410);
    expect((await append(version, url, 15, true, randomBytes(5, 6))).status).toBe(410);
  });

  it("an append after completion never alters the object; the empty ?1 gets the result again", async () => {
    const bytes = randomBytes(500, 8);
    const { url } = await create(version, { complete: true, body: bytes });
    const id = uploadIdOf(url);
    const before = await env.BUCKET.head(`uploads/${id}`);

    const more = await append(version, url, 500, false, randomBytes(10, 9));
    expect(more.status).toBe(400);
    if (version >= 6 && version <= 8) expect(await more.json()).toMatchObject({ type: `${PROBLEM}completed-upload` });
    else expect(await more.text()).toMatch(/complete/);
    const again = await append(version, url, 500, true, randomBytes(10, 9));
    expect(again.status).toBe(400);
    const replay = await append(version, url, 500, true, null);
    expect(replay.status).toBe(200);
    expect(isComplete(version, replay)).toBe(true);
    expect((await append(version, url, 0, true, bytes)).status).toBe(409);

    const after = await env.BUCKET.head(`uploads/${id}`);
    expect(after!.etag).toBe(before!.etag);
    await expectDownloadEquals(url, bytes);
  });

  it("DELETE during an append stops it and removes the upload: 204, then 410", async () => {
    const { url } = await create(version, { complete: false });
    const body = stalledBody(randomBytes(1 * MiB, 10));
    const stalled = settle(append(version, url, 0, false, body.stream));
    await body.drained;
    await sleep(50);
    const response = await within(8_000, "DELETE during a stalled append", send(url, { method: "DELETE", headers: interop(version) }));
    expect(response.status).toBe(204);
    await within(8_000, "the stalled append to end", stalled);
    expect((await headUpload(version, url)).status).toBe(410);
  });

  it("a HEAD while an append is stalled takes over and answers the offset the next append can use", async () => {
    const bytes = randomBytes(2 * MiB, 11);
    const { url } = await create(version, { complete: false });
    const body = stalledBody(bytes.slice(0, MiB));
    const stalled = settle(append(version, url, 0, false, body.stream));
    await body.drained;
    await sleep(50);
    const state = await within(8_000, "HEAD during a stalled append", headUpload(version, url));
    const offset = Number(state.headers.get("Upload-Offset"));
    expect(offset).toBe(MiB);
    await stalled;
    const rest = await append(version, url, offset, true, bytes.slice(offset));
    expect(rest.status, await bodyText(rest)).toBe(200);
    await expectDownloadEquals(url, bytes);
  });

  it("OPTIONS answers Upload-Limit from version 6 (min-size=0, max-size), nothing before", async () => {
    const response = await send(COLLECTION, { method: "OPTIONS", headers: interop(version) });
    expect(response.status).toBe(204);
    const limit = uploadLimit(response);
    if (version >= 6) expect(limit).toMatchObject({ "min-size": 0, "max-size": expect.any(Number) });
    else expect(limit).toBeUndefined();
  });

  it("malformed fields are never misread: Upload-Offset -1 or 1.5, a completion field that is not a Boolean", async () => {
    const { url } = await create(version, { complete: false });
    for (const offset of ["-1", "1.5", "3.0", "abc", ""]) {
      const response = await append(version, url, 0, false, randomBytes(3, 12), { "Upload-Offset": offset });
      expect(response.status, offset).toBe(400);
      expect(await response.text()).toMatch(/Upload-Offset/);
    }
    const field = version === 3 ? "Upload-Incomplete" : "Upload-Complete";
    const response = await append(version, url, 0, false, randomBytes(3, 12), { [field]: "true" });
    expect(response.status).toBe(400);
    expect((await headUpload(version, url)).headers.get("Upload-Offset")).toBe("0");
  });

  it(`an append without the completion field ${version <= 6 ? "is the last one (-01 to -05)" : "is refused (required from -06)"}`, async () => {
    const bytes = randomBytes(40, 15);
    const { url } = await create(version, { complete: false, body: bytes.slice(0, 10) });
    const field = version === 3 ? "Upload-Incomplete" : "Upload-Complete";
    const response = await send(url, {
      method: "PATCH",
      headers: { ...interop(version), "Upload-Offset": "10", ...(version >= 6 ? { "Content-Type": "application/partial-upload" } : {}) },
      body: bytes.slice(10),
    });
    if (version <= 6) {
      expect(response.status, await bodyText(response)).toBe(200);
      expect(isComplete(version, response)).toBe(true);
      await expectDownloadEquals(url, bytes);
    } else {
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(new RegExp(`needs ${field}`));
      expect((await headUpload(version, url)).headers.get("Upload-Offset")).toBe("10");
    }
  });

  it(`GET ${version >= 9 ? "retrieves the offset while incomplete" : "only downloads"}; a complete upload downloads`, async () => {
    const bytes = randomBytes(7, 13);
    const { url } = await create(version, { complete: false, body: bytes });
    const response = await send(url, { headers: interop(version) });
    if (version >= 9) {
      expect(response.status).toBe(204);
      expect(response.headers.get("Upload-Offset")).toBe("7");
      expect(isComplete(version, response)).toBe(false);
    } else {
      expect(response.status).toBe(409);
      await response.arrayBuffer();
    }
    await append(version, url, 7, true, null);
    await expectDownloadEquals(url, bytes);
  });
});

describe("versions and dialects", () => {
  it("an unknown interop version gets 400 naming the supported ones", async () => {
    for (const value of ["2", "99", "abc", "6.0"]) {
      const response = await send(COLLECTION, { method: "POST", headers: { "Upload-Draft-Interop-Version": value, "Upload-Complete": "?0" } });
      expect(response.status, value).toBe(400);
      expect(await response.text()).toMatch(/it speaks 3, 4, 5, 6, 7, 8, 9/);
    }
  });

  it("an upload created with tus 1.0 is resumed in the IETF dialect, and one created there is resumed with tus", async () => {
    const bytes = randomBytes(3000, 14);
    const tusCreated = await send(COLLECTION, { method: "POST", headers: { "Tus-Resumable": "1.0.0", "Upload-Length": "3000" } });
    const tusUrl = tusCreated.headers.get("Location")!;
    await send(tusUrl, {
      method: "PATCH",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: bytes.slice(0, 1000),
    });
    const state = await headUpload(6, tusUrl);
    expect(state.headers.get("Upload-Offset")).toBe("1000");
    expect(state.headers.get("Upload-Length")).toBe("3000");
    const done = await append(6, tusUrl, 1000, true, bytes.slice(1000));
    expect(done.status).toBe(200);
    await expectDownloadEquals(tusUrl, bytes);

    const { url } = await create(8, { complete: false, body: bytes.slice(0, 2000) });
    const tusHead = await send(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
    expect(tusHead.headers.get("Upload-Offset")).toBe("2000");
    expect(tusHead.headers.get("Upload-Defer-Length")).toBe("1");
    const tusPatch = await send(url, {
      method: "PATCH",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Offset": "2000", "Upload-Length": "3000", "Content-Type": "application/offset+octet-stream" },
      body: bytes.slice(2000),
    });
    expect(tusPatch.status).toBe(204);
    await expectDownloadEquals(url, bytes);
    expect(isComplete(8, await headUpload(8, url))).toBe(true);
    expectNoServerErrors();
  });

  it("tus-js-client's IETF requests: Upload-Length and Upload-Metadata on creation are read as tus reads them", async () => {
    const metadata = `filename ${btoa("notes.txt")},filetype ${btoa("text/plain")}`;
    const { url } = await create(5, { complete: false, headers: { "Upload-Length": "5", "Upload-Metadata": metadata } });
    const done = await append(5, url, 0, true, new TextEncoder().encode("hello"));
    expect(done.status).toBe(200);
    const download = await send(url);
    expect(download.headers.get("Content-Type")).toBe("text/plain");
    expect(download.headers.get("Content-Disposition")).toContain('filename="notes.txt"');
    expect(await download.text()).toBe("hello");
  });
});
