/**
 * Reading a hook's answer with a byte cap. `Response.text()` buffers
 * whatever the hook sends before anyone can look at its size: a hook that
 * answered 300 MB took workerd from 150 MB to 847 MB (security issue 18).
 * Here the body is pulled chunk by chunk and the stream is cancelled as soon
 * as it passes the cap, so at most the cap and one chunk are ever held.
 */

/** The answer's text, or the news that it went past the cap (and was not read further). */
export type BoundedText = { overCap: false; text: string } | { overCap: true; maxBytes: number };

export async function readTextWithin(response: Response, maxBytes: number): Promise<BoundedText> {
  const overCap: BoundedText = { overCap: true, maxBytes };
  if (!response.body) return { overCap: false, text: "" };
  // A declared length already over the cap needs no byte read at all.
  const declared = Number(response.headers.get("Content-Length") ?? Number.NaN);
  if (declared > maxBytes) {
    await response.body.cancel();
    return overCap;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return overCap;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  // As Response.text() decodes: UTF-8, a malformed sequence becomes U+FFFD.
  return { overCap: false, text: new TextDecoder().decode(bytes) };
}
