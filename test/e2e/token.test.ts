/**
 * `npm run token` (scripts/token.ts), as a new user runs it in a fresh copy
 * of the repository: without .dev.vars it says what to do; with a
 * JWT_SECRET there it prints a token alone on its line, which a real local
 * gateway in JWT mode (same secret and audience) accepts as its scopes say:
 * an upload and an administrator's look at it with `tus:upload tus:admin`,
 * neither without those scopes.
 */
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, run } from "../readme/snippets";
import { cleanCopy, type CleanCopy } from "./clean-copy";
import { bearer } from "./jwt";
import { ROOT, startServer, type TestServer } from "./server";

const SECRET = randomBytes(24).toString("hex");
const AUDIENCE = "tus-edge-local";

let copy: CleanCopy;
let server: TestServer;

beforeAll(async () => {
  [copy, server] = await Promise.all([
    cleanCopy("token"),
    startServer({ vars: { AUTH_MODE: "jwt", JWT_SECRET: SECRET, JWT_AUDIENCE: AUDIENCE } }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([server?.stop(), copy?.remove()]);
}, 30_000);

/** `npm run --silent token -- …` in the copy, with the repository's Node 24 first on PATH as under npm test. */
function token(args: string[]) {
  return run("npm", ["run", "--silent", "token", "--", ...args], {
    cwd: copy.dir,
    timeoutMs: 60_000,
    env: { PATH: `${join(ROOT, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}` },
  });
}

/** A token's claims, read (not verified). */
function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("npm run token", () => {
  it("without a JWT_SECRET in .dev.vars, prints no token and says how to create one and start in JWT mode", async () => {
    await rm(join(copy.dir, ".dev.vars"), { force: true });
    const ran = await token(["--sub", "alice"]);
    expect(ran.code, describeRun(ran)).toBe(1);
    expect(ran.stdout).toBe("");
    expect(ran.stderr).toMatch(/no JWT_SECRET in \.dev\.vars/);
    expect(ran.stderr).toMatch(/JWT_SECRET=/);
    expect(ran.stderr).toMatch(/at least 32 characters/);
    expect(ran.stderr).toContain("npm start -- --var AUTH_MODE:jwt");
  }, 60_000);

  it("refuses a scope that is not one of the four, naming the one meant", async () => {
    await writeFile(join(copy.dir, ".dev.vars"), `JWT_SECRET=${SECRET}\n`);
    const ran = await token(["--sub", "alice", "--scope", "tus:upload admin"]);
    expect(ran.code, describeRun(ran)).toBe(1);
    expect(ran.stderr).toMatch(/unknown scope "admin": did you mean tus:admin\?/);
    const help = await token(["--help"]);
    expect(help.stdout).toMatch(/tus:upload, tus:download, tus:delete, tus:admin/);
    expect(help.stdout).toMatch(/colon form/);
  }, 60_000);

  it("prints a token alone on its line that the gateway accepts as its scopes say: upload and administration", async () => {
    await writeFile(join(copy.dir, ".dev.vars"), `JWT_SECRET=${SECRET}\nJWT_AUDIENCE=${AUDIENCE}\n`);
    const ran = await token(["--sub", "alice", "--scope", "tus:upload tus:admin", "--ttl", "1h"]);
    expect(ran.code, describeRun(ran)).toBe(0);
    expect(ran.stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    const jwt = ran.stdout.trim();
    const claims = claimsOf(jwt);
    expect(claims).toMatchObject({ sub: "alice", scope: "tus:upload tus:admin", aud: AUDIENCE });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);

    const created = await fetch(server.endpoint, { method: "POST", headers: { ...bearer(jwt), "Tus-Resumable": "1.0.0", "Upload-Length": "5" } });
    expect(created.status, await created.clone().text()).toBe(201);
    const location = new URL(created.headers.get("Location")!, server.endpoint).href;
    const patched = await fetch(location, {
      method: "PATCH",
      headers: { ...bearer(jwt), "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
      body: "hello",
    });
    expect(patched.status).toBe(204);
    const id = location.slice(location.lastIndexOf("/") + 1);
    const inspected = await fetch(new URL(`/admin/uploads/${id}`, server.url), { headers: bearer(jwt) });
    expect(inspected.status, await inspected.clone().text()).toBe(200);
    expect(await inspected.json()).toMatchObject({ id, offset: 5 });

    // Without tus:admin, administration is refused; without tus:download, so is the download.
    const uploadOnly = await token(["--sub", "alice", "--scope", "tus:upload"]);
    const refused = await fetch(new URL(`/admin/uploads/${id}`, server.url), { headers: bearer(uploadOnly.stdout.trim()) });
    expect(refused.status).toBe(403);
    const download = await fetch(location, { headers: bearer(uploadOnly.stdout.trim()) });
    expect(download.status).toBe(403);
  }, 60_000);

  it("binds a token to one upload with --upload-id, and takes --aud over JWT_AUDIENCE (a wrong one is refused)", async () => {
    await writeFile(join(copy.dir, ".dev.vars"), `JWT_SECRET=${SECRET}\nJWT_AUDIENCE=${AUDIENCE}\n`);
    const bound = await token(["--sub", "alice", "--upload-id", "abc", "--scope", "tus:download"]);
    expect(claimsOf(bound.stdout.trim())).toMatchObject({ upload_id: "abc", aud: AUDIENCE });
    const elsewhere = await token(["--sub", "alice", "--aud", "another-service"]);
    expect(claimsOf(elsewhere.stdout.trim()).aud).toBe("another-service");
    const refused = await fetch(server.endpoint, { method: "POST", headers: { ...bearer(elsewhere.stdout.trim()), "Tus-Resumable": "1.0.0", "Upload-Length": "1" } });
    expect(refused.status).toBe(401);
  }, 60_000);
});
