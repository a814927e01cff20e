/**
 * How the gateway sends its hook and webhook requests (pre-create,
 * pre-finish, event deliveries), and how large an answer it reads.
 */

/**
 * The most of a hook's answer the gateway reads (bounded-read.ts); past it,
 * the answer is malformed. Room for the largest valid answers even if the
 * hook's JSON encoder escapes every byte as `\u00XX` (6 bytes): a pre-finish
 * answer's 64 KiB body, 8 KiB of headers and 1 KiB rejection message, or a
 * pre-create answer's metadata (MAX_METADATA_BYTES is at most 64 KiB of
 * Base64, 48 KiB of text) and 1 KiB object key.
 */
export const MAX_HOOK_ANSWER_BYTES = 512 * 1024;

/**
 * POSTs to a hook without following redirects: the request carries the
 * upload's details and a signature over them, and a redirect would hand both
 * to a host nobody configured. A 3xx is an answer like any other failure
 * (`isRedirect`), never a new destination.
 */
export function postToHook(url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }): Promise<Response> {
  return fetch(url, { ...init, method: "POST", redirect: "manual" });
}

export function isRedirect(response: Response): boolean {
  return response.status >= 300 && response.status <= 399;
}

/** Why a 3xx is not a decision, for logs and errors. */
export function redirectRefusal(hook: string, response: Response): string {
  return `${hook} answered ${response.status}, a redirect, which the gateway does not follow (the signed request goes to the configured URL only); configure the URL it redirects to`;
}
