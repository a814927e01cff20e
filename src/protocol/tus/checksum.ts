import { TusError } from "../../errors";
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm, type ExpectedChecksum } from "../../upload/writing/chunk-digest";
import { quoteForMessage } from "./headers";

/** `Tus-Checksum-Algorithm`: every algorithm the upload layer can verify. */
export const TUS_CHECKSUM_ALGORITHMS = Object.keys(CHECKSUM_ALGORITHMS).join(",");

/** Base64 with its padding: whole groups of four characters, `=` only at the end. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * checksum extension: "The Upload-Checksum request header contains
 * information about the checksum of the current body payload. The header MUST
 * consist of the name of the used checksum algorithm and the Base64 encoded
 * checksum separated by a space." / "400 Bad Request if the checksum
 * algorithm is not supported by the server" / "460 Checksum Mismatch if the
 * checksums mismatch".
 *
 * So a header that is not "<algorithm> <Base64>", or names an algorithm this
 * server lacks, is 400. A Base64 digest of the wrong length for its algorithm
 * is well-formed but can match no body: it is a mismatch (460), found when
 * the chunk is verified, exactly like any other digest that does not match.
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
  if (digest === "" || !BASE64.test(digest)) {
    throw new TusError(
      "unsupported-checksum",
      `Upload-Checksum: the ${algorithm} digest must be Base64 (with its = padding), got ${quoteForMessage(digest)}`,
    );
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest };
}
