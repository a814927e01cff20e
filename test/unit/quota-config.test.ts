/**
 * Quotas per subject, as configured: SUBJECT_MAX_ACTIVE_UPLOADS,
 * SUBJECT_MAX_ACTIVE_BYTES and SUBJECT_MAX_STORED_BYTES (parseConfig and the
 * configuration check `npm start` / `npm run deploy` run), which need
 * AUTH_MODE=jwt; and a token's claims `max_active_uploads`,
 * `max_active_bytes`, `max_stored_bytes` (principalOf), which set its
 * subject's quotas in their place.
 */
import { describe, expect, it } from "vitest";
import { checkQuotasHaveSubjects, DEFAULT_CONFIG, parseConfig } from "../../src/config";
import { ConfigError } from "../../src/config/parse";
import { checkVariables, type SourcedValue } from "../../src/config/validate";
import { knownVariables } from "../../src/config/variables";
import { principalOf } from "../../src/auth/principal";
import { JwtError } from "../../src/auth/jwt";
import { QUOTA_SETTINGS } from "../../src/quotas";

const JWT = { AUTH_MODE: "jwt", JWT_SECRET: "s".repeat(32) } as const;
const VARIABLES = ["SUBJECT_MAX_ACTIVE_UPLOADS", "SUBJECT_MAX_ACTIVE_BYTES", "SUBJECT_MAX_STORED_BYTES"] as const;

/** The ConfigError `parse` throws; fails the test if it throws nothing or something else. */
function configErrorOf(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("SUBJECT_MAX_* variables", () => {
  it("are off by default: no quota at all", () => {
    expect(DEFAULT_CONFIG.subjectQuotas).toEqual({});
    expect(parseConfig({ ...JWT }).subjectQuotas).toEqual({});
  });

  it("are read as non-negative whole numbers with AUTH_MODE=jwt, each on its own", () => {
    expect(parseConfig({ ...JWT, SUBJECT_MAX_ACTIVE_UPLOADS: "3", SUBJECT_MAX_ACTIVE_BYTES: "41943040", SUBJECT_MAX_STORED_BYTES: " 67108864 " }).subjectQuotas).toEqual({
      activeUploads: 3,
      activeBytes: 40 * 1024 * 1024,
      storedBytes: 64 * 1024 * 1024,
    });
    expect(parseConfig({ ...JWT, SUBJECT_MAX_ACTIVE_BYTES: "10" }).subjectQuotas).toEqual({ activeBytes: 10 });
    // 0 is a quota (nothing allowed), not "no quota".
    expect(parseConfig({ ...JWT, SUBJECT_MAX_ACTIVE_UPLOADS: "0" }).subjectQuotas).toEqual({ activeUploads: 0 });
    // TOML numbers arrive as numbers.
    expect(parseConfig({ ...JWT, SUBJECT_MAX_STORED_BYTES: 1000 } as unknown as Record<string, string>).subjectQuotas).toEqual({ storedBytes: 1000 });
  });

  it("refuses a value that is not a non-negative whole number, naming the variable", () => {
    for (const variable of VARIABLES) {
      // (An empty value is unset, as for every variable.)
      for (const bad of ["-1", "3.5", "ten", "1e6", "9007199254740993"]) {
        const error = configErrorOf(() => parseConfig({ ...JWT, [variable]: bad }));
        expect(error.variable, `${variable}=${JSON.stringify(bad)}`).toBe(variable);
        expect(error.message).toContain(variable);
      }
    }
  });

  it("say what SUBJECT_MAX_ACTIVE_UPLOADS counts when refusing a bad value: uploads, not bytes", () => {
    expect(configErrorOf(() => parseConfig({ ...JWT, SUBJECT_MAX_ACTIVE_UPLOADS: "ten" })).message).toMatch(/SUBJECT_MAX_ACTIVE_UPLOADS must be a whole number of uploads, got "ten"/);
    expect(configErrorOf(() => parseConfig({ ...JWT, SUBJECT_MAX_ACTIVE_BYTES: "ten" })).message).toMatch(/SUBJECT_MAX_ACTIVE_BYTES must be a whole number of bytes/);
  });

  it("are refused with AUTH_MODE=open or unset, naming the variable and saying AUTH_MODE=jwt", () => {
    for (const variable of VARIABLES) {
      for (const mode of [{ AUTH_MODE: "open" }, {}]) {
        const error = configErrorOf(() => parseConfig({ ...mode, [variable]: "3" }));
        expect(error.variable).toBe(variable);
        expect(error.message).toContain(variable);
        expect(error.message).toMatch(/AUTH_MODE = "jwt"|AUTH_MODE=jwt/);
      }
    }
  });

  it("checkQuotasHaveSubjects lets jwt through and stops every other mode only when a quota is set", () => {
    expect(() => checkQuotasHaveSubjects({ auth: parseConfig({ ...JWT }).auth, subjectQuotas: { storedBytes: 1 } })).not.toThrow();
    expect(() => checkQuotasHaveSubjects({ auth: DEFAULT_CONFIG.auth, subjectQuotas: {} })).not.toThrow();
    expect(() => checkQuotasHaveSubjects({ auth: DEFAULT_CONFIG.auth, subjectQuotas: { storedBytes: 1 } })).toThrow(/SUBJECT_MAX_STORED_BYTES .*AUTH_MODE/);
  });

  it("stops a gateway whose Worker has no SUBJECTS binding to keep a set quota in, naming the binding", () => {
    const auth = parseConfig({ ...JWT }).auth;
    const refusal = (() => {
      try {
        checkQuotasHaveSubjects({ auth, subjectQuotas: { activeUploads: 2 } }, false);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).variable).toBe("SUBJECT_MAX_ACTIVE_UPLOADS");
    expect((refusal as Error).message).toMatch(/no SUBJECTS binding.*SubjectIndex/);
    expect(() => checkQuotasHaveSubjects({ auth, subjectQuotas: {} }, false)).not.toThrow();
  });

  it("are known to the configuration check (no 'did you mean'), which stops `npm start` for a quota in open mode", () => {
    const known = knownVariables();
    for (const variable of VARIABLES) expect(known.has(variable), variable).toBe(true);
    const from = (vars: Record<string, unknown>): Record<string, SourcedValue> =>
      Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, { value, source: "wrangler.toml [vars]" as const }]));
    const jwt = checkVariables(from({ AUTH_MODE: "jwt", JWT_SECRET: "s".repeat(32), SUBJECT_MAX_ACTIVE_UPLOADS: 3, SUBJECT_MAX_ACTIVE_BYTES: 1, SUBJECT_MAX_STORED_BYTES: 2 }), "local");
    expect(jwt.errors).toEqual([]);
    expect(jwt.warnings.join("\n")).not.toMatch(/SUBJECT_MAX/);
    const { errors } = checkVariables(from({ AUTH_MODE: "open", SUBJECT_MAX_ACTIVE_UPLOADS: 3 }), "local");
    expect(errors.join("\n")).toMatch(/SUBJECT_MAX_ACTIVE_UPLOADS .*AUTH_MODE/);
  });
});

describe("quota claims of a token", () => {
  const options = { requireTusScopes: false, tokenInQuery: false };

  it("name the same quotas as the variables", () => {
    expect(Object.values(QUOTA_SETTINGS).map(({ variable, claim }) => [variable, claim])).toEqual([
      ["SUBJECT_MAX_ACTIVE_UPLOADS", "max_active_uploads"],
      ["SUBJECT_MAX_ACTIVE_BYTES", "max_active_bytes"],
      ["SUBJECT_MAX_STORED_BYTES", "max_stored_bytes"],
    ]);
  });

  it("are read by principalOf; a token without them sets none", () => {
    expect(principalOf({ sub: "ann" }, options).quotas).toEqual({});
    expect(principalOf({ sub: "ann", max_active_uploads: 1 }, options).quotas).toEqual({ activeUploads: 1 });
    expect(principalOf({ sub: "ann", max_active_uploads: 5, max_active_bytes: 1024, max_stored_bytes: 0 }, options).quotas).toEqual({
      activeUploads: 5,
      activeBytes: 1024,
      storedBytes: 0,
    });
  });

  it("refuse the token when malformed, naming the claim", () => {
    for (const claim of ["max_active_uploads", "max_active_bytes", "max_stored_bytes"]) {
      for (const bad of [-1, 1.5, "3", null, true, [1], { n: 1 }, Number.MAX_SAFE_INTEGER + 2, Number.NaN, Number.POSITIVE_INFINITY]) {
        const read = () => principalOf({ sub: "ann", [claim]: bad }, options);
        expect(read, `${claim}: ${JSON.stringify(bad)}`).toThrow(JwtError);
        expect(read).toThrow(new RegExp(`${claim} claim must be a non-negative integer`));
      }
    }
  });
});
