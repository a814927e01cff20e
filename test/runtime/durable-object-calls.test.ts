/**
 * Every client request crosses into its upload's Durable Object once (a
 * final POST of a concatenation twice: the pre-create hook, which runs in
 * the Worker, must learn the final's length between the two). In production
 * the object lives where the upload was created and the Worker where the
 * client is now, so each extra call is a wide-area round trip, and the
 * steps between two calls would not be atomic. Counted here on the Worker's
 * side: every stub call (RPC method or fetch) the gateway makes for one
 * request, with the real Durable Objects behind them.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createTusGateway, type GatewayEnv } from "../../src/gateway";
import { COLLECTION, MiB, OCTET, randomBytes, TUS } from "./helpers";

const gateway = createTusGateway();

/** The gateway's env with a namespace whose stubs count the calls made through them. */
function countingEnv(): { env: GatewayEnv; calls: string[] } {
  const calls: string[] = [];
  const namespace = env.UPLOADS as unknown as DurableObjectNamespace;
  const counting = new Proxy(namespace, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property !== "get" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
      return (id: DurableObjectId) => {
        const stub = target.get(id);
        return new Proxy(stub, {
          get(stubTarget, method) {
            const member = Reflect.get(stubTarget, method) as unknown;
            if (typeof member !== "function") return member;
            return (...args: unknown[]) => {
              calls.push(String(method));
              // Reflect.apply: an RPC stub takes `.apply` for a method of the object.
              return Reflect.apply(member as (...args: unknown[]) => unknown, stubTarget, args);
            };
          },
        });
      };
    },
  });
  return { env: { ...(env as unknown as GatewayEnv), UPLOADS: counting }, calls };
}

/** Sends one request through the gateway; the response (its body read) and the Durable Object calls it took. */
async function counted(url: string, init: RequestInit): Promise<{ response: Response; body: string; calls: string[] }> {
  const { env: countingGatewayEnv, calls } = countingEnv();
  const response = await gateway.fetch(new Request(url, init), countingGatewayEnv);
  const body = await response.text();
  return { response, body, calls };
}

const IETF = { "Upload-Draft-Interop-Version": "9" };
const PARTIAL_UPLOAD = { "Content-Type": "application/partial-upload" };

describe("Durable Object calls per client request", () => {
  it("an IETF creation with its whole body (?1), and one with first bytes (?0), make one call each", async () => {
    const whole = await counted(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?1" }, body: randomBytes(11 * MiB, 1) });
    expect(whole.response.status, whole.body).toBe(201);
    expect(whole.calls).toEqual(["fetch"]);
    const first = await counted(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?0", "Upload-Length": "2000" }, body: randomBytes(1000, 2) });
    expect(first.response.status, first.body).toBe(201);
    expect(first.calls).toEqual(["fetch"]);
  });

  it("IETF appends make one call each: ?0, the completing ?1, a chunked ?1 of unknown length, a replay, and one past the length", async () => {
    const created = await counted(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?0" } });
    const url = created.response.headers.get("Location")!;
    const appendAt = (offset: number, complete: boolean, body: BodyInit | null) =>
      counted(url, { method: "PATCH", headers: { ...IETF, ...PARTIAL_UPLOAD, "Upload-Offset": String(offset), "Upload-Complete": complete ? "?1" : "?0" }, body });
    const open = await appendAt(0, false, randomBytes(1000, 3));
    expect(open.response.status, open.body).toBe(204);
    expect(open.calls).toEqual(["fetch"]);
    // Chunked: the length is learnt only where the body ends, and the upload completed there.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(randomBytes(500, 4));
        controller.close();
      },
    });
    const completing = await appendAt(1000, true, chunked);
    expect(completing.response.status, completing.body).toBe(200);
    expect(completing.calls).toEqual(["fetch"]);
    const replay = await appendAt(1500, true, null);
    expect(replay.response.status, replay.body).toBe(200);
    expect(replay.calls).toEqual(["fetch"]);

    const bounded = (await counted(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?0", "Upload-Length": "10" } })).response.headers.get("Location")!;
    const past = await counted(bounded, { method: "PATCH", headers: { ...IETF, ...PARTIAL_UPLOAD, "Upload-Offset": "0", "Upload-Complete": "?0" }, body: randomBytes(20, 5) });
    expect(past.response.status, past.body).toBe(400);
    expect(past.calls).toEqual(["fetch"]);
  });

  it("an IETF GET of an unfinished upload (offset retrieval) and of a finished one make one call each", async () => {
    const created = await counted(COLLECTION, { method: "POST", headers: { ...IETF, "Upload-Complete": "?0", "Upload-Length": "10" }, body: randomBytes(4, 6) });
    const url = created.response.headers.get("Location")!;
    const unfinished = await counted(url, { headers: IETF });
    expect(unfinished.response.status).toBe(204);
    expect(unfinished.calls).toEqual(["info"]);
    await counted(url, { method: "PATCH", headers: { ...IETF, ...PARTIAL_UPLOAD, "Upload-Offset": "4", "Upload-Complete": "?1" }, body: randomBytes(6, 7) });
    const finished = await counted(url, { headers: IETF });
    expect(finished.response.status).toBe(200);
    expect(finished.calls).toEqual(["info"]);
  });

  it("tus requests make one call each: POST with a body, PATCH, HEAD, GET, DELETE", async () => {
    const post = await counted(COLLECTION, {
      method: "POST",
      headers: { ...TUS, "Upload-Length": "2000", "Content-Type": OCTET },
      body: randomBytes(1000, 8),
    });
    expect(post.response.status, post.body).toBe(201);
    expect(post.calls).toEqual(["fetch"]);
    const url = post.response.headers.get("Location")!;
    const patch = await counted(url, { method: "PATCH", headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "1000" }, body: randomBytes(1000, 9) });
    expect(patch.response.status, patch.body).toBe(204);
    for (const [method, status] of [
      ["HEAD", 200],
      ["GET", 200],
      ["DELETE", 204],
    ] as const) {
      const response = await counted(url, { method, headers: TUS });
      expect(response.response.status, `${method}: ${response.body}`).toBe(status);
      expect(response.calls, method).toHaveLength(1);
    }
    expect(patch.calls).toEqual(["fetch"]);
  });

  it("a final POST (concatenation) makes two calls to the final's object, whatever the number of partials", async () => {
    const partials: string[] = [];
    for (let index = 0; index < 3; index++) {
      const partial = await counted(COLLECTION, {
        method: "POST",
        headers: { ...TUS, "Upload-Length": "100", "Upload-Concat": "partial", "Content-Type": OCTET },
        body: randomBytes(100, 10 + index),
      });
      partials.push(new URL(partial.response.headers.get("Location")!).pathname);
    }
    const final = await counted(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Concat": `final;${partials.join(" ")}` } });
    expect(final.response.status, final.body).toBe(201);
    expect(final.calls).toEqual(["planFinal", "createFinal"]);
  });
});
