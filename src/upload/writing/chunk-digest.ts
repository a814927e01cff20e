/**
 * Checksums of appended chunks (tus checksum extension), computed while the
 * bytes stream through, never by holding the chunk.
 */
export const CHECKSUM_ALGORITHMS = {
  sha1: { webCrypto: "SHA-1", digestBytes: 20 },
  sha256: { webCrypto: "SHA-256", digestBytes: 32 },
  sha512: { webCrypto: "SHA-512", digestBytes: 64 },
  md5: { webCrypto: "MD5", digestBytes: 16 },
} as const;

export type ChecksumAlgorithm = keyof typeof CHECKSUM_ALGORITHMS;

export interface ExpectedChecksum {
  algorithm: ChecksumAlgorithm;
  /** The digest the client announced, Base64. */
  digest: string;
}

export class ChunkDigest {
  private readonly stream: DigestStream;
  private readonly writer: WritableStreamDefaultWriter<ArrayBufferView>;

  constructor(private readonly expected: ExpectedChecksum) {
    this.stream = new crypto.DigestStream(CHECKSUM_ALGORITHMS[expected.algorithm].webCrypto);
    this.writer = this.stream.getWriter();
  }

  /** Must be awaited before `bytes` is reused: the stream reads them later. */
  update(bytes: Uint8Array): Promise<void> {
    return this.writer.write(bytes);
  }

  async matches(): Promise<boolean> {
    await this.writer.close();
    const actual = new Uint8Array(await this.stream.digest);
    const expected = Uint8Array.from(atob(this.expected.digest), (char) => char.charCodeAt(0));
    return actual.length === expected.length && actual.every((byte, index) => byte === expected[index]);
  }
}
