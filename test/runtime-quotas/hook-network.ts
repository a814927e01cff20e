/**
 * The project's PRE_FINISH_HOOK_URL (vitest.config.ts) points at
 * `http://hooks.test/pre-finish`; this setup file makes the isolate's fetch
 * (which the gateway, its Durable Objects and the tests share) answer it:
 * an upload whose metadata has the key `reject` is rejected (422), any other
 * is accepted. Fetches to other hosts go to the runtime's fetch.
 */
export const PRE_FINISH_HOOK_URL = "http://hooks.test/pre-finish";

const runtimeFetch = globalThis.fetch;
if (!(runtimeFetch as { quotaHooks?: true }).quotaHooks) {
  const fetchWithHook = async (input: RequestInfo | URL, init?: RequestInit<RequestInitCfProperties>): Promise<Response> => {
    const request = new Request(input, init);
    if (request.url !== PRE_FINISH_HOOK_URL) return runtimeFetch(input, init);
    const question = (await request.json()) as { upload: { id: string; metadata: Record<string, string> } };
    if ("reject" in question.upload.metadata) return Response.json({ reject: { status: 422, message: "rejected by the test's pre-finish hook" } });
    return Response.json({});
  };
  globalThis.fetch = Object.assign(fetchWithHook, { quotaHooks: true as const });
}
