/**
 * The fault worker (test/faults/worker.ts) under `wrangler dev`, and its
 * fault plan. The plan is read by each isolate at most PLAN_CACHE_MS late,
 * so setting it waits that long: afterwards every Durable Object follows it.
 */
import { expect } from "vitest";
import { sleep, startServer, type ServerOptions, type TestServer } from "../../e2e/server";
import { FAULTS_ROUTE, PLAN_CACHE_MS, type FaultPlan } from "../fault-plan";

const FAULT_WORKER_SOURCES = [
  "src",
  "test/faults/worker.ts",
  "test/faults/faulty-bucket.ts",
  "test/faults/fault-plan.ts",
  "test/faults/wrangler.toml",
];

export function startFaultServer(options: Omit<ServerOptions, "config" | "sources"> = {}): Promise<TestServer> {
  return startServer({ ...options, config: "test/faults/wrangler.toml", sources: FAULT_WORKER_SOURCES });
}

export async function setFaultPlan(server: TestServer, plan: FaultPlan): Promise<void> {
  const response = await fetch(`${server.url}${FAULTS_ROUTE}`, { method: "PUT", body: JSON.stringify(plan), signal: AbortSignal.timeout(10_000) });
  expect(response.status, await response.text()).toBe(204);
  await sleep(PLAN_CACHE_MS + 200);
}

export async function clearFaultPlan(server: TestServer): Promise<void> {
  const response = await fetch(`${server.url}${FAULTS_ROUTE}`, { method: "DELETE", signal: AbortSignal.timeout(10_000) });
  expect(response.status, await response.text()).toBe(204);
  await sleep(PLAN_CACHE_MS + 200);
}
