/**
 * Upload events through the library API's callbacks. Each event is written
 * to the upload's outbox (its Durable Object's `event` table) with the change
 * it reports, and the object's alarm delivers it: `onEvent` sees every event,
 * `onUploadFinish` the `finished` ones. A callback that throws is retried
 * with back-off, from storage, so a failed delivery survives eviction;
 * delivery is at least once, so the same event may come again, always with
 * the same id and content.
 *
 * Retries are driven by hand: once a failure is seen, its retry is held an
 * hour ahead, and released by moving it into the past and running the alarm.
 */
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import type { UploadEvent } from "../../src/index";
import { b64, bodyText, download, expectNoServerErrors, MiB, patch, randomBytes, send, TUS, uploadStub } from "../runtime/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { allDelivered, callsAbout, create, expectConsistentEventIds, headAs, holdAfterFailure, outbox, retryNow, TIMEOUT, upload } from "./helpers";
import { KEY_PREFIX } from "./worker";

afterEach(async () => {
  expectNoServerErrors();
  await expectConsistentEventIds();
});

function unique(name: string): string {
  return `${name}-${crypto.randomUUID().slice(0, 8)}.bin`;
}

/** Asserts the upload is finished and whole, whatever its callbacks did. */
async function expectUploadIntact(token: string, url: string, data: Uint8Array): Promise<void> {
  const head = await headAs(token, url);
  expect(head.status).toBe(200);
  expect(head.headers.get("Upload-Offset")).toBe(String(data.length));
  const { response, bytes } = await download(url, bearer(token));
  expect(response.status).toBe(200);
  expect(bytes).toEqual(data);
}

describe("onUploadFinish", () => {
  it("is called once per finished upload, with its id, object key, size, metadata, subject and a unique event id", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const uploads: Array<{ id: string; data: Uint8Array; filename: string }> = [];

    // Empty (finished the moment it is created), in one PATCH, and with creation-with-upload plus a PATCH.
    for (const data of [new Uint8Array(0), randomBytes(3 * MiB + 1, 10)]) {
      const filename = unique("finish");
      const { id } = await upload(token, data, { metadata: { filename } });
      uploads.push({ id, data, filename });
    }
    const data = randomBytes(2000, 11);
    const filename = unique("finish");
    const response = await send(`http://library.test/api/uploads/`, {
      method: "POST",
      headers: {
        ...TUS,
        ...bearer(token),
        "Upload-Length": String(data.length),
        "Upload-Metadata": `filename ${b64(filename)}`,
        "Content-Type": "application/offset+octet-stream",
      },
      body: data.slice(0, 1500),
    });
    expect(response.status, await bodyText(response)).toBe(201);
    const url = response.headers.get("Location")!;
    expect((await patch(url, 1500, data.slice(1500), bearer(token))).status).toBe(204);
    uploads.push({ id: url.split("/").pop()!, data, filename });

    const eventIds = new Set<string>();
    for (const { id, data, filename } of uploads) {
      await allDelivered(id);
      const calls = await callsAbout(id, "onUploadFinish");
      expect(calls, `onUploadFinish calls for ${id}`).toHaveLength(1);
      const { event, outcome } = calls[0]!;
      expect(outcome).toBe("returned");
      expect(event).toMatchObject({
        type: "finished",
        upload: { id, objectKey: `${KEY_PREFIX}erin/${filename}`, size: data.length, length: data.length, metadata: { filename: b64(filename) }, subject: "erin" },
      });
      expect(new Date(event.occurredAt).toISOString()).toBe(event.occurredAt);
      expect(eventIds.has(event.id), "event ids are unique").toBe(false);
      eventIds.add(event.id);
    }
  });

  it("is not called for an upload that never finished", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const { url, id } = await create(token, { length: 10, metadata: { filename: unique("unfinished") } });
    expect((await patch(url, 0, randomBytes(4, 12), bearer(token))).status).toBe(204);
    await allDelivered(id);
    expect(await callsAbout(id, "onUploadFinish")).toEqual([]);
    expect((await callsAbout(id, "onEvent")).map(({ event }) => event.type)).toEqual(["created"]);
  });

  it("sees the metadata as onUploadCreate replaced it", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const filename = unique("replaced");
    const { id } = await upload(token, randomBytes(5, 13), { metadata: { filename: "original", replaceMetadata: JSON.stringify({ filename }) } });
    await allDelivered(id);
    const [call] = await callsAbout(id, "onUploadFinish");
    expect(call?.event.upload.metadata).toEqual({ filename: b64(filename) });
    expect(call?.event.upload.objectKey).toBe(`${KEY_PREFIX}erin/${filename}`);
  });
});

describe("onEvent", () => {
  it("sees created then finished for a finished upload, and created then terminated for a terminated one", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const finished = await upload(token, randomBytes(100, 14), { metadata: { filename: unique("events") } });
    const terminated = await create(token, { length: 100, metadata: { filename: unique("events") } });
    expect((await patch(terminated.url, 0, randomBytes(10, 15), bearer(token))).status).toBe(204);
    const deleted = await send(terminated.url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } });
    expect(deleted.status, await bodyText(deleted)).toBe(204);

    for (const [{ id }, types] of [
      [finished, ["created", "finished"]],
      [terminated, ["created", "terminated"]],
    ] as const) {
      await allDelivered(id);
      const events = (await callsAbout(id, "onEvent")).map(({ event }) => event);
      expect(events.map(({ type }) => type)).toEqual(types);
      expect(new Set(events.map(({ id: eventId }) => eventId)).size).toBe(2);
      expect(events[0]!.occurredAt <= events[1]!.occurredAt).toBe(true);
      for (const event of events) expect(event.upload).toMatchObject({ id, subject: "erin" });
    }
    const [, terminatedEvent] = (await callsAbout(terminated.id, "onEvent")).map(({ event }) => event);
    expect(terminatedEvent?.upload.size, "a terminated event reports the bytes received").toBe(10);
  });
});

describe("failing callbacks", () => {
  it("an onUploadFinish that throws is retried by the alarm after its back-off, and the upload is unaffected", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const data = randomBytes(4096, 16);
    const { url, id } = await upload(token, data, { metadata: { filename: unique("retry"), failFinish: "1" } });
    await expectUploadIntact(token, url, data);

    const failed = await holdAfterFailure(id, "finished", 1);
    // Back-off: the retry was due a second after the failure, not at once.
    const [firstCall] = await callsAbout(id, "onUploadFinish");
    expect(firstCall?.outcome).toBe("threw");
    expect(failed.dueAt).toBeGreaterThan(Date.parse(failed.event.occurredAt) + 500);
    await expectUploadIntact(token, url, data);

    await retryNow(id);
    expect(await outbox(id)).toEqual([]);
    const finishCalls = await callsAbout(id, "onUploadFinish");
    expect(finishCalls.map(({ outcome }) => outcome)).toEqual(["threw", "returned"]);
    expect(finishCalls[1]!.event).toEqual(finishCalls[0]!.event);
    expect(finishCalls[0]!.event.id).toBe(failed.id);
    // onEvent runs first and succeeded both times: it saw the same finished event twice, under one id.
    const finishedSeenByOnEvent = (await callsAbout(id, "onEvent")).filter(({ event }) => event.type === "finished");
    expect(finishedSeenByOnEvent.map(({ event }) => event.id)).toEqual([failed.id, failed.id]);
    await expectUploadIntact(token, url, data);
  });

  it("a failed event survives eviction of the upload's Durable Object and is delivered once the callback succeeds", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const data = randomBytes(777, 17);
    const { url, id } = await upload(token, data, { metadata: { filename: unique("evicted"), failEvent: "finished:2" } });

    let held: UploadEvent | undefined;
    for (const attempts of [1, 2]) {
      const row = await holdAfterFailure(id, "finished", attempts);
      held ??= row.event;
      expect(row.event).toEqual(held);
      await evictDurableObject(uploadStub(id));
      const [stored] = await outbox(id);
      expect(stored, "the undelivered event is still in storage after eviction").toMatchObject({ id: held.id, attempts });
      // onUploadFinish waits until onEvent, which runs first, has taken the event.
      expect(await callsAbout(id, "onUploadFinish")).toEqual([]);
      await retryNow(id);
    }
    expect(await outbox(id)).toEqual([]);

    const seen = (await callsAbout(id, "onEvent")).filter(({ event }) => event.type === "finished");
    expect(seen.map(({ outcome }) => outcome)).toEqual(["threw", "threw", "returned"]);
    for (const { event } of seen) expect(event).toEqual(held);
    const finishCalls = await callsAbout(id, "onUploadFinish");
    expect(finishCalls).toHaveLength(1);
    expect(finishCalls[0]!.event).toEqual(held);
    await expectUploadIntact(token, url, data);
  });

  it("a terminated event whose delivery fails is retried too, and the upload stays terminated", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("erin");
    const { url, id } = await create(token, { length: 50, metadata: { filename: unique("ended"), failEvent: "terminated:1" } });
    expect((await send(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } })).status).toBe(204);
    const failed = await holdAfterFailure(id, "terminated", 1);
    await evictDurableObject(uploadStub(id));
    await retryNow(id);
    expect(await outbox(id)).toEqual([]);
    const terminated = (await callsAbout(id, "onEvent")).filter(({ event }) => event.type === "terminated");
    expect(terminated.map(({ outcome, event }) => [outcome, event.id])).toEqual([
      ["threw", failed.id],
      ["returned", failed.id],
    ]);
    expect((await headAs(token, url)).status).toBe(410);
  });
});
