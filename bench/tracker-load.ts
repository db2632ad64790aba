import { buildPageView, buildStructEvent, newTracker, type Tracker } from '@snowplow/node-tracker';

// Sustained tracker traffic for the end-to-end benchmarks (bench/latency.ts, bench/dripfeed.ts):
// several real @snowplow/node-tracker instances (a site has many clients) tracking at a fixed
// rate, each event's send time kept for the latency curves.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function makeTrackers(collectorUrl: string, appId: string, count: number, onAccepted: (n: number) => void, onFailed: () => void): Tracker[] {
  const url = new URL(collectorUrl);
  return Array.from({ length: count }, (_, i) => {
    const t = newTracker(
      { namespace: `bench-${i}`, appId, encodeBase64: true },
      {
        endpoint: url.hostname,
        protocol: 'http',
        port: Number(url.port),
        eventMethod: 'post',
        bufferSize: 10,
        onRequestSuccess: (payloads) => onAccepted(payloads.length),
        onRequestFailure: () => onFailed(),
      },
    );
    t.setDomainUserId(`5d79770b-015b-4af8-8c91-${String(i).padStart(12, '0')}`);
    return t;
  });
}

export interface TrackedLoad {
  sendTimes: number[];
  accepted: number;
  failedRequests: number;
  startMs: number;
  endMs: number;
}

/**
 * Tracks `rate` events a second for `durationMs` (page views and structured events, alternating),
 * calling `report` every 5 s, then flushes every tracker.
 */
export async function trackAtRate(
  collectorUrl: string, opts: { appId: string; rate: number; durationMs: number; trackers: number },
  report: (load: TrackedLoad) => void | Promise<void> = () => undefined,
): Promise<TrackedLoad> {
  const load: TrackedLoad = { sendTimes: [], accepted: 0, failedRequests: 0, startMs: Date.now(), endMs: 0 };
  const trackers = makeTrackers(collectorUrl, opts.appId, opts.trackers, (n) => (load.accepted += n), () => (load.failedRequests += 1));
  let lastReport = load.startMs;
  while (Date.now() - load.startMs < opts.durationMs) {
    const now = Date.now();
    const due = Math.floor(((now - load.startMs) * opts.rate) / 1000);
    while (load.sendTimes.length < due) {
      const i = load.sendTimes.length;
      const tracker = trackers[i % trackers.length];
      if (i % 2 === 0) tracker.track(buildPageView({ pageUrl: `https://shop.example.com/products/${i}`, pageTitle: `Product ${i}` }));
      else tracker.track(buildStructEvent({ category: 'shop', action: 'add-to-basket', label: `sku-${i}`, value: i }));
      load.sendTimes.push(now);
    }
    if (now - lastReport >= 5_000) {
      lastReport = now;
      await report(load);
    }
    await sleep(5);
  }
  load.endMs = Date.now();
  await Promise.all(trackers.map((t) => t.flush()));
  await sleep(50); // onRequestSuccess runs from a timer
  return load;
}

/**
 * Per-event latency from two cumulative curves: the k-th event tracked counts as visible at the
 * first sample whose total reaches k (events on different shards may overtake each other, so
 * this attributes visibility times to send times in order). Sorted ascending.
 */
export function latenciesFromCurves(sendTimes: number[], samples: { t: number; n: number }[]): number[] {
  const latencies: number[] = [];
  let s = 0;
  for (let k = 1; k <= sendTimes.length; k++) {
    while (s < samples.length && samples[s].n < k) s++;
    if (s === samples.length) break;
    latencies.push(samples[s].t - sendTimes[k - 1]);
  }
  return latencies.sort((a, b) => a - b);
}

/** Each shard consumer's lag (ms) from the workers' metrics, e.g. `enrich/0:120`. */
export async function consumerLags(workersUrl: string): Promise<string> {
  const text = await (await fetch(`${workersUrl}/metrics`)).text().catch(() => '');
  return [...text.matchAll(/^sluice_speed_millis_behind_latest\{stream="[^"]*",processor="([^"]*)",shard="shardId-0*(\d+)"\} (\d+)/gm)]
    .map((m) => `${m[1]}/${m[2]}:${m[3]}`)
    .join(' ');
}
