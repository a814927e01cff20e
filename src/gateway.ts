import { Router, type IRequest } from "itty-router";
import { ANONYMOUS, Authenticator, authorize, authorizeUpload, type Principal } from "./auth/authenticate";
import { checkQuotasHaveSubjects, checkSubjectsCannotShareKeys, configFromEnv, type GatewayConfig } from "./config";
import { ConfigError } from "./config/parse";
import { TusError } from "./errors";
import type { UploadEvent } from "./hooks/events";
import type { CreateCallback } from "./hooks/pre-create";
import type { FinishingCallback } from "./hooks/pre-finish";
import { Logger, MetricsWriter, RequestObservation, Telemetry, timedBucket } from "./observability";
import { answerOperatorRequest, operatorRequest } from "./operator/routes";
import { isLoopback, uploadPageResponse } from "./page/serve-page";
import { isPreflight, withCors } from "./protocol/http/cors";
import { chooseDialect, type Dialect, type Route } from "./protocol/dialect";
import { applyMethodOverride } from "./protocol/tus/method-override";
import { tusDialect } from "./protocol/tus/dialect";
import { tusHeaders } from "./protocol/tus/respond";
import { UploadObject, type UploadObjectEnv } from "./upload/upload-object";
import { SubjectIndex, type SubjectIndexEnv } from "./subjects/subject-index";
import { subjectIndexSink, subjectQuotaGate, type SubjectNamespace } from "./subjects/subject-indexes";
import { Uploads } from "./upload/uploads";

/**
 * The bindings the gateway takes from a Worker's env, as its wrangler.toml
 * declares them (docs/library.md). A Worker with
 * bindings of its own extends it.
 */
export interface GatewayEnv {
  /** Where finished uploads land (`[[r2_buckets]]`). */
  BUCKET: R2Bucket;
  /**
   * The Durable Object namespace bound to the Worker's exported UploadObject
   * (`[[durable_objects.bindings]]`). Plain `DurableObjectNamespace` is
   * accepted too, as an env written by hand declares it: which class the
   * binding names is wrangler.toml's business, and the namespace type's
   * parameter is invariant, so one form alone would refuse the other.
   */
  UPLOADS: DurableObjectNamespace | DurableObjectNamespace<UploadObject>;
  /** Optional Queue producer for upload events (`[[queues.producers]]`). */
  EVENTS?: Queue;
  /** The upload page's static files (wrangler.toml `[assets]`); without the binding there is no page. */
  ASSETS?: Fetcher;
  /**
   * Each subject's upload index and quotas: the namespace bound to the
   * Worker's exported SubjectIndex (docs/listing.md). Without it there is no
   * listing and no quota. Plain or typed, as UPLOADS.
   */
  SUBJECTS?: SubjectNamespace;
  /** Optional D1 database: administration's listing across all subjects (docs/listing.md). */
  INDEX?: D1Database;
  /** Optional Workers Analytics Engine dataset for metrics (`[[analytics_engine_datasets]]`); docs/operating.md. */
  METRICS?: AnalyticsEngineDataset;
}

export interface TusGatewayOptions {
  /** Settings on top of the Worker's variables (which are read as for the default Worker). */
  config?: Partial<GatewayConfig>;
  /** Asked before each upload is created (in the Worker): may reject it or change its metadata and key. */
  onUploadCreate?: CreateCallback;
  /**
   * Asked in the upload's Durable Object once an upload's object is complete,
   * before the request that completed it is answered (the library's form of
   * PRE_FINISH_HOOK_URL; docs/hooks.md, "Finishing an upload"): return nothing or
   * `{}` to accept, `{ response: { status, headers, body } }` to answer the
   * client, `{ reject: { status, message } }` to reject the upload. If it
   * throws or takes longer than PRE_FINISH_HOOK_TIMEOUT_MS, it is asked again
   * later with the same `idempotencyKey`.
   */
  onUploadFinishing?: FinishingCallback;
  /** Called in the upload's Durable Object when an upload finished; retried until it returns. */
  onUploadFinish?: (event: UploadEvent) => void | Promise<void>;
  /** Called for every upload event (created, finished, terminated, expired); retried until it returns. */
  onEvent?: (event: UploadEvent) => void | Promise<void>;
  /**
   * Wraps the R2 bucket wherever the gateway uses it (Worker and Durable
   * Object), e.g. to count operations or inject faults in tests.
   */
  wrapBucket?: (bucket: R2Bucket) => R2Bucket;
  /**
   * Wraps the METRICS dataset wherever the gateway writes to it (Worker and
   * Durable Object), e.g. to see the data points in tests. Not called
   * without the binding.
   */
  wrapMetrics?: (dataset: AnalyticsEngineDataset) => AnalyticsEngineDataset;
}

export interface TusGateway {
  /** Handles a request for the collection or an upload URL; mount it under your own router if you like. */
  fetch(request: Request, env: GatewayEnv): Promise<Response>;
  /** The Durable Object class to export from your Worker under the name bound in wrangler.toml. */
  UploadObject: typeof UploadObject;
  /** The subject index's Durable Object class, to export under the name bound as SUBJECTS. */
  SubjectIndex: typeof SubjectIndex;
}

/**
 * The library API: a fetch handler plus the Durable Object class, configured
 * from the Worker's variables and these options. The default Worker
 * (src/index.ts) is `createTusGateway()`.
 */
export function createTusGateway(options: TusGatewayOptions = {}): TusGateway {
  const resolved = new WeakMap<object, GatewayConfig>();
  const resolveConfig = (env: object): GatewayConfig => {
    let config = resolved.get(env);
    if (!config) {
      config = { ...configFromEnv(env), ...options.config };
      checkSubjectsCannotShareKeys(config);
      checkQuotasHaveSubjects(config, (env as GatewayEnv).SUBJECTS !== undefined);
      resolved.set(env, config);
    }
    return config;
  };
  /** Each subject's index, where the Worker binds it and tokens give uploads subjects. */
  const subjectsOf = (env: { SUBJECTS?: SubjectNamespace }): SubjectNamespace | undefined =>
    resolveConfig(env).auth.mode === "jwt" ? env.SUBJECTS : undefined;
  const wrapBucket = options.wrapBucket ?? ((bucket: R2Bucket) => bucket);
  const metricsOf = (env: { METRICS?: AnalyticsEngineDataset }) =>
    env.METRICS && options.wrapMetrics ? options.wrapMetrics(env.METRICS) : env.METRICS;
  const eventCallback = (): ((event: UploadEvent) => Promise<void>) | undefined => {
    const { onEvent, onUploadFinish } = options;
    if (!onEvent && !onUploadFinish) return undefined;
    return async (event) => {
      await onEvent?.(event);
      if (event.type === "finished") await onUploadFinish?.(event);
    };
  };

  class ConfiguredUploadObject extends UploadObject {
    protected override configure(env: UploadObjectEnv): GatewayConfig {
      return resolveConfig(env);
    }
    protected override eventCallback() {
      return eventCallback();
    }
    protected override finishingCallback() {
      return options.onUploadFinishing;
    }
    protected override bucketOf(env: UploadObjectEnv): R2Bucket {
      return wrapBucket(env.BUCKET);
    }
    protected override metricsOf(env: UploadObjectEnv): AnalyticsEngineDataset | undefined {
      return metricsOf(env);
    }
    protected override indexSinkOf(env: UploadObjectEnv) {
      const subjects = subjectsOf(env as GatewayEnv);
      return subjects && subjectIndexSink(subjects);
    }
    protected override quotaGateOf(env: UploadObjectEnv) {
      const subjects = subjectsOf(env as GatewayEnv);
      return subjects && subjectQuotaGate(subjects);
    }
  }

  class ConfiguredSubjectIndex extends SubjectIndex {
    protected override configure(env: SubjectIndexEnv): GatewayConfig {
      return resolveConfig(env);
    }
    protected override metricsOf(env: SubjectIndexEnv): AnalyticsEngineDataset | undefined {
      return metricsOf(env);
    }
  }

  const handlers = new WeakMap<GatewayConfig, RequestHandler>();
  return {
    UploadObject: ConfiguredUploadObject,
    SubjectIndex: ConfiguredSubjectIndex,
    async fetch(request, env) {
      let config: GatewayConfig;
      try {
        config = resolveConfig(env);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(error.message);
        return misconfiguredResponse(publicConfigErrorMessage(error), request);
      }
      let handler = handlers.get(config);
      if (!handler) handlers.set(config, (handler = createRequestHandler(config, options.onUploadCreate, wrapBucket, metricsOf)));
      return handler(request, env);
    },
  };
}

/**
 * What a client is told of a configuration error: which variable, and where
 * the operator finds the rest. The value itself stays in the log: a
 * malformed webhook URL or hook address may carry credentials, and any
 * client can make the gateway answer.
 */
function publicConfigErrorMessage(error: ConfigError): string {
  return (
    `tus-edge configuration: ${error.variable} is not valid, so this gateway serves no one until it is fixed. ` +
    "The Worker's log says what is wrong and how to fix it (`npx wrangler tail` for a deployment, the terminal of `npm start` locally)."
  );
}

/**
 * A misconfigured gateway serves nothing, and says why. The answer still
 * carries `Tus-Resumable` and CORS headers, so that a tus client in a
 * browser on another origin can show the message instead of a bare CORS
 * failure: the configured origins are unknown here, so any origin may read
 * it, and a preflight is allowed so that the request it precedes gets to
 * this 500.
 */
function misconfiguredResponse(message: string, request: Request): Response {
  const headers = tusHeaders({ "Cache-Control": "no-store" });
  let response: Response;
  if (isPreflight(request)) response = new Response(null, { status: 204, headers });
  else if (request.method === "HEAD") response = new Response(null, { status: 500, headers });
  else {
    headers.set("Content-Type", "text/plain; charset=utf-8");
    response = new Response(`${message}\n`, { status: 500, headers });
  }
  return withCors(response, request, "*");
}

/**
 * The answer of a gateway whose AUTH_MODE was never set, on a host that is
 * not loopback. Defaulting to open there would hand every upload to anyone
 * the day a deployment forgot the setting, or lost a `--var AUTH_MODE:jwt`
 * on a later deploy (wrangler keeps no `--var`); refusing is the operator's
 * misconfiguration (500), and says how to choose. Loopback hosts (`npm
 * start`) need no setting.
 */
const AUTH_MODE_UNSET =
  "tus-edge configuration: AUTH_MODE is not set, and this gateway is reached on a host that is not loopback (127.0.0.0/8, localhost, [::1]), so it serves no one until you choose who may use it. " +
  'In wrangler.toml [vars], set AUTH_MODE = "jwt" and give the Worker the secret JWT_SECRET (`npx wrangler secret put JWT_SECRET`, at least 32 characters) or JWT_JWKS in [vars]; ' +
  'or set AUTH_MODE = "open" to let anyone who can reach it create, read and delete uploads. Then deploy again.';

type RequestHandler = (request: Request, env: GatewayEnv) => Promise<Response>;
type ObservedHandler = (request: Request, env: GatewayEnv, telemetry: Telemetry, observation: RequestObservation) => Promise<Response>;

/**
 * The Worker's request handling: method override, authentication (every
 * method but OPTIONS, before any Durable Object is asked), routing of the
 * collection (`<basePath>`) and upload URLs (`<basePath><id>`) to one handler
 * per method of the request's dialect (tus 1.0, or the IETF draft when the
 * request says `Upload-Draft-Interop-Version`: protocol/dialect.ts), every
 * error to that dialect's error response, and CORS on the way out. Every
 * request, whatever its answer, ends in one request line (logs and metrics).
 */
function createRequestHandler(
  config: GatewayConfig,
  onUploadCreate: CreateCallback | undefined,
  wrapBucket: (bucket: R2Bucket) => R2Bucket,
  metricsOf: (env: GatewayEnv) => AnalyticsEngineDataset | undefined,
): RequestHandler {
  const logger = new Logger(config.logLevel);
  const handle = createObservedHandler(config, onUploadCreate, wrapBucket);
  return async (request, env) => {
    const telemetry = new Telemetry(logger, new MetricsWriter(metricsOf(env)));
    const observation = new RequestObservation(request, config.basePath);
    const response = await handle(request, env, telemetry, observation);
    telemetry.request(observation.line(response));
    return response;
  };
}

function createObservedHandler(
  config: GatewayConfig,
  onUploadCreate: CreateCallback | undefined,
  wrapBucket: (bucket: R2Bucket) => R2Bucket,
): ObservedHandler {
  const authenticator = new Authenticator(config.auth);
  const route = (name: Route) => (request: IRequest, env: GatewayEnv, principal: Principal, dialect: Dialect, telemetry: Telemetry) => {
    const handler = dialect.handlers[name];
    if (!handler) throw new TusError("method-not-allowed");
    authorizeUpload(principal, request.params.id);
    return handler({
      request: request as unknown as Request,
      uploads: new Uploads({ UPLOADS: uploadObjects(env), BUCKET: timedBucket(wrapBucket(env.BUCKET), telemetry) }, config, principal),
      config,
      principal,
      onUploadCreate,
      uploadId: request.params.id ?? "",
    });
  };
  const refuse = (code: "method-not-allowed" | "upload-not-found") => () => {
    throw new TusError(code);
  };
  const router = Router<IRequest, [GatewayEnv, Principal, Dialect, Telemetry]>({ base: config.basePath.replace(/\/$/, "") })
    .options("/", route("collectionOptions"))
    .post("/", route("create"))
    .put("/", route("createByPut"))
    .all("/", refuse("method-not-allowed"))
    .options("/:id", route("options"))
    .head("/:id", route("head"))
    .patch("/:id", route("append"))
    .get("/:id", route("get"))
    .delete("/:id", route("delete"))
    .all("/:id", refuse("method-not-allowed"))
    .all("*", refuse("upload-not-found"));

  const refusesPublicHosts = config.auth.mode === "open" && config.auth.loopbackOnly === true;
  let loggedRefusal = false;
  return async (original, env, telemetry, observation) => {
    if (refusesPublicHosts && !isLoopback(original)) {
      if (!loggedRefusal) console.error(AUTH_MODE_UNSET);
      loggedRefusal = true;
      return misconfiguredResponse(AUTH_MODE_UNSET, original);
    }
    const page = uploadPageResponse(config, original, env.ASSETS);
    if (page) return page;
    let response: Response;
    let request = original;
    let dialect: Dialect = tusDialect;
    try {
      request = applyMethodOverride(original);
      observation.method = request.method;
      dialect = chooseDialect(request, config.rufhInteropVersions);
      observation.setDialect(dialect === tusDialect, request);
      const principal = request.method === "OPTIONS" ? ANONYMOUS : await authenticator.authenticate(request);
      observation.subject = principal.subject;
      // Listing and administration: JSON beside the tus dialects, with scopes of their own (src/operator).
      const operator = operatorRequest(request, config);
      if (operator) {
        const uploads = () => new Uploads({ UPLOADS: uploadObjects(env), BUCKET: wrapBucket(env.BUCKET) }, config, principal);
        const context = { request, config, principal, subjects: env.SUBJECTS, index: env.INDEX, uploads };
        return withCors(await answerOperatorRequest(operator, context), original, config.corsAllowedOrigins);
      }
      authorize(principal, request.method);
      // Paths outside the base path match no route at all: undefined.
      const routed: Response | undefined = await router.fetch(request as unknown as IRequest, env, principal, dialect, telemetry);
      if (!routed) throw new TusError("upload-not-found");
      response = routed;
    } catch (error) {
      observation.setError(error);
      response = dialect.errorResponse(error, request);
    }
    return withCors(response, original, config.corsAllowedOrigins);
  };
}

/** The UPLOADS binding as wrangler.toml makes it: a namespace of the gateway's UploadObject (see GatewayEnv). */
function uploadObjects(env: GatewayEnv): DurableObjectNamespace<UploadObject> {
  return env.UPLOADS as DurableObjectNamespace<UploadObject>;
}
