/**
 * A Worker without the upload index (no INDEX binding, as this one): listing
 * is off and GET on the collection answers 405 exactly as before.
 */
import { describe, expect, it } from "vitest";
import { claimsFor, signToken, bearer } from "../runtime-auth/tokens";
import { bodyText, send } from "../runtime/helpers";
import { COLLECTION } from "./helpers";

describe("without the INDEX binding", () => {
  it("answers GET on the collection 405 as it always did", async () => {
    const token = await signToken(claimsFor("listing-off"));
    const response = await send(COLLECTION, { headers: bearer(token) });
    const text = await bodyText(response);
    expect(response.status, text).toBe(405);
    expect(text).toMatch(/method is not allowed/);
    expect(response.headers.get("Allow")).toBe("OPTIONS, POST, HEAD, PATCH, GET, DELETE");
  });
});
