import { buildStructEvent, newTracker, type Tracker } from '@snowplow/node-tracker';

// The soak's well-behaved traffic: several real @snowplow/node-tracker instances (POST, buffer 10),
// each event a structured event whose se_label is its sequence number, so every event's fate is
// known exactly: tracked, acknowledged by the collector (onRequestSuccess), or given up by the
// tracker (a non-retryable status). The tracker retries everything else itself, keeping at most
// 1,000 events per tracker and dropping the oldest beyond that: those stay "tracked, never
// acknowledged", which is not loss (the collector never took them).

export const SOAK_APP_ID = 'sluice-soak';
const TRACKED = 0;
const ACKED = 1;
const GIVEN_UP = 2;

export class TrackerFleet {
  private readonly trackers: Tracker[];
  private state = new Uint8Array(1 << 16);
  tracked = 0;
  acked = 0;
  givenUp = 0;
  /** Acknowledgements of an event acknowledged before (a tracker retry of a request that had succeeded). */
  ackedAgain = 0;
  failedRequests = 0;
  requests = 0;

  constructor(collectorUrl: string, count: number) {
    const url = new URL(collectorUrl);
    this.trackers = Array.from({ length: count }, (_, i) => {
      const t = newTracker(
        { namespace: `soak-${i}`, appId: SOAK_APP_ID, encodeBase64: true },
        {
          endpoint: url.hostname,
          protocol: 'http',
          port: Number(url.port),
          eventMethod: 'post',
          bufferSize: 10,
          onRequestSuccess: (payloads) => {
            this.requests += 1;
            for (const p of payloads) this.mark(p as Record<string, unknown>, ACKED);
          },
          onRequestFailure: (failure) => {
            this.requests += 1;
            this.failedRequests += 1;
            if (!failure.willRetry) for (const p of failure.events) this.mark(p as Record<string, unknown>, GIVEN_UP);
          },
        },
      );
      t.setDomainUserId(`5d79770b-015b-4af8-8c91-${String(i).padStart(12, '0')}`);
      return t;
    });
  }

  private mark(payload: Record<string, unknown>, to: number): void {
    const seq = Number(payload.se_la);
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.tracked) return;
    const was = this.state[seq];
    if (to === ACKED) {
      if (was === ACKED) this.ackedAgain += 1;
      else {
        this.acked += 1;
        if (was === GIVEN_UP) this.givenUp -= 1;
        this.state[seq] = ACKED;
      }
    } else if (was === TRACKED) {
      this.givenUp += 1;
      this.state[seq] = GIVEN_UP;
    }
  }

  /** Tracks the next event on the next tracker in turn; every third carries a web_page context. */
  trackNext(): void {
    const seq = this.tracked++;
    if (seq >= this.state.length) {
      const grown = new Uint8Array(this.state.length * 2);
      grown.set(this.state);
      this.state = grown;
    }
    const i = seq % this.trackers.length;
    const context =
      seq % 3 === 0
        ? [{ schema: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', data: { id: `0c3b8c7d-2a1e-4f6b-9c8d-${String(seq).padStart(12, '0')}` } }]
        : undefined;
    this.trackers[i].track(buildStructEvent({ category: 'soak', action: `tracker-${i}`, label: String(seq), property: `t${i}`, value: seq }), context);
  }

  isAcked(seq: number): boolean {
    return this.state[seq] === ACKED;
  }

  /**
   * Flushes every tracker until all tracked events are acknowledged or given up, three rounds in
   * a row change nothing (events the trackers' stores dropped never will be), or time runs out.
   */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let idleRounds = 0;
    while (this.acked + this.givenUp < this.tracked && idleRounds < 3 && Date.now() < deadline) {
      const before = this.acked + this.givenUp;
      await Promise.all(this.trackers.map((t) => t.flush()));
      await new Promise((r) => setTimeout(r, 500)); // callbacks run from timers; a failed flush waits a little
      idleRounds = this.acked + this.givenUp === before ? idleRounds + 1 : 0;
    }
  }
}
