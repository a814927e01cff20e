import { it, beforeAll, afterAll } from "vitest";
import { MiB, seededBytes, startServer, downloadSha256, type TestServer } from "/work/main/test/e2e/server";
import { createKnownLength } from "/work/main/test/faults/lib/uploads";
import { exchange, patch } from "/work/main/test/faults/lib/wire";
let server: TestServer;
beforeAll(async () => { server = await startServer(); }, 90_000);
afterAll(async () => { await server?.stop(); }, 30_000);
it("debug", async () => {
  const size = 64 * MiB;
  const url = await createKnownLength(server.endpoint, size);
  console.log((await patch(url, 0, seededBytes(size, "s"))).status);
  let t = Date.now();
  const r = await fetch(url); console.log("fetch headers", [...r.headers]); await r.arrayBuffer(); console.log("fetch", Date.now() - t);
  t = Date.now(); await downloadSha256(url); console.log("downloadSha256", Date.now() - t);
  t = Date.now(); const e = await exchange(url, { method: "GET", timeoutMs: 60_000 }); console.log("node:http", e.status, Date.now() - t, e.headers["content-encoding"]);
  t = Date.now(); const r2 = await fetch(url, { headers: { "Accept-Encoding": "identity" } }); await r2.arrayBuffer(); console.log("fetch identity", Date.now() - t, r2.headers.get("content-encoding"));
}, 200_000);
