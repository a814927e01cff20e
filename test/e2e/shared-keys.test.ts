/**
 * Two uploads whose objects share a key (a template without {id},
 * OBJECT_KEY_TEMPLATE={filename}, and OVERWRITE_OBJECTS=true: the later one
 * replaces the earlier one's object). Each upload reads and deletes only the
 * object it wrote itself: the one whose object was replaced answers as an
 * upload whose object is gone, and its DELETE leaves the other's object be.
 * Against a real local gateway (wrangler dev, local R2).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, seededBytes, sha256, startServer, type TestServer } from "./server";
import { createUpload, patch, send } from "./raw";

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ vars: { OBJECT_KEY_TEMPLATE: "{filename}", OVERWRITE_OBJECTS: "true" } });
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

/** Uploads `data` whole as `report.txt`; returns the upload's URL. */
async function uploadReport(data: Uint8Array): Promise<string> {
  const url = await createUpload(server.endpoint, {
    "Upload-Length": String(data.length),
    "Upload-Metadata": `filename ${Buffer.from("report.txt").toString("base64")}`,
  });
  const response = await patch(url, 0, data);
  expect(response.status).toBe(204);
  return url;
}

describe("uploads whose objects share a key", () => {
  it("read and delete only their own object: the replaced one is gone to its upload, the other's bytes stay whole", async () => {
    const alices = seededBytes(300_000, "alice's report");
    const bobs = seededBytes(200_000, "bob's report");
    const alice = await uploadReport(alices);
    expect(sha256(await download(alice))).toBe(sha256(alices));
    // Bob's upload replaces Alice's object at uploads/report.txt.
    const bob = await uploadReport(bobs);

    // Alice's upload does not hand out Bob's bytes, whole or in a range.
    for (const headers of [{}, { Range: "bytes=0-99" }]) {
      const response = await fetch(alice, { headers });
      const text = await response.text();
      expect(response.status, JSON.stringify(headers)).toBe(404);
      expect(text).toMatch(/the upload's object is no longer stored/);
    }
    // Nor does its DELETE remove Bob's object.
    expect((await send("DELETE", alice, { "Tus-Resumable": "1.0.0" })).status).toBe(204);
    expect(sha256(await download(bob))).toBe(sha256(bobs));
    expect((await send("GET", alice)).status).toBe(410);

    // Bob's own DELETE does remove it.
    expect((await send("DELETE", bob, { "Tus-Resumable": "1.0.0" })).status).toBe(204);
    expect((await send("GET", bob)).status).toBe(410);
  }, 60_000);
});
