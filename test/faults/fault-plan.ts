/**
 * The fault plan: which R2 operations the fault worker (worker.ts) makes fail,
 * and how often. Shared by the worker and the tests; it imports nothing, so
 * both the Workers and the Node type configurations can include it.
 *
 * Per operation, the chances (0 to 1, summing to at most 1) that a call:
 *  - `fail`: throws before reaching R2 (R2 refused, or the request never left);
 *  - `hang`: does not answer for `hangMs` (default 20 s), then throws, having
 *    done nothing (a stuck connection that finally times out);
 *  - `failAfter`: reaches R2 and succeeds there, then throws anyway (the
 *    answer was lost on the way back, so R2 and the gateway disagree).
 * Any other call goes through untouched.
 */
export const R2_OPERATIONS = [
  "head",
  "get",
  "put",
  "delete",
  "createMultipartUpload",
  "uploadPart",
  "complete",
  "abort",
] as const;

export type R2Operation = (typeof R2_OPERATIONS)[number];

export interface OperationFaults {
  fail?: number;
  hang?: number;
  failAfter?: number;
  /** How long a hanging call takes before it throws. Default 20,000 ms. */
  hangMs?: number;
}

export type FaultPlan = Partial<Record<R2Operation, OperationFaults>>;

/** The fault worker's control route: `PUT` a plan (JSON), `DELETE` to clear it, `GET` to read it. */
export const FAULTS_ROUTE = "/__faults";

/** Where the plan lives in the real bucket, so that every isolate (Worker and Durable Objects) reads the same one. */
export const PLAN_KEY = "__faults/plan.json";

/**
 * How long an isolate may use a plan it read before reading it again. Every
 * change of plan waits this long (lib/fault-server.ts), some thirty times a
 * run; reading the plan from local R2 five times a second costs nothing.
 */
export const PLAN_CACHE_MS = 200;

export const DEFAULT_HANG_MS = 20_000;

/** Every injected error's message starts with this, so logs and 503 bodies tell injected faults from real ones. */
export const INJECTED = "injected R2 fault";
