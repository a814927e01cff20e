/**
 * The pre-create callback and the key template hold for a creation in the
 * IETF dialect as they do in tus: the upload is put to `onUploadCreate`
 * first (a rejection reaches the client and nothing is created), and the
 * file name from `Content-Disposition` names the object like tus's
 * `filename` metadata does. The Worker under test is worker.ts.
 */
import { env, listDurableObjectIds } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { bodyText, expectNoServerErrors, randomBytes, send, sha256Hex } from "../runtime/helpers";
import { metadataHeader, objectKeyOf } from "../runtime-auth/helpers";
import { bearer, tokenFor } from "../runtime-auth/tokens";
import { COLLECTION, TIMEOUT } from "./helpers";
import { KEY_PREFIX } from "./worker";

const VERSION = "8";

afterEach(() => expectNoServerErrors());

function ietfCreation(token: string, complete: boolean, headers: Record<string, string>, body?: Uint8Array): Promise<Response> {
  return send(COLLECTION, {
    method: "POST",
    headers: { "Upload-Draft-Interop-Version": VERSION, "Upload-Complete": complete ? "?1" : "?0", ...bearer(token), ...headers },
    body,
  });
}

describe("onUploadCreate in the IETF dialect", () => {
  it("rejects a creation: its status and message reach the client, no Location, nothing created", { timeout: TIMEOUT }, async () => {
    const before = (await listDurableObjectIds(env.UPLOADS)).length;
    const response = await ietfCreation(await tokenFor("alice"), false, {
      "Upload-Metadata": metadataHeader({ reject: "no IETF uploads for alice today", rejectStatus: "422" }),
    });
    expect(response.status).toBe(422);
    expect(await response.text()).toContain("no IETF uploads for alice today");
    expect(response.headers.get("Location")).toBeNull();
    expect((await listDurableObjectIds(env.UPLOADS)).length).toBe(before);
  });

  it("a whole file in one ?1 request is stored under the key its Content-Disposition file name gives", { timeout: TIMEOUT }, async () => {
    const filename = `ietf-${crypto.randomUUID().slice(0, 8)}.txt`;
    const data = randomBytes(48, 6);
    const response = await ietfCreation(
      await tokenFor("alice"),
      true,
      { "Content-Type": "text/plain", "Content-Disposition": `attachment; filename="${filename}"` },
      data,
    );
    expect(response.status, await bodyText(response)).toBe(201);
    const url = response.headers.get("Location")!;
    const key = await objectKeyOf(url.slice(COLLECTION.length));
    expect(key).toBe(`${KEY_PREFIX}alice/${filename}`);
    const stored = await env.BUCKET.get(key);
    expect(stored?.httpMetadata?.contentType).toBe("text/plain");
    expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(data));
  });
});
