/**
 * The tus extensions against a real local gateway (wrangler dev, default
 * configuration), spoken by hand with Node's fetch unless a test is about
 * tus-js-client: checksum, termination, concatenation (also unfinished),
 * CORS and X-HTTP-Method-Override. Expiration needs a short idle time and
 * has its own server (expiration.test.ts).
 *
 * Uploads that matter for R2 span several 8 MiB parts, since local miniflare
 * checks part sizes only when a multipart upload is completed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download, downloadSha256, MiB, seededBytes, sha256, sleep, startServer, writeSeededFile, type TestServer } from "./server";
import { startTusUpload } from "./tus";
import { createUpload, digest, head, headOffset, OCTETS, patch, pollUntil, send, slowPatch, TUS } from "./raw";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
}, 90_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

async function expectStored(url: string, data: Buffer): Promise<void> {
  const stored = await download(url);
  expect(stored.length).toBe(data.length);
  expect(sha256(stored)).toBe(sha256(data));
}

/**
 * Polls HEAD on a final upload until its offset appears and equals its
 * length. Until then HEAD must answer 200 with the length and no offset.
 */
async function waitUntilAssembled(url: string, length: number, timeoutMs: number): Promise<void> {
  await pollUntil(`assembly of ${url}`, timeoutMs, 250, async () => {
    const response = await head(url);
    expect(response.status, `HEAD ${url}`).toBe(200);
    expect(response.headers.get("Upload-Length")).toBe(String(length));
    const offset = response.headers.get("Upload-Offset");
    if (offset === null) return undefined;
    expect(offset, "a final upload's offset, once shown, is its whole length").toBe(String(length));
    return true;
  });
}

/** Partial uploads are deleted once their final upload is assembled: polls until each answers 410. */
async function expectGoneSoon(urls: string[], timeoutMs = 15_000): Promise<void> {
  for (const url of urls) {
    const status = await pollUntil(`410 from ${url}`, timeoutMs, 200, async () => {
      const response = await head(url);
      return response.status === 200 ? undefined : response.status;
    });
    expect(status, `HEAD ${url} after assembly`).toBe(410);
  }
}

describe("checksum", () => {
  it("advertises its algorithms, sha1 among them", async () => {
    const response = await send("OPTIONS", server.endpoint);
    expect(response.status).toBeLessThan(300);
    expect(response.headers.get("Tus-Extension")?.split(",")).toContain("checksum");
    const algorithms = response.headers.get("Tus-Checksum-Algorithm")?.split(",") ?? [];
    expect(algorithms).toEqual(expect.arrayContaining(["sha1", "sha256", "sha512", "md5"]));
  }, 15_000);

  it("accepts verified chunks and refuses a mismatching one whole (24 MiB, sha256 then sha1)", async () => {
    const data = seededBytes(24 * MiB, "checksum-24");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });

    const first = data.subarray(0, 10 * MiB);
    const ok = await patch(url, 0, first, { "Upload-Checksum": `sha256 ${digest("sha256", first)}` });
    expect(ok.status).toBe(204);
    expect(ok.headers.get("Upload-Offset")).toBe(String(10 * MiB));

    // The next 14 MiB fill part 2 (whose first 2 MiB are already stored) and all
    // of part 3: the server must forget all of it when the checksum is wrong.
    const rest = data.subarray(10 * MiB);
    const wrong = digest("sha1", Buffer.from("not these bytes"));
    const refused = await patch(url, 10 * MiB, rest, { "Upload-Checksum": `sha1 ${wrong}` });
    expect(refused.status).toBe(460);
    expect(refused.headers.get("Tus-Resumable")).toBe("1.0.0");
    expect(await headOffset(url)).toBe(10 * MiB);

    const accepted = await patch(url, 10 * MiB, rest, { "Upload-Checksum": `sha1 ${digest("sha1", rest)}` });
    expect(accepted.status).toBe(204);
    expect(accepted.headers.get("Upload-Offset")).toBe(String(data.length));
    expect(await headOffset(url)).toBe(data.length);
    await expectStored(url, data);
  }, 60_000);

  it("refuses a chunk damaged in transit (sha512) and takes the intact one", async () => {
    const data = seededBytes(9 * MiB + 99, "checksum-damaged");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    const chunk = data.subarray(0, 6 * MiB);
    const checksum = { "Upload-Checksum": `sha512 ${digest("sha512", chunk)}` };

    const damaged = Buffer.from(chunk);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 0x01, damaged.length - 1);
    expect((await patch(url, 0, damaged, checksum)).status).toBe(460);
    expect(await headOffset(url)).toBe(0);

    const accepted = await patch(url, 0, chunk, checksum);
    expect(accepted.status).toBe(204);
    expect(accepted.headers.get("Upload-Offset")).toBe(String(chunk.length));
    const last = data.subarray(chunk.length);
    expect((await patch(url, chunk.length, last, { "Upload-Checksum": `sha512 ${digest("sha512", last)}` })).status).toBe(204);
    await expectStored(url, data);
  }, 60_000);

  it("verifies small chunks with md5 and sha512, and refuses an unsupported algorithm with 400", async () => {
    const data = seededBytes(300_000, "checksum-small");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    const a = data.subarray(0, 100_000);
    const b = data.subarray(100_000, 200_000);
    const c = data.subarray(200_000);

    expect((await patch(url, 0, a, { "Upload-Checksum": `md5 ${digest("md5", a)}` })).status).toBe(204);
    expect((await patch(url, a.length, b, { "Upload-Checksum": `md5 ${digest("md5", a)}` })).status).toBe(460);
    expect(await headOffset(url)).toBe(a.length);
    expect((await patch(url, a.length, b, { "Upload-Checksum": `md5 ${digest("md5", b)}` })).status).toBe(204);

    const crc = await patch(url, 200_000, c, { "Upload-Checksum": "crc32 AAAAAA==" });
    expect(crc.status).toBe(400);
    expect(await headOffset(url)).toBe(200_000);
    expect((await patch(url, 200_000, c, { "Upload-Checksum": `sha512 ${digest("sha512", c)}` })).status).toBe(204);
    await expectStored(url, data);
  }, 30_000);

  it("checks the first bytes of a creation-with-upload POST: 460 with Location, the upload stays empty", async () => {
    const data = seededBytes(1000, "checksum-creation");
    const response = await fetch(server.endpoint, {
      method: "POST",
      headers: { ...TUS, ...OCTETS, "Upload-Length": String(data.length), "Upload-Checksum": `sha1 ${digest("sha1", Buffer.from("x"))}` },
      body: data,
    });
    await response.arrayBuffer();
    expect(response.status).toBe(460);
    const location = response.headers.get("Location");
    expect(location).toBeTruthy();
    const url = new URL(location!, server.endpoint).href;
    expect(await headOffset(url)).toBe(0);
    expect((await patch(url, 0, data, { "Upload-Checksum": `sha1 ${digest("sha1", data)}` })).status).toBe(204);
    await expectStored(url, data);
  }, 30_000);
});

describe("termination", () => {
  it("DELETE of a partly uploaded upload answers 204, then HEAD, PATCH, GET and DELETE answer 410", async () => {
    const data = seededBytes(20 * MiB, "terminate-partial");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    // 12 MiB: one part is in R2's multipart upload, 4 MiB wait in the tail.
    expect((await patch(url, 0, data.subarray(0, 12 * MiB))).status).toBe(204);

    const deleted = await send("DELETE", url, TUS);
    expect(deleted.status).toBe(204);
    expect(deleted.headers.get("Tus-Resumable")).toBe("1.0.0");

    const headResponse = await head(url);
    expect(headResponse.status).toBe(410);
    expect(headResponse.headers.get("Upload-Offset")).toBeNull();
    // A small body: local workerd may reset a connection whose large body was
    // left unread by an early error response, and the client then sees no status.
    expect((await patch(url, 12 * MiB, data.subarray(12 * MiB, 12 * MiB + 64 * 1024))).status).toBe(410);
    expect((await send("GET", url)).status).toBe(410);
    expect((await send("DELETE", url, TUS)).status).toBe(410);
  }, 60_000);

  it("DELETE of a finished upload deletes its object: 204, then GET and HEAD answer 410", async () => {
    const data = seededBytes(9 * MiB + 3, "terminate-finished");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    expect((await patch(url, 0, data)).status).toBe(204);
    await expectStored(url, data);

    expect((await send("DELETE", url, TUS)).status).toBe(204);
    expect((await send("GET", url)).status).toBe(410);
    expect((await head(url)).status).toBe(410);
  }, 60_000);

  it("DELETE needs Tus-Resumable (412) and works through X-HTTP-Method-Override", async () => {
    const url = await createUpload(server.endpoint, { "Upload-Length": "10" });
    const unversioned = await send("DELETE", url);
    expect(unversioned.status).toBe(412);
    expect(unversioned.headers.get("Tus-Version")).toBe("1.0.0");
    expect((await head(url)).status).toBe(200);

    const overridden = await send("POST", url, { ...TUS, "X-HTTP-Method-Override": "DELETE" });
    expect(overridden.status).toBe(204);
    expect((await head(url)).status).toBe(410);
  }, 15_000);

  it("DELETE during a PATCH that is still sending stops it: 204 at once, and nothing lands afterwards", async () => {
    const data = seededBytes(2 * MiB, "terminate-in-flight");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    const pieces = Array.from({ length: 32 }, (_, i) => data.subarray(i * 64 * 1024, (i + 1) * 64 * 1024));
    const slow = slowPatch(url, 0, pieces, 250); // ~8 s if left alone
    slow.catch(() => {});
    // No HEAD meanwhile: HEAD itself takes the upload over from a PATCH in flight.
    await sleep(1_000);

    const started = Date.now();
    const deleted = await send("DELETE", url, TUS);
    expect(deleted.status).toBe(204);
    expect(Date.now() - started, "DELETE must not wait for the slow body").toBeLessThan(5_000);
    expect((await head(url)).status).toBe(410);
    // Whatever the PATCH was told, it ends well before its body would have.
    const outcome = await slow.then(
      (response) => response.status,
      () => "connection closed",
    );
    expect([204, 410, "connection closed"]).toContain(outcome);
    expect((await head(url)).status).toBe(410);
    expect((await send("GET", url)).status).toBe(410);
  }, 30_000);
});

describe("concatenation", () => {
  it("tus-js-client parallelUploads: 4 partials of 25 MiB in 8 MiB chunks are assembled into 100 MiB", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tus-edge-concat-"));
    try {
      const path = join(dir, "100mib.bin");
      const expected = await writeSeededFile(path, 100 * MiB, "parallel-100");
      const data = await readFile(path);
      const partialUrls: string[] = [];
      let finalConcat = "";
      const run = startTusUpload(data, {
        endpoint: server.endpoint,
        parallelUploads: 4,
        chunkSize: 8 * MiB,
        metadata: { filename: "hundred.bin", filetype: "application/octet-stream" },
        onBeforeRequest(request) {
          const concat = request.getHeader("Upload-Concat");
          if (request.getMethod() === "POST" && concat?.startsWith("final;")) finalConcat = concat;
        },
        onAfterResponse(request, response) {
          if (request.getMethod() === "POST" && request.getHeader("Upload-Concat") === "partial" && response.getStatus() === 201) {
            partialUrls.push(new URL(response.getHeader("Location")!, server.endpoint).href);
          }
        },
      });
      const url = await run.done;

      expect(partialUrls).toHaveLength(4);
      const named = finalConcat.slice("final;".length).trim().split(/ +/).map((u) => new URL(u, server.endpoint).href);
      expect([...named].sort()).toEqual([...partialUrls].sort());
      // Each partial's PATCHes cross the 8 MiB R2 part boundaries of the final.
      expect(run.patchOffsets.filter((offset) => offset > 0).length).toBeGreaterThanOrEqual(4 * 3);

      const before = await head(url);
      expect(before.status).toBe(200);
      expect(before.headers.get("Upload-Concat")).toBe(`final;${named.map((u) => new URL(u).pathname).join(" ")}`);

      await waitUntilAssembled(url, data.length, 90_000);
      const stored = await downloadSha256(url);
      expect(stored.size).toBe(data.length);
      expect(stored.sha256).toBe(expected);
      await expectGoneSoon(partialUrls);
      // The final upload stays, and is still downloadable after its partials are gone.
      expect((await downloadSha256(url)).sha256).toBe(expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it("concatenation-unfinished: the final upload is created first and assembled once its partials finish", async () => {
    const a = seededBytes(12 * MiB + 3, "unfinished-a");
    const b = seededBytes(7 * MiB + 1, "unfinished-b");
    const whole = Buffer.concat([a, b]);
    const partialA = await createUpload(server.endpoint, { "Upload-Length": String(a.length), "Upload-Concat": "partial" });
    const partialB = await createUpload(server.endpoint, { "Upload-Length": String(b.length), "Upload-Concat": "partial" });
    expect((await head(partialA)).headers.get("Upload-Concat")).toBe("partial");
    expect((await patch(partialA, 0, a.subarray(0, 5 * MiB))).status).toBe(204);

    // One absolute URL and one relative: both are allowed.
    const final = await createUpload(server.endpoint, { "Upload-Concat": `final;${partialA} ${new URL(partialB).pathname}` });
    const waiting = await head(final);
    expect(waiting.status).toBe(200);
    expect(waiting.headers.get("Upload-Length")).toBe(String(whole.length));
    expect(waiting.headers.get("Upload-Offset"), "no offset before assembly").toBeNull();
    expect(waiting.headers.get("Upload-Concat")).toBe(`final;${new URL(partialA).pathname} ${new URL(partialB).pathname}`);
    expect((await patch(final, 0, Buffer.from("no"))).status).toBe(403);
    expect((await send("GET", final)).status).toBe(409);

    expect((await patch(partialA, 5 * MiB, a.subarray(5 * MiB))).status).toBe(204);
    expect((await patch(partialB, 0, b)).status).toBe(204);

    await waitUntilAssembled(final, whole.length, 60_000);
    await expectStored(final, whole);
    await expectGoneSoon([partialA, partialB]);
  }, 90_000);
});

describe("CORS", () => {
  const origin = "https://app.example.com";

  it("answers a browser's preflight for creation and for PATCH", async () => {
    const creation = await send("OPTIONS", server.endpoint, {
      Origin: origin,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "tus-resumable,upload-length,upload-metadata",
    });
    expect(creation.status).toBeLessThan(300);
    expect(creation.headers.get("Access-Control-Allow-Origin")).toMatch(new RegExp(`^(\\*|${origin.replace(/\./g, "\\.")})$`));
    const methods = creation.headers.get("Access-Control-Allow-Methods")?.split(/,\s*/) ?? [];
    expect(methods).toEqual(expect.arrayContaining(["POST", "PATCH", "HEAD", "DELETE", "GET", "OPTIONS"]));
    const allowed = (creation.headers.get("Access-Control-Allow-Headers") ?? "").toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(["tus-resumable", "upload-length", "upload-metadata"]));
    expect(Number(creation.headers.get("Access-Control-Max-Age"))).toBeGreaterThan(0);

    const url = await createUpload(server.endpoint, { "Upload-Length": "5" });
    const append = await send("OPTIONS", url, {
      Origin: origin,
      "Access-Control-Request-Method": "PATCH",
      "Access-Control-Request-Headers": "content-type,tus-resumable,upload-offset,upload-checksum",
    });
    expect(append.status).toBeLessThan(300);
    expect(append.headers.get("Access-Control-Allow-Origin")).toBeTruthy();
    const allowedForPatch = (append.headers.get("Access-Control-Allow-Headers") ?? "").toLowerCase().split(/,\s*/);
    expect(allowedForPatch).toEqual(expect.arrayContaining(["content-type", "tus-resumable", "upload-offset", "upload-checksum"]));
  }, 15_000);

  it("exposes the tus response headers to the page on POST, PATCH and HEAD, and on errors", async () => {
    const post = await fetch(server.endpoint, { method: "POST", headers: { ...TUS, Origin: origin, "Upload-Length": "5" } });
    await post.arrayBuffer();
    expect(post.status).toBe(201);
    expect(post.headers.get("Access-Control-Allow-Origin")).toBeTruthy();
    const exposed = (post.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(["location", "upload-offset", "upload-length", "tus-resumable", "upload-expires"]));
    const url = new URL(post.headers.get("Location")!, server.endpoint).href;

    const patched = await patch(url, 0, Buffer.from("hello"), { Origin: origin });
    expect(patched.status).toBe(204);
    expect(patched.headers.get("Access-Control-Expose-Headers")?.toLowerCase()).toContain("upload-offset");

    const headResponse = await head(url, { Origin: origin });
    expect(headResponse.headers.get("Access-Control-Allow-Origin")).toBeTruthy();
    expect(headResponse.headers.get("Access-Control-Expose-Headers")?.toLowerCase()).toContain("upload-length");

    // A page must be able to read an error's status, or tus-js-client cannot decide to retry.
    const conflict = await patch(url, 0, Buffer.from("x"), { Origin: origin });
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get("Access-Control-Allow-Origin")).toBeTruthy();
    const missing = await head(`${server.endpoint}nosuchupload`, { Origin: origin });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("Access-Control-Allow-Origin")).toBeTruthy();

    // Without an Origin there is nothing to allow.
    expect((await head(url)).headers.get("Access-Control-Allow-Origin")).toBeNull();
  }, 15_000);
});

describe("X-HTTP-Method-Override", () => {
  it("turns a POST into PATCH, HEAD and GET on an upload URL", async () => {
    const data = seededBytes(6 * MiB + 5, "override-raw");
    const url = await createUpload(server.endpoint, { "Upload-Length": String(data.length) });
    const patched = await fetch(url, {
      method: "POST",
      headers: { ...TUS, ...OCTETS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0" },
      body: data,
    });
    await patched.arrayBuffer();
    expect(patched.status).toBe(204);
    expect(patched.headers.get("Upload-Offset")).toBe(String(data.length));

    const headed = await send("POST", url, { ...TUS, "X-HTTP-Method-Override": "HEAD" });
    expect(headed.status).toBe(200);
    expect(headed.headers.get("Upload-Offset")).toBe(String(data.length));

    const got = await fetch(url, { method: "POST", headers: { "X-HTTP-Method-Override": "GET" } });
    expect(got.status).toBe(200);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(data));
  }, 30_000);
});
