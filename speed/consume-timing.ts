// Timing helpers of the shard consumer's loop: waits that end early on cancellation, backoff,
// the idle wait, and the records-per-second window it reports.

/** Resolves after `ms`, or at once when the signal aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Exponential backoff with jitter (half fixed, half random), 250 ms doubling up to 5 s. */
export function backoffMs(failures: number, random = Math.random): number {
  const base = Math.min(5_000, 250 * 2 ** Math.min(failures - 1, 5));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** The wait after the `emptyReads`-th empty read in a row: pollMs, doubling up to idlePollMs. */
export function idleWait(pollMs: number, idlePollMs: number | undefined, emptyReads: number): number {
  const ceiling = Math.max(pollMs, idlePollMs ?? pollMs);
  return Math.min(ceiling, pollMs * 2 ** Math.min(30, Math.max(0, emptyReads - 1)));
}

/** Records per second over a sliding window. */
export class RateWindow {
  private samples: { at: number; n: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}
  add(n: number, at = Date.now()): void {
    this.samples.push({ at, n });
    while (this.samples.length > 0 && this.samples[0].at < at - this.windowMs) this.samples.shift();
  }
  perSecond(startedAt: number, at = Date.now()): number {
    const total = this.samples.reduce((s, x) => s + x.n, 0);
    const span = Math.min(this.windowMs, Math.max(1, at - startedAt));
    return Math.round((total * 1000 * 10) / span) / 10;
  }
}
