/** Hashes a File in a Web Worker (sha256-worker.ts), off the page's main thread. */
import type { HashMessage } from "./sha256-worker";

export interface HashJob {
  /** The hex sha256 of the whole file. */
  result: Promise<string>;
  cancel(): void;
}

export function hashFile(file: File, onProgress: (done: number) => void = () => {}): HashJob {
  const worker = new Worker(new URL("sha256-worker.js", document.baseURI));
  const result = new Promise<string>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<HashMessage>) => {
      const message = event.data;
      if (message.type === "progress") return onProgress(message.done);
      worker.terminate();
      if (message.type === "done") resolve(message.sha256);
      else reject(new Error(message.message));
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || "the hashing worker failed"));
    };
  });
  worker.postMessage({ file });
  return {
    result,
    cancel: () => worker.terminate(),
  };
}
