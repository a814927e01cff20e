/**
 * Web Worker: the sha256 of a File, read in 8 MiB slices so memory stays flat
 * whatever the file's size. Web Crypto's `digest` takes the whole input at
 * once, so a streaming implementation (@noble/hashes) is used; running it
 * here keeps the page responsive while a large file is hashed.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

const SLICE = 8 * 1024 * 1024;

export type HashMessage = { type: "progress"; done: number } | { type: "done"; sha256: string } | { type: "error"; message: string };

self.onmessage = async (event: MessageEvent<{ file: File }>) => {
  const { file } = event.data;
  const post = (message: HashMessage) => (self as unknown as Worker).postMessage(message);
  try {
    const hash = sha256.create();
    for (let offset = 0; offset < file.size; offset += SLICE) {
      const slice = new Uint8Array(await file.slice(offset, offset + SLICE).arrayBuffer());
      hash.update(slice);
      post({ type: "progress", done: Math.min(offset + SLICE, file.size) });
    }
    post({ type: "done", sha256: bytesToHex(hash.digest()) });
  } catch (error) {
    post({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
};
