/**
 * One file's upload: tus-js-client plus the state a person wants to see —
 * speed, time left, what happened (resumed from where, waiting for the
 * network) and, on failure, the gateway's own words. Its row (upload-row.ts)
 * renders it after every `changed`.
 *
 * Resuming is tus-js-client's: with `storeFingerprintForResuming` each
 * upload's URL is kept in localStorage under a fingerprint of the file (name,
 * type, size, modification time, endpoint), so choosing the same file again —
 * after a reload, a crash or a closed tab — continues the same upload.
 */
import * as tus from "tus-js-client";
import { announce } from "./dom";
import { describeError, type Problem } from "./errors";
import { formatBytes } from "./format";
import type { GatewayTrust } from "./gateway-trust";
import { RateMeter } from "./rate-meter";
import type { Settings } from "./settings";
import { hashFile, type HashJob } from "./sha256";
import type { TokenStore } from "./token";

export type UploadState = "preparing" | "uploading" | "paused" | "retrying" | "offline" | "failed" | "finished" | "canceled";

/**
 * Waits between retries of a failed request (ms); about 40 s in all. A lost
 * network is not counted against them: the upload waits for the browser's
 * `online` event instead (see `reconnect`).
 */
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10_000, 20_000];

export interface UploadListener {
  changed(upload: FileUpload): void;
  finished(upload: FileUpload): void;
}

export class FileUpload {
  state: UploadState = "preparing";
  /** Bytes sent, as tus-js-client reports them (acknowledged, plus the current request's progress). */
  sent = 0;
  /** What happened besides progress, e.g. "Continuing from 12 MiB already on the gateway." */
  note = "";
  problem: Problem | undefined;
  /** The upload's URL on the gateway, once it was created or found. */
  url: string | undefined;
  /** The offset the gateway reported when this upload last continued (after a pause, a lost connection or a reload). */
  resumedFrom: number | undefined;
  sha256: string | undefined;
  hashProblem: string | undefined;
  readonly meter = new RateMeter();
  private readonly upload: tus.Upload;
  private hashJob: HashJob | undefined;
  private lastMilestone = 0;

  constructor(
    readonly file: File,
    settings: Settings,
    private readonly trust: GatewayTrust,
    private readonly token: TokenStore,
    private readonly listener: UploadListener,
  ) {
    this.upload = new tus.Upload(file, {
      endpoint: settings.endpoint,
      chunkSize: settings.chunkSize,
      retryDelays: RETRY_DELAYS,
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      // Read at every request, so a token changed or refreshed meanwhile is used at once.
      onBeforeRequest: (request) => {
        const authorization = this.token.authorizationFor(request.getURL());
        if (authorization) request.setHeader("Authorization", authorization);
      },
      onAfterResponse: (request, response) => this.afterResponse(request, response),
      onUploadUrlAvailable: () => {
        this.url = this.upload.url ?? undefined;
      },
      onProgress: (sent) => this.progress(sent),
      onShouldRetry: (error, attempt) => this.shouldRetry(error, attempt),
      onSuccess: () => this.succeed(),
      onError: (error) => this.fail(error),
    });
  }

  get total(): number {
    return this.file.size;
  }

  /** Starts the upload, continuing an earlier one of the same file if the browser remembers it. */
  async start(): Promise<void> {
    this.startHashing();
    // Storage refused (private mode, a sandboxed frame): the upload starts afresh.
    // Only uploads on a gateway the page trusts: the file's bytes go wherever a stored URL points.
    const previous = (await this.upload.findPreviousUploads().catch(() => [])).filter((upload) => upload.uploadUrl && this.trust.trusts(upload.uploadUrl));
    const newest = previous.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime))[0];
    if (newest) {
      this.upload.resumeFromPreviousUpload(newest);
      this.url = newest.uploadUrl ?? undefined;
      this.note = "Found an earlier upload of this file; asking the gateway how far it got…";
    }
    announce(`Uploading ${this.file.name}`);
    this.begin();
  }

  /** The sha256 is computed alongside the upload, from the same File, in a Web Worker. */
  private startHashing(): void {
    const failed = (error: unknown) => {
      this.hashProblem = error instanceof Error ? error.message : String(error);
      this.changed();
    };
    try {
      this.hashJob = hashFile(this.file);
    } catch (error) {
      return failed(error); // no Web Workers here: the upload goes on without a digest
    }
    this.hashJob.result.then((hex) => {
      this.sha256 = hex;
      this.changed();
    }, failed);
  }

  pause(): void {
    if (this.state === "finished" || this.state === "canceled") return;
    void this.upload.abort();
    this.state = "paused";
    this.note = "";
    announce(`${this.file.name} paused at ${Math.floor((this.sent / Math.max(1, this.total)) * 100)} %`);
    this.changed();
  }

  resume(): void {
    if (this.state !== "paused" && this.state !== "failed" && this.state !== "offline") return;
    announce(`Resuming ${this.file.name}`);
    this.begin();
  }

  /** After the browser is back online: continue an upload that stopped for the network. */
  reconnect(): void {
    if (this.state === "offline" || (this.state === "failed" && this.problem?.network)) {
      this.note = "Back online; asking the gateway how far the upload got…";
      this.begin();
    }
  }

  /** Stops the upload and deletes what the gateway holds of it (tus termination). */
  async cancel(): Promise<void> {
    this.hashJob?.cancel();
    this.state = "canceled";
    this.changed();
    announce(`${this.file.name} canceled`);
    try {
      await this.upload.abort(true);
    } catch {
      // Unreachable gateway: the unfinished upload expires there by itself.
    }
  }

  private begin(): void {
    this.state = "preparing";
    this.problem = undefined;
    this.meter.reset();
    this.changed();
    this.upload.start();
  }

  private afterResponse(request: tus.HttpRequest, response: tus.HttpResponse): void {
    // A HEAD is how tus-js-client resumes: after a pause, a lost connection or a reload.
    if (request.getMethod() !== "HEAD" || response.getStatus() !== 200) return;
    const offset = Number(response.getHeader("Upload-Offset"));
    if (!Number.isSafeInteger(offset)) return;
    this.sent = offset;
    this.resumedFrom = offset;
    this.note = offset > 0 ? `Continuing from ${formatBytes(offset)} already on the gateway.` : "Starting from the beginning: the gateway holds none of it yet.";
    this.changed();
  }

  private progress(sent: number): void {
    // A late event from a request that was just stopped must not undo the pause.
    if (this.state === "paused" || this.state === "canceled" || this.state === "finished") return;
    this.sent = sent;
    this.meter.sample(sent);
    if (this.state !== "uploading") this.state = "uploading";
    const milestone = Math.floor((sent / Math.max(1, this.total)) * 4) * 25;
    if (milestone > this.lastMilestone && milestone < 100) {
      this.lastMilestone = milestone;
      announce(`${this.file.name}: ${milestone} % uploaded`);
    }
    this.changed();
  }

  private shouldRetry(error: tus.DetailedError, attempt: number): boolean {
    const status = error.originalResponse?.getStatus() ?? 0;
    // As tus-js-client's default: not for 4xx (the request itself is wrong) except 409 and 423.
    const retry = (status < 400 || status >= 500 || status === 409 || status === 423) && navigator.onLine;
    if (retry) {
      this.state = "retrying";
      this.note = `${status ? `The gateway answered ${status}` : "The connection failed"}; trying again (${attempt + 1} of ${RETRY_DELAYS.length})…`;
      this.changed();
    }
    return retry;
  }

  private succeed(): void {
    this.url = this.upload.url ?? this.url;
    this.sent = this.total;
    this.state = "finished";
    this.note = "";
    announce(`${this.file.name} finished`);
    this.listener.finished(this);
  }

  private fail(error: Error): void {
    const problem = describeError(error);
    this.problem = problem;
    if (problem.network && !navigator.onLine) {
      this.state = "offline";
      this.note = "You are offline. The upload continues by itself when the connection is back.";
      announce(`${this.file.name}: offline, waiting for the network`);
    } else {
      this.state = "failed";
      this.note = "";
    }
    this.changed();
  }

  private changed(): void {
    this.listener.changed(this);
  }
}
