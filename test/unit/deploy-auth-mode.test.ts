/**
 * `npm run deploy` refuses a configuration without AUTH_MODE: the deployed
 * gateway would refuse every request (it fails closed on hosts that are not
 * loopback), and the deploy is the place to say so. `npm start` needs no
 * AUTH_MODE: it serves 127.0.0.1.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { checkVariables, type SourcedValue } from "../../src/config/validate";

const from = (source: SourcedValue["source"], vars: Record<string, unknown>): Record<string, SourcedValue> =>
  Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, { value, source }]));

describe("the deploy check and AUTH_MODE", () => {
  it.for([
    { case: "no variables at all", vars: {} },
    { case: "other variables only", vars: from("wrangler.toml [vars]", { MAX_UPLOAD_SIZE: 10737418240 }) },
    { case: "an empty AUTH_MODE", vars: from("wrangler.toml [vars]", { AUTH_MODE: "" }) },
  ])("refuses to deploy with $case, naming both choices and where they go", ({ vars }) => {
    const { errors } = checkVariables(vars, "deployed");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^AUTH_MODE is not set: a deployed gateway refuses every request \(500\)/);
    expect(errors[0]).toMatch(/wrangler\.toml \[vars\]/);
    expect(errors[0]).toMatch(/AUTH_MODE = "jwt" \(with `npx wrangler secret put JWT_SECRET`, or JWT_JWKS in \[vars\]\)/);
    expect(errors[0]).toMatch(/AUTH_MODE = "open"/);
  });

  it.for(["open", "jwt"])('deploys AUTH_MODE = "%s" from wrangler.toml [vars]', (mode) => {
    const { errors, warnings } = checkVariables(from("wrangler.toml [vars]", { AUTH_MODE: mode }), "deployed");
    expect(errors).toEqual([]);
    expect(warnings.join("\n")).not.toMatch(/AUTH_MODE given as --var/);
  });

  it("deploys AUTH_MODE given as --var, warning that the next deploy will not have it", () => {
    const { errors, warnings } = checkVariables(from("--var", { AUTH_MODE: "jwt" }), "deployed");
    expect(errors).toEqual([]);
    expect(warnings).toContainEqual(expect.stringMatching(/AUTH_MODE given as --var lasts only until the next deploy .*put AUTH_MODE = "jwt" in wrangler\.toml \[vars\]/));
  });

  it("still reports a wrong AUTH_MODE as a bad value", () => {
    const { errors } = checkVariables(from("wrangler.toml [vars]", { AUTH_MODE: "basic" }), "deployed");
    expect(errors).toEqual([expect.stringMatching(/AUTH_MODE must be "open" or "jwt", got "basic"/)]);
  });

  it("npm start (local) needs no AUTH_MODE", () => {
    expect(checkVariables({}, "local")).toEqual({ errors: [], warnings: [] });
  });

  it("the parser records whether AUTH_MODE was set: unset is open on loopback hosts only", () => {
    expect(parseConfig({}).auth).toEqual({ mode: "open", loopbackOnly: true });
    expect(parseConfig({ AUTH_MODE: "" }).auth).toEqual({ mode: "open", loopbackOnly: true });
    expect(parseConfig({ AUTH_MODE: "open" }).auth).toEqual({ mode: "open" });
  });
});
