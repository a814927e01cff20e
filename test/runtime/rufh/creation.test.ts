/**
 * Upload creation in the IETF dialect, at every interop version: empty `?0`,
 * `?0` with first bytes, a whole file in one `?1` request (also empty, also
 * by PUT), metadata from Content-Type and Content-Disposition, and lengths.
 */
import { describe, expect, it } from "vitest";
import { bodyText, COLLECTION, expectDownloadEquals, expectFinishedStorage, expectNoServerErrors, MiB, randomBytes, send, uploadIdOf } from "../helpers";
import { completion, create, headUpload, interop, isComplete, uploadLimit, VERSIONS } from "./helpers";

describe.each(VERSIONS)("creation at interop version %i", (version) => {
  it("an empty ?0 request creates the upload resource: 201, Location, offset 0, incomplete, limits from 6 on", async () => {
    const { response, url } = await create(version, { complete: false });
    expect(response.status).toBe(201);
    expect(response.headers.get("Upload-Offset")).toBe("0");
    expect(isComplete(version, response)).toBe(false);
    const limit = uploadLimit(response);
    if (version >= 6) {
      expect(limit).toMatchObject({ "max-size": expect.any(Number), "min-size": 0 });
      expect(limit![version === 6 ? "expires" : "max-age"]).toBeGreaterThan(86_000);
    } else {
      expect(limit).toBeUndefined();
    }
    const state = await headUpload(version, url);
    expect(state.status).toBe(204);
    expect(state.headers.get("Upload-Offset")).toBe("0");
    expect(isComplete(version, state)).toBe(false);
    expect(state.headers.get("Upload-Length")).toBeNull();
    expect(state.headers.get("Cache-Control")).toBe("no-store");
    expectNoServerErrors();
  });

  it("a ?0 request with first bytes keeps them and answers their offset", async () => {
    const bytes = randomBytes(1000, version);
    const { response, url } = await create(version, { complete: false, body: bytes, headers: { "Upload-Length": "3000" } });
    expect(response.status).toBe(201);
    expect(response.headers.get("Upload-Offset")).toBe("1000");
    expect(isComplete(version, response)).toBe(false);
    const state = await headUpload(version, url);
    expect(state.headers.get("Upload-Offset")).toBe("1000");
    expect(state.headers.get("Upload-Length")).toBe("3000");
    expectNoServerErrors();
  });

  it("a whole file in one ?1 request is stored as an upload like any other; the answer is the upload's result", async () => {
    const bytes = randomBytes(12 * MiB + 5, 100 + version);
    const { response, url } = await create(version, {
      complete: true,
      body: bytes,
      headers: { "Content-Type": "image/png", "Content-Disposition": `inline; filename="cat picture.png"` },
    });
    expect(response.status).toBe(201);
    expect(isComplete(version, response)).toBe(true);
    expect(response.headers.get("Content-Type")).toBe("application/json");
    expect(await response.json()).toEqual({ url, length: bytes.length });
    await expectFinishedStorage(uploadIdOf(url), bytes.length);
    await expectDownloadEquals(url, bytes);
    const download = await send(url);
    expect(download.headers.get("Content-Type")).toBe("image/png");
    expect(download.headers.get("Content-Disposition")).toContain('filename="cat picture.png"');
    await download.arrayBuffer();
    const state = await headUpload(version, url);
    expect(isComplete(version, state)).toBe(true);
    expect(state.headers.get("Upload-Length")).toBe(String(bytes.length));
    expectNoServerErrors();
  });

  it("an empty ?1 request stores an empty file", async () => {
    const { response, url } = await create(version, { complete: true });
    expect(isComplete(version, response)).toBe(true);
    await expectFinishedStorage(uploadIdOf(url), 0);
    expectNoServerErrors();
  });

  it("PUT creates too", async () => {
    const bytes = randomBytes(100, 7);
    const { response, url } = await create(version, { complete: true, body: bytes, method: "PUT" });
    expect(isComplete(version, response)).toBe(true);
    await expectDownloadEquals(url, bytes);
  });

  it("Upload-Length and a ?1 request's Content-Length must agree: 400, nothing created", async () => {
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, true), "Upload-Length": "50" },
      body: randomBytes(40, 1),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("Location")).toBeNull();
    if (version >= 7) {
      expect(response.headers.get("Content-Type")).toBe("application/problem+json");
      expect(await response.json()).toMatchObject({ type: "https://iana.org/assignments/http-problem-types#inconsistent-upload-length" });
    } else {
      expect(await response.text()).toMatch(/Upload-Length 50 does not match the 40 bytes/);
    }
  });

  it("a creation without the completion field, or with a malformed one, is refused (400), never read as a value", async () => {
    for (const headers of [{}, { [version === 3 ? "Upload-Incomplete" : "Upload-Complete"]: "true" }, { [version === 3 ? "Upload-Incomplete" : "Upload-Complete"]: "1" }]) {
      const response = await send(COLLECTION, { method: "POST", headers: { ...interop(version), ...headers }, body: "abc" });
      expect(response.status, JSON.stringify(headers)).toBe(400);
      expect(await bodyText(response)).toMatch(/Upload-(In)?[Cc]omplete/);
    }
  });

  it("a malformed Upload-Length is ignored, as the drafts say: the upload has no length yet", async () => {
    const { url } = await create(version, { complete: false, headers: { "Upload-Length": "-5" } });
    expect((await headUpload(version, url)).headers.get("Upload-Length")).toBeNull();
  });
});
