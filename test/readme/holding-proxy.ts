/**
 * A TCP proxy in front of the gateway that can stop passing on what clients
 * send after a number of bytes: the client's writes then back up and it
 * stalls mid-PATCH, with a known prefix of its body at the gateway. The test
 * can then kill the client and cut its connections, as a crash would. Plain
 * TCP, so the client and the gateway speak to each other unchanged.
 */
import { once } from "node:events";
import { createConnection, createServer, type Socket } from "node:net";

export interface HoldingProxy {
  /** `http://127.0.0.1:<port>`: give it to the client in place of the gateway's origin. */
  url: string;
  /** From now on pass on at most `bytes` more client bytes in all; the rest is held back. */
  holdAfter(bytes: number): void;
  /** Client bytes passed on to the gateway since the last `holdAfter`. */
  readonly forwarded: number;
  /** Whether the limit is reached and a client is waiting with more to send. */
  readonly holding: boolean;
  /** Destroys every open connection on both sides; the proxy keeps listening, passing everything on. */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startHoldingProxy(target: URL): Promise<HoldingProxy> {
  let allowance = Infinity;
  let forwarded = 0;
  let holding = false;
  const open = new Set<Socket>();

  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => {}); // a cut or a killed client: the other side is destroyed below
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    upstream.pipe(client);
    client.on("data", (chunk: Buffer) => {
      const passed = Math.min(chunk.length, allowance - forwarded);
      if (passed > 0) upstream.write(chunk.subarray(0, passed));
      forwarded += passed;
      if (passed < chunk.length) {
        // Read no more from this client: its writes back up and it stalls as on a dead network.
        holding = true;
        client.pause();
      }
    });
    client.on("end", () => upstream.end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    holdAfter(bytes) {
      allowance = bytes;
      forwarded = 0;
      holding = false;
    },
    get forwarded() {
      return forwarded;
    },
    get holding() {
      return holding;
    },
    cutAll() {
      for (const socket of open) socket.destroy();
      allowance = Infinity;
      forwarded = 0;
      holding = false;
    },
    close: () =>
      new Promise((done) => {
        for (const socket of open) socket.destroy();
        server.close(() => done());
      }),
  };
}
