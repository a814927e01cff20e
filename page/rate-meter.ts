/**
 * Upload speed over a sliding window, and the time left at that speed. A
 * window (rather than the average since the start) follows a connection that
 * gets faster or slower, and forgets the burst of the first chunk.
 */
export class RateMeter {
  private samples: { at: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** Records that `bytes` in total have been sent at time `at` (ms). */
  sample(bytes: number, at = performance.now()): void {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }

  /** Forgets the history, e.g. after a pause: the time paused is not slowness. */
  reset(): void {
    this.samples = [];
  }

  /** Bytes per second, or undefined until there is a second's worth of samples to judge by. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 1000) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }

  /** Seconds until `total` bytes are sent at the current rate. */
  secondsLeft(sent: number, total: number): number | undefined {
    const rate = this.rate();
    return rate && rate > 0 ? (total - sent) / rate : undefined;
  }
}
