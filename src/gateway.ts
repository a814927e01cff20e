import { Router, type IRequest } from "itty-router";
import { configFromEnv, type GatewayConfig } from "./config";
import { TusError } from "./errors";
import { withCors } from "./protocol/http/cors";
import type { TusContext } from "./protocol/tus/context";
import { applyMethodOverride } from "./protocol/tus/method-override";
import { handleDelete } from "./protocol/tus/methods/delete";
import { handleGet } from "./protocol/tus/methods/get";
import { handleHead } from "./protocol/tus/methods/head";
import { handleOptions } from "./protocol/tus/methods/options";
import { handlePatch } from "./protocol/tus/methods/patch";
import { handlePost } from "./protocol/tus/methods/post";
import { errorResponse } from "./protocol/tus/respond";
import type { UploadObject } from "./upload/upload-object";
import { Uploads } from "./upload/uploads";

export interface GatewayEnv {
  UPLOADS: DurableObjectNamespace<UploadObject>;
  BUCKET: R2Bucket;
}

export interface Gateway {
  fetch(request: Request, env: GatewayEnv): Promise<Response>;
}

type Handler = (context: TusContext) => Response | Promise<Response>;

/**
 * The Worker's request handling: method override, then routing of the
 * collection (`<basePath>`) and upload URLs (`<basePath><id>`) to one handler
 * per method, every error to one error response, and CORS on the way out.
 * Everything tus-specific lives under protocol/tus; a second dialect would be
 * chosen here, per request, and share the upload layer.
 */
export function createGateway(config: GatewayConfig): Gateway {
  const route = (handler: Handler) => (request: IRequest, env: GatewayEnv) =>
    handler({
      request: request as unknown as Request,
      uploads: new Uploads(env, config),
      config,
      uploadId: request.params.id ?? "",
    });
  const refuse = (code: "method-not-allowed" | "upload-not-found") => () => {
    throw new TusError(code);
  };

  const router = Router<IRequest, [GatewayEnv]>({ base: config.basePath.replace(/\/$/, "") })
    .options("/", route(handleOptions))
    .post("/", route(handlePost))
    .all("/", refuse("method-not-allowed"))
    .options("/:id", route(handleOptions))
    .head("/:id", route(handleHead))
    .patch("/:id", route(handlePatch))
    .get("/:id", route(handleGet))
    .delete("/:id", route(handleDelete))
    .all("/:id", refuse("method-not-allowed"))
    .all("*", refuse("upload-not-found"));

  return {
    async fetch(original, env) {
      let response: Response;
      let request = original;
      try {
        request = applyMethodOverride(original);
        // Paths outside the base path match no route at all: undefined.
        response = (await router.fetch(request as unknown as IRequest, env)) ?? errorResponse(new TusError("upload-not-found"), request);
      } catch (error) {
        response = errorResponse(error, request);
      }
      return withCors(response, original, config.corsAllowedOrigins);
    },
  };
}

const gateways = new WeakMap<GatewayConfig, Gateway>();

/** The default Worker: configuration from wrangler variables, parsed once per isolate. */
export default {
  async fetch(request: Request, env: GatewayEnv): Promise<Response> {
    const config = configFromEnv(env);
    let gateway = gateways.get(config);
    if (!gateway) gateways.set(config, (gateway = createGateway(config)));
    return gateway.fetch(request, env);
  },
};
