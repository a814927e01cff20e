/**
 * An upload refused at completion (another object took its key, here
 * `{subject}/{filename}` of worker.ts) is reported once, as a `failed` event
 * with its reason, to the library's callbacks; it is never `finished`.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, expectNoServerErrors, patch, randomBytes, uploadStub } from "../runtime/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { allDelivered, callsAbout, create, expectConsistentEventIds, headAs, TIMEOUT, waitFor } from "./helpers";

afterEach(async () => {
  expectNoServerErrors();
  await expectConsistentEventIds();
});

describe("an upload refused at completion", () => {
  it("is reported once as a failed event with reason object-exists, and never as finished", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("frank");
    const filename = `taken-${crypto.randomUUID().slice(0, 8)}.bin`;
    const first = await create(token, { length: 10, metadata: { filename } });
    const second = await create(token, { length: 20, metadata: { filename } });
    const finishedFirst = await patch(first.url, 0, randomBytes(10, 60), bearer(token));
    expect(finishedFirst.status, await bodyText(finishedFirst)).toBe(204);
    const refused = await patch(second.url, 0, randomBytes(20, 61), bearer(token));
    expect(refused.status, await bodyText(refused)).toBe(409);
    expect((await headAs(token, second.url)).status).toBe(409);

    const failed = await waitFor("the failed event", async () => {
      const calls = (await callsAbout(second.id, "onEvent")).filter((call) => call.event.type === "failed");
      return calls.length ? calls : undefined;
    });
    await allDelivered(second.id);
    // Nothing is left to do: no alarm runs, and no second report comes.
    expect(await runDurableObjectAlarm(uploadStub(second.id))).toBe(false);
    expect(await headAs(token, second.url)).toHaveProperty("status", 409);
    const events = await callsAbout(second.id, "onEvent");
    expect(events.map((call) => call.event.type)).toEqual(["created", "failed"]);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.event).toMatchObject({
      type: "failed",
      reason: "object-exists",
      upload: { id: second.id, objectKey: `library/frank/${filename}`, size: 20, length: 20 },
    });
    expect(await callsAbout(second.id, "onUploadFinish")).toEqual([]);
  });
});
