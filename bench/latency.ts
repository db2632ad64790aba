import fs from 'node:fs';
import { fetchMergedCounts, waitFor } from '../cli/probes';
import { sendTrackerEvents } from '../cli/send-events';
import { makeLogger } from '../observability/logger';
import { Stack } from '../stack/stack';
import { testConfig } from '../tests/helpers/standins';
import { sampleKinesisReads } from './kinesis-reads';
import { reportSummary } from './summary';
import { consumerLags, latenciesFromCurves, percentile, trackAtRate } from './tracker-load';

// `npx tsx bench/latency.ts`: end-to-end latency of the speed layer on the local defaults. Starts
// the whole stack on fresh ports, sends a sustained stream of events with the real
// @snowplow/node-tracker (several trackers, as a site has many clients), and polls the serving
// API. Progress on stderr, a markdown table on stdout, each number next to its target (issue #6:
// visible within 2 s at p50 and 5 s at p99 at a sustained 1,000 events/s).
//
// Per-event latency from two cumulative curves: the k-th event tracked (in tracking order) counts
// as visible at the first poll whose total reaches k. Events on different shards may overtake each
// other, so this attributes visibility times to send times in order; the distribution is the one
// a client polling the API observes. A poll's time is when its answer arrived (an upper bound).
// Beside the latency: the speed layer's GetRecords calls per shard per second while sending (the
// workers' /metrics), against Kinesis's limit of 5 per shard (docs/speed.md, "Kinesis read budget").

const RATE = Number(process.env.BENCH_RATE ?? 1_000); // events/s
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 30_000);
const TRACKERS = Number(process.env.BENCH_TRACKERS ?? 4);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 50);
const DAY = 24 * 3600_000;
const say = (msg: string) => process.stderr.write(`[bench:latency] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const config = testConfig({ SLUICE_LOG__LEVEL: 'warn' });
  const stack = new Stack(config, makeLogger('bench', 'warn'));
  const poller = { stop: false };
  try {
    say('starting the stack on fresh ports…');
    await stack.start();
    const serving = stack.urls.serving;
    const total = async () => {
      const now = Date.now();
      return (await fetchMergedCounts(serving, now - DAY, now + DAY)).totals.all;
    };
    say('warm-up: 100 events…');
    await sendTrackerEvents({ collectorUrl: stack.urls.collector, appId: 'bench-warmup', count: 100 });
    await waitFor('the warm-up events', async () => ((await total()) >= 100 ? true : undefined), 120_000, 200);
    const baseline = await total();

    // The poller: (time the answer arrived, events visible beyond the baseline).
    const samples: { t: number; n: number }[] = [];
    const polling = (async () => {
      while (!poller.stop) {
        const n = (await total().catch(() => undefined)) ?? undefined;
        if (n !== undefined) samples.push({ t: Date.now(), n: n - baseline });
        await sleep(POLL_MS);
      }
    })();

    say(`sending ${RATE} events/s for ${DURATION_MS / 1000} s through ${TRACKERS} node trackers…`);
    const reads = sampleKinesisReads(stack.urls.workers);
    const load = await trackAtRate(stack.urls.collector, { appId: 'bench-latency', rate: RATE, durationMs: DURATION_MS, trackers: TRACKERS }, async (l) => {
      const lags = await consumerLags(stack.urls.workers);
      say(`${Math.round((Date.now() - l.startMs) / 1000)} s: ${l.sendTimes.length} tracked, ${l.accepted} accepted, ${samples.at(-1)?.n ?? 0} visible; consumer lag ms ${lags}`);
    });
    const { sendTimes, accepted, failedRequests, startMs: start, endMs: sendEnd } = load;
    const acceptedAt = Date.now();
    const readsWhileSending = await reads.stop();
    const sent = sendTimes.length;
    say(`sent ${sent} (${accepted} accepted, ${failedRequests} failed requests); waiting for all to be visible…`);
    await waitFor('every event to be visible', async () => ((samples.at(-1)?.n ?? 0) >= sent ? true : undefined), 120_000, 100).catch(() => undefined);
    poller.stop = true;
    await polling;

    const latencies = latenciesFromCurves(sendTimes, samples);
    const visible = latencies.length;
    const sendRate = sent / ((sendEnd - start) / 1000);
    const acceptRate = accepted / ((acceptedAt - start) / 1000);
    const row = (what: string, value: string, target: string, ratio: string) => `| ${what} | ${value} | ${target} | ${ratio} |`;
    const ms = (v: number) => `${Math.round(v).toLocaleString('en-US')} ms`;
    const lines = [
      `Speed-layer latency, tracker → serving API (${TRACKERS} node trackers, ${DURATION_MS / 1000} s, poll every ${POLL_MS} ms; ${new Date().toISOString().slice(0, 10)})`,
      '',
      '| measure | measured | target | measured / target |',
      '| --- | ---: | ---: | ---: |',
      row('events tracked per second', sendRate.toFixed(0), RATE.toLocaleString('en-US'), (sendRate / RATE).toFixed(2)),
      row('events accepted by the collector per second', acceptRate.toFixed(0), RATE.toLocaleString('en-US'), (acceptRate / RATE).toFixed(2)),
      row('events visible in the serving API', `${visible.toLocaleString('en-US')} of ${sent.toLocaleString('en-US')}`, 'all', (visible / sent).toFixed(3)),
      row('latency p50', ms(percentile(latencies, 50)), '2,000 ms', (percentile(latencies, 50) / 2_000).toFixed(2)),
      row('latency p90', ms(percentile(latencies, 90)), '', ''),
      row('latency p99', ms(percentile(latencies, 99)), '5,000 ms', (percentile(latencies, 99) / 5_000).toFixed(2)),
      row('latency max', ms(latencies.at(-1) ?? NaN), '', ''),
      ...readsWhileSending.streams.map((r) =>
        row(
          `GetRecords calls per shard per second, ${r.stream} (${r.shards} shards): mean / busiest second${r.throttles ? `, ${r.throttles} throttled` : ''}`,
          `${r.meanPerShard.toFixed(2)} / ${r.busiestSecond}`,
          '≤ 5',
          (r.busiestSecond / 5).toFixed(2),
        ),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const [p50, p99] = [percentile(latencies, 50), percentile(latencies, 99)];
    reportSummary('latency', [
      { measure: `tracker → serving API at ${RATE.toLocaleString('en-US')} events/s: visible`, measured: `${visible.toLocaleString('en-US')} of ${sent.toLocaleString('en-US')}`, target: 'all', met: visible === sent },
      { measure: 'latency p50', measured: ms(p50), target: '≤ 2,000 ms', met: p50 <= 2_000 },
      { measure: 'latency p99', measured: ms(p99), target: '≤ 5,000 ms', met: p99 <= 5_000 },
    ]);
    if (failedRequests > 0) say(`warning: ${failedRequests} tracker requests failed (retried by the tracker)`);
  } finally {
    poller.stop = true;
    say('stopping the stack…');
    await stack.stop();
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
