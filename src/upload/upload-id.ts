/**
 * Upload ids: 128 random bits, base64url (22 characters). The id is the whole
 * address of an upload: the Worker derives the Durable Object from it with
 * `idFromName`, so there is no index to keep, and nobody can reach an upload
 * without having been given its URL.
 */
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export function newUploadId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function isUploadId(value: string): boolean {
  return ID_PATTERN.test(value);
}
