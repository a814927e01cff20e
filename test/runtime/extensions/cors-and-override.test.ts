/**
 * Browser clients: CORS (preflights, exposed tus headers, allowed origins)
 * and `X-HTTP-Method-Override`, which lets a client that can only send POST
 * speak every tus method.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config";
import { createTusGateway } from "../../../src/gateway";
import {
  bodyText,
  COLLECTION,
  createUpload,
  expectDownloadEquals,
  expectNoServerErrors,
  head,
  headOffset,
  MiB,
  OCTET,
  patch,
  randomBytes,
  send,
  TUS,
} from "../helpers";
import { expectNoBody, expectTombstoneOnly } from "./helpers";

const TIMEOUT = 20_000;
const APP = "https://app.example";
const UNKNOWN_URL = `${COLLECTION}AAAAAAAAAAAAAAAAAAAAAA`;

/** Response headers a tus client in a browser must be able to read. */
const MUST_EXPOSE = ["Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Upload-Metadata", "Upload-Expires", "Upload-Concat"];

function listOf(header: string | null): string[] {
  return (header ?? "").split(",").map((item) => item.trim().toLowerCase()).filter(Boolean);
}

function expectExposes(response: Response): void {
  const exposed = listOf(response.headers.get("Access-Control-Expose-Headers"));
  for (const name of MUST_EXPOSE) expect(exposed, `Access-Control-Expose-Headers on a ${response.status}`).toContain(name.toLowerCase());
}

function preflight(url: string, origin: string, requestHeaders = "tus-resumable,upload-offset,content-type"): RequestInit {
  return {
    method: "OPTIONS",
    headers: { Origin: origin, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": requestHeaders },
  };
}

function accessControlHeaders(response: Response): string[] {
  return [...response.headers.keys()].filter((name) => name.toLowerCase().startsWith("access-control-"));
}

describe("CORS with the default configuration (every origin)", () => {
  afterEach(() => expectNoServerErrors());

  it.for([
    { where: "the collection", url: async () => COLLECTION },
    { where: "an upload URL", url: async () => (await createUpload({ length: 10 })).url },
  ])("a preflight on $where answers 200 allowing the origin, PATCH and DELETE, the headers asked for, and a max age", { timeout: TIMEOUT }, async ({ url }) => {
    const target = await url();
    const response = await send(target, preflight(target, APP));
    expect(response.status).toBe(200);
    expect(response.headers.get("Access-Control-Allow-Origin")).toBe("*");
    const methods = listOf(response.headers.get("Access-Control-Allow-Methods"));
    for (const method of ["post", "head", "patch", "delete"]) expect(methods).toContain(method);
    const allowed = listOf(response.headers.get("Access-Control-Allow-Headers"));
    for (const name of ["tus-resumable", "upload-offset", "content-type"]) expect(allowed).toContain(name);
    expect(Number(response.headers.get("Access-Control-Max-Age"))).toBeGreaterThan(0);
  });

  it("a preflight asking for every header tus-js-client may send is allowed all of them", { timeout: TIMEOUT }, async () => {
    const asked = "tus-resumable,upload-length,upload-metadata,upload-offset,upload-checksum,upload-concat,upload-defer-length,content-type,x-http-method-override,x-requested-with";
    const response = await send(COLLECTION, preflight(COLLECTION, APP, asked));
    const allowed = listOf(response.headers.get("Access-Control-Allow-Headers"));
    for (const name of asked.split(",")) expect(allowed).toContain(name);
  });

  it("POST, PATCH, HEAD and GET from a page expose every tus header the client reads", { timeout: TIMEOUT }, async () => {
    const origin = { Origin: APP };
    const data = randomBytes(20, 4000);
    const created = await send(COLLECTION, {
      method: "POST",
      headers: { ...TUS, ...origin, "Upload-Length": "20", "Upload-Metadata": `filename ${btoa("x")}` },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expectExposes(created);
    const url = created.headers.get("Location")!;

    const patched = await patch(url, 0, data.slice(0, 5), origin);
    expect(patched.status).toBe(204);
    expectExposes(patched);
    const state = await head(url, { ...TUS, ...origin });
    expect(state.status).toBe(200);
    expect(state.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expectExposes(state);
    expect((await patch(url, 5, data.slice(5), origin)).status).toBe(204);
    const downloaded = await send(url, { headers: origin });
    expect(downloaded.status).toBe(200);
    expect(downloaded.headers.get("Access-Control-Allow-Origin")).toBe("*");
    await downloaded.arrayBuffer();
  });

  it("error answers carry CORS headers too, so a page can read why", { timeout: TIMEOUT }, async () => {
    const origin = { Origin: APP };
    const { url } = await createUpload({ length: 10 });
    const answers = [
      await send(UNKNOWN_URL, { method: "HEAD", headers: { ...TUS, ...origin } }),
      await send(COLLECTION, { method: "POST", headers: { ...origin, "Upload-Length": "10" } }),
      await patch(url, 7, new Uint8Array(1), origin),
      await send(`${COLLECTION}AAAAAAAAAAAAAAAAAAAAAA`, { headers: origin }),
    ];
    expect(answers.map((response) => response.status)).toEqual([404, 412, 409, 404]);
    for (const response of answers) {
      expect(response.headers.get("Access-Control-Allow-Origin")).toBe("*");
      expectExposes(response);
      await response.arrayBuffer();
    }
  });

  it("a request without Origin gets no CORS headers", { timeout: TIMEOUT }, async () => {
    const response = await send(COLLECTION, { method: "POST", headers: { ...TUS, "Upload-Length": "1" } });
    expect(response.status).toBe(201);
    expect(accessControlHeaders(response)).toEqual([]);
  });
});

describe("CORS with a list of allowed origins", () => {
  const gateway = createTusGateway({
    config: { corsAllowedOrigins: parseConfig({ CORS_ALLOWED_ORIGINS: `${APP}, https://other.example` }).corsAllowedOrigins },
  });
  const call = async (url: string, init: RequestInit): Promise<Response> => {
    const response = await gateway.fetch(new Request(url, init), env);
    expect(response.status, `${init.method ?? "GET"} ${url}`).toBeLessThan(500);
    return response;
  };

  it("an allowed origin is echoed, with Vary: Origin, on preflights and on requests", { timeout: TIMEOUT }, async () => {
    const allowed = await call(COLLECTION, preflight(COLLECTION, APP));
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe(APP);
    expect(listOf(allowed.headers.get("Vary"))).toContain("origin");
    expect(listOf(allowed.headers.get("Access-Control-Allow-Methods"))).toContain("patch");

    const created = await call(COLLECTION, { method: "POST", headers: { ...TUS, Origin: APP, "Upload-Length": "3" } });
    expect(created.status).toBe(201);
    expect(created.headers.get("Access-Control-Allow-Origin")).toBe(APP);
    expect(listOf(created.headers.get("Vary"))).toContain("origin");
    expectExposes(created);
    // The upload works through this gateway like any other.
    const url = created.headers.get("Location")!;
    const patched = await call(url, {
      method: "PATCH",
      headers: { ...TUS, Origin: APP, "Content-Type": OCTET, "Upload-Offset": "0" },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(patched.status).toBe(204);
    expect(patched.headers.get("Access-Control-Allow-Origin")).toBe(APP);
  });

  it("a disallowed origin gets no Access-Control-* headers, but Vary: Origin", { timeout: TIMEOUT }, async () => {
    for (const init of [
      preflight(COLLECTION, "https://evil.example"),
      { method: "POST", headers: { ...TUS, Origin: "https://evil.example", "Upload-Length": "3" } },
      { method: "HEAD", headers: { ...TUS, Origin: `${APP}.evil.example` } },
    ]) {
      const response = await call(COLLECTION, init);
      expect(accessControlHeaders(response), `${init.method} from a disallowed origin`).toEqual([]);
      expect(listOf(response.headers.get("Vary"))).toContain("origin");
      await response.arrayBuffer();
    }
  });
});

describe("X-HTTP-Method-Override", () => {
  afterEach(() => expectNoServerErrors());

  function override(url: string, method: string, headers: Record<string, string> = {}, body?: Uint8Array): Promise<Response> {
    return send(url, { method: "POST", headers: { ...TUS, "X-HTTP-Method-Override": method, ...headers }, body });
  }

  it("a POST overridden to PATCH appends its body (204 with the new offset)", { timeout: TIMEOUT }, async () => {
    const data = randomBytes(11 * MiB + 3, 4100);
    const { url } = await createUpload({ length: data.length });
    const first = await override(url, "PATCH", { "Content-Type": OCTET, "Upload-Offset": "0" }, data.slice(0, 9 * MiB));
    expect(first.status, await bodyText(first)).toBe(204);
    expect(first.headers.get("Upload-Offset")).toBe(String(9 * MiB));
    expect(await headOffset(url)).toBe(9 * MiB);
    const rest = await override(url, "patch", { "Content-Type": OCTET, "Upload-Offset": String(9 * MiB) }, data.slice(9 * MiB));
    expect(rest.status, await bodyText(rest)).toBe(204);
    await expectDownloadEquals(url, data);
  });

  it("a POST overridden to PATCH is checked like a PATCH (409 on a wrong offset)", { timeout: TIMEOUT }, async () => {
    const { url } = await createUpload({ length: 10, body: new Uint8Array(2) });
    const response = await override(url, "PATCH", { "Content-Type": OCTET, "Upload-Offset": "0" }, new Uint8Array(3));
    expect(response.status).toBe(409);
    expect(await headOffset(url)).toBe(2);
  });

  it("a POST overridden to DELETE terminates the upload", { timeout: TIMEOUT }, async () => {
    const { url, id } = await createUpload({ length: 10, body: new Uint8Array(4) });
    const response = await override(url, "DELETE");
    expect(response.status, await bodyText(response)).toBe(204);
    expect((await head(url)).status).toBe(410);
    await expectTombstoneOnly(id, "terminated");
  });

  it("a POST overridden to HEAD answers like HEAD: the upload's state and no body", { timeout: TIMEOUT }, async () => {
    const { url } = await createUpload({ length: 10, body: new Uint8Array(4) });
    const response = await override(url, "HEAD");
    expect(response.status).toBe(200);
    expect(response.headers.get("Upload-Offset")).toBe("4");
    expect(response.headers.get("Upload-Length")).toBe("10");
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    await expectNoBody(response);
    const missing = await override(UNKNOWN_URL, "HEAD");
    expect(missing.status).toBe(404);
    await expectNoBody(missing);
  });

  it.for(["FOO", "CONNECT", "PATCH;x", ""])("an invalid override %j is refused with 400", { timeout: TIMEOUT }, async (value) => {
    const { url } = await createUpload({ length: 10, body: new Uint8Array(4) });
    const response = await override(url, value, { "Content-Type": OCTET, "Upload-Offset": "4" }, new Uint8Array(1));
    expect(response.status, await bodyText(response)).toBe(400);
    expect(await response.text()).toMatch(/X-HTTP-Method-Override/);
    expect(await headOffset(url)).toBe(4);
  });
});
