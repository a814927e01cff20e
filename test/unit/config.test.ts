import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG, parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/parse";
import { checkVariables, type SourcedValue } from "../../src/config/validate";
import { closestVariable, editDistance, knownVariables } from "../../src/config/variables";
import { MiB } from "../../src/r2-limits";

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
      PRE_FINISH_HOOK_URL: "https://hooks.example/pre-finish",
      PRE_FINISH_HOOK_TIMEOUT_MS: "2500",
      PRE_FINISH_HOOK_GIVE_UP_SECONDS: "3600",
      PRE_FINISH_HOOK_FALLBACK: "Reject",
      PRE_FINISH_REJECT_DELETES_OBJECT: "false",
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
    expect(config).toMatchObject({
      preFinishHookUrl: "https://hooks.example/pre-finish",
      preFinishHookTimeoutMs: 2500,
      preFinishGiveUpMs: 3_600_000,
      preFinishFallback: "reject",
      preFinishRejectDeletesObject: false,
    });
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
    ["WEBHOOK_URL", "ftp://x", /WEBHOOK_URL must be an http\(s\) URL/],
    ["PRE_FINISH_HOOK_FALLBACK", "ignore", /PRE_FINISH_HOOK_FALLBACK must be "accept" or "reject"/],
    ["PRE_FINISH_HOOK_GIVE_UP_SECONDS", "0", /PRE_FINISH_HOOK_GIVE_UP_SECONDS must be between 1 and/],
    ["PRE_FINISH_HOOK_TIMEOUT_MS", "10", /PRE_FINISH_HOOK_TIMEOUT_MS must be between 100 and/],
  ])("stops on %s=%j with a message naming the variable and the fix", (name, value, message) => {
    const parse = () => parseConfig({ [name]: value });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
    expect(parse).toThrow(/fix it in wrangler.toml \[vars\], .dev.vars or --var, or remove it to use the default/);
  });

  it("with AUTH_MODE=jwt, refuses a key template with neither {id} nor {subject}, saying why and what to write", () => {
    const jwt = { AUTH_MODE: "jwt", JWT_SECRET: "s".repeat(32) };
    for (const template of ["{filename}", "{date}/{filename}", "shared/report.txt"]) {
      const parse = () => parseConfig({ ...jwt, OBJECT_KEY_TEMPLATE: template });
      expect(parse).toThrow(ConfigError);
      expect(parse).toThrow(/OBJECT_KEY_TEMPLATE is ".*", which has neither \{id\} nor \{subject\}: with AUTH_MODE=jwt two subjects' uploads could get the same key/);
      expect(parse).toThrow(`write "{subject}/${template}" to keep each subject's files apart, or "{id}/${template}"`);
    }
    for (const template of ["{subject}/{filename}", "{id}/{filename}", "{date}/{id}"]) {
      expect(parseConfig({ ...jwt, OBJECT_KEY_TEMPLATE: template }).objectKeyTemplate).toBe(template);
    }
    // Open mode has no subjects to keep apart; the default template is {id}.
    expect(parseConfig({ AUTH_MODE: "open", OBJECT_KEY_TEMPLATE: "{filename}" }).objectKeyTemplate).toBe("{filename}");
    expect(parseConfig(jwt).objectKeyTemplate).toBe("{id}");
  });

  it("reads TOML numbers and booleans of wrangler.toml [vars] as the text they stand for", () => {
    const config = parseConfig({
      MAX_UPLOAD_SIZE: 10737418240,
      PART_SIZE: 16 * MiB,
      EXPIRE_AFTER_SECONDS: 3600,
      LOCK_TIMEOUT_MS: BigInt(2000),
      OVERWRITE_OBJECTS: true,
      TERMINATE_DELETES_OBJECT: false,
      JWT_AUDIENCE: 12345,
    });
    expect(config.maxUploadSize).toBe(10737418240);
    expect(config.partSize).toBe(16 * MiB);
    expect(config.expireAfterMs).toBe(3_600_000);
    expect(config.lockTimeoutMs).toBe(2000);
    expect(config.overwriteObjects).toBe(true);
    expect(config.terminateDeletesObject).toBe(false);
  });

  it("refuses numbers that are not whole, booleans where a number belongs, and tables", () => {
    expect(() => parseConfig({ MAX_UPLOAD_SIZE: 1.5 })).toThrow(/MAX_UPLOAD_SIZE must be a whole number of bytes, got "1.5"/);
    expect(() => parseConfig({ MAX_UPLOAD_SIZE: true })).toThrow(/MAX_UPLOAD_SIZE must be a whole number of bytes, got "true"/);
    expect(() => parseConfig({ OVERWRITE_OBJECTS: 2 })).toThrow(/OVERWRITE_OBJECTS must be "true" or "false", got "2"/);
    expect(() => parseConfig({ BASE_PATH: { path: "/files/" } })).toThrow(/BASE_PATH must be a string, a number or true\/false, got object/);
    expect(() => parseConfig({ ALLOWED_FILETYPES: ["image/png"] })).toThrow(/ALLOWED_FILETYPES must be a string, a number or true\/false, got an array/);
  });

  it("says where a secret belongs: wrangler secret put or .dev.vars, never [vars]", () => {
    for (const vars of [{ AUTH_MODE: "jwt" }, { AUTH_MODE: "jwt", JWT_SECRET: "short" }]) {
      const error = catchConfigError(() => parseConfig(vars));
      expect(error.variable).toBe("JWT_SECRET");
      expect(error.message).toMatch(/`npx wrangler secret put JWT_SECRET` for a deployment, or in .dev.vars for `npm start`; never in wrangler.toml \[vars\]/);
      expect(error.message).not.toMatch(/fix it in wrangler.toml/);
    }
    expect(catchConfigError(() => parseConfig({ AUTH_MODE: "jwt" })).message).toMatch(/JWT_SECRET is not set, but AUTH_MODE is jwt/);
  });

  it("refuses a short HS256 secret and a JWKS that is not one", () => {
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_SECRET: "short" })).toThrow(/JWT_SECRET must be at least 32 characters/);
    expect(() => parseConfig({ AUTH_MODE: "jwt", JWT_JWKS: "{}" })).toThrow(/JWT_JWKS must be a JWKS document/);
  });
});

function catchConfigError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("knownVariables", () => {
  it("lists every variable parseConfig reads, the JWT settings included", () => {
    const known = knownVariables();
    for (const name of ["BASE_PATH", "MAX_UPLOAD_SIZE", "PART_SIZE", "UPLOAD_PAGE", "CORS_ALLOWED_ORIGINS", "AUTH_MODE", "JWT_SECRET", "JWT_JWKS", "JWT_ISSUER", "WEBHOOK_SECRET"]) {
      expect(known, name).toContain(name);
    }
    expect(known).not.toContain("PARTSIZE");
  });
});

describe("closestVariable", () => {
  it.each([
    ["PARTSIZE", "PART_SIZE"],
    ["part_size", "PART_SIZE"],
    ["MAX_UPLAOD_SIZE", "MAX_UPLOAD_SIZE"],
    ["CORS_ALLOWED_ORIGIN", "CORS_ALLOWED_ORIGINS"],
    ["AUTHMODE", "AUTH_MODE"],
    ["WEBHOOK_SECRETS", "WEBHOOK_SECRET"],
  ])("takes %s for %s", (typed, meant) => {
    expect(closestVariable(typed)).toBe(meant);
  });

  it.each(["PART_SIZE", "API_TOKEN", "SENTRY_DSN", "MODE", "BASE_URL"])("suggests nothing for %s", (name) => {
    expect(closestVariable(name)).toBeUndefined();
  });

  it("counts insertions, deletions, substitutions and swaps as one edit each", () => {
    expect(editDistance("PARTSIZE", "PARTSIZE")).toBe(0);
    expect(editDistance("PARTSIZE", "PARTSIZES")).toBe(1);
    expect(editDistance("PARTSIZE", "PATSIZE")).toBe(1);
    expect(editDistance("PARTSIZE", "PARTSIXE")).toBe(1);
    expect(editDistance("PARTSIZE", "PRATSIZE")).toBe(1);
    expect(editDistance("", "ABC")).toBe(3);
  });
});

describe("checkVariables", () => {
  const from = (source: SourcedValue["source"], vars: Record<string, unknown>): Record<string, SourcedValue> =>
    Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, { value, source }]));

  it("passes the defaults and a TOML number", () => {
    expect(checkVariables({}, "local")).toEqual({ errors: [], warnings: [] });
    expect(checkVariables(from("wrangler.toml [vars]", { AUTH_MODE: "open", MAX_UPLOAD_SIZE: 10737418240 }), "deployed")).toEqual({ errors: [], warnings: [] });
  });

  it("reports every bad variable at once, each with its fix", () => {
    const { errors } = checkVariables(from("--var", { MAX_UPLOAD_SIZE: "10GB", UPLOAD_PAGE: "yes", BASE_PATH: "/files/" }), "local");
    expect(errors).toHaveLength(2);
    expect(errors.join("\n")).toMatch(/MAX_UPLOAD_SIZE must be a whole number of bytes, got "10GB" .* — set in --var/);
    expect(errors.join("\n")).toMatch(/UPLOAD_PAGE must be "auto"/);
  });

  it("warns about a name close to a known one and leaves other names alone", () => {
    const { errors, warnings } = checkVariables(from("wrangler.toml [vars]", { PARTSIZE: "16777216", MY_APP_NAME: "x" }), "local");
    expect(errors).toEqual([]);
    expect(warnings).toEqual(["PARTSIZE (wrangler.toml [vars]) is not a tus-edge variable and is ignored: did you mean PART_SIZE?"]);
  });

  it("locally, asks for JWT_SECRET in .dev.vars when AUTH_MODE is jwt", () => {
    const { errors } = checkVariables(from("wrangler.toml [vars]", { AUTH_MODE: "jwt" }), "local");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/JWT_SECRET is not set, but AUTH_MODE is jwt/);
    expect(errors[0]).toMatch(/in .dev.vars for `npm start`/);
  });

  it("for a deployment, takes a missing secret to be set in Cloudflare and says so", () => {
    const { errors, warnings } = checkVariables(from("wrangler.toml [vars]", { AUTH_MODE: "jwt" }), "deployed");
    expect(errors).toEqual([]);
    expect(warnings.join("\n")).toMatch(/npx wrangler secret put JWT_SECRET/);
  });

  it("refuses to deploy a secret set in [vars] or --var, and warns about one in [vars] locally", () => {
    const inVars = from("wrangler.toml [vars]", { AUTH_MODE: "jwt", JWT_SECRET: "x".repeat(32) });
    const deployed = checkVariables(inVars, "deployed");
    expect(deployed.errors).toEqual([expect.stringMatching(/JWT_SECRET is a secret but is set in wrangler.toml \[vars\].*npx wrangler secret put JWT_SECRET/)]);
    const local = checkVariables(inVars, "local");
    expect(local.errors).toEqual([]);
    expect(local.warnings).toEqual([expect.stringMatching(/move it to .dev.vars/)]);
    const byVar = checkVariables({ ...from("wrangler.toml [vars]", { AUTH_MODE: "open" }), ...from("--var", { WEBHOOK_SECRET: "s3cret" }) }, "deployed");
    expect(byVar.errors).toEqual([expect.stringMatching(/WEBHOOK_SECRET is a secret: --var would deploy it as a plain-text variable/)]);
    expect(checkVariables(from(".dev.vars", { WEBHOOK_SECRET: "s3cret" }), "local")).toEqual({ errors: [], warnings: [] });
  });
});
