/**
 * tus-js-client driven as a promise, with a record of what it sent.
 *
 * tus-js-client's Node build reports failures only through `onError`, and
 * retries a stalled upload for as long as `retryDelays` lasts; every run here
 * gets a short, finite list so a broken server fails the test instead of
 * hanging it. Like server.ts, this file imports no relative modules, so the
 * benchmark can load it with Node's own TypeScript support.
 */
import { Agent } from "node:http";
import { DefaultHttpStack, Upload, type HttpRequest, type HttpResponse, type UploadOptions } from "tus-js-client";

export type TusInput = ConstructorParameters<typeof Upload>[0];

export interface TusRun {
  upload: Upload;
  /** Resolves with the upload URL on `onSuccess`, rejects with the error given to `onError`. */
  done: Promise<string>;
  /** `Upload-Offset` of every PATCH request, in the order they were sent. */
  patchOffsets: number[];
  /** `Upload-Offset` of every successful PATCH response. */
  acceptedOffsets: number[];
  /** Status of every response, e.g. `POST 201`, `PATCH 204`. */
  responses: string[];
  /** The largest `bytesSent` reported through `onProgress`. */
  maxProgress(): number;
  /**
   * The PATCH in flight: its `Upload-Offset` and the bytes its socket has
   * taken (headers included; every request has its own socket). Undefined
   * between requests.
   */
  currentPatch(): { offset: number; socketBytes: number } | undefined;
  /**
   * An upper bound on the bytes of the file the client has put on the wire:
   * the current PATCH's offset plus what its socket has taken.
   */
  bytesSentUpperBound(): number;
}

/** Short and finite: enough to ride out a 423 or a brief hiccup, never forever. */
export const SHORT_RETRY_DELAYS = [0, 200, 500, 1000];

/** An HTTP stack that remembers the request in flight, so tests can see its socket. */
class RecordingHttpStack extends DefaultHttpStack {
  current: HttpRequest | undefined;
  /** Requests whose response has arrived. */
  readonly finished = new WeakSet<HttpRequest>();
  constructor() {
    // No keep-alive: one socket per request, so a socket's byte count is that request's.
    super({ agent: new Agent({ keepAlive: false }) });
  }
  override createRequest(method: string, url: string): HttpRequest {
    const request = super.createRequest(method, url);
    this.current = request;
    return request;
  }
}

export function startTusUpload(input: TusInput, options: UploadOptions): TusRun {
  const httpStack = new RecordingHttpStack();
  const patchOffsets: number[] = [];
  const acceptedOffsets: number[] = [];
  const responses: string[] = [];
  let maxProgress = 0;
  let currentPatchOffset = 0;
  let upload!: Upload;

  const done = new Promise<string>((resolve, reject) => {
    upload = new Upload(input, {
      retryDelays: SHORT_RETRY_DELAYS,
      httpStack,
      ...options,
      onBeforeRequest(request: HttpRequest) {
        if (request.getMethod() === "PATCH") {
          currentPatchOffset = Number(request.getHeader("Upload-Offset"));
          patchOffsets.push(currentPatchOffset);
        }
        return options.onBeforeRequest?.(request);
      },
      onAfterResponse(request: HttpRequest, response: HttpResponse) {
        httpStack.finished.add(request);
        responses.push(`${request.getMethod()} ${response.getStatus()}`);
        if (request.getMethod() === "PATCH" && response.getStatus() === 204) {
          acceptedOffsets.push(Number(response.getHeader("Upload-Offset")));
        }
        return options.onAfterResponse?.(request, response);
      },
      onProgress(bytesSent: number, bytesTotal: number) {
        maxProgress = Math.max(maxProgress, bytesSent);
        options.onProgress?.(bytesSent, bytesTotal);
      },
      onSuccess(payload) {
        options.onSuccess?.(payload);
        resolve(upload.url!);
      },
      onError(error) {
        options.onError?.(error);
        reject(error);
      },
    });
  });
  upload.start();

  return {
    upload,
    done,
    patchOffsets,
    acceptedOffsets,
    responses,
    maxProgress: () => maxProgress,
    currentPatch() {
      const request = httpStack.current;
      if (request?.getMethod() !== "PATCH" || httpStack.finished.has(request)) return undefined;
      const socket = request.getUnderlyingObject()?.socket as { bytesWritten?: number } | null | undefined;
      return { offset: currentPatchOffset, socketBytes: socket?.bytesWritten ?? 0 };
    },
    bytesSentUpperBound() {
      return currentPatchOffset + (this.currentPatch()?.socketBytes ?? 0);
    },
  };
}
