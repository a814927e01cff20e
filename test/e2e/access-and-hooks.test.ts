/**
 * Access control, upload events and the pre-create hook against a real local
 * gateway: one `wrangler dev` with AUTH_MODE=jwt (the fixture's HS256
 * secret), WEBHOOK_URL + WEBHOOK_SECRET and PRE_CREATE_HOOK_URL, the last two
 * pointing at a hook receiver in this process (receiver.ts) that records
 * every request and answers as each test tells it. Tests tag their uploads
 * with the metadata key `case` so that the receiver's rules and records of
 * one test never touch another's.
 *
 * Events come from each upload's Durable Object alarm, at least once, with
 * retries after 1 s, 2 s, 4 s …; the tests that make the receiver fail wait
 * through that back-off, and one restarts the server while it is failing.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DetailedError } from "tus-js-client";
import { bearer, signHs256, tokenFor, HS256_SECRET } from "./jwt";
import { createUpload, head, patch, pollUntil, send, OCTETS, TUS } from "./raw";
import {
  eventTag,
  hasValidSignature,
  SIGNATURE_TOLERANCE_SECONDS,
  startHookReceiver,
  type EventBody,
  type EventDelivery,
  type HookReceiver,
  type Proposal,
  type ReceivedRequest,
} from "./receiver";
import { download, downloadSha256, MiB, seededBytes, sha256, sleep, startServer, type TestServer } from "./server";
import { startTusUpload, type TusRun } from "./tus";

const WEBHOOK_SECRET = "e2e-webhook-secret-for-tests-only";

let receiver: HookReceiver;
let server: TestServer;

const ALICE = tokenFor("alice");
const BOB = tokenFor("bob");
const asAlice = bearer(ALICE);
const asBob = bearer(BOB);

beforeAll(async () => {
  receiver = await startHookReceiver();
  server = await startServer({
    vars: {
      AUTH_MODE: "jwt",
      JWT_SECRET: HS256_SECRET,
      WEBHOOK_URL: receiver.eventsUrl,
      WEBHOOK_SECRET,
      PRE_CREATE_HOOK_URL: receiver.preCreateUrl,
    },
  });
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
}, 30_000);

/* ---------- helpers ---------- */

/** `Upload-Metadata` for text values. */
function metadataHeader(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value, "utf8").toString("base64")}`)
    .join(",");
}

/** An `Upload-Metadata` header as text values. */
function parseMetadata(header: string | null): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of (header ?? "").split(",").filter(Boolean)) {
    const [key, value = ""] = pair.trim().split(" ");
    values[key!] = Buffer.from(value, "base64").toString("utf8");
  }
  return values;
}

/** Event metadata (Base64 values as the client sent them) as text. */
function textOf(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, Buffer.from(value, "base64").toString("utf8")]));
}

function uploadIdOf(url: string): string {
  expect(url.startsWith(server.endpoint), `${url} is under ${server.endpoint}`).toBe(true);
  return url.slice(server.endpoint.length);
}

/** An upload id of the right form that names no upload (the gateway refuses it without asking any Durable Object). */
function unknownUploadUrl(): string {
  return server.endpoint + randomBytes(32).toString("hex");
}

const ok = (delivery: EventDelivery) => delivery.status >= 200 && delivery.status < 300;

/** Deliveries (every attempt) of events about one upload. */
function deliveriesFor(uploadId: string): EventDelivery[] {
  return receiver.events().filter((delivery) => delivery.json.upload?.id === uploadId);
}

/** Waits until the receiver has taken (2xx) an event of `type` about `uploadId`; returns that delivery. */
function waitForEvent(uploadId: string, type: EventBody["type"], timeoutMs = 15_000): Promise<EventDelivery> {
  return pollUntil(`a delivered "${type}" event for ${uploadId}`, timeoutMs, 100, async () =>
    deliveriesFor(uploadId).find((delivery) => ok(delivery) && delivery.json.type === type),
  );
}

/** The headers and signature every webhook delivery carries. */
function expectSignedDelivery(delivery: EventDelivery): void {
  expect(delivery.method).toBe("POST");
  expect(delivery.headers["content-type"]).toMatch(/^application\/json/);
  expect(delivery.headers["tus-edge-event-id"], "Tus-Edge-Event-Id is the body's id").toBe(delivery.json.id);
  expectSigned(delivery);
}

/**
 * `Tus-Edge-Signature: t=<seconds>,v1=<hex>`, valid under WEBHOOK_SECRET by
 * the README's recipe, signed when it was sent; the same request replayed
 * after the tolerance is refused.
 */
function expectSigned(request: ReceivedRequest): void {
  const header = String(request.headers["tus-edge-signature"]);
  expect(header).toMatch(/^t=[0-9]+,v1=[0-9a-f]{64}$/);
  const signedAt = Number(header.slice(2, header.indexOf(",")));
  expect(Math.abs(signedAt - request.receivedAt / 1000), "t is the time the request was sent").toBeLessThan(5);
  expect(hasValidSignature(request, WEBHOOK_SECRET), "v1 is the HMAC-SHA256 of '<t>.<body>'").toBe(true);
  expect(hasValidSignature(request, "some other secret")).toBe(false);
  expect(hasValidSignature(request, WEBHOOK_SECRET, signedAt + SIGNATURE_TOLERANCE_SECONDS + 1), "a replay after the tolerance").toBe(false);
}

interface ExpectedEvent {
  type: EventBody["type"];
  uploadId: string;
  size: number;
  length: number | undefined;
  metadata: Record<string, string>;
  subject: string;
  objectKey?: string;
  after?: number;
}

function expectEvent(delivery: EventDelivery, expected: ExpectedEvent): void {
  expectSignedDelivery(delivery);
  const event = delivery.json;
  expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(event.type).toBe(expected.type);
  const occurredAt = Date.parse(event.occurredAt);
  expect(new Date(occurredAt).toISOString(), "occurredAt is ISO 8601").toBe(event.occurredAt);
  expect(occurredAt).toBeLessThanOrEqual(delivery.receivedAt + 1000);
  if (expected.after !== undefined) expect(occurredAt).toBeGreaterThanOrEqual(expected.after - 1000);
  expect(event.upload.id).toBe(expected.uploadId);
  expect(event.upload.objectKey).toBe(expected.objectKey ?? `uploads/${expected.uploadId}`);
  expect(event.upload.size).toBe(expected.size);
  expect(event.upload.length).toBe(expected.length);
  expect(textOf(event.upload.metadata)).toEqual(expected.metadata);
  expect(event.upload.subject).toBe(expected.subject);
}

/** Per event id: how many deliveries the receiver took (2xx) and how many were attempted. */
function deliveryCounts(deliveries: EventDelivery[]): Map<string, { ok: number; attempts: number; at: number[] }> {
  const counts = new Map<string, { ok: number; attempts: number; at: number[] }>();
  for (const delivery of deliveries) {
    const count = counts.get(delivery.json.id) ?? { ok: 0, attempts: 0, at: [] };
    count.attempts++;
    count.at.push(delivery.receivedAt);
    if (ok(delivery)) count.ok++;
    counts.set(delivery.json.id, count);
  }
  return counts;
}

async function expectStoredAs(url: string, data: Buffer, token: string): Promise<void> {
  const stored = await download(url, { headers: bearer(token) });
  expect(stored.length).toBe(data.length);
  expect(sha256(stored)).toBe(sha256(data));
}

/**
 * Starts a tus-js-client upload and aborts it inside a PATCH: once `afterOffset`
 * bytes are acknowledged and the next PATCH has put `bodyBytes` on its socket.
 * Resolves with the upload URL once aborted; fails if the upload ends first.
 */
function abortMidPatch(
  data: Buffer,
  options: Parameters<typeof startTusUpload>[1],
  afterOffset: number,
  bodyBytes: number,
): { run: TusRun; aborted: Promise<{ url: string; acknowledged: number; sentAtMost: number }> } {
  let poll: ReturnType<typeof setInterval> | undefined;
  let fired = false;
  let onAborted!: (value: { url: string; acknowledged: number; sentAtMost: number }) => void;
  const aborted = new Promise<{ url: string; acknowledged: number; sentAtMost: number }>((resolve) => (onAborted = resolve));
  const run: TusRun = startTusUpload(data, {
    ...options,
    onChunkComplete(_size, accepted) {
      if (poll || accepted < afterOffset) return;
      poll = setInterval(() => {
        const current = run.currentPatch();
        if (fired || !current || current.socketBytes < bodyBytes) return;
        fired = true;
        clearInterval(poll);
        const state = { url: run.upload.url!, acknowledged: run.acceptedOffsets.at(-1) ?? 0, sentAtMost: current.offset + current.socketBytes };
        void run.upload.abort().then(() => onAborted(state));
      }, 1);
    },
  });
  const endedFirst = run.done.then(
    () => {
      throw new Error("the upload finished before it could be aborted");
    },
    (error: unknown) => {
      if (!fired) throw error;
      return new Promise<never>(() => {});
    },
  );
  endedFirst.catch(() => {}).finally(() => clearInterval(poll));
  return { run, aborted: Promise.race([aborted, endedFirst]) };
}

/* ---------- 1. bearer tokens with tus-js-client ---------- */

/** Alice's 24 MiB upload from test 1, for the ownership and event tests. */
const ALICE_METADATA = { filename: "alice-24.bin", filetype: "application/octet-stream", case: "alice-24" };
let aliceUpload: { url: string; data: Buffer; startedAt: number } | undefined;

function requireAliceUpload(): { url: string; data: Buffer; startedAt: number } {
  if (!aliceUpload) throw new Error("this test needs alice's upload from the first test, which failed");
  return aliceUpload;
}

describe("AUTH_MODE=jwt with tus-js-client", () => {
  it("uploads 24 MiB in 5 MiB chunks with a bearer token, is aborted mid-PATCH, resumes from its URL, and downloads with the token", async () => {
    const startedAt = Date.now();
    const data = seededBytes(24 * MiB, "jwt-alice-24");
    const chunkSize = 5 * MiB;
    const common = { chunkSize, headers: asAlice, metadata: ALICE_METADATA };

    const first = abortMidPatch(data, { endpoint: server.endpoint, ...common }, 10 * MiB, 1 * MiB);
    const { url, acknowledged, sentAtMost } = await first.aborted;
    expect(first.run.responses[0]).toBe("POST 201");
    expect(acknowledged).toBeGreaterThanOrEqual(10 * MiB);

    // Without the token the upload does not even answer HEAD.
    const anonymousHead = await head(url);
    expect(anonymousHead.status).toBe(401);
    expect(anonymousHead.headers.get("WWW-Authenticate")).toBe('Bearer realm="tus-edge"');

    const stateResponse = await head(url, asAlice);
    expect(stateResponse.status).toBe(200);
    const offset = Number(stateResponse.headers.get("Upload-Offset"));
    expect(offset).toBeGreaterThanOrEqual(acknowledged);
    expect(offset).toBeLessThanOrEqual(sentAtMost);
    expect(offset).toBeLessThan(data.length);
    expect(stateResponse.headers.get("Upload-Length")).toBe(String(data.length));

    const second = startTusUpload(data, { uploadUrl: url, ...common });
    expect(await second.done).toBe(url);
    expect(second.responses[0], "the resuming client asks HEAD first").toBe("HEAD 200");
    expect(second.patchOffsets[0]).toBe(offset);
    expect(second.responses.filter((response) => response.startsWith("PATCH")).every((response) => response === "PATCH 204")).toBe(true);
    expect(second.acceptedOffsets.at(-1)).toBe(data.length);

    const expected = sha256(data);
    const withHeader = await downloadSha256(url, { headers: asAlice });
    expect(withHeader).toEqual({ sha256: expected, size: data.length });
    const withQuery = await downloadSha256(`${url}?access_token=${encodeURIComponent(ALICE)}`);
    expect(withQuery).toEqual({ sha256: expected, size: data.length });

    const anonymousGet = await send("GET", url);
    expect(anonymousGet.status).toBe(401);
    expect(anonymousGet.headers.get("WWW-Authenticate")).toBe('Bearer realm="tus-edge"');

    aliceUpload = { url, data, startedAt };
  }, 90_000);

  it("refuses a POST without a token (401 with the bare challenge) and with a forged one (invalid_token), before asking the pre-create hook", async () => {
    const proposalsBefore = receiver.proposals().length;
    const headers = { ...TUS, "Upload-Length": "10", "Upload-Metadata": metadataHeader({ case: "unauthenticated" }) };

    const anonymous = await fetch(server.endpoint, { method: "POST", headers });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("WWW-Authenticate")).toBe('Bearer realm="tus-edge"');
    expect(anonymous.headers.get("Location")).toBeNull();
    await anonymous.arrayBuffer();

    const forged = signHs256({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 600 }, "a-different-secret-of-at-least-32-chars!");
    const refused = await fetch(server.endpoint, { method: "POST", headers: { ...headers, ...bearer(forged) } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="tus-edge", error="invalid_token", error_description="[^"]*signature[^"]*"$/);
    await refused.arrayBuffer();

    const expired = tokenFor("alice", { exp: Math.floor(Date.now() / 1000) - 3600 });
    const late = await fetch(server.endpoint, { method: "POST", headers: { ...headers, ...bearer(expired) } });
    expect(late.status).toBe(401);
    expect(late.headers.get("WWW-Authenticate")).toMatch(/error="invalid_token", error_description="[^"]*expired/);
    await late.arrayBuffer();

    // tus-js-client surfaces the 401 and does not retry it.
    const run = startTusUpload(Buffer.from("refused"), { endpoint: server.endpoint, metadata: { case: "unauthenticated" } });
    const error = (await run.done.then(
      () => undefined,
      (reason: unknown) => reason,
    )) as DetailedError | undefined;
    expect(error?.originalResponse?.getStatus()).toBe(401);
    expect(run.responses).toEqual(["POST 401"]);

    expect(receiver.proposals().length, "no refused request reaches the pre-create hook").toBe(proposalsBefore);
  }, 30_000);
});

/* ---------- 2. ownership ---------- */

describe("ownership: another subject's upload does not exist for them", () => {
  it("bob's valid token gets 404 for HEAD, PATCH, GET and DELETE on alice's uploads, exactly as for an unknown upload", async () => {
    const { url: finishedUrl, data: finishedData } = requireAliceUpload();
    const pendingData = seededBytes(2 * MiB, "alice-pending");
    const pendingUrl = await createUpload(server.endpoint, {
      ...asAlice,
      "Upload-Length": String(pendingData.length),
      "Upload-Metadata": metadataHeader({ case: "ownership" }),
    });
    const firstHalf = await patch(pendingUrl, 0, pendingData.subarray(0, MiB), asAlice);
    expect(firstHalf.status).toBe(204);

    /** Everything a client sees of a response, but the Date. */
    const shape = async (response: Response) => ({
      status: response.status,
      body: await response.text(),
      headers: [...response.headers].filter(([name]) => !["date", "content-length"].includes(name)),
    });
    const secondHalf = pendingData.subarray(MiB);
    const requests: Record<string, (url: string, token: string) => Promise<Response>> = {
      HEAD: (url, token) => fetch(url, { method: "HEAD", headers: { ...TUS, ...bearer(token) } }),
      PATCH: (url, token) =>
        fetch(url, { method: "PATCH", headers: { ...TUS, ...OCTETS, ...bearer(token), "Upload-Offset": String(MiB) }, body: secondHalf }),
      GET: (url, token) => fetch(url, { headers: bearer(token) }),
      "GET ?access_token": (url, token) => fetch(`${url}?access_token=${encodeURIComponent(token)}`),
      DELETE: (url, token) => fetch(url, { method: "DELETE", headers: { ...TUS, ...bearer(token) } }),
    };
    for (const [method, request] of Object.entries(requests)) {
      const unknown = await shape(await request(unknownUploadUrl(), BOB));
      expect(unknown.status, `${method} of an unknown upload`).toBe(404);
      for (const target of [pendingUrl, finishedUrl]) {
        const bobs = await shape(await request(target, BOB));
        expect(bobs, `${method} by bob of alice's ${target === pendingUrl ? "unfinished" : "finished"} upload`).toEqual(unknown);
      }
    }

    // Nothing bob did changed alice's uploads.
    const pending = await head(pendingUrl, asAlice);
    expect(pending.status).toBe(200);
    expect(pending.headers.get("Upload-Offset")).toBe(String(MiB));
    const rest = await patch(pendingUrl, MiB, secondHalf, asAlice);
    expect(rest.status).toBe(204);
    expect(rest.headers.get("Upload-Offset")).toBe(String(pendingData.length));
    await expectStoredAs(pendingUrl, pendingData, ALICE);
    const finished = await head(finishedUrl, asAlice);
    expect(finished.status).toBe(200);
    expect(finished.headers.get("Upload-Offset")).toBe(String(finishedData.length));
    const range = await fetch(finishedUrl, { headers: { ...asAlice, Range: "bytes=0-1023" } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(finishedData.subarray(0, 1024))).toBe(true);
  }, 60_000);

  it("bob cannot concatenate alice's partial upload: refused exactly as an unknown partial, and it stays hers", async () => {
    const part = Buffer.from("alice's partial upload");
    const partial = await createUpload(server.endpoint, {
      ...asAlice,
      "Upload-Length": String(part.length),
      "Upload-Concat": "partial",
      "Upload-Metadata": metadataHeader({ case: "ownership" }),
    });
    expect((await patch(partial, 0, part, asAlice)).status).toBe(204);
    const unknown = unknownUploadUrl();
    const final = (token: string, partialUrl: string) =>
      fetch(server.endpoint, {
        method: "POST",
        headers: { ...TUS, ...bearer(token), "Upload-Concat": `final;${new URL(partialUrl).pathname}`, "Upload-Metadata": metadataHeader({ case: "ownership" }) },
      });
    const bobs = await final(BOB, partial);
    const bobsText = await bobs.text();
    const unknowns = await final(BOB, unknown);
    const unknownsText = await unknowns.text();
    expect(unknowns.status).toBe(400);
    expect(bobs.status).toBe(unknowns.status);
    expect(bobsText.replace(uploadIdOf(partial), "<id>")).toBe(unknownsText.replace(uploadIdOf(unknown), "<id>"));
    expect(bobs.headers.get("Location")).toBeNull();

    // Alice can still use it.
    const alices = await final(ALICE, partial);
    await alices.arrayBuffer();
    expect(alices.status).toBe(201);
    const finalUrl = new URL(alices.headers.get("Location")!, server.endpoint).href;
    await pollUntil("assembly of alice's final upload", 15_000, 100, async () => {
      const state = await head(finalUrl, asAlice);
      return state.headers.get("Upload-Offset") === String(part.length) || undefined;
    });
    expect((await download(finalUrl, { headers: asAlice })).equals(part)).toBe(true);
    expect((await head(finalUrl, asBob)).status, "bob cannot see alice's final upload either").toBe(404);
  }, 30_000);
});

/* ---------- 3. webhook events ---------- */

describe("upload events (WEBHOOK_URL, signed with WEBHOOK_SECRET)", () => {
  it("delivers signed created and finished events for alice's upload", async () => {
    const { url, data, startedAt } = requireAliceUpload();
    const id = uploadIdOf(url);
    const created = await waitForEvent(id, "created");
    const finished = await waitForEvent(id, "finished");
    const common = { uploadId: id, length: data.length, metadata: ALICE_METADATA, subject: "alice", after: startedAt };
    expectEvent(created, { ...common, type: "created", size: 0 });
    expectEvent(finished, { ...common, type: "finished", size: data.length });
    expect(created.seq, "created arrives before finished").toBeLessThan(finished.seq);
    expect(Date.parse(created.json.occurredAt)).toBeLessThanOrEqual(Date.parse(finished.json.occurredAt));
    expect(created.json.id).not.toBe(finished.json.id);
    // One upload, two events, each taken once; the aborted PATCH made no event.
    const counts = deliveryCounts(deliveriesFor(id));
    expect([...counts.values()].map((count) => count.ok)).toEqual([1, 1]);
    expect(deliveriesFor(id).map((delivery) => delivery.json.type).sort()).toEqual(["created", "finished"]);
  }, 30_000);

  it("retries an event the receiver fails twice (1 s, then 2 s later) until it is taken, exactly once; the upload is unaffected", async () => {
    const tag = "flaky";
    receiver.failEvents(tag, { firstAttempts: 2 });
    const startedAt = Date.now();
    const data = seededBytes(3 * MiB, "events-flaky");
    const metadata = { case: tag, filename: "flaky.bin" };
    const url = await createUpload(server.endpoint, { ...asAlice, "Upload-Length": String(data.length), "Upload-Metadata": metadataHeader(metadata) });
    const id = uploadIdOf(url);
    for (let offset = 0; offset < data.length; offset += MiB) {
      const response = await patch(url, offset, data.subarray(offset, offset + MiB), asAlice);
      expect(response.status, `PATCH at ${offset} while the webhook fails`).toBe(204);
      expect(response.headers.get("Upload-Offset")).toBe(String(offset + MiB));
    }
    await expectStoredAs(url, data, ALICE);

    const created = await waitForEvent(id, "created", 20_000);
    const finished = await waitForEvent(id, "finished", 20_000);
    const common = { uploadId: id, length: data.length, metadata, subject: "alice", after: startedAt };
    expectEvent(created, { ...common, type: "created", size: 0 });
    expectEvent(finished, { ...common, type: "finished", size: data.length });

    const deliveries = deliveriesFor(id);
    for (const delivery of deliveries) expectSignedDelivery(delivery);
    const counts = deliveryCounts(deliveries);
    expect(counts.size).toBe(2);
    for (const [eventId, count] of counts) {
      expect(count.ok, `2xx deliveries of ${eventId}`).toBe(1);
      expect(count.attempts, `attempts of ${eventId}`).toBeGreaterThanOrEqual(3);
      const attempts = deliveries.filter((delivery) => delivery.json.id === eventId);
      expect(attempts.map((attempt) => attempt.status)).toEqual([500, 500, 204]);
      // Every attempt carries the same body and id, signed anew at its own time.
      expect(new Set(attempts.map((attempt) => attempt.raw.toString("utf8"))).size).toBe(1);
      // Back-off: 1 s after the first failure, 2 s after the second (a little early for network latency).
      const [first, second, third] = count.at as [number, number, number];
      expect(second - first).toBeGreaterThanOrEqual(800);
      expect(third - second).toBeGreaterThanOrEqual(1800);
    }
    receiver.failEvents(tag, undefined);

    // Nothing more arrives for these events once they were taken.
    await sleep(1500);
    expect(deliveriesFor(id).length).toBe(deliveries.length);
  }, 45_000);

  it("sends a terminated event after DELETE, and still delivers the events of an upload that is gone", async () => {
    const tag = "terminate";
    // The created event is refused once: it is retried after the upload is deleted.
    receiver.failEvents(tag, { firstAttempts: 1 });
    const startedAt = Date.now();
    const data = seededBytes(2 * MiB, "events-terminate");
    const metadata = { case: tag };
    const url = await createUpload(server.endpoint, { ...asAlice, "Upload-Length": String(data.length), "Upload-Metadata": metadataHeader(metadata) });
    const id = uploadIdOf(url);
    expect((await patch(url, 0, data.subarray(0, MiB), asAlice)).status).toBe(204);
    const deleted = await send("DELETE", url, { ...TUS, ...asAlice });
    expect(deleted.status).toBe(204);
    expect((await head(url, asAlice)).status).toBe(410);

    const terminated = await waitForEvent(id, "terminated");
    const created = await waitForEvent(id, "created");
    const common = { uploadId: id, length: data.length, metadata, subject: "alice", after: startedAt };
    expectEvent(terminated, { ...common, type: "terminated", size: MiB });
    expectEvent(created, { ...common, type: "created", size: 0 });
    expect(Date.parse(created.json.occurredAt)).toBeLessThanOrEqual(Date.parse(terminated.json.occurredAt));
    expect(deliveriesFor(id).filter(ok).map((delivery) => delivery.json.type).sort()).toEqual(["created", "terminated"]);
    const counts = deliveryCounts(deliveriesFor(id));
    expect(counts.get(created.json.id)).toMatchObject({ ok: 1, attempts: 2 });
    expect(counts.get(terminated.json.id)).toMatchObject({ ok: 1, attempts: 2 });
    receiver.failEvents(tag, undefined);
  }, 30_000);

  it("a receiver that is slow to answer holds up no upload request; its events are delivered once it answers", async () => {
    const tag = "slow-receiver";
    const data = seededBytes(3 * MiB, "events-slow-receiver");
    const metadata = { case: tag };
    let id = "";
    const release = receiver.holdEvents(tag);
    try {
      const url = await createUpload(server.endpoint, { ...asAlice, "Upload-Length": String(data.length), "Upload-Metadata": metadataHeader(metadata) });
      id = uploadIdOf(url);
      // The created event's delivery is in flight, and stays so.
      const held = await pollUntil("the created event's delivery", 10_000, 20, async () =>
        deliveriesFor(id).find((delivery) => delivery.json.type === "created"),
      );
      for (let offset = 0; offset < data.length; offset += MiB) {
        const sentAt = Date.now();
        const response = await patch(url, offset, data.subarray(offset, offset + MiB), asAlice);
        expect(response.status).toBe(204);
        expect(Date.now() - sentAt, `PATCH at ${offset} while a delivery hangs`).toBeLessThan(3000);
      }
      const state = await head(url, asAlice);
      expect(state.headers.get("Upload-Offset")).toBe(String(data.length));
      await expectStoredAs(url, data, ALICE);
      expect(held.answeredAt, "the delivery was still unanswered while the upload went on").toBeUndefined();
    } finally {
      release();
    }
    const created = await waitForEvent(id, "created", 20_000);
    const finished = await waitForEvent(id, "finished", 20_000);
    const common = { uploadId: id, length: data.length, metadata, subject: "alice" };
    expectEvent(created, { ...common, type: "created", size: 0 });
    expectEvent(finished, { ...common, type: "finished", size: data.length });
    for (const [eventId, count] of deliveryCounts(deliveriesFor(id))) expect(count.ok, `2xx deliveries of ${eventId}`).toBe(1);
  }, 45_000);

  it("keeps undelivered events across a server restart and delivers them once the receiver is back", async () => {
    const tag = "outage";
    receiver.failEvents(tag, "always");
    const startedAt = Date.now();
    const data = seededBytes(256 * 1024, "events-outage");
    const metadata = { case: tag };
    // creation-with-upload: the upload is finished by its POST.
    const response = await fetch(server.endpoint, {
      method: "POST",
      headers: { ...TUS, ...OCTETS, ...asAlice, "Upload-Length": String(data.length), "Upload-Metadata": metadataHeader(metadata) },
      body: data,
    });
    await response.arrayBuffer();
    expect(response.status).toBe(201);
    expect(response.headers.get("Upload-Offset")).toBe(String(data.length));
    const url = new URL(response.headers.get("Location")!, server.endpoint).href;
    const id = uploadIdOf(url);

    // The finished event has been tried (and failed) at least once.
    await pollUntil("a failed delivery of the finished event", 15_000, 50, async () =>
      deliveriesFor(id).some((delivery) => delivery.json.type === "finished" && delivery.status === 500) || undefined,
    );
    expect(deliveriesFor(id).filter(ok)).toEqual([]);

    await server.restart();
    const restartedAt = Date.now();
    receiver.failEvents(tag, undefined);

    const finished = await waitForEvent(id, "finished", 30_000);
    expect(finished.receivedAt).toBeGreaterThanOrEqual(restartedAt);
    expectEvent(finished, { type: "finished", uploadId: id, size: data.length, length: data.length, metadata, subject: "alice", after: startedAt });
    const created = await waitForEvent(id, "created", 30_000);
    expectEvent(created, { type: "created", uploadId: id, size: 0, length: data.length, metadata, subject: "alice", after: startedAt });
    for (const count of deliveryCounts(deliveriesFor(id)).values()) expect(count.ok).toBe(1);
    // The upload outlived the restart too.
    await expectStoredAs(url, data, ALICE);
  }, 60_000);
});

/* ---------- 4. pre-create hook ---------- */

describe("pre-create hook (PRE_CREATE_HOOK_URL)", () => {
  it("is asked about every upload: kind, length, metadata as text, subject", async () => {
    const tag = "proposal";
    const metadata = { case: tag, filename: "résumé ✓.pdf", empty: "" };
    const url = await createUpload(server.endpoint, { ...asAlice, "Upload-Length": "10", "Upload-Metadata": metadataHeader(metadata) });
    await createUpload(server.endpoint, { ...asBob, "Upload-Defer-Length": "1", "Upload-Metadata": metadataHeader({ case: tag }) });
    await createUpload(server.endpoint, { ...asBob, "Upload-Length": "5", "Upload-Concat": "partial", "Upload-Metadata": metadataHeader({ case: tag }) });

    const proposals = receiver.proposals(tag);
    // Signed like event deliveries, so the hook knows the question is the gateway's.
    for (const proposal of proposals) expectSigned(proposal);
    expect(proposals.map((request) => request.json as Proposal)).toEqual([
      { kind: "upload", length: 10, metadata, subject: "alice" },
      { kind: "upload", metadata: { case: tag }, subject: "bob" },
      { kind: "partial", length: 5, metadata: { case: tag }, subject: "bob" },
    ]);
    for (const request of proposals) {
      expect(request.method).toBe("POST");
      expect(request.headers["content-type"]).toMatch(/^application\/json/);
    }
    // Accepted as it was: HEAD echoes the client's metadata.
    const state = await head(url, asAlice);
    expect(state.status).toBe(200);
    expect(parseMetadata(state.headers.get("Upload-Metadata"))).toEqual(metadata);
  }, 30_000);

  it("passes a rejection to the client: 403 with the hook's message, and no upload is created", async () => {
    const tag = "no-videos";
    receiver.onPreCreate(tag, (proposal) =>
      proposal.metadata.filetype?.startsWith("video/") ? { json: { reject: { status: 403, message: "no videos today" } } } : {},
    );
    const rejected = await fetch(server.endpoint, {
      method: "POST",
      headers: { ...TUS, ...asAlice, "Upload-Length": "100", "Upload-Metadata": metadataHeader({ case: tag, filetype: "video/mp4" }) },
    });
    expect(rejected.status).toBe(403);
    expect((await rejected.text()).trim()).toBe("no videos today");
    expect(rejected.headers.get("Location")).toBeNull();

    // tus-js-client gets the same, and does not retry a 4xx.
    const run = startTusUpload(seededBytes(1000, "rejected"), {
      endpoint: server.endpoint,
      headers: asAlice,
      metadata: { case: tag, filetype: "video/mp4", filename: "clip.mp4" },
    });
    const error = (await run.done.then(
      () => undefined,
      (reason: unknown) => reason,
    )) as DetailedError | undefined;
    expect(error, "tus-js-client must fail").toBeDefined();
    expect(error!.originalResponse?.getStatus()).toBe(403);
    expect(error!.originalResponse?.getBody()).toContain("no videos today");
    expect(run.responses).toEqual(["POST 403"]);

    // The hook decides per upload: the same tag with another type is accepted.
    const accepted = await createUpload(server.endpoint, {
      ...asAlice,
      "Upload-Length": "0",
      "Upload-Metadata": metadataHeader({ case: tag, filetype: "image/png" }),
    });
    expect(receiver.proposals(tag).length).toBe(3);
    // Events of this tag: only those of the accepted upload.
    const acceptedId = uploadIdOf(accepted);
    await waitForEvent(acceptedId, "finished");
    await sleep(500);
    expect(new Set(receiver.events(tag).map((delivery) => delivery.json.upload.id))).toEqual(new Set([acceptedId]));
    receiver.onPreCreate(tag, undefined);
  }, 30_000);

  it("passes another 4xx status through, and answers 503 (Retry-After) when the hook fails or answers nonsense", async () => {
    const post = async (tag: string) => {
      const response = await fetch(server.endpoint, {
        method: "POST",
        headers: { ...TUS, ...asAlice, "Upload-Length": "100", "Upload-Metadata": metadataHeader({ case: tag }) },
      });
      return { status: response.status, retryAfter: response.headers.get("Retry-After"), text: (await response.text()).trim() };
    };
    receiver.onPreCreate("legal", () => ({ json: { reject: { status: 451, message: "not here" } } }));
    expect(await post("legal")).toMatchObject({ status: 451, text: "not here" });

    receiver.onPreCreate("hook-down", () => ({ status: 500, text: "hook crashed" }));
    expect(await post("hook-down")).toMatchObject({ status: 503, retryAfter: "1" });

    receiver.onPreCreate("hook-nonsense", () => ({ text: "<html>not json</html>" }));
    expect(await post("hook-nonsense")).toMatchObject({ status: 503, retryAfter: "1" });

    receiver.onPreCreate("hook-malformed", () => ({ json: { metadata: { size: 12 } } }));
    expect(await post("hook-malformed")).toMatchObject({ status: 503, retryAfter: "1" });

    // A hook that does not answer in time (5 s) does not hang the client.
    receiver.onPreCreate("hook-slow", () => ({ json: {}, delayMs: 6500 }));
    const sentAt = Date.now();
    expect(await post("hook-slow")).toMatchObject({ status: 503, retryAfter: "1" });
    expect(Date.now() - sentAt).toBeLessThan(6500);

    for (const tag of ["legal", "hook-down", "hook-nonsense", "hook-malformed", "hook-slow"]) receiver.onPreCreate(tag, undefined);
    // None of them created an upload: no event carries these tags.
    await sleep(300);
    for (const tag of ["legal", "hook-down", "hook-nonsense", "hook-malformed", "hook-slow"]) expect(receiver.events(tag)).toEqual([]);
  }, 30_000);

  it("replaces the metadata when the hook answers with other metadata: HEAD, the download and the events show the hook's", async () => {
    const tag = "rewrite";
    const hookMetadata = { case: tag, filename: "renamed.txt", filetype: "text/plain", note: "café ✓" };
    receiver.onPreCreate(tag, () => ({ json: { metadata: hookMetadata } }));
    const data = Buffer.from("hello from a rewritten upload\n".repeat(100));
    const response = await fetch(server.endpoint, {
      method: "POST",
      headers: {
        ...TUS,
        ...OCTETS,
        ...asAlice,
        "Upload-Length": String(data.length),
        "Upload-Metadata": metadataHeader({ case: tag, filename: "original.bin", filetype: "application/octet-stream", secret: "drop me" }),
      },
      body: data,
    });
    await response.arrayBuffer();
    expect(response.status).toBe(201);
    const url = new URL(response.headers.get("Location")!, server.endpoint).href;

    const state = await head(url, asAlice);
    expect(state.status).toBe(200);
    expect(parseMetadata(state.headers.get("Upload-Metadata"))).toEqual(hookMetadata);

    const download = await fetch(url, { headers: asAlice });
    expect(download.status).toBe(200);
    expect(download.headers.get("Content-Type")).toBe("text/plain");
    expect(download.headers.get("Content-Disposition")).toContain('filename="renamed.txt"');
    expect(Buffer.from(await download.arrayBuffer()).equals(data)).toBe(true);

    const finished = await waitForEvent(uploadIdOf(url), "finished");
    expect(textOf(finished.json.upload.metadata)).toEqual(hookMetadata);
    receiver.onPreCreate(tag, undefined);
  }, 30_000);

  it("treats metadata keys that Upload-Metadata cannot carry as a malformed answer (503), never storing them", async () => {
    // tus 1.0.0: "The key MUST NOT contain spaces and commas and MUST NOT be empty. The key SHOULD be ASCII
    // encoded" — the gateway refuses such keys from clients (400), and a hook's answer that is malformed
    // is answered 503 like the other malformed answers above. Stored, such a key breaks every later HEAD:
    // a control character makes it 500 (the Headers constructor throws), the others make Upload-Metadata
    // unparseable.
    const badKeys = { space: "bad key", comma: "a,b", empty: "", newline: "a\nb", "non-ascii": "ключ" };
    for (const [name, key] of Object.entries(badKeys)) {
      const tag = `bad-key-${name}`;
      receiver.onPreCreate(tag, () => ({ json: { metadata: { case: tag, [key]: "x" } } }));
      const created = await fetch(server.endpoint, {
        method: "POST",
        headers: { ...TUS, ...asAlice, "Upload-Length": "5", "Upload-Metadata": metadataHeader({ case: tag }) },
      });
      await created.arrayBuffer();
      receiver.onPreCreate(tag, undefined);
      expect.soft(created.status, `POST answered with a hook key ${JSON.stringify(key)}`).toBe(503);
      if (created.status !== 201) continue;
      // Whatever the POST said, the upload it made must stay usable.
      const url = new URL(created.headers.get("Location")!, server.endpoint).href;
      const state = await head(url, asAlice);
      expect.soft(state.status, `HEAD of the upload whose hook added the key ${JSON.stringify(key)}`).toBe(200);
      const metadata = state.headers.get("Upload-Metadata") ?? "";
      expect.soft(metadata, `Upload-Metadata with the hook key ${JSON.stringify(key)}`).toMatch(/^[\x21-\x2b\x2d-\x7e]+ [A-Za-z0-9+/=]*(,[\x21-\x2b\x2d-\x7e]+ [A-Za-z0-9+/=]*)*$/);
    }
  }, 30_000);

  it("holds the hook's metadata to the server's size and key-count limits: past them, 503 and no upload", async () => {
    const cases = {
      "hook-too-large": { value: "x".repeat(5000) },
      "hook-too-many-keys": Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "v"])),
    };
    for (const [tag, extra] of Object.entries(cases)) {
      receiver.onPreCreate(tag, () => ({ json: { metadata: { case: tag, ...extra } } }));
      const response = await fetch(server.endpoint, {
        method: "POST",
        headers: { ...TUS, ...asAlice, "Upload-Length": "5", "Upload-Metadata": metadataHeader({ case: tag }) },
      });
      const text = await response.text();
      receiver.onPreCreate(tag, undefined);
      expect(response.status, text).toBe(503);
      expect(response.headers.get("Retry-After")).toBe("1");
      expect(text).toMatch(/pre-create hook answered metadata over this server's limits/);
      expect(response.headers.get("Location")).toBeNull();
    }
    await sleep(300);
    for (const tag of Object.keys(cases)) expect(receiver.events(tag)).toEqual([]);
  }, 30_000);

  it("places the object under uploads/<the hook's key>, within the prefix, and never overwrites it", async () => {
    const tag = "keyed";
    receiver.onPreCreate(tag, (proposal) => ({ json: { objectKey: proposal.metadata.key } }));
    const data = seededBytes(9 * MiB, "hook-object-key");
    const metadata = { case: tag, key: "clips/2026/clip.bin", filename: "clip-original.bin" };
    const run = startTusUpload(data, { endpoint: server.endpoint, chunkSize: 4 * MiB, headers: asAlice, metadata });
    const url = await run.done;
    const id = uploadIdOf(url);

    const downloaded = await fetch(url, { headers: asAlice });
    expect(downloaded.status).toBe(200);
    // The download's name comes from the metadata, the key from the hook.
    expect(downloaded.headers.get("Content-Disposition")).toContain('filename="clip-original.bin"');
    expect(sha256(Buffer.from(await downloaded.arrayBuffer()))).toBe(sha256(data));
    const finished = await waitForEvent(id, "finished");
    expectEvent(finished, { type: "finished", uploadId: id, size: data.length, length: data.length, metadata, subject: "alice", objectKey: "uploads/clips/2026/clip.bin" });

    // The key is taken now: a second upload to it is refused (OVERWRITE_OBJECTS is off).
    const again = await fetch(server.endpoint, {
      method: "POST",
      headers: { ...TUS, ...asBob, "Upload-Length": "10", "Upload-Metadata": metadataHeader({ case: tag, key: "clips/2026/clip.bin" }) },
    });
    expect(again.status).toBe(409);
    await again.arrayBuffer();
    await expectStoredAs(url, data, ALICE);

    // Two uploads given one key while the key is free: the first to finish takes it,
    // the other's last PATCH is refused (409) instead of replacing the object.
    const raceKey = "clips/race.bin";
    const bobsData = seededBytes(100 * 1024, "hook-key-race-bob");
    const alicesData = seededBytes(100 * 1024, "hook-key-race-alice");
    const raceHeaders = (length: number) => ({ "Upload-Length": String(length), "Upload-Metadata": metadataHeader({ case: tag, key: raceKey }) });
    const alices = await createUpload(server.endpoint, { ...asAlice, ...raceHeaders(alicesData.length) });
    const bobs = await createUpload(server.endpoint, { ...asBob, ...raceHeaders(bobsData.length) });
    expect((await patch(bobs, 0, bobsData, asBob)).status).toBe(204);
    const refused = await fetch(alices, {
      method: "PATCH",
      headers: { ...TUS, ...OCTETS, ...asAlice, "Upload-Offset": "0" },
      body: alicesData,
    });
    expect(refused.status, "the second upload to finish at a taken key").toBe(409);
    // The key is not told to the client (it may name another subject's file); the log names it.
    const refusal = await refused.text();
    expect(refusal).toMatch(/another object was stored at this upload's key/);
    expect(refusal).not.toContain(raceKey);
    await expectStoredAs(bobs, bobsData, BOB);
    const bobsFinished = await waitForEvent(uploadIdOf(bobs), "finished");
    expect(bobsFinished.json.upload.objectKey).toBe(`uploads/${raceKey}`);
    expect((await send("GET", alices, asAlice)).status, "alice's upload never finished").toBe(409);

    // A hook's key cannot leave the prefix, and lands below the token's key_prefix.
    const emptyUpload = async (token: string, key: string) => {
      const created = await createUpload(server.endpoint, { ...bearer(token), "Upload-Length": "0", "Upload-Metadata": metadataHeader({ case: tag, key }) });
      return (await waitForEvent(uploadIdOf(created), "finished")).json.upload.objectKey;
    };
    expect(await emptyUpload(ALICE, "../../etc/passwd")).toBe("uploads/_/_/etc/passwd");
    expect(await emptyUpload(tokenFor("carol", { key_prefix: "tenant-c" }), "x/y.bin")).toBe("uploads/tenant-c/x/y.bin");
    receiver.onPreCreate(tag, undefined);
  }, 45_000);
});

/* ---------- the whole run ---------- */

describe("event bookkeeping over the whole file", () => {
  it("every delivery was signed, and no event was taken twice", () => {
    const deliveries = receiver.events();
    expect(deliveries.length).toBeGreaterThan(0);
    for (const delivery of deliveries) expectSignedDelivery(delivery);
    for (const [id, count] of deliveryCounts(deliveries)) expect(count.ok, `2xx deliveries of event ${id}`).toBeLessThanOrEqual(1);
    // Every event's tag is one this file used.
    for (const delivery of deliveries) expect(eventTag(delivery.json)).toBeDefined();
  }, 10_000);
});
