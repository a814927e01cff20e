/**
 * The interop versions of the IETF Resumable Uploads draft a deployment may
 * choose from (RUFH_INTEROP_VERSIONS). The configuration checks settings
 * against this list; the dialect's table of what each version sends and
 * expects (protocol/rufh/versions.ts) holds a row for each, and refuses to
 * load without one, so the two cannot drift apart.
 */
export const SUPPORTED_INTEROP_VERSIONS: readonly number[] = [3, 4, 5, 6, 7, 8, 9];
