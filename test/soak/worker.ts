/**
 * The soak's gateway: the fault worker's bucket (test/faults/faulty-bucket.ts,
 * plan set with `PUT /__faults`) wrapped once more to count the faults it
 * injects, by operation and kind, so the soak reports faults that happened
 * rather than plans it set. `GET /__soak/injected` answers the counts since
 * this isolate started (a restart starts them again; the soak reads them
 * before each restart). Only for tests.
 */
import { createTusGateway, type GatewayEnv } from "../../src/index";
import { FAULTS_ROUTE, INJECTED } from "../faults/fault-plan";
import { faultyBucket } from "../faults/faulty-bucket";
import faultWorker from "../faults/worker";

// Not exported: a Worker's main module may export only handlers and classes.
const INJECTED_ROUTE = "/__soak/injected";

const injected: Record<string, number> = {};

function kindOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (!message.startsWith(INJECTED)) return "";
  return message.includes("hung") ? "hang" : message.includes("answer was lost") ? "failAfter" : "fail";
}

async function counted<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const kind = kindOf(error);
    if (kind) injected[`${operation} ${kind}`] = (injected[`${operation} ${kind}`] ?? 0) + 1;
    throw error;
  }
}

function countedMultipart(multipart: R2MultipartUpload): R2MultipartUpload {
  return {
    get key() {
      return multipart.key;
    },
    get uploadId() {
      return multipart.uploadId;
    },
    uploadPart: (partNumber, value, options) => counted("uploadPart", () => multipart.uploadPart(partNumber, value, options)),
    complete: (parts) => counted("complete", () => multipart.complete(parts)),
    abort: () => counted("abort", () => multipart.abort()),
  };
}

function countedBucket(faulty: R2Bucket): R2Bucket {
  const bucket = {
    head: (key: string) => counted("head", () => faulty.head(key)),
    get: (key: string, options?: R2GetOptions) => counted("get", () => faulty.get(key, options)),
    put: (key: string, value: Parameters<R2Bucket["put"]>[1], options?: R2PutOptions) => counted("put", () => faulty.put(key, value, options)),
    delete: (keys: string | string[]) => counted("delete", () => faulty.delete(keys)),
    list: (options?: R2ListOptions) => faulty.list(options),
    createMultipartUpload: async (key: string, options?: R2MultipartOptions) =>
      countedMultipart(await counted("createMultipartUpload", () => faulty.createMultipartUpload(key, options))),
    resumeMultipartUpload: (key: string, uploadId: string) => countedMultipart(faulty.resumeMultipartUpload(key, uploadId)),
  };
  return bucket as unknown as R2Bucket;
}

const gateway = createTusGateway({ wrapBucket: (bucket) => countedBucket(faultyBucket(bucket)) });

export const UploadObject = gateway.UploadObject;
export const SubjectIndex = gateway.SubjectIndex;

export default {
  fetch(request: Request, env: GatewayEnv): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === FAULTS_ROUTE) return faultWorker.fetch(request, env);
    if (path === INJECTED_ROUTE) return Promise.resolve(Response.json(injected));
    return gateway.fetch(request, env);
  },
};
