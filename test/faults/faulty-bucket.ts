/**
 * An R2 bucket that fails on purpose: a wrapper around the real binding whose
 * operations follow the fault plan (fault-plan.ts) stored in that same bucket.
 * Used through `createTusGateway({ wrapBucket })`, so the Worker and every
 * upload's Durable Object see the same faults.
 */
import { DEFAULT_HANG_MS, INJECTED, PLAN_CACHE_MS, PLAN_KEY, type FaultPlan, type R2Operation } from "./fault-plan";

/** The plan as this isolate last read it. */
let cached: { plan: FaultPlan; readAt: number } | undefined;

/** Called by the control route after it stored a new plan, so this isolate need not wait for the cache. */
export function rememberPlan(plan: FaultPlan): void {
  cached = { plan, readAt: Date.now() };
}

async function currentPlan(bucket: R2Bucket): Promise<FaultPlan> {
  if (cached && Date.now() - cached.readAt < PLAN_CACHE_MS) return cached.plan;
  const stored = await bucket.get(PLAN_KEY);
  const plan = stored ? await stored.json<FaultPlan>() : {};
  rememberPlan(plan);
  return plan;
}

/** Runs `call` (an operation on the real bucket), or fails instead, as the plan says. */
async function underPlan<T>(real: R2Bucket, operation: R2Operation, call: () => Promise<T>): Promise<T> {
  const { fail = 0, hang = 0, failAfter = 0, hangMs = DEFAULT_HANG_MS } = (await currentPlan(real))[operation] ?? {};
  const draw = Math.random();
  if (draw < fail) throw new Error(`${INJECTED}: ${operation} failed`);
  if (draw < fail + hang) {
    await new Promise((wake) => setTimeout(wake, hangMs));
    throw new Error(`${INJECTED}: ${operation} hung for ${hangMs} ms`);
  }
  const result = await call();
  if (draw < fail + hang + failAfter) throw new Error(`${INJECTED}: ${operation} succeeded in R2 but its answer was lost`);
  return result;
}

function faultyMultipart(real: R2Bucket, multipart: R2MultipartUpload): R2MultipartUpload {
  return {
    get key() {
      return multipart.key;
    },
    get uploadId() {
      return multipart.uploadId;
    },
    uploadPart: (partNumber, value, options) => underPlan(real, "uploadPart", () => multipart.uploadPart(partNumber, value, options)),
    complete: (parts) => underPlan(real, "complete", () => multipart.complete(parts)),
    abort: () => underPlan(real, "abort", () => multipart.abort()),
  };
}

export function faultyBucket(real: R2Bucket): R2Bucket {
  const bucket = {
    head: (key: string) => underPlan(real, "head", () => real.head(key)),
    get: (key: string, options?: R2GetOptions) => underPlan(real, "get", () => real.get(key, options)),
    put: (key: string, value: Parameters<R2Bucket["put"]>[1], options?: R2PutOptions) =>
      underPlan(real, "put", () => real.put(key, value, options)),
    delete: (keys: string | string[]) => underPlan(real, "delete", () => real.delete(keys)),
    list: (options?: R2ListOptions) => real.list(options),
    createMultipartUpload: async (key: string, options?: R2MultipartOptions) =>
      faultyMultipart(real, await underPlan(real, "createMultipartUpload", () => real.createMultipartUpload(key, options))),
    // Synchronous in the binding (it only names the upload), so it cannot fail here; its methods can.
    resumeMultipartUpload: (key: string, uploadId: string) => faultyMultipart(real, real.resumeMultipartUpload(key, uploadId)),
  };
  return bucket as unknown as R2Bucket;
}
