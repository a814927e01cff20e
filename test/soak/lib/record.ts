/**
 * What the soak saw: every upload it made (with what its client sent), every
 * answer (status, latency, offset, expiry), every fault it injected, and every
 * violation of the seven checks, each with the seed and the upload.
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";

export type CheckNumber = 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const CHECK_NAMES: Record<CheckNumber, string> = {
  1: "integrity",
  2: "offsets never go back",
  3: "nothing stuck",
  4: "listing agrees with HEAD",
  5: "no orphans in R2 after expiry",
  6: "no unpromised 5xx",
  7: "bounded memory",
};

export interface Violation {
  check: CheckNumber;
  upload?: string;
  message: string;
  at: number;
}

/** How the upload's pre-finish hook answers (test/e2e/receiver.ts, by the upload's `case` tag). */
export type HookMode = "accept" | "fail" | "slow" | "late";

/**
 * What became of an upload, as the soak knows it:
 *  - running: its client is at work;
 *  - finished: HEAD showed every byte (and the hook decided);
 *  - interrupted: its client stopped before the end (faults, the phase ended) and it must be resumed;
 *  - abandoned: left on purpose, expected to expire;
 *  - terminated: DELETEd by its client;
 *  - expired: answered 410 after the last Upload-Expires it announced;
 *  - consumed: a partial whose final was assembled (deleted with CONCAT_DELETES_PARTIALS);
 *  - lost: answered 404/410 while it should have been alive (a violation says why).
 */
export type UploadState = "running" | "finished" | "interrupted" | "abandoned" | "terminated" | "expired" | "consumed" | "lost";

export interface Sighting {
  what: string;
  offset: number;
  sentAt: number;
  answeredAt: number;
}

export interface UploadRecord {
  /** e.g. `u17 tus-js-client 5MiB-1`. */
  label: string;
  kind: string;
  subject: string;
  /** Data: `seededBytes(length, dataSeed)`, or for a final the concatenation of its partials'. */
  dataSeed: string;
  length: number;
  sha256: string;
  url?: string;
  id?: string;
  state: UploadState;
  hookMode: HookMode;
  /** A final: its partials, in order. */
  partials?: UploadRecord[];
  /** A partial: the final that claimed it. */
  finalOf?: UploadRecord;
  /** IETF interop version, for the dialect's clients. */
  interop?: number;
  /** Epoch ms of the latest Upload-Expires this upload announced (an upload never expires before it). */
  expiresAt?: number;
  /** Epoch ms the upload was last given bytes or asked about by its own client. */
  lastActivity: number;
  /** Other upload URLs its client made on its way (tus-js-client makes a new one when HEAD fails with a 4xx). */
  strays: string[];
}

export interface Window {
  start: number;
  end: number;
}

/** A 5xx, and why the design allows it (or `undefined`: a violation). */
export interface ServerError {
  status: number;
  cause: string;
  allowed: boolean;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export class Recorder {
  readonly seed: string;
  readonly uploads: UploadRecord[] = [];
  readonly violations: Violation[] = [];
  readonly faults: Record<string, number> = {};
  readonly statuses: Record<string, number> = {};
  readonly serverErrors: Record<string, number> = {};
  readonly expected: Record<string, number> = {};
  readonly notes: string[] = [];
  /** R2 fault windows: a 503 storage-unavailable is promised in them (and `r2Grace` after). */
  readonly r2Windows: Window[] = [];
  r2Grace = 5_000;
  /** The fault phase: latency quantiles are taken over the requests sent in it. */
  faultPhase: Window = { start: Infinity, end: Infinity };
  readonly latencies: number[] = [];
  requests = 0;
  bytesSent = 0;
  /** Upload-Offset answers compared for check 2. */
  offsetsSeen = 0;
  private readonly byUrl = new Map<string, UploadRecord>();
  /** Per upload URL, its answers in short (for violations' messages); the last 40. */
  private readonly history = new Map<string, string[]>();
  readonly began = performance.now();
  private readonly sightings = new Map<string, Sighting[]>();
  private readonly log: (line: string) => void;
  /** Called with every new upload record (the runner sets the hook's answer for it). */
  onNewUpload: ((upload: UploadRecord) => void) | undefined;

  constructor(seed: string, log: (line: string) => void) {
    this.seed = seed;
    this.log = log;
  }

  violation(check: CheckNumber, upload: UploadRecord | string | undefined, message: string): void {
    const label = typeof upload === "string" ? upload : upload ? `${upload.label}${upload.id ? ` (${upload.id})` : ""}` : undefined;
    const url = typeof upload === "string" ? undefined : upload?.url;
    const history = url ? this.history.get(url) : undefined;
    if (history?.length) message += `\n    its last answers (ms since the soak began, method, status, offset, body):\n${history.slice(-15).map((line) => `      ${line}`).join("\n")}`;
    this.violations.push({ check, upload: label, message, at: Date.now() });
    this.log(`VIOLATION check ${check} (${CHECK_NAMES[check]}), seed ${this.seed}${label ? `, upload ${label}` : ""}: ${message}`);
  }

  fault(kind: string, count = 1): void {
    this.faults[kind] = (this.faults[kind] ?? 0) + count;
    this.events.push(`${(performance.now() - this.began).toFixed(0)} ${kind}`);
  }

  /** Faults with their time (ms since the soak began), for reading a violation against them. */
  readonly events: string[] = [];

  /** Outcomes the design expects and that are not faults (expiries, 423s, checksum refusals asked for). */
  expect(kind: string, count = 1): void {
    this.expected[kind] = (this.expected[kind] ?? 0) + count;
  }

  upload(record: Omit<UploadRecord, "state" | "lastActivity" | "strays">): UploadRecord {
    const full: UploadRecord = { ...record, state: "running", lastActivity: Date.now(), strays: [] };
    this.uploads.push(full);
    this.onNewUpload?.(full);
    return full;
  }

  /** The upload now lives at `url` (its creation answered). */
  located(upload: UploadRecord, url: string): void {
    if (upload.url && upload.url !== url) upload.strays.push(upload.url);
    upload.url = url;
    upload.id = url.slice(url.lastIndexOf("/") + 1);
    this.byUrl.set(url, upload);
  }

  recordFor(url: string): UploadRecord | undefined {
    return this.byUrl.get(url);
  }

  /**
   * One answer from the gateway. `url` is the upload's URL (undefined for a
   * creation without answer). Records status, latency, offset (check 2),
   * Upload-Expires, and classifies a 5xx (check 6).
   */
  answer(init: { method: string; url: string | undefined; status: number; headers: IncomingHttpHeaders | ((name: string) => string | undefined); body: string; sentAt: number; answeredAt: number; upload?: UploadRecord }): void {
    const header = (name: string): string | undefined => {
      if (typeof init.headers === "function") return init.headers(name) ?? undefined;
      const value = init.headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    };
    this.requests++;
    const key = `${init.method} ${init.status}`;
    this.statuses[key] = (this.statuses[key] ?? 0) + 1;
    if (init.sentAt >= this.faultPhase.start && init.sentAt <= this.faultPhase.end) this.latencies.push(init.answeredAt - init.sentAt);
    const upload = init.upload ?? (init.url ? this.byUrl.get(init.url) : undefined);
    if (upload) upload.lastActivity = Date.now();
    const expires = header("Upload-Expires");
    if (upload && expires) {
      const at = Date.parse(expires);
      if (Number.isFinite(at)) upload.expiresAt = Math.max(upload.expiresAt ?? 0, at);
    }
    const offsetText = header("Upload-Offset");
    if (init.url) {
      const lines = this.history.get(init.url) ?? [];
      const body = init.status >= 400 ? ` ${init.body.replace(/\s+/g, " ").slice(0, 120)}` : "";
      lines.push(`${(init.sentAt - this.began).toFixed(0)}–${(init.answeredAt - this.began).toFixed(0)} ${init.method} ${init.status} ${offsetText ?? "-"}${body}`);
      if (lines.length > 40) lines.shift();
      this.history.set(init.url, lines);
    }
    if (init.url && offsetText !== undefined && /^[0-9]+$/.test(offsetText) && init.status < 500) {
      this.sighting(init.url, { what: `${init.method} ${init.status}`, offset: Number(offsetText), sentAt: init.sentAt, answeredAt: init.answeredAt });
    }
    if (init.status >= 500) {
      const verdict = this.classify(init.status, init.body, header, init.sentAt, init.answeredAt, upload);
      const name = `${init.status} ${verdict.cause}`;
      this.serverErrors[name] = (this.serverErrors[name] ?? 0) + 1;
      if (!verdict.allowed) this.violation(6, upload ?? init.url, `${init.method} ${init.url ?? ""} answered ${init.status} (${verdict.cause}): ${init.body.slice(0, 300)}`);
    }
  }

  /** Check 2: an answer sent after another was answered never reports less than it. */
  private sighting(url: string, seen: Sighting): void {
    const list = this.sightings.get(url) ?? [];
    for (const earlier of list) {
      if (earlier.answeredAt <= seen.sentAt && seen.offset < earlier.offset) {
        this.violation(2, this.byUrl.get(url) ?? url, `Upload-Offset went back: ${earlier.what} answered ${earlier.offset}, then ${seen.what} (sent after it) answered ${seen.offset}`);
        break;
      }
    }
    list.push(seen);
    this.offsetsSeen++;
    this.sightings.set(url, list);
  }

  /** The largest offset acknowledged for `url`. */
  acknowledged(url: string): number {
    return Math.max(0, ...(this.sightings.get(url) ?? []).map((seen) => seen.offset));
  }

  /** Which 5xx the design promises (README: status codes, Finishing an upload; test/faults/lib/verdicts.ts). */
  private classify(status: number, body: string, header: (name: string) => string | undefined, sentAt: number, answeredAt: number, upload: UploadRecord | undefined): ServerError {
    if (status === 500 && header("Tus-Resumable") === undefined && /^Error: Network connection lost\./.test(body)) {
      return { status, cause: "dev-proxy (request body cut between wrangler's proxy and the Worker)", allowed: true };
    }
    if (status === 503 && /pre-finish hook has not answered/.test(body)) {
      return { status, cause: `pre-finish undecided (hook ${upload?.hookMode ?? "?"})`, allowed: true };
    }
    if (status === 503 && /storage backend failed/.test(body)) {
      const inWindow = this.r2Windows.some((window) => answeredAt >= window.start && sentAt <= window.end + this.r2Grace);
      return { status, cause: inWindow ? "storage-unavailable during R2 faults" : "storage-unavailable outside R2 fault windows", allowed: inWindow };
    }
    return { status, cause: "unpromised", allowed: false };
  }

  /** Epoch ms → ms since the epoch of performance.now(), for comparing with sentAt/answeredAt. */
  static now(): number {
    return performance.now();
  }
}

export function sha256Hex(...pieces: Uint8Array[]): string {
  const hash = createHash("sha256");
  for (const piece of pieces) hash.update(piece);
  return hash.digest("hex");
}
