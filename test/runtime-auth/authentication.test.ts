/**
 * Authentication (AUTH_MODE=jwt): every method but OPTIONS needs a bearer
 * JWT, checked in the Worker before any Durable Object is asked. A request
 * without credentials gets the bare challenge (RFC 6750 §3: "SHOULD NOT
 * include an error code"); a request with a token the gateway refuses gets
 * `error="invalid_token"` and a description that says what was wrong.
 *
 * The table below crosses every method (POST on the collection; HEAD,
 * PATCH, DELETE and GET on an upload of subject "alice") with every kind of
 * refused credential.
 */
import { env, listDurableObjectIds } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  bodyText,
  COLLECTION,
  expectDownloadEquals,
  expectNoServerErrors,
  OCTET,
  patch,
  randomBytes,
  send,
  TUS,
} from "../runtime/helpers";
import { createAs, downloadAs, FILETYPE, metadataHeader, TIMEOUT, uploadAs } from "./helpers";
import {
  algorithmConfusionToken,
  bearer,
  claimsFor,
  nowSeconds,
  LEEWAY_SECONDS,
  signToken,
  tokenFor,
  unsecuredToken,
  type SigningAlgorithm,
} from "./tokens";

const CHALLENGE = 'Bearer realm="tus-edge"';
const INVALID_TOKEN_CHALLENGE = /^Bearer realm="tus-edge", error="invalid_token", error_description="([^"]+)"$/;

afterEach(() => expectNoServerErrors());

/** Where each method is sent: alice's unfinished upload (4 of 10 bytes) and her finished one. */
interface Targets {
  pending: string;
  finished: string;
  finishedData: Uint8Array;
}

interface MethodCase {
  method: "POST" | "HEAD" | "PATCH" | "DELETE" | "GET";
  /** Sends the method with `auth` headers, to `query` appended to its URL. */
  send(targets: Targets, auth: Record<string, string>, query?: string): Promise<Response>;
}

const METHODS: MethodCase[] = [
  {
    method: "POST",
    send: (_targets, auth, query = "") =>
      send(COLLECTION + query, {
        method: "POST",
        headers: { ...TUS, "Upload-Length": "5", "Upload-Metadata": metadataHeader({ filetype: FILETYPE }), ...auth },
      }),
  },
  { method: "HEAD", send: (targets, auth, query = "") => send(targets.pending + query, { method: "HEAD", headers: { ...TUS, ...auth } }) },
  {
    method: "PATCH",
    send: (targets, auth, query = "") =>
      send(targets.pending + query, {
        method: "PATCH",
        headers: { ...TUS, "Content-Type": OCTET, "Upload-Offset": "4", ...auth },
        body: randomBytes(6, 7),
      }),
  },
  { method: "DELETE", send: (targets, auth, query = "") => send(targets.pending + query, { method: "DELETE", headers: { ...TUS, ...auth } }) },
  { method: "GET", send: (targets, auth, query = "") => send(targets.finished + query, { headers: auth }) },
];

type Refusal = { kind: "challenge" } | { kind: "invalid_token"; description: RegExp };

interface CredentialCase {
  /** Completes "<METHOD> with …". */
  name: string;
  /** The Authorization header to send, or undefined for none. */
  authorization(): Promise<string | undefined>;
  refusal: Refusal;
}

const CREDENTIALS: CredentialCase[] = [
  { name: "no Authorization header", authorization: async () => undefined, refusal: { kind: "challenge" } },
  {
    // RFC 6750 §3: a request "using an unsupported authentication scheme" lacks authentication information.
    name: "Basic credentials instead of a bearer token",
    authorization: async () => `Basic ${btoa("alice:secret")}`,
    refusal: { kind: "challenge" },
  },
  {
    name: "a bearer token that is not a JWT",
    authorization: async () => "Bearer not-a-jwt",
    refusal: { kind: "invalid_token", description: /not a JWT/ },
  },
  {
    name: "a JWT whose header is not JSON",
    authorization: async () => `Bearer bm90IGpzb24.${(await tokenFor("alice")).split(".").slice(1).join(".")}`,
    refusal: { kind: "invalid_token", description: /header is not a JSON object/ },
  },
  {
    // Not `Bearer <token>` syntax: the client did try bearer authentication, so it must learn its header is malformed.
    name: "a malformed Authorization header (two tokens after Bearer)",
    authorization: async () => `Bearer ${await tokenFor("alice")} ${await tokenFor("alice")}`,
    refusal: { kind: "invalid_token", description: /Authorization|Bearer/ },
  },
  {
    name: "a token signed with another secret",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice"), { hmacSecret: "another-secret-of-at-least-thirty-two-characters" })}`,
    refusal: { kind: "invalid_token", description: /signature is invalid/ },
  },
  {
    name: "a token that expired beyond the 30 s leeway",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice", { exp: nowSeconds() - LEEWAY_SECONDS - 30 }))}`,
    refusal: { kind: "invalid_token", description: /expired/ },
  },
  {
    name: "a token that is not valid yet (nbf two minutes ahead)",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice", { nbf: nowSeconds() + 120 }))}`,
    refusal: { kind: "invalid_token", description: /not valid yet/ },
  },
  {
    name: "a token for another audience",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice", { aud: "another-service" }))}`,
    refusal: { kind: "invalid_token", description: /audience must include ['"]tus-edge-tests['"]/ },
  },
  {
    name: "a token without an audience",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice", { aud: undefined }))}`,
    refusal: { kind: "invalid_token", description: /audience must include/ },
  },
  {
    name: "a token from another issuer",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice", { iss: "https://elsewhere.test" }))}`,
    refusal: { kind: "invalid_token", description: /issuer must be ['"]https:\/\/issuer\.test['"]/ },
  },
  {
    name: "a token without a subject",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice", { sub: undefined }))}`,
    refusal: { kind: "invalid_token", description: /no subject/ },
  },
  {
    name: "an unsecured token (alg none)",
    authorization: async () => `Bearer ${unsecuredToken(claimsFor("alice"))}`,
    refusal: { kind: "invalid_token", description: /no key accepts .*['"]none['"]/ },
  },
  {
    name: "an HS256 token whose header says RS256 (algorithm confusion)",
    authorization: async () => `Bearer ${await algorithmConfusionToken(claimsFor("alice"))}`,
    refusal: { kind: "invalid_token", description: /signature is invalid/ },
  },
  {
    name: "an RS256 token naming a key the JWKS does not have",
    authorization: async () => `Bearer ${await signToken(claimsFor("alice"), { algorithm: "RS256", header: { kid: "retired-key" } })}`,
    refusal: { kind: "invalid_token", description: /no key accepts .*retired-key/ },
  },
];

/** Asserts a 401 of the expected kind; for invalid_token, the description is also the body's message. */
async function expectRefused(response: Response, method: string, refusal: Refusal): Promise<void> {
  const body = await bodyText(response);
  expect(response.status, body).toBe(401);
  const challenge = response.headers.get("WWW-Authenticate") ?? "";
  if (refusal.kind === "challenge") {
    expect(challenge).toBe(CHALLENGE);
    if (method !== "HEAD") expect(body).toMatch(/bearer token/);
    return;
  }
  const description = challenge.match(INVALID_TOKEN_CHALLENGE)?.[1];
  expect(description, `WWW-Authenticate: ${challenge}`).toMatch(refusal.description);
  if (method === "HEAD") expect(body).toBe("");
  else expect(body).toMatch(refusal.description);
}

describe("refused credentials", () => {
  let targets: Targets;
  let objectsBefore: number;

  beforeAll(async () => {
    const alice = await tokenFor("alice");
    const pending = await createAs(alice, { length: 10, metadata: { filename: "pending.bin" } });
    const response = await patch(pending.url, 0, randomBytes(4, 3), bearer(alice));
    expect(response.status, await bodyText(response)).toBe(204);
    const finishedData = randomBytes(5, 4);
    const finished = await uploadAs(alice, finishedData, { metadata: { filename: "finished.bin" } });
    targets = { pending: pending.url, finished: finished.url, finishedData };
    objectsBefore = (await listDurableObjectIds(env.UPLOADS)).length;
  }, TIMEOUT);

  for (const { method, send: sendMethod } of METHODS) {
    describe(method, () => {
      for (const credential of CREDENTIALS) {
        const expected = credential.refusal.kind === "challenge" ? "401 with the bare challenge" : "401 invalid_token saying what was wrong";
        it(`${method} with ${credential.name} is answered ${expected}`, { timeout: TIMEOUT }, async () => {
          const authorization = await credential.authorization();
          const response = await sendMethod(targets, authorization === undefined ? {} : { Authorization: authorization });
          await expectRefused(response, method, credential.refusal);
        });
      }
    });
  }

  it("refused requests woke no Durable Object and changed nothing", { timeout: TIMEOUT }, async () => {
    expect((await listDurableObjectIds(env.UPLOADS)).length).toBe(objectsBefore);
    const alice = await tokenFor("alice");
    const head = await send(targets.pending, { method: "HEAD", headers: { ...TUS, ...bearer(alice) } });
    expect(head.status).toBe(200);
    expect(head.headers.get("Upload-Offset")).toBe("4");
    const { response, bytes } = await downloadAs(alice, targets.finished);
    expect(response.status).toBe(200);
    expect(bytes).toEqual(targets.finishedData);
  });
});

describe("valid tokens", () => {
  const ALGORITHMS: SigningAlgorithm[] = ["HS256", "RS256", "ES256"];

  for (const algorithm of ALGORITHMS) {
    it(`an ${algorithm} token is accepted for POST, HEAD, PATCH, GET and DELETE`, { timeout: TIMEOUT }, async () => {
      const token = await tokenFor("alice", {}, algorithm);
      const auth = bearer(token);
      const data = randomBytes(1000, algorithm.charCodeAt(0));
      const { url } = await createAs(token, { length: data.length, metadata: { filename: `${algorithm}.bin` } });
      const head = await send(url, { method: "HEAD", headers: { ...TUS, ...auth } });
      expect(head.status).toBe(200);
      expect(head.headers.get("Upload-Offset")).toBe("0");
      const patched = await patch(url, 0, data, auth);
      expect(patched.status, await bodyText(patched)).toBe(204);
      const { response, bytes } = await downloadAs(token, url);
      expect(response.status).toBe(200);
      expect(bytes).toEqual(data);
      const deleted = await send(url, { method: "DELETE", headers: { ...TUS, ...auth } });
      expect(deleted.status, await bodyText(deleted)).toBe(204);
      expect((await send(url, { method: "HEAD", headers: { ...TUS, ...auth } })).status).toBe(410);
    });
  }

  const ACCEPTED: Array<{ name: string; extra: () => Record<string, unknown> }> = [
    { name: "a token that expired 10 s ago (within the 30 s leeway for clock differences)", extra: () => ({ exp: nowSeconds() - 10 }) },
    { name: "a token whose nbf is 10 s ahead (within the leeway)", extra: () => ({ nbf: nowSeconds() + 10 }) },
    { name: "a token whose aud is a list that includes the gateway's audience", extra: () => ({ aud: ["other", "tus-edge-tests"] }) },
  ];
  for (const { name, extra } of ACCEPTED) {
    it(`${name} is accepted`, { timeout: TIMEOUT }, async () => {
      const token = await signToken(claimsFor("alice", extra()));
      await createAs(token, { length: 1 });
    });
  }
});

describe("OPTIONS and CORS preflights", () => {
  it("OPTIONS on the collection and on an upload URL needs no token", { timeout: TIMEOUT }, async () => {
    const { url } = await createAs(await tokenFor("alice"), { length: 1 });
    for (const target of [COLLECTION, url]) {
      const response = await send(target, { method: "OPTIONS" });
      expect(response.status, target).toBe(200);
      expect(response.headers.get("Tus-Version")).toBe("1.0.0");
      expect(response.headers.get("WWW-Authenticate")).toBeNull();
    }
  });

  it("OPTIONS with a refused token is still answered: OPTIONS is never authenticated", { timeout: TIMEOUT }, async () => {
    const response = await send(COLLECTION, { method: "OPTIONS", headers: { Authorization: "Bearer not-a-jwt" } });
    expect(response.status).toBe(200);
  });

  it("a CORS preflight needs no token and allows the Authorization header", { timeout: TIMEOUT }, async () => {
    const response = await send(COLLECTION, {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, tus-resumable, upload-length, upload-metadata",
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(response.headers.get("Access-Control-Allow-Methods")).toContain("POST");
    expect(response.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("authorization");
  });

  it("a refused cross-origin request still carries CORS headers, so the page can read why", { timeout: TIMEOUT }, async () => {
    const response = await send(COLLECTION, { method: "POST", headers: { ...TUS, Origin: "https://app.example", "Upload-Length": "1" } });
    await expectRefused(response, "POST", { kind: "challenge" });
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("*");
  });
});

describe("?access_token= (RFC 6750 §2.3)", () => {
  let targets: Targets;

  beforeAll(async () => {
    const alice = await tokenFor("alice");
    const pending = await createAs(alice, { length: 10 });
    const finishedData = randomBytes(12, 9);
    const finished = await uploadAs(alice, finishedData, { metadata: { filename: "link.bin" } });
    targets = { pending: pending.url, finished: finished.url, finishedData };
  }, TIMEOUT);

  it("GET accepts the token in ?access_token=, so a plain download link works", { timeout: TIMEOUT }, async () => {
    const token = await tokenFor("alice");
    await expectDownloadEquals(`${targets.finished}?access_token=${token}`, targets.finishedData);
  });

  it("GET refuses an expired ?access_token= with invalid_token", { timeout: TIMEOUT }, async () => {
    const expired = await signToken(claimsFor("alice", { exp: nowSeconds() - 3600 }));
    const response = await send(`${targets.finished}?access_token=${expired}`);
    await expectRefused(response, "GET", { kind: "invalid_token", description: /expired/ });
  });

  for (const { method, send: sendMethod } of METHODS.filter(({ method }) => method !== "GET")) {
    it(`${method} does not accept ?access_token=: only GET does`, { timeout: TIMEOUT }, async () => {
      const token = await tokenFor("alice");
      const response = await sendMethod(targets, {}, `?access_token=${token}`);
      await expectRefused(response, method, { kind: "challenge" });
    });
  }
});
