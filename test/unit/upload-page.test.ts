/**
 * The upload page's pure parts: what the gateway lets the page trust
 * (UPLOAD_PAGE_ENDPOINTS, UPLOAD_PAGE_EMBED_ORIGINS → its Content-Security-Policy
 * and the settings in its HTML), how the page reads them, and how it shows a
 * size limit. test/browser/page-security.test.ts shows the same in Chromium.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/parse";
import { contentSecurityPolicy, pageSettings } from "../../src/page/serve-page";
import { formatBytes, formatExactBytes } from "../../page/format";
import { GatewayTrust, parsePageSettings } from "../../page/gateway-trust";

const R2_LARGEST_OBJECT = 5 * 1024 ** 4 - 5 * 1024 ** 3;

describe("formatExactBytes", () => {
  it("shows R2's largest object, 5 TiB − 5 GiB, exactly, where formatBytes rounds it up to 5 TiB", () => {
    expect(formatBytes(R2_LARGEST_OBJECT)).toBe("5.00 TiB");
    expect(formatExactBytes(R2_LARGEST_OBJECT)).toBe("5,115 GiB");
  });

  it.each([
    [0, "0 B"],
    [1023, "1,023 B"],
    [1024, "1 KiB"],
    [1536, "1,536 B"],
    [10 * 1024 ** 3, "10 GiB"],
    [5 * 1024 ** 4, "5 TiB"],
    [1_000_000_000, "1,000,000,000 B"],
    [64 * 1024 ** 2 + 1024, "65,537 KiB"],
    [2048 * 1024 ** 4, "2,048 TiB"],
  ])("%d bytes is %s", (bytes, text) => {
    expect(formatExactBytes(bytes)).toBe(text);
  });

  it("never changes the number of bytes it stands for", () => {
    const factor = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
    for (let bytes = 1; bytes < 2 ** 50; bytes = bytes * 3 + 1024) {
      const [digits, unit] = formatExactBytes(bytes).split(" ") as [string, keyof typeof factor];
      expect(Number(digits.replaceAll(",", "")) * factor[unit]).toBe(bytes);
    }
  });
});

describe("UPLOAD_PAGE_ENDPOINTS and UPLOAD_PAGE_EMBED_ORIGINS", () => {
  it("trust nothing beyond the page's own origin by default: connect-src 'self', frame-ancestors 'none'", () => {
    const config = parseConfig({});
    expect(config.uploadPageEndpoints).toEqual([]);
    expect(config.uploadPageEmbedOrigins).toEqual([]);
    const csp = contentSecurityPolicy(config);
    expect(csp).toContain("connect-src 'self';");
    expect(csp).toContain("frame-ancestors 'none';");
    expect(csp).not.toContain("*");
  });

  it("put the listed endpoints' origins in connect-src and the embedding origins in frame-ancestors", () => {
    const config = parseConfig({
      BASE_PATH: "/uploads/",
      UPLOAD_PAGE_ENDPOINTS: "https://eu.uploads.example/files, https://us.uploads.example:8443/tus/,https://eu.uploads.example/other/",
      UPLOAD_PAGE_EMBED_ORIGINS: "https://app.example, http://localhost:3000",
    });
    // An endpoint always ends in "/", as the page compares them.
    expect(config.uploadPageEndpoints).toEqual([
      "https://eu.uploads.example/files/",
      "https://us.uploads.example:8443/tus/",
      "https://eu.uploads.example/other/",
    ]);
    const csp = contentSecurityPolicy(config);
    expect(csp).toContain("connect-src 'self' https://eu.uploads.example https://us.uploads.example:8443;");
    expect(csp).toContain("frame-ancestors https://app.example http://localhost:3000;");
    expect(pageSettings(config)).toEqual({
      basePath: "/uploads/",
      endpoints: config.uploadPageEndpoints,
      embedOrigins: ["https://app.example", "http://localhost:3000"],
    });
  });

  it.each([
    ["UPLOAD_PAGE_ENDPOINTS", "uploads.example/files/", /UPLOAD_PAGE_ENDPOINTS must be a comma-separated list of tus endpoints/],
    ["UPLOAD_PAGE_ENDPOINTS", "ftp://uploads.example/files/", /UPLOAD_PAGE_ENDPOINTS must be/],
    ["UPLOAD_PAGE_ENDPOINTS", "https://uploads.example/files/?token=x", /no query or credentials/],
    ["UPLOAD_PAGE_ENDPOINTS", "https://user:pw@uploads.example/files/", /no query or credentials/],
    ["UPLOAD_PAGE_EMBED_ORIGINS", "https://app.example/", /UPLOAD_PAGE_EMBED_ORIGINS must be a comma-separated list of origins/],
    ["UPLOAD_PAGE_EMBED_ORIGINS", "*", /UPLOAD_PAGE_EMBED_ORIGINS must be/],
    ["UPLOAD_PAGE_EMBED_ORIGINS", "'self'", /UPLOAD_PAGE_EMBED_ORIGINS must be/],
  ])("stop on %s=%j with a message naming the variable and the fix", (name, value, message) => {
    const parse = () => parseConfig({ [name]: value });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });
});

describe("the page's trust (page/gateway-trust.ts)", () => {
  const page = "https://gateway.example";

  it("allows only its own gateway's endpoint by default, and trusts only its own origin with the token", () => {
    const trust = new GatewayTrust(page, parsePageSettings(JSON.stringify({ basePath: "/files/", endpoints: [], embedOrigins: [] })));
    expect(trust.ownEndpoint).toBe("https://gateway.example/files/");
    expect(trust.endpoints).toEqual(["https://gateway.example/files/"]);
    expect(trust.allowsEndpoint("https://gateway.example/files/")).toBe(true);
    expect(trust.allowsEndpoint("https://evil.example/files/")).toBe(false);
    expect(trust.trusts("https://gateway.example/files/abc")).toBe(true);
    for (const url of ["https://evil.example/files/abc", "http://gateway.example/files/abc", "https://gateway.example.evil.example/x", "not a url"]) {
      expect(trust.trusts(url), url).toBe(false);
    }
    expect(trust.allowsEmbedder("https://evil.example")).toBe(false);
    expect(trust.embedOrigins).toEqual([]);
  });

  it("adds the listed endpoints (and their origins) and embedding origins", () => {
    const trust = new GatewayTrust(
      page,
      parsePageSettings(JSON.stringify({ basePath: "/up/", endpoints: ["https://eu.example/files/"], embedOrigins: ["https://app.example"] })),
    );
    expect(trust.endpoints).toEqual(["https://gateway.example/up/", "https://eu.example/files/"]);
    expect(trust.allowsEndpoint("https://eu.example/files/")).toBe(true);
    expect(trust.allowsEndpoint("https://eu.example/elsewhere/")).toBe(false);
    expect(trust.trusts("https://eu.example/files/abc")).toBe(true);
    expect(trust.allowsEmbedder("https://app.example")).toBe(true);
    expect(trust.allowsEmbedder("https://app.example.evil.example")).toBe(false);
  });

  it.each([[null], [""], ["not json"], ["[]"], ['{"basePath": 5, "endpoints": "https://evil.example/"}']])(
    "reads a missing or damaged setting %j as the defaults: its own /files/ and nothing else",
    (content) => {
      const trust = new GatewayTrust(page, parsePageSettings(content));
      expect(trust.endpoints).toEqual(["https://gateway.example/files/"]);
      expect(trust.embedOrigins).toEqual([]);
    },
  );
});
