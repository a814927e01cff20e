/**
 * The tus-js-client snippet (Node) of docs/clients.md when the upload fails: its
 * `onError` prints one line that says what happened (the gateway's status
 * and message), not tus-js-client's error object with the request's
 * internals (about 80 lines), and the process exits 1. The gateway here
 * wants a token the snippet does not send, so the creation answers 401.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeRun, forServer, run, snippet, workDir } from "../readme/snippets";
import { HS256_SECRET } from "./jwt";
import { ROOT, startServer, type TestServer } from "./server";

let server: TestServer;
let dir: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  [server, dir] = await Promise.all([startServer({ vars: { AUTH_MODE: "jwt", JWT_SECRET: HS256_SECRET } }), workDir("snippet-errors")]);
}, 90_000);

afterAll(async () => {
  await Promise.all([server?.stop(), dir?.remove()]);
}, 30_000);

describe("the tus-js-client snippet (Node) of docs/clients.md, on an upload the gateway refuses", () => {
  it("prints one line, `upload failed: <status> <message>`, and exits 1", async () => {
    await writeFile(join(dir.path, "video.mp4"), "not much of a video");
    await writeFile(join(dir.path, "upload.mjs"), forServer(snippet("tus-js-client-node").code, server.url));
    const ran = await run(join(ROOT, "node_modules", ".bin", "node"), ["upload.mjs"], { cwd: dir.path, timeoutMs: 60_000 });
    expect(ran.code, describeRun(ran)).toBe(1);
    expect(ran.stderr).toMatch(/^upload failed: 401 no bearer token: this server needs one \(Authorization: Bearer <JWT>\)\n$/);
    expect(ran.stdout).toBe("");
  }, 90_000);
});
