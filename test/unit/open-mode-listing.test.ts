import { describe, expect, it } from "vitest";
import { ANONYMOUS } from "../../src/auth/authenticate";
import { DEFAULT_CONFIG, parseConfig, type GatewayConfig } from "../../src/config";
import { TusError } from "../../src/errors";
import { answerOperatorRequest } from "../../src/operator/routes";

/** The refusal of a listing in open mode under `config`. */
async function refusal(config: GatewayConfig): Promise<TusError> {
  const request = new Request("http://127.0.0.1:8787/files/");
  const error = await answerOperatorRequest({ kind: "list-own" }, {
    request,
    config,
    principal: ANONYMOUS,
    subjects: undefined,
    index: undefined,
    uploads: () => {
      throw new Error("a refused listing asks no upload");
    },
  }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TusError);
  return error as TusError;
}

describe("listing and administration in open mode", () => {
  it("says AUTH_MODE is not set when it was not (open to loopback only), not that it is open", async () => {
    expect(DEFAULT_CONFIG.auth).toEqual({ mode: "open", loopbackOnly: true });
    const error = await refusal(parseConfig({}));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/\(AUTH_MODE is not set, so the gateway is open to loopback clients only\)/);
    expect(error.message).not.toContain("AUTH_MODE=open");
    expect(error.message).toMatch(/set AUTH_MODE = "jwt"/);
  });

  it("says AUTH_MODE=open when it was set so", async () => {
    const error = await refusal(parseConfig({ AUTH_MODE: "open" }));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/\(AUTH_MODE=open\)/);
  });
});
