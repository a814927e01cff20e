/**
 * Hook servers for the library Worker (worker.ts), without a network: the
 * gateway's PRE_CREATE_HOOK_URL, PRE_FINISH_HOOK_URL and WEBHOOK_URL point at
 * `hooks.test`, and `installHookNetwork` answers fetches to that host (and to
 * `elsewhere.test`, where its redirects point) in this isolate, which the
 * Worker, its Durable Objects and the tests share. Fetches to any other host
 * go to the runtime's fetch.
 *
 * A redirect is handled as the runtime's fetch handles it: followed under
 * `redirect: "follow"` (the default; POST becomes GET on 301, 302 and 303,
 * and 307 and 308 resend the body), returned as it is under `"manual"`. So a
 * gateway that follows redirects is seen doing it: the request reaches
 * `elsewhere.test`.
 *
 * What the hooks answer is scripted per upload by its metadata key
 * `webhooks`, a JSON object: `tag` (names the upload's requests in
 * `hookRequests`), and for each hook (`preCreate`, `preFinish`, `events`) a
 * list of steps, one per request to that hook about the upload, the last
 * repeating:
 *  - `{"redirect": <3xx>}`: that status, `Location: http://elsewhere.test/<hook>/<tag>`;
 *  - `{"stream": <bytes>}`: 200 with a body of that many bytes, made as it is
 *    pulled; what was pulled, and whether it was cancelled, is in `hookStreams`;
 *  - `{"json": <value>}`: 200 with that JSON.
 * Without a step a hook answers 200 with an empty body: accept, delivered.
 */

export const HOOKS_ORIGIN = "http://hooks.test";
export const REDIRECT_TARGET_ORIGIN = "http://elsewhere.test";
export const HOOK_URLS = {
  preCreate: `${HOOKS_ORIGIN}/preCreate`,
  preFinish: `${HOOKS_ORIGIN}/preFinish`,
  events: `${HOOKS_ORIGIN}/events`,
} as const;

type HookName = keyof typeof HOOK_URLS;
type Step = { redirect: number } | { stream: number } | { json: unknown };

export interface WebhookScript {
  tag: string;
  preCreate?: Step[];
  preFinish?: Step[];
  events?: Step[];
}

/** One request that reached hooks.test or elsewhere.test. */
export interface HookRequest {
  url: string;
  method: string;
  /** The upload's `webhooks.tag`; undefined for uploads without a script (and bodies that do not say). */
  tag: string | undefined;
  body: string;
}

/** What the gateway pulled of a `{"stream": n}` answer. */
export interface HookStream {
  tag: string;
  bytes: number;
  pulledBytes: number;
  /** Closed after its last byte: read whole. */
  readWhole: boolean;
  cancelled: boolean;
  /** The request's signal aborted it (the gateway's timeout). */
  aborted: boolean;
}

export const hookRequests: HookRequest[] = [];
export const hookStreams: HookStream[] = [];
/** Requests so far per hook and tag: which step is next. */
const asked = new Map<string, number>();

const CHUNK = new Uint8Array(64 * 1024).fill("x".charCodeAt(0));
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Makes this isolate's fetch answer for hooks.test and elsewhere.test (once; worker.ts calls it when loaded). */
export function installHookNetwork(): void {
  const runtimeFetch = globalThis.fetch;
  if ((runtimeFetch as { hookNetwork?: true }).hookNetwork) return;
  const fetchWithHooks = async (input: RequestInfo | URL, init?: RequestInit<RequestInitCfProperties>): Promise<Response> => {
    const request = new Request(input, init);
    const { origin } = new URL(request.url);
    if (origin !== HOOKS_ORIGIN && origin !== REDIRECT_TARGET_ORIGIN) return runtimeFetch(input, init);
    return fetchFollowing(request, init?.redirect ?? "follow", init?.signal ?? undefined);
  };
  globalThis.fetch = Object.assign(fetchWithHooks, { hookNetwork: true as const });
}

async function fetchFollowing(request: Request, redirect: string, signal: AbortSignal | undefined): Promise<Response> {
  let url = request.url;
  let method = request.method;
  let body: string | null = request.body ? await request.text() : null;
  for (let hops = 0; ; hops++) {
    const response = await serve(url, method, body, signal);
    const location = response.headers.get("Location");
    if (redirect === "manual" || !REDIRECTS.has(response.status) || location === null) return response;
    if (hops === 20) throw new TypeError("too many redirects");
    await response.body?.cancel();
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")) {
      method = "GET";
      body = null;
    }
    url = new URL(location, url).href;
  }
}

async function serve(url: string, method: string, body: string | null, signal: AbortSignal | undefined): Promise<Response> {
  const { origin, pathname } = new URL(url);
  if (origin === REDIRECT_TARGET_ORIGIN) {
    hookRequests.push({ url, method, tag: pathname.split("/")[2], body: body ?? "" });
    return Response.json({});
  }
  const hook = pathname.slice(1) as HookName;
  const script = scriptOf(body ?? "");
  hookRequests.push({ url, method, tag: script?.tag, body: body ?? "" });
  if (!script || !(hook in HOOK_URLS)) return new Response(null, { status: 200 });
  const key = `${hook} ${script.tag}`;
  const count = (asked.get(key) ?? 0) + 1;
  asked.set(key, count);
  const steps = script[hook] ?? [];
  const step = steps[Math.min(count, steps.length) - 1];
  if (step === undefined) return new Response(null, { status: 200 });
  if ("redirect" in step) return new Response(null, { status: step.redirect, headers: { Location: `${REDIRECT_TARGET_ORIGIN}/${hook}/${script.tag}` } });
  if ("stream" in step) return new Response(countedStream(script.tag, step.stream, signal));
  return Response.json(step.json);
}

/** `bytes` bytes of "x", made chunk by chunk as they are pulled: nothing is held but the chunk. */
function countedStream(tag: string, bytes: number, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const seen: HookStream = { tag, bytes, pulledBytes: 0, readWhole: false, cancelled: false, aborted: false };
  hookStreams.push(seen);
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // As the runtime's fetch does: an aborted request's body errors.
      signal?.addEventListener("abort", () => {
        seen.aborted = true;
        controller.error(signal.reason);
      });
    },
    pull(controller) {
      if (seen.pulledBytes === bytes) {
        seen.readWhole = true;
        controller.close();
        return;
      }
      const chunk = CHUNK.subarray(0, Math.min(CHUNK.byteLength, bytes - seen.pulledBytes));
      seen.pulledBytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      seen.cancelled = true;
    },
  });
}

/** The `webhooks` metadata of the upload a hook request is about: text in a pre-create proposal, Base64 in questions and events. */
function scriptOf(body: string): WebhookScript | undefined {
  let parsed: { metadata?: Record<string, string>; upload?: { metadata?: Record<string, string> } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return undefined;
  }
  const text = parsed.metadata?.webhooks ?? base64Text(parsed.upload?.metadata?.webhooks);
  return text === undefined ? undefined : (JSON.parse(text) as WebhookScript);
}

function base64Text(value: string | undefined): string | undefined {
  return value === undefined ? undefined : new TextDecoder().decode(Uint8Array.from(atob(value), (char) => char.charCodeAt(0)));
}
