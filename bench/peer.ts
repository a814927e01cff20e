/**
 * The benchmark's peer: a stock @tus/server with @tus/file-store, the
 * reference tus server for Node, storing uploads as files on local disk.
 * `npm run bench` starts it as a child process beside `wrangler dev` and
 * drives it with the same clients and files as tus-edge.
 *
 *   node --experimental-strip-types bench/peer.ts <directory>
 *
 * Listens on a free port of 127.0.0.1 (only loopback), serves the tus
 * collection at `/files/` (GET on an upload URL downloads a finished upload),
 * and prints one line of JSON, `{"url":"http://127.0.0.1:<port>","pid":<pid>}`,
 * once it accepts requests. Stops on SIGTERM or SIGINT, or when its parent's
 * end of stdin closes (so it cannot outlive the benchmark).
 */
import { createServer } from "node:http";
import { FileStore } from "@tus/file-store";
import { Server } from "@tus/server";

const directory = process.argv[2];
if (!directory) {
  console.error("usage: node --experimental-strip-types bench/peer.ts <directory>");
  process.exit(2);
}

const tus = new Server({
  path: "/files",
  datastore: new FileStore({ directory }),
});

const http = createServer((req, res) => {
  tus.handle(req, res).catch((error: unknown) => {
    console.error("peer: request failed", error);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
// Bodies of 1 GiB in one PATCH take a while on a busy machine: no request timeout.
http.requestTimeout = 0;

http.listen(0, "127.0.0.1", () => {
  const address = http.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid })}\n`);
});

const stop = () => {
  http.close();
  http.closeAllConnections();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
