/**
 * The fault worker: the gateway through the library API, with an R2 bucket
 * that fails as the current fault plan says (faulty-bucket.ts), in the
 * Worker and in every upload's Durable Object alike.
 *
 * `PUT /__faults` with a plan (JSON, see fault-plan.ts) sets it, `DELETE
 * /__faults` clears it, `GET /__faults` shows it. The plan is stored in the
 * real bucket, so Durable Objects in other isolates see it within
 * PLAN_CACHE_MS. Only for tests: anyone who reaches this route can break uploads.
 */
import { createTusGateway, type GatewayEnv } from "../../src/index";
import { FAULTS_ROUTE, PLAN_KEY, type FaultPlan } from "./fault-plan";
import { faultyBucket, rememberPlan } from "./faulty-bucket";

const gateway = createTusGateway({ wrapBucket: (bucket) => faultyBucket(bucket) });

export const UploadObject = gateway.UploadObject;

async function controlFaults(request: Request, env: GatewayEnv): Promise<Response> {
  switch (request.method) {
    case "GET": {
      const stored = await env.BUCKET.get(PLAN_KEY);
      return Response.json(stored ? await stored.json() : {});
    }
    case "PUT": {
      let plan: FaultPlan;
      try {
        plan = await request.json();
      } catch {
        return new Response("the fault plan must be JSON\n", { status: 400 });
      }
      await env.BUCKET.put(PLAN_KEY, JSON.stringify(plan));
      rememberPlan(plan);
      return new Response(null, { status: 204 });
    }
    case "DELETE":
      await env.BUCKET.delete(PLAN_KEY);
      rememberPlan({});
      return new Response(null, { status: 204 });
    default:
      return new Response("GET, PUT or DELETE\n", { status: 405 });
  }
}

export default {
  fetch(request: Request, env: GatewayEnv): Promise<Response> {
    if (new URL(request.url).pathname === FAULTS_ROUTE) return controlFaults(request, env);
    return gateway.fetch(request, env);
  },
};
