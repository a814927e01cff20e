/** The few direct requests the page makes to the gateway besides tus-js-client's own. */

export interface GatewayInfo {
  /** `Tus-Max-Size`, when the gateway announces one. */
  maxSize: number | undefined;
}

/** OPTIONS on the collection: is a tus server there, and what does it accept? */
export async function probeGateway(endpoint: string): Promise<GatewayInfo> {
  let response: Response;
  try {
    response = await fetch(endpoint, { method: "OPTIONS" });
  } catch (error) {
    throw new Error(`Could not reach ${endpoint} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!response.headers.has("Tus-Version")) {
    throw new Error(`No tus server answers at ${endpoint} (OPTIONS answered ${response.status})`);
  }
  const maxSize = Number(response.headers.get("Tus-Max-Size"));
  return { maxSize: Number.isSafeInteger(maxSize) && maxSize > 0 ? maxSize : undefined };
}

export type StoredProgress = { offset: number; length: number | undefined } | "gone" | "unknown";

/** HEAD on an upload URL: how many bytes the gateway holds. "gone" for 404/410. */
export async function storedProgress(url: string, authorization: string | undefined): Promise<StoredProgress> {
  try {
    const headers: Record<string, string> = { "Tus-Resumable": "1.0.0" };
    if (authorization) headers.Authorization = authorization;
    const response = await fetch(url, { method: "HEAD", headers, cache: "no-store" });
    if (response.status === 404 || response.status === 410) return "gone";
    const offset = Number(response.headers.get("Upload-Offset"));
    if (!response.ok || !Number.isSafeInteger(offset)) return "unknown";
    const length = Number(response.headers.get("Upload-Length"));
    return { offset, length: Number.isSafeInteger(length) ? length : undefined };
  } catch {
    return "unknown";
  }
}
