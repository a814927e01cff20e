import { TusError } from "../../errors";
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, type ExpectedChecksum } from "../../upload/chunk-digest";
import { quoteForMessage } from "./headers";

/** `Tus-Checksum-Algorithm`: every algorithm the upload layer can verify. */
export const TUS_CHECKSUM_ALGORITHMS = Object.keys(CHECKSUM_ALGORITHMS).join(",");

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * checksum extension: "The Upload-Checksum request header contains
 * information about the checksum of the current body payload. The header MUST
 * consist of the name of the used checksum algorithm and the Base64 encoded
 * checksum separated by a space." An unsupported algorithm is 400, and so is
 * a digest that is not Base64 of the algorithm's digest length: such a chunk
 * could never match, and 460 would wrongly suggest the bytes were damaged.
 */
export function parseUploadChecksum(headers: Headers): ExpectedChecksum | undefined {
  const value = headers.get("Upload-Checksum");
  if (value === null) return undefined;
  const [name = "", digest = "", ...rest] = value.split(" ");
  const algorithm = name.toLowerCase();
  if (rest.length > 0 || !Object.hasOwn(CHECKSUM_ALGORITHMS, algorithm)) {
    throw new TusError(
      "unsupported-checksum",
      `Upload-Checksum ${quoteForMessage(value)} must be "<algorithm> <base64 digest>" with an algorithm from ${TUS_CHECKSUM_ALGORITHMS}`,
    );
  }
  const expectedBytes = CHECKSUM_ALGORITHMS[algorithm as ChecksumAlgorithm].digestBytes;
  if (!BASE64.test(digest) || digest.length % 4 !== 0 || decodedLength(digest) !== expectedBytes) {
    throw new TusError(
      "unsupported-checksum",
      `Upload-Checksum: the ${algorithm} digest must be ${expectedBytes} bytes in Base64, got ${quoteForMessage(digest)}`,
    );
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest };
}

function decodedLength(base64: string): number {
  return (base64.length / 4) * 3 - (base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0);
}
