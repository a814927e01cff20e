import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/parse";
import { MiB } from "../../src/upload/part-plan";

describe("parseConfig", () => {
  it("gives every setting its documented default when no variable is set", () => {
    expect(parseConfig({})).toEqual(DEFAULT_CONFIG);
  });

  it("reads each kind of variable", () => {
    const config = parseConfig({
      BASE_PATH: "/uploads/",
      MAX_UPLOAD_SIZE: "1000",
      PART_SIZE: String(16 * MiB),
      EXPIRE_AFTER_SECONDS: "60",
      TERMINATE_DELETES_OBJECT: "false",
      CORS_ALLOWED_ORIGINS: "https://a.example, https://b.example",
      ALLOWED_FILETYPES: "image/*,Application/PDF",
      METADATA_ALLOWED_KEYS: "filename,filetype",
      OBJECT_KEY_TEMPLATE: "{subject}/{date}/{filename}",
      AUTH_MODE: "jwt",
      JWT_SECRET: "x".repeat(32),
      WEBHOOK_URL: "https://hooks.example/events",
    });
    expect(config.basePath).toBe("/uploads/");
    expect(config.maxUploadSize).toBe(1000);
    expect(config.partSize).toBe(16 * MiB);
    expect(config.expireAfterMs).toBe(60_000);
    expect(config.terminateDeletesObject).toBe(false);
    expect(config.corsAllowedOrigins).toEqual(new Set(["https://a.example", "https://b.example"]));
    expect(config.allowedFiletypes).toEqual(["image/*", "application/pdf"]);
    expect(config.allowedMetadataKeys).toEqual(new Set(["filename", "filetype"]));
    expect(config.objectKeyTemplate).toBe("{subject}/{date}/{filename}");
    expect(config.auth).toMatchObject({ mode: "jwt", secret: "x".repeat(32) });
    expect(config.webhookUrl).toBe("https://hooks.example/events");
  });

  it.each([
    ["BASE_PATH", "files", /BASE_PATH must start and end with "\/"/],
    ["MAX_UPLOAD_SIZE", "10GB", /MAX_UPLOAD_SIZE must be a whole number of bytes/],
    ["MAX_UPLOAD_SIZE", "6000000000000", /MAX_UPLOAD_SIZE must be between/],
    ["PART_SIZE", "1024", /PART_SIZE must be between 5242880/],
    ["PART_BUFFER_LIMIT", String(5 * MiB), /PART_SIZE must not exceed PART_BUFFER_LIMIT/],
    ["LOCK_TIMEOUT_MS", "-1", /LOCK_TIMEOUT_MS must be a whole number of milliseconds/],
    ["EXPIRE_AFTER_SECONDS", "1h", /EXPIRE_AFTER_SECONDS must be a whole number of seconds/],
    ["TERMINATE_DELETES_OBJECT", "yes", /TERMINATE_DELETES_OBJECT must be "true" or "false"/],
    ["OBJECT_KEY_PREFIX", "../up/", /OBJECT_KEY_PREFIX must be a relative key prefix/],
    ["OBJECT_KEY_TEMPLATE", "{user}/{id}", /OBJECT_KEY_TEMPLATE uses \{user\}/],
    ["OBJECT_KEY_TEMPLATE", "a/../{id}", /OBJECT_KEY_TEMPLATE must not contain "." or ".." segments/],
    ["CORS_ALLOWED_ORIGINS", "https://a.example/", /CORS_ALLOWED_ORIGINS must be "\*" or a comma-separated list of origins/],
    ["ALLOWED_FILETYPES", "images", /ALLOWED_FILETYPES must list media types/],
    ["AUTH_MODE", "basic", /AUTH_MODE must be "open" or "jwt"/],
    ["AUTH_MODE", "jwt", /AUTH_MODE is jwt, so set JWT_SECRET/],
    ["WEBHOOK_URL", "ftp://x", /WEBHOOK_URL must be an http\(s\) URL/],
  ])("stops on %s=%j with a message naming the variable and the fix", (name, value, message) => {
    const parse = () => parseConfig({ [name]: value });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
    expect(parse).toThrow(/set it in wrangler.toml \[vars\], as a secret, or remove it/);
  });

  it("refuses a short HS256 secret and a JWKS that is not one", () => {
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: "short" })).toThrow(/JWT_SECRET must be at least 32 characters/);
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_JWKS: "{}" })).toThrow(/JWT_JWKS must be a JWKS document/);
  });
});
