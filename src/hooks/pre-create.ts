import { TusError } from "../errors";
import { readTextWithin, type BoundedText } from "./bounded-read";
import { isRedirect, MAX_HOOK_ANSWER_BYTES, postToHook, redirectRefusal } from "./hook-request";
import { SIGNATURE_HEADER, signatureHeader } from "./signature";

/** What a pre-create hook is asked about: an upload about to be created. */
export interface UploadProposal {
  kind: "upload" | "partial" | "final";
  /** Undefined for deferred-length uploads. */
  length: number | undefined;
  /** Metadata values as text. */
  metadata: Record<string, string>;
  /** The token subject; undefined in open mode. */
  subject: string | undefined;
}

/** A hook's answer: reject the upload, or accept it, optionally with other metadata or key. */
export type CreateDecision =
  | { reject: { status?: number; message: string } }
  | { metadata?: Record<string, string>; objectKey?: string }
  | undefined
  | void;

export interface Accepted {
  metadata: Record<string, string> | undefined;
  objectKey: string | undefined;
}

export type CreateCallback = (proposal: UploadProposal) => CreateDecision | Promise<CreateDecision>;

const HOOK_TIMEOUT_MS = 5000;

/**
 * Asks the pre-create webhook and/or the in-process callback about an
 * upload. A rejection reaches the client with the hook's status (a 4xx) and
 * message; a webhook that cannot be reached is a 503, since the server cannot
 * decide without it.
 */
export async function decideCreation(
  proposal: UploadProposal,
  hooks: { url: string | undefined; callback: CreateCallback | undefined; secret: string | undefined },
): Promise<Accepted> {
  let current = proposal;
  let objectKey: string | undefined;
  let changedMetadata: Record<string, string> | undefined;
  for (const ask of [hooks.url && (() => askWebhook(hooks.url!, current, hooks.secret)), hooks.callback && (() => hooks.callback!(current))]) {
    if (!ask) continue;
    const decision = validate(await ask());
    if (decision && "reject" in decision) {
      const status = decision.reject.status;
      throw new TusError("hook-rejected", decision.reject.message || undefined, {
        status: status !== undefined && status >= 400 && status < 500 ? status : 403,
      });
    }
    if (decision?.metadata) current = { ...current, metadata: (changedMetadata = decision.metadata) };
    if (decision?.objectKey !== undefined) objectKey = decision.objectKey;
  }
  return { metadata: changedMetadata, objectKey };
}

/** Signed like event deliveries (WEBHOOK_SECRET), so the hook can tell the gateway's questions from anyone else's. */
async function askWebhook(url: string, proposal: UploadProposal, secret: string | undefined): Promise<unknown> {
  const body = JSON.stringify(proposal);
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (secret) headers[SIGNATURE_HEADER] = await signatureHeader(secret, body, Math.floor(Date.now() / 1000));
  let response: Response;
  try {
    response = await postToHook(url, { headers, body, signal: AbortSignal.timeout(HOOK_TIMEOUT_MS) });
  } catch (error) {
    console.error("pre-create hook unreachable", error);
    throw new TusError("hook-unavailable", undefined, { retryAfterSeconds: 1 });
  }
  if (!response.ok) {
    await response.body?.cancel();
    console.error(isRedirect(response) ? redirectRefusal("pre-create hook", response) : `pre-create hook answered ${response.status}`);
    throw new TusError("hook-unavailable", undefined, { retryAfterSeconds: 1 });
  }
  let answer: BoundedText;
  try {
    answer = await readTextWithin(response, MAX_HOOK_ANSWER_BYTES);
  } catch (error) {
    console.error("pre-create hook's answer could not be read", error);
    throw new TusError("hook-unavailable", undefined, { retryAfterSeconds: 1 });
  }
  if (answer.overCap) throw malformed(`its answer is over ${answer.maxBytes} bytes`);
  if (answer.text.trim() === "") return undefined;
  try {
    return JSON.parse(answer.text);
  } catch {
    console.error("pre-create hook answered something that is not JSON");
    throw new TusError("hook-unavailable", undefined, { retryAfterSeconds: 1 });
  }
}

/** A hook's answer, checked: anything malformed is the hook's bug, not the client's. */
function validate(decision: unknown): CreateDecision {
  if (decision === undefined || decision === null) return undefined;
  const isRecordOfStrings = (value: unknown) =>
    typeof value === "object" && value !== null && Object.values(value).every((item) => typeof item === "string");
  const d = decision as { reject?: { status?: unknown; message?: unknown }; metadata?: unknown; objectKey?: unknown };
  if (d.reject !== undefined) {
    if (typeof d.reject !== "object" || d.reject === null) throw malformed();
    return { reject: { status: typeof d.reject.status === "number" ? d.reject.status : undefined, message: String(d.reject.message ?? "") } };
  }
  // Keys must be ones Upload-Metadata can carry (printable ASCII, no space or comma).
  const validKeys = (value: object) => Object.keys(value).every((key) => /^[\x21-\x2b\x2d-\x7e]+$/.test(key));
  if (d.metadata !== undefined && !(isRecordOfStrings(d.metadata) && validKeys(d.metadata as object))) throw malformed();
  if (d.objectKey !== undefined && typeof d.objectKey !== "string") throw malformed();
  return { metadata: d.metadata as Record<string, string> | undefined, objectKey: d.objectKey as string | undefined };
}

function malformed(why?: string): TusError {
  console.error(`pre-create hook answered with a malformed decision${why ? `: ${why}` : ""}`);
  return new TusError("hook-unavailable", "the server's pre-create hook answered with a malformed decision", { retryAfterSeconds: 1 });
}
