import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendTrackerEvents } from '../../cli/send-events';
import { waitFor } from '../../cli/probes';
import { trackAtRate } from '../../bench/tracker-load';
import type { SluiceConfig } from '../../config';
import { ManagedProcess, httpReady } from '../../stack/processes';
import { projectRoot } from '../../stack/standins';
import type { Stack } from '../../stack/stack';
import { makeLogger } from '../../observability/logger';
import { startE2eStack, type E2eStack } from '../helpers/e2e-stack';
import { startKinesisProxy, type KinesisProxy } from '../helpers/kinesis-proxy';
import { freePorts, sleep } from '../helpers/standins';

// The Kinesis read budget on the whole local stack: every processor of every stream (enrich and
// the raw sink on the raw stream; the realtime views and the dripfeed on the enriched one; the
// bad-rows sink) reads through a counting proxy in front of kinesalite, which maps iterators to
// shards and counts GetRecords calls per shard per wall-clock second, as Kinesis would. With the
// streams idle, with events flowing, while Kinesis throttles a shard, and with the consumers
// spread over two worker processes, no shard ever sees more than 5 calls in a second; and every
// event is still counted exactly once.

const require = createRequire(import.meta.url);
const LIMIT = 5;
const WINDOW_MS = 12_000;

let e2e: E2eStack | undefined;
let proxy: KinesisProxy;
let config: SluiceConfig;
let stack: Stack;
let secondWorker: ManagedProcess | undefined;
let tracked = 0;

beforeAll(async () => {
  const [kinesisPort, proxyPort] = await freePorts(2);
  proxy = await startKinesisProxy(kinesisPort, proxyPort);
  e2e = await startE2eStack('e2e-read-budget', {
    // Every client (collector, workers, the stack's setup) talks to Kinesis through the proxy.
    SLUICE_KINESIS__PORT: String(kinesisPort),
    SLUICE_KINESIS__ENDPOINT: proxy.url,
    // Short consume activities: with two workers, consumers move between them every few seconds.
    SLUICE_SPEED__ACTIVITY_BUDGET_MS: '4000',
  });
  ({ config, stack } = e2e);
});

afterAll(async () => {
  await secondWorker?.stop();
  await e2e?.stop();
  await proxy?.close();
});

/** Every shard of the three streams. */
function shardsRead(): string[] {
  return [...new Set(proxy.calls.map((c) => c.shard))].filter((s) => s !== '?').sort();
}

/** Counts calls per shard per second over [from, to) and checks the budget; returns the busiest second per shard. */
function expectWithinBudget(from: number, to: number): Record<string, number> {
  const perSecond = proxy.perSecond(from, to);
  const busiest = Object.fromEntries([...perSecond].map(([shard, counts]) => [shard, Math.max(...counts)]));
  process.stderr.write(`[read-budget] ${Math.round((to - from) / 1000)} s: GetRecords per shard per second ${JSON.stringify(Object.fromEntries([...perSecond].map(([s, c]) => [s, c.join(' ')])))}\n`);
  expect(proxy.calls.filter((c) => c.atMs >= from && c.atMs < to && c.shard === '?')).toEqual([]);
  for (const [shard, most] of Object.entries(busiest)) expect({ shard, most: Math.min(most, LIMIT + 1) }).toEqual({ shard, most: Math.min(most, LIMIT) });
  return busiest;
}

async function realtimeTotal(): Promise<number> {
  const { rows } = await e2e!.pool.query(`SELECT coalesce(sum("events"), 0) AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute'`);
  return Number(rows[0].n);
}

async function expectAllCountedOnce(): Promise<void> {
  const since = Date.now();
  await waitFor('the realtime views', async () => ((await realtimeTotal()) >= tracked ? true : undefined), 120_000, 300);
  process.stderr.write(`[read-budget] all ${tracked} events counted ${Date.now() - since} ms after sending ended\n`);
  // Nothing beyond: the realtime views de-duplicate, so a count above would be a double read of the enriched stream too.
  expect(await realtimeTotal()).toBe(tracked);
}

async function metricsOf(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** Sums a metric's samples whose labels match. */
function sample(metrics: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const m of metrics.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const l = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => l[k] === v)) sum += Number(m[2]);
  }
  return sum;
}

async function trackFor(ms: number, rate = 300): Promise<void> {
  const load = await trackAtRate(stack.urls.collector, { appId: 'read-budget', rate, durationMs: ms, trackers: 2 });
  expect(load.failedRequests).toBe(0);
  tracked += load.sendTimes.length;
}

describe('Kinesis read budget (whole stack through a counting proxy)', () => {
  it('idle streams: every shard read, never more than 5 calls in a second', async () => {
    const streams = Object.values(config.kinesis.streams);
    await waitFor('every shard of every stream read', async () => (shardsRead().length === streams.length * config.kinesis.shards ? true : undefined), 120_000, 500);
    await sleep(3_000); // consumers past their first reads
    const from = Date.now();
    await sleep(WINDOW_MS);
    const busiest = expectWithinBudget(from, Date.now());
    expect(Object.keys(busiest).sort()).toEqual(shardsRead());
  });

  it('events flowing: within the budget per shard, every event counted once', async () => {
    const from = Date.now();
    await trackFor(WINDOW_MS);
    expectWithinBudget(from, Date.now());
    await expectAllCountedOnce();
    // The workers say the same per shard on /metrics.
    const metrics = await metricsOf(stack.urls.workers);
    for (const shard of shardsRead()) {
      const [stream, shardId] = shard.split('/');
      expect(sample(metrics, 'sluice_kinesis_get_records_total', { stream, shard: shardId })).toBeGreaterThan(0);
    }
    expect(metrics).toMatch(/^sluice_kinesis_get_records_per_second\{stream="[^"]+",shard="shardId-\d+"\} \d+$/m);
    expect(sample(metrics, 'sluice_kinesis_shared_reads_total', { stream: config.kinesis.streams.raw })).toBeGreaterThan(0);
  });

  it('ProvisionedThroughputExceededException: backs off (slower calls on that shard), counted on /metrics, nothing lost or doubled', async () => {
    const raw = config.kinesis.streams.raw;
    const target = `${raw}/shardId-000000000000`;
    const before = sample(await metricsOf(stack.urls.workers), 'sluice_kinesis_throttles_total', { stream: raw, shard: 'shardId-000000000000' });
    const from = Date.now();
    proxy.throttle((shard) => shard === target, 8);
    const flowing = sendTrackerEvents({ collectorUrl: stack.urls.collector, appId: 'read-budget-throttled', count: 400 });
    const sent = await flowing;
    expect(sent.failedRequests).toBe(0);
    tracked += sent.sent;
    await waitFor('the throttled calls', async () => (proxy.calls.filter((c) => c.atMs >= from && c.throttled).length === 8 ? true : undefined), 60_000, 200);
    await expectAllCountedOnce();
    expectWithinBudget(from, Date.now());

    // Each throttle halves the shard's pace: the call after it comes later than the usual spacing (220 ms).
    const onShard = proxy.calls.filter((c) => c.atMs >= from && c.shard === target);
    const gaps = onShard.flatMap((c, i) => (c.throttled && onShard[i + 1] ? [onShard[i + 1].atMs - c.atMs] : []));
    expect(gaps.length).toBeGreaterThan(0);
    expect(Math.min(...gaps)).toBeGreaterThan(300);
    const after = sample(await metricsOf(stack.urls.workers), 'sluice_kinesis_throttles_total', { stream: raw, shard: 'shardId-000000000000' });
    expect(after - before).toBe(8);
  });

  it('consumers spread over two worker processes: still within the budget per shard, every event once', async () => {
    const [port] = await freePorts(1);
    const url = `http://127.0.0.1:${port}`;
    secondWorker = new ManagedProcess(
      {
        name: 'workers-2',
        command: process.execPath,
        args: ['--import', require.resolve('tsx'), path.join(projectRoot, 'workers/main.ts')],
        env: { SLUICE_CONFIG: path.join(config.dataDir, 'config.resolved.json'), SLUICE_WORKERS__PORT: String(port) },
        cwd: projectRoot,
        ready: httpReady(`${url}/health`),
        readyTimeoutMs: 120_000,
      },
      path.join(config.dataDir, 'logs'),
      makeLogger('test-workers-2', 'warn'),
    );
    await secondWorker.start();
    process.stderr.write('[read-budget] second worker up\n');
    // Consumers move to the new worker as their activities end (every 4 s).
    await waitFor('the second worker reading', async () => (sample(await metricsOf(url), 'sluice_kinesis_get_records_total', {}) > 0 ? true : undefined), 60_000, 500);
    process.stderr.write('[read-budget] second worker reading\n');
    const from = Date.now();
    await trackFor(15_000);
    expectWithinBudget(from, Date.now());
    await expectAllCountedOnce();
    // Both processes read the raw stream's shards in that time.
    const raw = config.kinesis.streams.raw;
    expect(sample(await metricsOf(url), 'sluice_kinesis_get_records_total', { stream: raw })).toBeGreaterThan(0);
    expect(sample(await metricsOf(stack.urls.workers), 'sluice_kinesis_get_records_total', { stream: raw })).toBeGreaterThan(0);
  }, 300_000);
});
