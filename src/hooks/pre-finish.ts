import { readTextWithin, type BoundedText } from "./bounded-read";
import { isRedirect, MAX_HOOK_ANSWER_BYTES, postToHook, redirectRefusal } from "./hook-request";
import { SIGNATURE_HEADER, signatureHeader } from "./signature";

/**
 * The pre-finish hook (PRE_FINISH_HOOK_URL, and the library's
 * `onUploadFinishing`): asked once an upload's last byte is stored and its
 * R2 object is complete, before the request that completed it is answered.
 * Its decision is what that request answers (docs/hooks.md, "Finishing an upload").
 */

/** What the hook is told about the upload that is finishing. */
export interface FinishingUpload {
  id: string;
  objectKey: string;
  /** The object's size in bytes. */
  size: number;
  /** Metadata as the client sent it (tus: Base64 values), like events carry it. */
  metadata: Record<string, string>;
  /** The token subject that owns the upload; undefined in open mode. */
  subject: string | undefined;
  /** `partial` or `final` for concatenation; undefined for an ordinary upload. */
  concat: "partial" | "final" | undefined;
}

/** The question as it is sent: the upload, and a key that stays the same on every attempt for this upload. */
export interface FinishingQuestion {
  type: "pre-finish";
  /** The same for every call about this upload, whatever failed in between: de-duplicate by it. */
  idempotencyKey: string;
  /** 1 for the first call, more for retries after the hook failed to answer. */
  attempt: number;
  upload: FinishingUpload;
}

/** What the completing request answers instead of its usual response. */
export interface HookAnswer {
  /** 2xx. */
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The hook's decision, checked. */
export type FinishDecision =
  | { kind: "accept" }
  | { kind: "answer"; answer: HookAnswer }
  | { kind: "reject"; status: number; message: string };

/** What the library callback may return; the same shapes the webhook answers in JSON. `undefined` accepts. */
export type FinishingCallbackResult =
  | { response: { status?: number; headers?: Record<string, string>; body?: string } }
  | { reject: { status?: number; message: string } }
  | Record<string, never>
  | undefined
  | void;

export type FinishingCallback = (question: FinishingQuestion) => FinishingCallbackResult | Promise<FinishingCallbackResult>;

export interface FinishingHooks {
  url: string | undefined;
  callback: FinishingCallback | undefined;
  /** WEBHOOK_SECRET: the webhook request is signed like every other hook request. */
  secret: string | undefined;
  timeoutMs: number;
}

/** The hook gave no decision: unreachable, too slow, not 2xx, or an answer that is not a valid decision. Retried. */
export class HookUnanswered extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HookUnanswered";
  }
}

export function hasFinishingHook(hooks: Pick<FinishingHooks, "url" | "callback">): boolean {
  return hooks.url !== undefined || hooks.callback !== undefined;
}

/** A rejection's status when the hook names none. */
export const DEFAULT_REJECT_STATUS = 422;
/** Largest answer body kept and replayed: it is stored with the upload. */
export const MAX_ANSWER_BODY_BYTES = 64 * 1024;
const MAX_ANSWER_HEADERS_BYTES = 8 * 1024;
const MAX_REJECT_MESSAGE_BYTES = 1024;

/**
 * Headers the hook may set: an allow-list, since the answer is served from
 * the gateway's origin and a deny-list let through whatever it forgot
 * (Content-Security-Policy, Refresh, Clear-Site-Data, Content-Location,
 * CDN-Cache-Control, `Content-Type: text/html` all reached clients and HEAD).
 * `X-*` carries the application's results (`X-Video-Id`); `Content-Type`
 * only names data a script reads, never a document a browser renders.
 */
const APPLICATION_HEADER = /^x-/i;
/** `X-*` headers that browsers obey as the origin's policy (the gateway sets X-Content-Type-Options on downloads): not the hook's. */
const POLICY_X_HEADERS = new Set([
  "x-content-type-options",
  "x-frame-options",
  "x-xss-protection",
  "x-permitted-cross-domain-policies",
  "x-dns-prefetch-control",
  "x-download-options",
  "x-ua-compatible",
]);
/** Media types the answer's body may be: `application/json`, `application/*+json` (e.g. problem+json) and `text/plain`. */
const ANSWER_MEDIA_TYPE = /^(application\/json|application\/[!#$%&'*.^_`|~0-9a-z-]+\+json|text\/plain)$/;
const ALLOWED_HEADERS_TEXT = "X-* headers (other than browser policies such as X-Frame-Options) and Content-Type";
const ALLOWED_MEDIA_TYPES_TEXT = "application/json, application/*+json or text/plain";

/**
 * Why the hook may not set this header, or undefined if it may. Also applied
 * to answers stored before the allow-list, when they are served again.
 */
export function answerHeaderRefusal(name: string, value: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower === "content-type") {
    const mediaType = value.split(";")[0]!.trim().toLowerCase();
    return ANSWER_MEDIA_TYPE.test(mediaType) ? undefined : `header ${name} must be ${ALLOWED_MEDIA_TYPES_TEXT}, not ${JSON.stringify(value)}`;
  }
  if (APPLICATION_HEADER.test(name) && !POLICY_X_HEADERS.has(lower)) return undefined;
  return `header ${name} may not be set by the hook: allowed are ${ALLOWED_HEADERS_TEXT} (${ALLOWED_MEDIA_TYPES_TEXT})`;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * Asks the webhook, then the callback (each only if configured), and returns
 * the first decision that is not "accept"; with both accepting, accept.
 * Throws `HookUnanswered` when one of them gives no decision.
 */
export async function askFinishingHooks(question: FinishingQuestion, hooks: FinishingHooks): Promise<FinishDecision> {
  if (hooks.url !== undefined) {
    const decision = parseDecision(await askWebhook(hooks.url, question, hooks), "PRE_FINISH_HOOK_URL");
    if (decision.kind !== "accept") return decision;
  }
  if (hooks.callback !== undefined) {
    const decision = parseDecision(await askCallback(hooks.callback, question, hooks.timeoutMs), "onUploadFinishing");
    if (decision.kind !== "accept") return decision;
  }
  return { kind: "accept" };
}

async function askWebhook(url: string, question: FinishingQuestion, hooks: FinishingHooks): Promise<unknown> {
  const body = JSON.stringify(question);
  const headers: Record<string, string> = { "Content-Type": "application/json", "Idempotency-Key": question.idempotencyKey };
  if (hooks.secret) headers[SIGNATURE_HEADER] = await signatureHeader(hooks.secret, body, Math.floor(Date.now() / 1000));
  let response: Response;
  let answer: BoundedText;
  try {
    // The timeout covers the answer's body too: a hook that sends headers and then stalls has not answered.
    const signal = AbortSignal.timeout(hooks.timeoutMs);
    response = await postToHook(url, { headers, body, signal });
    if (isRedirect(response) || !response.ok) {
      await response.body?.cancel();
      throw new HookUnanswered(isRedirect(response) ? redirectRefusal("PRE_FINISH_HOOK_URL", response) : `PRE_FINISH_HOOK_URL answered ${response.status}`);
    }
    answer = await readTextWithin(response, MAX_HOOK_ANSWER_BYTES);
  } catch (error) {
    if (error instanceof HookUnanswered) throw error;
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    throw new HookUnanswered(timedOut ? `PRE_FINISH_HOOK_URL did not answer within ${hooks.timeoutMs} ms` : `PRE_FINISH_HOOK_URL could not be reached: ${String(error)}`);
  }
  if (answer.overCap) throw new HookUnanswered(`PRE_FINISH_HOOK_URL answered a malformed decision: the answer is over ${answer.maxBytes} bytes`);
  if (answer.text.trim() === "") return {};
  try {
    return JSON.parse(answer.text);
  } catch {
    throw new HookUnanswered("PRE_FINISH_HOOK_URL answered something that is not JSON");
  }
}

async function askCallback(callback: FinishingCallback, question: FinishingQuestion, timeoutMs: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLate = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HookUnanswered(`onUploadFinishing did not return within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return (await Promise.race([Promise.resolve().then(() => callback(question)), tooLate])) ?? {};
  } catch (error) {
    if (error instanceof HookUnanswered) throw error;
    throw new HookUnanswered(`onUploadFinishing threw: ${String(error)}`);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * A decision from the hook's JSON: `{}` accepts, `{"response": {...}}`
 * answers the client, `{"reject": {...}}` rejects. Anything else, or a
 * value out of its range, is the hook's bug: no decision (retried later),
 * never a guess.
 */
export function parseDecision(value: unknown, source: string): FinishDecision {
  const malformed = (why: string) => new HookUnanswered(`${source} answered a malformed decision: ${why}`);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw malformed("not a JSON object");
  const { response, reject } = value as { response?: unknown; reject?: unknown };
  if (response !== undefined && reject !== undefined) throw malformed("both response and reject");
  if (reject !== undefined) {
    if (reject === null || typeof reject !== "object") throw malformed("reject is not an object");
    const { status = DEFAULT_REJECT_STATUS, message } = reject as { status?: unknown; message?: unknown };
    // 409 and 423 are what tus clients retry: a rejection must end the upload for them.
    if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 499 || status === 409 || status === 423) {
      throw malformed("reject.status must be a 4xx other than 409 and 423");
    }
    if (typeof message !== "string" || message === "") throw malformed("reject.message must be a non-empty string");
    if (byteLength(message) > MAX_REJECT_MESSAGE_BYTES) throw malformed(`reject.message is over ${MAX_REJECT_MESSAGE_BYTES} bytes`);
    return { kind: "reject", status, message };
  }
  if (response === undefined) return { kind: "accept" };
  if (response === null || typeof response !== "object") throw malformed("response is not an object");
  const { status = 200, headers = {}, body = "" } = response as { status?: unknown; headers?: unknown; body?: unknown };
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 299) throw malformed("response.status must be a 2xx");
  if (typeof body !== "string") throw malformed("response.body must be a string");
  if (byteLength(body) > MAX_ANSWER_BODY_BYTES) throw malformed(`response.body is over ${MAX_ANSWER_BODY_BYTES} bytes`);
  if (body !== "" && (status === 204 || status === 205)) throw malformed(`a ${status} has no body`);
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) throw malformed("response.headers must be an object");
  const checked: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw malformed(`${JSON.stringify(name)} is not a header name`);
    if (typeof headerValue !== "string" || !FIELD_VALUE.test(headerValue)) throw malformed(`header ${name} needs a printable ASCII value`);
    const refusal = answerHeaderRefusal(name, headerValue);
    if (refusal) throw malformed(refusal);
    checked[name] = headerValue;
  }
  if (byteLength(JSON.stringify(checked)) > MAX_ANSWER_HEADERS_BYTES) throw malformed(`response.headers are over ${MAX_ANSWER_HEADERS_BYTES} bytes`);
  return { kind: "answer", answer: { status, headers: checked, body } };
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}
