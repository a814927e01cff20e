/**
 * A deferred length (Upload-Defer-Length: 1) under a bytes quota reserves
 * all the room the quota has left, so a deferred upload cannot be used to get
 * around it: while it is open a second upload finds no room, it cannot write
 * (or declare) more than it reserved (413), and once it declares a smaller
 * length the rest of the room comes back.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, expectNoServerErrors, head, patch, send, TUS } from "../runtime/helpers";
import { bearer } from "../runtime-auth/tokens";
import { ACTIVE_BYTES, create, entriesOf, expectRefusal, MAX_ACTIVE_BYTES, MiB, post, TIMEOUT, tokenFor, uniqueSubject, usageBecomes, usageOf } from "./helpers";

afterEach(() => expectNoServerErrors());

describe("a deferred length under a bytes quota", () => {
  it("reserves what the server's quota has left, and a second upload is refused while it is open", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("deferred-server");
    const token = await tokenFor(subject);
    await create(token, { length: 10 * MiB });
    const deferred = await create(token, { deferred: true });
    expect((await entriesOf(subject)).find((entry) => entry.id === deferred.id)).toMatchObject({ reserved: 30 * MiB, length: null });
    expect(await usageOf(subject)).toEqual({ activeUploads: 2, activeBytes: MAX_ACTIVE_BYTES, storedBytes: MAX_ACTIVE_BYTES });
    const text = await expectRefusal(await post(token, { length: 1 }), { ...ACTIVE_BYTES, limit: MAX_ACTIVE_BYTES, used: MAX_ACTIVE_BYTES });
    expect(text).toContain("this upload needs 1 more");
    await expectRefusal(await post(token, { deferred: true }), { ...ACTIVE_BYTES, limit: MAX_ACTIVE_BYTES, used: MAX_ACTIVE_BYTES });
  });

  it("cannot write more than it reserved (413), nor declare a longer length; declaring a smaller one gives the rest back", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("deferred-claim");
    const token = await tokenFor(subject, { max_active_bytes: 1000 });
    const deferred = await create(token, { deferred: true });
    expect(await usageOf(subject)).toEqual({ activeUploads: 1, activeBytes: 1000, storedBytes: 1000 });
    await expectRefusal(await post(token, { length: 1 }), { ...ACTIVE_BYTES, limit: 1000, used: 1000 });

    const first = await patch(deferred.url, 0, new Uint8Array(600).fill(3), bearer(token));
    expect(first.status, await bodyText(first)).toBe(204);
    // 401 more bytes would take it past the 1000 it reserved.
    const over = await patch(deferred.url, 600, new Uint8Array(401).fill(4), bearer(token));
    expect(over.status, await bodyText(over)).toBe(413);
    expect(await bodyText(over)).toMatch(/at most 1000 bytes .*quota reserved/);
    const offset = await headOffsetAs(deferred.url, token);
    expect(offset).toBeLessThanOrEqual(1000);
    // Declaring a length past the reservation is refused too.
    const longer = await patch(deferred.url, offset, new Uint8Array(0), { ...bearer(token), "Upload-Length": "1001" });
    expect(longer.status, await bodyText(longer)).toBe(413);
    expect(await bodyText(longer)).toMatch(/limit of 1000 bytes .*quota reserved/);
    expect(await usageOf(subject)).toMatchObject({ activeUploads: 1, activeBytes: 1000 });

    // Declared at 800: 200 bytes of room come back once the index hears of it.
    const declared = await patch(deferred.url, offset, new Uint8Array(0), { ...bearer(token), "Upload-Length": "800" });
    expect(declared.status, await bodyText(declared)).toBe(204);
    await usageBecomes(subject, { activeUploads: 1, activeBytes: 800, storedBytes: 800 });
    await expectRefusal(await post(token, { length: 201 }), { ...ACTIVE_BYTES, limit: 1000, used: 800 });
    await create(token, { length: 200 });
  });

  it("a creation-with-upload whose body is over the room is 413, names the upload it created (Location), which can be terminated to free the room", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("deferred-body");
    const token = await tokenFor(subject, { max_active_bytes: 1000 });
    const refused = await post(token, { deferred: true, body: new Uint8Array(1500).fill(5) });
    expect(refused.status, await bodyText(refused)).toBe(413);
    expect(refused.headers.get("Upload-Offset")).toBe("0");
    const url = refused.headers.get("Location");
    expect(url).toMatch(/^http:\/\/tus\.test\/files\/[0-9a-f]{64}$/);
    expect(await usageOf(subject)).toMatchObject({ activeUploads: 1, activeBytes: 1000 });
    const terminated = await send(url!, { method: "DELETE", headers: { ...TUS, ...bearer(token) } });
    expect(terminated.status, await bodyText(terminated)).toBe(204);
    await usageBecomes(subject, { activeUploads: 0, activeBytes: 0, storedBytes: 0 });
    await create(token, { length: 1000 });
  });

  it("reserves no more than the token's size limit (max_upload_size), leaving the rest of the room to others", { timeout: TIMEOUT }, async () => {
    const subject = uniqueSubject("deferred-size-limit");
    const token = await tokenFor(subject, { max_active_bytes: 1000, max_upload_size: 300, max_active_uploads: 10 });
    const deferred = await create(token, { deferred: true });
    expect((await entriesOf(subject)).find((entry) => entry.id === deferred.id)).toMatchObject({ reserved: 300 });
    expect(await usageOf(subject)).toMatchObject({ activeBytes: 300 });
    await create(token, { length: 300 });
    await create(token, { length: 300 });
    await expectRefusal(await post(token, { length: 101 }), { ...ACTIVE_BYTES, limit: 1000, used: 900 });
  });
});

async function headOffsetAs(url: string, token: string): Promise<number> {
  const response = await head(url, bearer(token));
  expect(response.status).toBe(200);
  return Number(response.headers.get("Upload-Offset"));
}
