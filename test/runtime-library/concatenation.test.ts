/**
 * A final upload of a concatenation keeps the rules of an ordinary upload
 * when its object is assembled: with worker.ts's `{subject}/{filename}` keys
 * (and OVERWRITE_OBJECTS=false), another object stored at its key before the
 * assembly completes refuses it for good (409 object-exists, a `failed`
 * event, that object untouched).
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { metadataHeader } from "../runtime-auth/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { bodyText, download, expectNoServerErrors, patch, randomBytes, send, STORED_OFFSET, TUS, uploadStub } from "../runtime/helpers";
import { allDelivered, callsAbout, COLLECTION, create, expectConsistentEventIds, headAs, TIMEOUT, upload, waitFor, type Created } from "./helpers";
import { KEY_PREFIX } from "./worker";

afterEach(async () => {
  expectNoServerErrors();
  await expectConsistentEventIds();
});

function postFinal(token: string, partials: Created[], filename: string): Promise<Response> {
  const concatenation = `final;${partials.map(({ url }) => url).join(" ")}`;
  return send(COLLECTION, {
    method: "POST",
    headers: { ...TUS, ...bearer(token), "Upload-Concat": concatenation, "Upload-Metadata": metadataHeader({ filename }) },
  });
}

async function createFinal(token: string, partials: Created[], filename: string): Promise<Created> {
  const response = await postFinal(token, partials, filename);
  expect(response.status, await bodyText(response)).toBe(201);
  const url = response.headers.get("Location")!;
  return { url, id: url.slice(COLLECTION.length) };
}

interface RetryState {
  offset: number;
  failures: number;
  failedAt: number | null;
  alarm: number | null;
}

function retryState(id: string): Promise<RetryState> {
  return runInDurableObject(uploadStub(id), async (_instance, state) => {
    const row = state.storage.sql
      .exec<{ offset: number; failures: number; failedAt: number | null }>(
        `SELECT ${STORED_OFFSET}, completion_failures AS failures, completion_failed_at AS failedAt FROM upload`,
      )
      .one();
    return { ...row, alarm: await state.storage.getAlarm() };
  });
}

describe("a final upload whose key another object took before it was assembled", () => {
  it("is refused for good with 409 object-exists and a failed event; the other object and the partials are kept", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("grace");
    const filename = `concat-taken-${crypto.randomUUID().slice(0, 8)}.bin`;
    const key = `${KEY_PREFIX}grace/${filename}`;
    const finished = await upload(token, randomBytes(3000, 70), { headers: { "Upload-Concat": "partial" } });
    const unfinished = await create(token, { length: 4000, headers: { "Upload-Concat": "partial" } });
    // Created while a partial is unfinished, the key free: assembled later, by the alarm.
    const final = await createFinal(token, [finished, unfinished], filename);

    await env.BUCKET.put(key, "someone else's file");
    const last = await patch(unfinished.url, 0, randomBytes(4000, 71), bearer(token));
    expect(last.status, await bodyText(last)).toBe(204);

    // The partial's finish wakes the final's alarm, which refuses it.
    const refused = await waitFor("the final to be refused", async () => {
      const response = await headAs(token, final.url);
      return response.status === 200 ? undefined : response;
    });
    expect(refused.status).toBe(409);
    const download409 = await download(final.url, bearer(token));
    expect(download409.response.status).toBe(409);
    expect(new TextDecoder().decode(download409.bytes)).toContain(key);

    const kept = await env.BUCKET.get(key);
    expect(await kept!.text()).toBe("someone else's file");
    expect(kept!.customMetadata).toEqual({});

    await allDelivered(final.id);
    const events = await callsAbout(final.id, "onEvent");
    expect(events.map((call) => call.event.type)).toEqual(["created", "failed"]);
    expect(events[1]!.event).toMatchObject({ type: "failed", reason: "object-exists", upload: { id: final.id, objectKey: key } });
    expect(await callsAbout(final.id, "onUploadFinish")).toEqual([]);
    // Ended: nothing left for an alarm to do.
    expect(await runDurableObjectAlarm(uploadStub(final.id))).toBe(false);
    expect((await retryState(final.id)).alarm).toBeNull();
    // Partials are deleted only after a successful assembly: the client can concatenate them again.
    for (const partial of [finished, unfinished]) expect((await headAs(token, partial.url)).status).toBe(200);
  });
});
