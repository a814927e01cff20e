/**
 * A Worker of someone else's that mounts tus-edge through the library API:
 * `createTusGateway` with its own configuration (base path, key prefix and
 * template, JWT access control), the four in-process callbacks, and the
 * three hook URLs, answered by hook-server.ts in this isolate.
 *
 * The callbacks record every call in R2 under `calls/`, because R2 is the
 * one place that the Worker, the upload Durable Objects and the tests all
 * see, in whatever isolate each runs and across evictions. They misbehave
 * when an upload's metadata asks them to (see CONTROL), so each test drives
 * them through ordinary tus requests.
 */
import { env } from "cloudflare:workers";
import keys from "../fixtures/jwt-test-keys.json";
import { createTusGateway, type CreateDecision, type FinishingCallbackResult, type FinishingQuestion, type UploadEvent, type UploadProposal } from "../../src/index";
import { HOOK_URLS, installHookNetwork } from "./hook-server";
import { recordingMetrics } from "./recorded-metrics";

/**
 * Metadata keys the callbacks obey:
 *  - `probe`: onUploadCreate records the proposal at `calls/onUploadCreate/<probe>.json`;
 *  - `reject` (message) and `rejectStatus`: onUploadCreate rejects the upload;
 *  - `replaceMetadata` (JSON object of text values): onUploadCreate replaces the metadata;
 *  - `objectKey`: onUploadCreate chooses the object key;
 *  - `failFinish` (a count): onUploadFinish throws that many times for the upload's `finished` event;
 *  - `failEvent` (`<type>:<count>`): onEvent throws that many times for the upload's event of that type;
 *  - `finishing` (a JSON array, one step per call, the last repeating): what onUploadFinishing does when
 *    asked about the upload: `"throw"`, `{"delayMs": n}` (answers `{}` after n ms), or a decision to return.
 *    Without it, onUploadFinishing accepts. Every call is recorded at `finishing/<upload id>/<attempt>.json`;
 *  - `webhooks`: what the hook URLs answer (hook-server.ts); without it they accept and take every event.
 */
export const CONTROL = ["probe", "reject", "rejectStatus", "replaceMetadata", "objectKey", "failFinish", "failEvent", "finishing", "webhooks"] as const;

/** PRE_FINISH_HOOK_TIMEOUT_MS of this Worker: short, so that a test can outwait it. */
export const FINISHING_TIMEOUT_MS = 1000;

/**
 * While an object `faults/<key>` exists, R2's `createMultipartUpload` fails
 * for `key` as the gateway sees it: a test puts the marker to make an upload
 * (or a final upload's assembly) meet a storage fault, and deletes it to let
 * R2 work again. In R2, like the calls, so every isolate sees it.
 */
export const FAULTS_PREFIX = "faults/";

export const BASE_PATH = "/api/uploads/";
export const KEY_PREFIX = "library/";

/** One call of onEvent or onUploadFinish, as recorded in R2. */
export interface RecordedCall {
  hook: "onEvent" | "onUploadFinish";
  /** Which delivery of this event to this hook it was, from 0. */
  attempt: number;
  outcome: "returned" | "threw";
  event: UploadEvent;
}

async function onUploadCreate(proposal: UploadProposal): Promise<CreateDecision> {
  const { probe, reject, rejectStatus, replaceMetadata, objectKey } = proposal.metadata;
  if (probe !== undefined) await env.BUCKET.put(`calls/onUploadCreate/${probe}.json`, JSON.stringify(proposal));
  if (reject !== undefined) return { reject: { status: rejectStatus === undefined ? undefined : Number(rejectStatus), message: reject } };
  const decision: { metadata?: Record<string, string>; objectKey?: string } = {};
  if (replaceMetadata !== undefined) decision.metadata = JSON.parse(replaceMetadata) as Record<string, string>;
  if (objectKey !== undefined) decision.objectKey = objectKey;
  return decision;
}

/** Records the call, then throws if the upload's metadata asks for more failures than there were. */
async function recordCall(hook: RecordedCall["hook"], event: UploadEvent, failuresWanted: number): Promise<void> {
  const folder = `calls/${hook}/${event.id}/`;
  const attempt = (await env.BUCKET.list({ prefix: folder })).objects.length;
  const outcome = attempt < failuresWanted ? "threw" : "returned";
  const call: RecordedCall = { hook, attempt, outcome, event };
  await env.BUCKET.put(`${folder}${String(attempt).padStart(3, "0")}-${crypto.randomUUID()}.json`, JSON.stringify(call));
  if (outcome === "threw") throw new Error(`${hook} fails on purpose (delivery ${attempt + 1} of event ${event.id})`);
}

/** onUploadFinishing: records the question, then follows the upload's `finishing` script. */
async function onUploadFinishing(question: FinishingQuestion): Promise<FinishingCallbackResult> {
  const { upload, attempt } = question;
  await env.BUCKET.put(`finishing/${upload.id}/${String(attempt).padStart(3, "0")}.json`, JSON.stringify(question));
  const script = JSON.parse(metadataText(question, "finishing") ?? "[{}]") as unknown[];
  const step = script[Math.min(attempt, script.length) - 1];
  if (step === "throw") throw new Error(`onUploadFinishing fails on purpose (attempt ${attempt})`);
  if (typeof step === "object" && step !== null && "delayMs" in step) {
    await new Promise((resolve) => setTimeout(resolve, Number(step.delayMs)));
    return {};
  }
  return step as FinishingCallbackResult;
}

function metadataText(event: { upload: { metadata: Record<string, string> } }, key: string): string | undefined {
  const value = event.upload.metadata[key];
  return value === undefined ? undefined : new TextDecoder().decode(Uint8Array.from(atob(value), (char) => char.charCodeAt(0)));
}

function faultyBucket(bucket: R2Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, property) {
      if (property === "createMultipartUpload") {
        return async (key: string, options?: R2MultipartOptions) => {
          if (await target.head(`${FAULTS_PREFIX}${key}`)) throw new Error(`R2 fails on purpose: ${FAULTS_PREFIX}${key} exists`);
          return target.createMultipartUpload(key, options);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

// The webhooks (hook-server.ts) answer in this isolate; each is asked before its callback.
installHookNetwork();

const gateway = createTusGateway({
  config: {
    preCreateHookUrl: HOOK_URLS.preCreate,
    preFinishHookUrl: HOOK_URLS.preFinish,
    webhookUrl: HOOK_URLS.events,
    basePath: BASE_PATH,
    objectKeyPrefix: KEY_PREFIX,
    objectKeyTemplate: "{subject}/{filename}",
    auth: { mode: "jwt", secret: keys.hs256Secret, jwks: undefined, audience: "tus-edge-tests", issuer: "https://issuer.test" },
    preFinishHookTimeoutMs: FINISHING_TIMEOUT_MS,
  },
  onUploadCreate,
  onUploadFinishing,
  wrapMetrics: recordingMetrics,
  wrapBucket: faultyBucket,
  onUploadFinish: (event) => recordCall("onUploadFinish", event, Number(metadataText(event, "failFinish") ?? 0)),
  onEvent: (event) => {
    const [type, count] = (metadataText(event, "failEvent") ?? "").split(":");
    return recordCall("onEvent", event, type === event.type ? Number(count) : 0);
  },
});

export const UploadObject = gateway.UploadObject;

export default {
  fetch: gateway.fetch,
  /** The Queue consumer: records each delivered event under `queue/<event id>/`. */
  async queue(batch: MessageBatch<UploadEvent>): Promise<void> {
    for (const message of batch.messages) {
      await env.BUCKET.put(`queue/${message.body.id}/${crypto.randomUUID()}.json`, JSON.stringify(message.body));
      message.ack();
    }
  },
};
