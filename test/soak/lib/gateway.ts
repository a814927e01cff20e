/**
 * The soak's local gateway: test/soak/worker.ts under `wrangler dev` (the
 * fault worker's failing bucket, counted, and the upload index in D1 with
 * migrations/ applied as `npm start` applies them), AUTH_MODE=jwt with the
 * test fixture's secret, a pre-finish hook answered by a local receiver, and
 * short expiry. Restarts with SIGKILL keep the state directory, so upload
 * URLs stay valid.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { ROOT, startServer, sleep, type TestServer } from "../../e2e/server.ts";
import { startHookReceiver, type HookReceiver } from "../../e2e/receiver.ts";
import { HS256_SECRET, tokenFor } from "../../e2e/jwt.ts";
import { FAULTS_ROUTE, PLAN_CACHE_MS, type FaultPlan } from "../../faults/fault-plan.ts";

export const CONFIG = "test/soak/wrangler.toml";
/** The Worker's name in wrangler.toml: workerd's inspector lists its isolate as `core:user:<name>`. */
export const WORKER_NAME = "tus-edge-soak";
/** The bucket's name in wrangler.toml: local R2 keeps its files under it. */
export const BUCKET_NAME = "tus-edge-soak";
const SOURCES = ["src", "migrations", "test/soak/worker.ts", "test/soak/wrangler.toml", "test/faults/worker.ts", "test/faults/faulty-bucket.ts", "test/faults/fault-plan.ts"];
const BIN = join(ROOT, "node_modules", ".bin");

export interface GatewaySettings {
  expireAfterSeconds: number;
  preFinishTimeoutMs: number;
}

export interface SoakGateway {
  server: TestServer;
  receiver: HookReceiver;
  settings: GatewaySettings;
  /** A bearer token for `subject` (renewed before it runs out). */
  token(subject: string): string;
  adminToken(): string;
  /** Sets the fault plan; resolves once every isolate follows it. */
  setPlan(plan: FaultPlan): Promise<void>;
  /** R2 faults the worker injected since its last start, by `operation kind`. */
  injected(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export async function startSoakGateway(settings: GatewaySettings): Promise<SoakGateway> {
  const receiver = await startHookReceiver();
  const persistDir = await mkdtemp(join(tmpdir(), "tus-edge-soak-"));
  await promisify(execFile)(join(BIN, "wrangler"), ["d1", "migrations", "apply", "INDEX", "--local", "--config", CONFIG, "--persist-to", persistDir], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${BIN}${delimiter}${process.env.PATH ?? ""}`, WRANGLER_SEND_METRICS: "false", CI: "1" },
    timeout: 120_000,
  });
  const server = await startServer({
    config: CONFIG,
    sources: SOURCES,
    persistDir,
    readyTimeoutMs: 120_000,
    vars: {
      AUTH_MODE: "jwt",
      JWT_SECRET: HS256_SECRET,
      EXPIRE_AFTER_SECONDS: String(settings.expireAfterSeconds),
      PRE_FINISH_HOOK_URL: receiver.preFinishUrl,
      PRE_FINISH_HOOK_TIMEOUT_MS: String(settings.preFinishTimeoutMs),
      WEBHOOK_SECRET: "soak-webhook-secret-for-tests-only",
    },
  });
  const tokens = new Map<string, { token: string; until: number }>();
  const token = (subject: string, extra: Record<string, unknown> = {}) => {
    const key = `${subject} ${JSON.stringify(extra)}`;
    const held = tokens.get(key);
    if (held && held.until > Date.now()) return held.token;
    // tokenFor's tokens live ten minutes; renewed after five, so none in use runs out.
    const fresh = { token: tokenFor(subject, extra), until: Date.now() + 300_000 };
    tokens.set(key, fresh);
    return fresh.token;
  };
  return {
    server,
    receiver,
    settings,
    token: (subject) => token(subject),
    adminToken: () => token("soak-operator", { scope: "tus:admin" }),
    async setPlan(plan) {
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await fetch(`${server.url}${FAULTS_ROUTE}`, { method: "PUT", body: JSON.stringify(plan), signal: AbortSignal.timeout(10_000) });
          await response.arrayBuffer();
          if (response.status === 204) break;
          throw new Error(`PUT ${FAULTS_ROUTE} answered ${response.status}`);
        } catch (error) {
          if (attempt >= 20) throw error;
          await sleep(500);
        }
      }
      await sleep(PLAN_CACHE_MS + 200);
    },
    async injected() {
      try {
        const response = await fetch(`${server.url}/__soak/injected`, { signal: AbortSignal.timeout(5_000) });
        return response.ok ? ((await response.json()) as Record<string, number>) : {};
      } catch {
        return {};
      }
    },
    async stop() {
      await server.stop();
      await receiver.close();
      await rm(persistDir, { recursive: true, force: true });
    },
  };
}
