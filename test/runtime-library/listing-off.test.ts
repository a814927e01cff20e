/**
 * A Worker that mounts the gateway without a SUBJECTS binding (this one has
 * no SubjectIndex class bound): there is no index to list from, so GET on
 * the collection answers 405, with a message that names the missing
 * binding, instead of a bare 405.
 */
import { describe, expect, it } from "vitest";
import { claimsFor, signToken, bearer } from "../runtime-auth/tokens";
import { bodyText, send } from "../runtime/helpers";
import { COLLECTION } from "./helpers";

describe("without the SUBJECTS binding", () => {
  it("answers GET on the collection 405, naming the SUBJECTS binding it would need", async () => {
    const token = await signToken(claimsFor("listing-off"));
    const response = await send(COLLECTION, { headers: bearer(token) });
    const text = await bodyText(response);
    expect(response.status, text).toBe(405);
    expect(text).toMatch(/no SUBJECTS binding/);
    expect(text).toMatch(/SubjectIndex/);
    // A 405 says which methods the URL does take (RFC 9110): the tus ones.
    expect(response.headers.get("Allow")).toBe("OPTIONS, POST, HEAD, PATCH, GET, DELETE");
  });
});
