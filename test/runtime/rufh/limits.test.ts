/**
 * `Upload-Limit` in the IETF dialect, at every interop version: where the
 * drafts ask for it besides creation and OPTIONS (offset retrieval; a
 * request refused for a limit, from the text of -12), what its lifetime key
 * says (the time the upload has left, not the configured idle time), and
 * that the lifetime is kept: past it, the upload is expired as in tus.
 * Versions before 6 have no `Upload-Limit` at all.
 */
import { describe, expect, it } from "vitest";
import { COLLECTION, expectNoServerErrors, MAX_UPLOAD_SIZE, randomBytes, send, uploadIdOf } from "../helpers";
import { age, DAY, HOUR, runAlarm, setExpiresAt } from "../extensions/helpers";
import { append, completion, create, headUpload, interop, uploadLimit, VERSIONS } from "./helpers";

describe.each(VERSIONS)("Upload-Limit at interop version %i", (version) => {
  const ageKey = version === 6 ? "expires" : "max-age";

  it(`HEAD ${version >= 6 ? "states the limits, its lifetime key counting the time the upload has left" : "has no Upload-Limit"}`, async () => {
    const { url } = await create(version, { complete: false, body: randomBytes(10, version) });
    await setExpiresAt(uploadIdOf(url), Date.now() + HOUR);
    const state = await headUpload(version, url);
    expect(state.status).toBe(204);
    const limit = uploadLimit(state);
    if (version < 6) {
      expect(limit).toBeUndefined();
      return;
    }
    expect(limit).toMatchObject({ "max-size": MAX_UPLOAD_SIZE, "min-size": 0 });
    expect(limit![ageKey]).toBeGreaterThanOrEqual(HOUR / 1000 - 5);
    expect(limit![ageKey]).toBeLessThanOrEqual(HOUR / 1000);
    expectNoServerErrors();
  });

  it(`a complete upload's HEAD ${version >= 6 ? "keeps the size limits but no lifetime: it no longer expires" : "has no Upload-Limit"}`, async () => {
    const { url } = await create(version, { complete: true, body: randomBytes(10, 20 + version) });
    const limit = uploadLimit(await headUpload(version, url));
    if (version < 6) {
      expect(limit).toBeUndefined();
      return;
    }
    expect(limit).toMatchObject({ "max-size": MAX_UPLOAD_SIZE, "min-size": 0 });
    expect(limit).not.toHaveProperty(ageKey);
  });

  it("once the lifetime it announced has passed, the upload is expired: HEAD and append answer 410", async () => {
    const { url } = await create(version, { complete: false, body: randomBytes(10, 30 + version) });
    const id = uploadIdOf(url);
    await age(id, DAY + HOUR);
    expect(await runAlarm(id)).toBe(true);
    expect((await headUpload(version, url)).status).toBe(410);
    const appended = await append(version, url, 10, true, randomBytes(5, 31));
    expect(appended.status).toBe(410);
    expect(await appended.text()).toMatch(/expired/);
  });

  it(`a creation longer than max-size is 413${version >= 6 ? " with Upload-Limit" : ""}, and nothing is created`, async () => {
    const response = await send(COLLECTION, {
      method: "POST",
      headers: { ...interop(version), ...completion(version, false), "Upload-Length": String(MAX_UPLOAD_SIZE + 1) },
    });
    expect(response.status).toBe(413);
    expect(response.headers.get("Location")).toBeNull();
    expect(await response.text()).toMatch(new RegExp(`at most ${MAX_UPLOAD_SIZE}`));
    if (version >= 6) expect(uploadLimit(response)).toMatchObject({ "max-size": MAX_UPLOAD_SIZE, "min-size": 0 });
    else expect(uploadLimit(response)).toBeUndefined();
  });

  it(`an append that would take the upload past max-size is 413${version >= 6 ? " with Upload-Limit" : ""}; the upload stays where it was`, async () => {
    const { url } = await create(version, { complete: false, body: randomBytes(10, 40 + version) });
    await setExpiresAt(uploadIdOf(url), Date.now() + HOUR);
    const response = await append(version, url, 10, false, randomBytes(10, 41), { "Upload-Length": String(MAX_UPLOAD_SIZE + 1) });
    expect(response.status).toBe(413);
    const limit = uploadLimit(response);
    if (version >= 6) {
      expect(limit).toMatchObject({ "max-size": MAX_UPLOAD_SIZE, "min-size": 0 });
      expect(limit![ageKey], "the upload's own lifetime").toBeLessThanOrEqual(HOUR / 1000);
    } else {
      expect(limit).toBeUndefined();
    }
    await response.arrayBuffer();
    expect((await headUpload(version, url)).headers.get("Upload-Offset")).toBe("10");
  });
});
