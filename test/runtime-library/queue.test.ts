/**
 * Upload events delivered to a Cloudflare Queue (the EVENTS producer
 * binding): the library worker consumes its own queue and records each
 * message in R2, so this checks real Queue delivery end to end.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { UploadEvent } from "../../src/index";
import { randomBytes } from "../runtime/helpers";
import { tokenFor } from "../runtime-auth/tokens";
import { TIMEOUT, upload, waitFor } from "./helpers";

async function queuedEventsOf(uploadId: string): Promise<UploadEvent[]> {
  const listed = await env.BUCKET.list({ prefix: "queue/" });
  const events = await Promise.all(
    listed.objects.map(async ({ key }) => (await (await env.BUCKET.get(key))!.json()) as UploadEvent),
  );
  return events.filter((event) => event.upload.id === uploadId);
}

describe("events on a Queue", () => {
  it("delivers created and finished to the EVENTS queue, each with the upload's details and its own id", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(3000, 41);
    const { id } = await upload(await tokenFor("quinn"), data, { metadata: { filename: "queued.bin" } });
    const events = await waitFor(
      "created and finished on the queue",
      async () => {
        const found = await queuedEventsOf(id);
        return found.some((event) => event.type === "finished") && found.some((event) => event.type === "created") ? found : undefined;
      },
      20_000,
    );
    const finished = events.find((event) => event.type === "finished")!;
    expect(finished.upload).toMatchObject({ id, size: data.length, length: data.length, subject: "quinn" });
    expect(finished.upload.objectKey).toBe(`library/quinn/queued.bin`);
    const created = events.find((event) => event.type === "created")!;
    expect(created.id).not.toBe(finished.id);
  });
});
