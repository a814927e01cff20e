/**
 * Listing and administration against real local servers (wrangler dev).
 *
 * The first server is `npm start`'s setup with administration's D1 copy
 * bound (test/runtime-listing/wrangler.toml, the index migrated as `npm
 * start` migrates it) and access control on. Two subjects upload with
 * tus-js-client and each lists only their own uploads, from their own
 * subject's index; an administrator lists both across subjects (from D1,
 * about a second behind, with an unfinished upload's offset from its
 * subject's index) and terminates one; a third client, knowing nothing but
 * Alice's token, finds her unfinished upload in the listing and resumes it
 * where it stopped.
 *
 * The second server is the root wrangler.toml as it is, with AUTH_MODE=jwt:
 * no database created, no line uncommented, and listing works.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, HS256_SECRET, tokenFor } from "./jwt";
import { download, MiB, ROOT, seededBytes, sha256, sleep, startServer, type TestServer } from "./server";
import { startTusUpload } from "./tus";
import type { ListedUpload as Entry, Listing } from "../../src/listing/listing-answer";
import { describeRun, forServer, run, snippet } from "../readme/snippets";
import { cleanCopy } from "./clean-copy";


let server: TestServer;
let persistDir: string;
const BIN = join(ROOT, "node_modules", ".bin");
const CONFIG = "test/runtime-listing/wrangler.toml";

beforeAll(async () => {
  persistDir = await mkdtemp(join(tmpdir(), "tus-edge-listing-"));
  // What `npm start` does before wrangler dev (scripts/start.ts), into this server's state directory.
  await promisify(execFile)(join(BIN, "wrangler"), ["d1", "migrations", "apply", "INDEX", "--local", "--config", CONFIG, "--persist-to", persistDir], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}`, WRANGLER_SEND_METRICS: "false", CI: "1" },
    timeout: 60_000,
  });
  server = await startServer({
    config: CONFIG,
    sources: ["src", "public", "migrations", CONFIG],
    persistDir,
    vars: { AUTH_MODE: "jwt", JWT_SECRET: HS256_SECRET },
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (persistDir) await rm(persistDir, { recursive: true, force: true });
}, 30_000);

async function listing(token: string, url: string): Promise<Entry[]> {
  const response = await fetch(url, { headers: bearer(token) });
  const text = await response.text();
  expect(response.status, `GET ${url}: ${text}`).toBe(200);
  return (JSON.parse(text) as Listing).uploads;
}

/** The listing once `ready` holds for it: the index trails the uploads by the outbox's delivery. */
async function listingWhen(token: string, url: string, ready: (entries: Entry[]) => boolean): Promise<Entry[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const entries = await listing(token, url);
    if (ready(entries)) return entries;
    if (Date.now() > deadline) throw new Error(`GET ${url}: not as expected within 20 s: ${JSON.stringify(entries)}`);
    await sleep(200);
  }
}

function upload(data: Buffer, token: string, filename: string, options: { chunkSize?: number; uploadUrl?: string; stopAt?: number } = {}) {
  const run = startTusUpload(data, {
    endpoint: server.endpoint,
    headers: bearer(token),
    metadata: { filename, filetype: "application/octet-stream" },
    chunkSize: options.chunkSize ?? Infinity,
    ...(options.uploadUrl && { uploadUrl: options.uploadUrl }),
    onChunkComplete(_size, accepted) {
      if (options.stopAt !== undefined && accepted >= options.stopAt) void run.upload.abort();
    },
  });
  return run;
}

describe("listing and administration with tus-js-client", () => {
  it(
    "each subject lists only their own uploads, an administrator lists and terminates, and a third client resumes from the listing",
    async () => {
      const alice = tokenFor("alice");
      const bob = tokenFor("bob");
      const admin = tokenFor("operator", { scope: "tus:admin" });
      const since = new Date(Date.now() - 1000).toISOString();

      const aliceDone = seededBytes(3 * MiB, "alice done");
      const aliceVideo = seededBytes(6 * MiB, "alice video");
      const bobFile = seededBytes(2 * MiB, "bob file");
      const doneUrl = await upload(aliceDone, alice, "notes.bin").done;
      const bobUrl = await upload(bobFile, bob, "bob.bin").done;
      // Alice's video stops after 2 of its 1 MiB chunks, as when a laptop closes.
      const stopped = upload(aliceVideo, alice, "video.mp4", { chunkSize: MiB, stopAt: 2 * MiB });
      const stoppedUrl = await new Promise<string>((resolve, reject) => {
        const poll = setInterval(() => {
          if (stopped.acceptedOffsets.some((offset) => offset >= 2 * MiB)) {
            clearInterval(poll);
            resolve(stopped.upload.url!);
          }
        }, 20);
        stopped.done.then(() => reject(new Error("the upload finished instead of stopping")), reject);
      });

      const hers = await listingWhen(alice, server.endpoint, (entries) => entries.length === 2 && entries.some((entry) => entry.state === "finished"));
      expect(hers.map((entry) => entry.url).sort()).toEqual([doneUrl, stoppedUrl].sort());
      const his = await listingWhen(bob, server.endpoint, (entries) => entries.length === 1);
      expect(his.map((entry) => entry.url)).toEqual([bobUrl]);
      expect(his[0]).toMatchObject({ state: "finished", offset: 2 * MiB, length: 2 * MiB, metadata: { filename: "bob.bin" } });

      const adminUrl = `${server.url}/admin/uploads/`;
      // Across subjects comes from D1, which each subject's index feeds about a second later.
      const everyone = await listingWhen(admin, `${adminUrl}?created_after=${encodeURIComponent(since)}`, (entries) => entries.length === 3);
      expect(everyone.map((entry) => entry.subject).sort()).toEqual(["alice", "alice", "bob"]);
      // D1 never hears of progress: the stopped upload's offset on the administrator's page is its subject index's.
      const stoppedEntry = everyone.find((entry) => entry.url === stoppedUrl)!;
      expect(stoppedEntry).toMatchObject({ subject: "alice", state: "unfinished", length: 6 * MiB });
      expect(stoppedEntry.offset).toBeGreaterThanOrEqual(2 * MiB);
      expect(stoppedEntry.offset).toBe((await listing(alice, server.endpoint)).find((entry) => entry.url === stoppedUrl)!.offset);
      // One subject's uploads, from that subject's index.
      expect((await listing(admin, `${adminUrl}?subject=bob`)).map((entry) => entry.url)).toEqual([bobUrl]);
      const bobEntry = everyone.find((entry) => entry.subject === "bob")!;
      const terminated = await fetch(`${adminUrl}${bobEntry.id}`, { method: "DELETE", headers: bearer(admin) });
      expect(terminated.status, await terminated.text()).toBe(204);
      expect((await fetch(bobUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0", ...bearer(bob) } })).status).toBe(410);
      await listingWhen(bob, server.endpoint, (entries) => entries[0]?.state === "terminated");
      await listingWhen(admin, `${adminUrl}?created_after=${encodeURIComponent(since)}`, (entries) => entries.find((entry) => entry.subject === "bob")?.state === "terminated");

      // A third client: Alice on another device, with her token and the file, but no stored upload URL.
      const [resumable] = await listingWhen(alice, `${server.endpoint}?state=unfinished&filename=video.mp4`, (entries) => entries.length === 1 && entries[0]!.offset >= 2 * MiB);
      expect(resumable!.url).toBe(stoppedUrl);
      const resumed = upload(aliceVideo, alice, "video.mp4", { uploadUrl: resumable!.url });
      expect(await resumed.done).toBe(stoppedUrl);
      expect(resumed.patchOffsets[0]).toBe(resumable!.offset);
      expect(sha256(await download(stoppedUrl, { headers: bearer(alice) }))).toBe(sha256(aliceVideo));
      await listingWhen(alice, `${server.endpoint}?state=finished`, (entries) => entries.length === 2);
    },
    180_000,
  );
});

describe("the root wrangler.toml as it is, with AUTH_MODE=jwt (no database)", () => {
  let plain: TestServer;

  beforeAll(async () => {
    plain = await startServer({ vars: { AUTH_MODE: "jwt", JWT_SECRET: HS256_SECRET } });
  }, 120_000);

  afterAll(async () => {
    await plain?.stop();
  }, 30_000);

  it("lists a subject's upload made with tus-js-client, one subject for an administrator, and says how to list across subjects", async () => {
    const carol = tokenFor("carol");
    const data = seededBytes(3 * MiB, "carol");
    const run = startTusUpload(data, { endpoint: plain.endpoint, headers: bearer(carol), metadata: { filename: "carol.bin" }, chunkSize: MiB });
    const url = await run.done;
    const entries = await (async () => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const response = await fetch(plain.endpoint, { headers: bearer(carol) });
        const text = await response.text();
        expect(response.status, text).toBe(200);
        const uploads = (JSON.parse(text) as Listing).uploads;
        if (uploads[0]?.state === "finished") return uploads;
        if (Date.now() > deadline) throw new Error(`carol's upload not finished in her listing within 20 s: ${text}`);
        await sleep(200);
      }
    })();
    expect(entries).toEqual([expect.objectContaining({ url, state: "finished", offset: 3 * MiB, length: 3 * MiB, metadata: { filename: "carol.bin" } })]);

    const admin = bearer(tokenFor("operator", { scope: "tus:admin" }));
    const one = await fetch(`${plain.url}/admin/uploads/?subject=carol`, { headers: admin });
    const oneText = await one.text();
    expect(one.status, oneText).toBe(200);
    expect((JSON.parse(oneText) as Listing).uploads).toEqual([expect.objectContaining({ url, subject: "carol", state: "finished" })]);
    const across = await fetch(`${plain.url}/admin/uploads/`, { headers: admin });
    const acrossText = await across.text();
    expect(across.status, acrossText).toBe(400);
    expect(acrossText).toMatch(/INDEX/);
    expect(acrossText).toMatch(/\?subject=/);
  }, 90_000);
});

describe("docs/listing.md's commands", () => {
  it("npm run token, then alice's unfinished video.mp4 in her listing, in the administrator's and inspected by id", async () => {
    // An unfinished upload of alice's named video.mp4, and the index showing it.
    const created = await fetch(server.endpoint, {
      method: "POST",
      headers: {
        "Tus-Resumable": "1.0.0",
        "Upload-Length": "100",
        "Upload-Metadata": `filename ${Buffer.from("video.mp4").toString("base64")}`,
        ...bearer(tokenFor("alice")),
      },
    });
    expect(created.status, await created.text()).toBe(201);
    const url = created.headers.get("Location")!;
    const id = url.slice(url.lastIndexOf("/") + 1);
    await listingWhen(tokenFor("alice"), `${server.endpoint}?state=unfinished`, (entries) => entries.some((entry) => entry.url === url));

    // The page's commands in a copy of the repository whose .dev.vars has the server's secret, as npm start would.
    const copy = await cleanCopy("listing-docs");
    try {
      await writeFile(join(copy.dir, ".dev.vars"), `JWT_SECRET=${HS256_SECRET}\n`);
      const script = `${snippet("listing-own").code}echo\necho "--- admin ---"\n${snippet("listing-admin").code}`;
      const ran = await run("bash", ["-euo", "pipefail", "-c", forServer(script, server.url)], {
        cwd: copy.dir,
        timeoutMs: 60_000,
        env: { ID: id, PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}` },
      });
      expect(ran.code, describeRun(ran)).toBe(0);
      const [own, admin] = ran.stdout.split("--- admin ---\n") as [string, string];
      const hers = (JSON.parse(own) as Listing).uploads;
      expect(hers.map((entry) => entry.url), describeRun(ran)).toContain(url);
      for (const entry of hers) expect(entry).toMatchObject({ state: "unfinished", metadata: { filename: "video.mp4" } });
      // The administrator's listing, then the inspection: two JSON documents, one after the other.
      const between = [...admin.matchAll(/\}\s*\{/g)].at(-1)!.index + 1;
      const everyone = JSON.parse(admin.slice(0, between)) as Listing;
      expect(everyone.uploads.find((entry) => entry.id === id), describeRun(ran)).toMatchObject({ subject: "alice", state: "unfinished" });
      const inspected = JSON.parse(admin.slice(between)) as Record<string, unknown>;
      expect(inspected).toMatchObject({ owner: "alice", state: "unfinished", offset: 0, length: 100 });
    } finally {
      await copy.remove();
    }
  }, 90_000);
});
