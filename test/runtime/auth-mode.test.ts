/**
 * Failing closed: a gateway whose AUTH_MODE was never set serves loopback
 * hosts only (`npm start`), and answers every other host 500 with the fix, so
 * that a deployment that forgot the setting (or lost a `--var AUTH_MODE:jwt`
 * on a later deploy) serves nobody instead of everybody. Each gateway here is
 * the real one, built with createTusGateway on the real bindings, with the
 * variables of the case at hand.
 */
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { createTusGateway, type GatewayEnv } from "../../src/gateway";
import keys from "../fixtures/jwt-test-keys.json";
import { claimsFor, signToken } from "../runtime-auth/tokens";
import { bodyText, TUS } from "./helpers";

const TIMEOUT = 20_000;
const APP = "https://app.example";

/** The Worker's bindings with these variables and no others: AUTH_MODE is unset unless `vars` sets it. */
function envWith(vars: Record<string, string> = {}): GatewayEnv {
  return { BUCKET: env.BUCKET, UPLOADS: env.UPLOADS, ...vars };
}

function create(origin: string, headers: Record<string, string> = {}): Request {
  return new Request(`${origin}/files/`, { method: "POST", headers: { ...TUS, "Upload-Length": "5", ...headers } });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("AUTH_MODE not set", () => {
  let errors: MockInstance<typeof console.error>;
  beforeEach(() => {
    // Kept out of the test output, and counted below.
    errors = vi.spyOn(console, "error").mockImplementation(() => {});
  });

  it.for(["http://tus.test", "https://uploads.example.com", "http://192.168.1.20:8787", "http://127.0.0.1.example.com"])(
    "on %s (not loopback) every request is answered 500 with what to set and where",
    { timeout: TIMEOUT },
    async (origin) => {
      const gateway = createTusGateway();
      const response = await gateway.fetch(create(origin, { Origin: APP }), envWith());

      expect(response.status).toBe(500);
      expect(response.headers.get("Content-Type")).toMatch(/^text\/plain/);
      expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");
      expect(response.headers.get("Access-Control-Allow-Origin")).toBe("*");
      const message = await bodyText(response);
      expect(message).toMatch(/AUTH_MODE is not set/);
      expect(message).toMatch(/wrangler\.toml \[vars\]/);
      expect(message).toMatch(/AUTH_MODE = "jwt"/);
      expect(message).toMatch(/npx wrangler secret put JWT_SECRET/);
      expect(message).toMatch(/AUTH_MODE = "open"/);
    },
  );

  it("refuses every method, the upload page's path included; a preflight is allowed so that a browser reads the 500", { timeout: TIMEOUT }, async () => {
    const gateway = createTusGateway();
    const vars = envWith();
    for (const request of [
      new Request("http://tus.test/files/AAAAAAAAAAAAAAAAAAAAAA", { method: "HEAD", headers: TUS }),
      new Request("http://tus.test/files/AAAAAAAAAAAAAAAAAAAAAA", { method: "GET" }),
      new Request("http://tus.test/files/AAAAAAAAAAAAAAAAAAAAAA", { method: "DELETE", headers: TUS }),
      new Request("http://tus.test/files/", { method: "OPTIONS" }),
      new Request("http://tus.test/", { method: "GET" }),
    ]) {
      const response = await gateway.fetch(request, vars);
      expect(response.status, `${request.method} ${request.url}`).toBe(500);
      expect(response.headers.get("Tus-Resumable")).toBe("1.0.0");
    }
    const preflight = await gateway.fetch(
      new Request("http://tus.test/files/", { method: "OPTIONS", headers: { Origin: APP, "Access-Control-Request-Method": "POST" } }),
      vars,
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe("*");
  });

  it("logs the refusal with console.error once, not once per request", { timeout: TIMEOUT }, async () => {
    const gateway = createTusGateway();
    const vars = envWith();
    for (let request = 0; request < 3; request++) expect((await gateway.fetch(create("http://tus.test"), vars)).status).toBe(500);

    const refusals = errors.mock.calls.filter(([message]) => /AUTH_MODE is not set/.test(String(message)));
    expect(refusals).toHaveLength(1);
  });

  it.for(["http://127.0.0.1:8787", "http://127.0.0.2", "http://localhost:8787", "http://[::1]:8787"])(
    "on the loopback host %s uploads are served with no setting (local development)",
    { timeout: TIMEOUT },
    async (origin) => {
      const gateway = createTusGateway();
      const response = await gateway.fetch(create(origin), envWith());
      expect(response.status, await bodyText(response)).toBe(201);
      expect(new URL(response.headers.get("Location")!).origin).toBe(new URL(origin).origin);
    },
  );
});

describe("AUTH_MODE set", () => {
  it('AUTH_MODE = "open" serves a public host: open was chosen', { timeout: TIMEOUT }, async () => {
    const response = await createTusGateway().fetch(create("https://uploads.example.com"), envWith({ AUTH_MODE: "open" }));
    expect(response.status, await bodyText(response)).toBe(201);
  });

  it('AUTH_MODE = "jwt" serves a public host: tokens are asked for and accepted', { timeout: TIMEOUT }, async () => {
    const gateway = createTusGateway();
    const vars = envWith({ AUTH_MODE: "jwt", JWT_SECRET: keys.hs256Secret });

    const withoutToken = await gateway.fetch(create("https://uploads.example.com"), vars);
    expect(withoutToken.status).toBe(401);

    const token = await signToken(claimsFor("alice"));
    const withToken = await gateway.fetch(create("https://uploads.example.com", { Authorization: `Bearer ${token}` }), vars);
    expect(withToken.status, await bodyText(withToken)).toBe(201);
  });

  it("auth in createTusGateway's options counts as set, whatever the variables say", { timeout: TIMEOUT }, async () => {
    const gateway = createTusGateway({ config: { auth: { mode: "open" } } });
    const response = await gateway.fetch(create("https://uploads.example.com"), envWith());
    expect(response.status, await bodyText(response)).toBe(201);
  });
});
