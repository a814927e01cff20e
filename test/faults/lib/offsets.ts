/**
 * Every `Upload-Offset` a client saw for one upload, with when it asked and
 * when it was answered. tus promises that an acknowledged offset is never
 * lost, so a response can never report less than one that was answered
 * before it was even sent. Overlapping requests (races) may be answered in
 * any order, so only answers that do not overlap in time are compared.
 */
import { expect } from "vitest";
import type { HttpRequest, HttpResponse } from "tus-js-client";
import { performance } from "node:perf_hooks";
import { offsetOf, type WireResponse } from "./wire";

export interface Sighting {
  what: string;
  offset: number;
  sentAt: number;
  answeredAt: number;
  /**
   * The upload URL, where a client may have moved to another upload
   * (tus-js-client starts a new one when HEAD fails); only sightings of the
   * same upload are compared. Undefined: the history's one upload.
   */
  upload?: string;
}

export class OffsetHistory {
  readonly sightings: Sighting[] = [];
  readonly label: string;

  constructor(label: string) {
    this.label = label;
  }

  see(what: string, offset: number, sentAt: number, answeredAt: number, upload?: string): void {
    this.sightings.push({ what, offset, sentAt, answeredAt, upload });
  }

  /** Records a response's `Upload-Offset`, if it has one; returns it. */
  seeResponse(what: string, response: WireResponse): number | undefined {
    const offset = offsetOf(response);
    if (offset !== undefined) this.see(`${what} ${response.status}`, offset, response.sentAt, response.answeredAt);
    return offset;
  }

  /** tus-js-client callbacks that record every response's offset (pass them to `startTusUpload`). */
  tusCallbacks(): { onBeforeRequest(request: HttpRequest): void; onAfterResponse(request: HttpRequest, response: HttpResponse): void } {
    const sentAt = new WeakMap<HttpRequest, number>();
    return {
      onBeforeRequest: (request) => {
        sentAt.set(request, performance.now());
      },
      onAfterResponse: (request, response) => {
        const value = response.getHeader("Upload-Offset");
        if (value !== undefined && value !== null && /^[0-9]+$/.test(value)) {
          this.see(`tus-js-client ${request.getMethod()} ${response.getStatus()}`, Number(value), sentAt.get(request) ?? 0, performance.now(), request.getURL());
        }
      },
    };
  }

  /** The largest offset any answer reported. */
  highest(): number {
    return Math.max(0, ...this.sightings.map((sighting) => sighting.offset));
  }

  /** No answer reports less than an answer that came back before it was asked for. */
  expectNeverBackwards(): void {
    const byAnswer = [...this.sightings].sort((a, b) => a.answeredAt - b.answeredAt);
    for (const later of this.sightings) {
      for (const earlier of byAnswer) {
        if (earlier.answeredAt > later.sentAt) break;
        const sameUpload = earlier.upload === undefined || later.upload === undefined || earlier.upload === later.upload;
        if (sameUpload && later.offset < earlier.offset) {
          expect.fail(
            `${this.label}: Upload-Offset went backwards: ${earlier.what} answered ${earlier.offset}, then ${later.what} (sent after it) answered ${later.offset}\n${this.describe()}`,
          );
        }
      }
    }
  }

  /** No answer reports more bytes than the client had sent. */
  expectAtMost(limit: number, why: string): void {
    for (const sighting of this.sightings) {
      if (sighting.offset > limit) expect.fail(`${this.label}: ${sighting.what} answered offset ${sighting.offset}, beyond ${limit} (${why})\n${this.describe()}`);
    }
  }

  describe(): string {
    const start = this.sightings[0]?.sentAt ?? 0;
    return this.sightings
      .map((s) => `  ${(s.sentAt - start).toFixed(0).padStart(7)}–${(s.answeredAt - start).toFixed(0).padStart(7)} ms  ${s.what}: ${s.offset}`)
      .join("\n");
  }
}
