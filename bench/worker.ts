/**
 * The benchmark's Worker: the gateway unchanged, plus routes that write and
 * read R2 directly, so a tus upload can be compared with the fastest way the
 * same bytes can reach R2 from a Worker.
 *
 *   PUT /__bench/r2/<key>  `BUCKET.put(key, request.body)`, 201 (the baseline)
 *   GET /__bench/r2/<key>  the object, to verify the baseline's bytes
 *
 * Anything else goes to the gateway.
 */
import type { GatewayEnv } from "../src/gateway";
import gateway from "../src/index";

export { UploadObject } from "../src/index";

const BENCH_PREFIX = "/__bench/r2/";

export default {
  async fetch(request: Request, env: GatewayEnv): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (!pathname.startsWith(BENCH_PREFIX)) return gateway.fetch(request, env);
    const key = decodeURIComponent(pathname.slice(BENCH_PREFIX.length));
    if (request.method === "PUT") {
      // A body with Content-Length: R2 needs a stream of known length.
      await env.BUCKET.put(key, request.body);
      return new Response(null, { status: 201 });
    }
    if (request.method === "GET") {
      const object = await env.BUCKET.get(key);
      if (!object) return new Response("no such object\n", { status: 404 });
      return new Response(object.body, { headers: { "Content-Length": String(object.size) } });
    }
    return new Response("PUT or GET\n", { status: 405 });
  },
};
