import type { Telemetry } from "./telemetry";

/**
 * The R2 bucket with each call's latency reported (`R2Call`): the time from
 * the call to R2's answer. For a part streamed while its bytes arrive
 * (upload-writer.ts), `uploadPart` also includes the time the client took to
 * send them. `resumeMultipartUpload` makes no request and is not reported.
 */
export function timedBucket(bucket: R2Bucket, telemetry: Telemetry): R2Bucket {
  const timed = <T>(operation: string, call: () => Promise<T>) => time(telemetry, operation, call);
  const wrapped: Pick<R2Bucket, "head" | "get" | "put" | "delete" | "list" | "createMultipartUpload" | "resumeMultipartUpload"> = {
    head: (key) => timed("head", () => bucket.head(key)),
    get: ((key: string, options?: R2GetOptions) => timed("get", () => bucket.get(key, options))) as R2Bucket["get"],
    put: ((key: string, value: Parameters<R2Bucket["put"]>[1], options?: R2PutOptions) =>
      timed("put", () => bucket.put(key, value, options))) as R2Bucket["put"],
    delete: (keys) => timed("delete", () => bucket.delete(keys)),
    list: (options) => timed("list", () => bucket.list(options)),
    createMultipartUpload: async (key, options) =>
      timedMultipart(await timed("createMultipartUpload", () => bucket.createMultipartUpload(key, options)), telemetry),
    resumeMultipartUpload: (key, uploadId) => timedMultipart(bucket.resumeMultipartUpload(key, uploadId), telemetry),
  };
  return wrapped as R2Bucket;
}

function timedMultipart(multipart: R2MultipartUpload, telemetry: Telemetry): R2MultipartUpload {
  return {
    key: multipart.key,
    uploadId: multipart.uploadId,
    uploadPart: ((partNumber: number, value: Parameters<R2MultipartUpload["uploadPart"]>[1], options?: R2UploadPartOptions) =>
      time(telemetry, "uploadPart", () => multipart.uploadPart(partNumber, value, options))) as R2MultipartUpload["uploadPart"],
    complete: (parts) => time(telemetry, "completeMultipartUpload", () => multipart.complete(parts)),
    abort: () => time(telemetry, "abortMultipartUpload", () => multipart.abort()),
  };
}

async function time<T>(telemetry: Telemetry, operation: string, call: () => Promise<T>): Promise<T> {
  const start = Date.now();
  let ok = false;
  try {
    const result = await call();
    ok = true;
    return result;
  } finally {
    telemetry.r2Call(operation, Date.now() - start, ok);
  }
}
