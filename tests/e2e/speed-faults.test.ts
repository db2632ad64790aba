import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../adapters/aws-clients';
import { listShards, splitShard } from '../../adapters/kinesis';
import type { ObjectStore } from '../../adapters/object-store';
import type { Pool } from '../../adapters/postgres';
import { fetchMergedCounts, waitFor, waitForRawSink } from '../../cli/probes';
import { sendTrackerEvents } from '../../cli/send-events';
import { streamsStatus } from '../../cli/streams';
import type { SluiceConfig } from '../../config';
import type { Stack } from '../../stack/stack';
import { workflowIds } from '../../temporal.config';
import { startE2eStack, type E2eStack } from '../helpers/e2e-stack';
import { eventIdsOfRawRecords, occurrences, readRawFiles } from '../helpers/speed';

// The speed layer under faults, on the whole local stack: tracker events keep flowing while the
// worker process is SIGKILLed (its shard activities running), while the Kinesis stand-in is
// stopped for a few seconds, and while a raw shard is split in two. After each, every event sent
// is counted exactly once in the realtime views (and the serving API), and present exactly once
// in the raw S3 files (every file decoded: lzop → frames → Thrift CollectorPayload → events) and
// in atomic.events (the warehouse dripfeed).

const DAY = 24 * 3600_000;

let config: SluiceConfig;
let stack: Stack;
let pool: Pool;
let store: ObjectStore;
let kinesis: KinesisClient;
let temporal: { client: Client; connection: Connection };
const sent: string[] = [];

let e2e: E2eStack | undefined;

beforeAll(async () => {
  e2e = await startE2eStack('e2e-speed', {
    // Short consume activities and raw files: recovery shows up sooner, and more file boundaries are tested.
    SLUICE_SPEED__ACTIVITY_BUDGET_MS: '5000',
    SLUICE_SPEED__RAW_SINK__MAX_AGE_MS: '1500',
  });
  ({ config, stack, pool, store, temporal } = e2e);
  kinesis = makeKinesisClient(config);
});

afterAll(async () => {
  kinesis?.destroy();
  await e2e?.stop();
});

/** Sends `count` tracker events, remembering the id of every event the collector accepted. */
async function send(appId: string, count: number): Promise<void> {
  const result = await sendTrackerEvents({
    collectorUrl: stack.urls.collector,
    appId,
    count,
    onSent: (payloads) => sent.push(...payloads.map((p) => String(p.eid))),
  });
  expect(result.failedRequests).toBe(0);
}

async function realtimeTotal(): Promise<number> {
  const { rows } = await pool.query(`SELECT coalesce(sum("events"), 0) AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute'`);
  return Number(rows[0].n);
}

/** Waits for the speed layer to hold every event sent, then checks that it holds each exactly once. */
async function expectEveryEventExactlyOnce(): Promise<void> {
  const expected = sent.length;
  expect(new Set(sent).size).toBe(expected);
  await waitFor('the realtime views', async () => ((await realtimeTotal()) >= expected ? true : undefined), 120_000, 300);
  // In the raw stream by now: the raw sink is done with them once its markers pass this instant.
  await waitForRawSink(config, Date.now());
  expect(await realtimeTotal()).toBe(expected);
  const now = Date.now();
  expect((await fetchMergedCounts(stack.urls.serving, now - DAY, now + DAY)).totals).toMatchObject({ realtime: expected, all: expected });

  // The warehouse dripfeed: every event in atomic.events, each once (through the worker kill too).
  const dripfed = async () => (await pool.query(`SELECT "event_id" FROM "atomic"."events"`)).rows.map((r) => String(r.event_id));
  await waitFor('the dripfeed', async () => ((await dripfed()).length >= expected ? true : undefined), 120_000, 300);
  const rows = occurrences(await dripfed());
  expect([...rows.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  expect([...rows.keys()].sort()).toEqual([...sent].sort());

  const files = await readRawFiles(store, 'raw/in/');
  const ids = occurrences(eventIdsOfRawRecords(files.flatMap((f) => f.records)));
  expect([...ids.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  expect([...ids.keys()].sort()).toEqual([...sent].sort());
}

/** True once any shard consumer has a consume activity running. */
async function consumeRunning(): Promise<true | undefined> {
  for (const shard of await listShards(kinesis, config.kinesis.streams.raw)) {
    const d = await temporal.client.workflow.getHandle(workflowIds.shardConsumer(config.kinesis.streams.raw, 'raw-s3', shard.shardId)).describe();
    const started = proto.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
    if ((d.raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'consumeShard' && a.state === started)) return true;
  }
  return undefined;
}

describe('speed layer under faults', () => {
  it('counts every event once after the worker is killed while its shard activities run', async () => {
    await send('faults-warmup', 30);
    await waitFor('first events', async () => ((await realtimeTotal()) >= 30 ? true : undefined), 90_000, 300);
    const flowing = send('faults-kill', 600);
    await waitFor('a running consume activity', consumeRunning, 30_000, 100);
    stack.processes.get('workers')!.kill('SIGKILL'); // the stack's supervisor starts it again
    await flowing;
    await expectEveryEventExactlyOnce();

    // The killed attempts were retried: some consume activity finished on attempt 2 or later.
    const ids = (await streamsStatus(temporal.client, config)).map((r) => workflowIds.shardConsumer(r.stream, r.processor, r.shardId));
    await waitFor(
      'a retried consume attempt to finish',
      async () => {
        for (const id of ids) {
          const history = await temporal.client.workflow.getHandle(id).fetchHistory();
          if (history.events!.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 0) > 1)) return true;
        }
        return undefined;
      },
      60_000,
      1_000,
    );
  });

  it('counts every event once after the Kinesis stand-in is stopped for a few seconds', async () => {
    const kinesalite = stack.processes.get('kinesalite')!;
    const flowing = send('faults-kinesis', 600);
    await new Promise((r) => setTimeout(r, 500));
    await kinesalite.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    await kinesalite.start();
    await flowing;
    await expectEveryEventExactlyOnce();

    // The consumers noticed the outage and said so on the workers' metrics endpoint.
    const metrics = await (await fetch(`${stack.urls.workers}/metrics`)).text();
    const unavailable = [...metrics.matchAll(/^sluice_speed_consume_errors_total\{[^}]*kind="unavailable"[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
    expect(unavailable.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(metrics).toMatch(new RegExp(`^sluice_speed_millis_behind_latest\\{stream="${config.kinesis.streams.enriched}",processor="realtime-views",shard="shardId-\\d+"\\} \\d+`, 'm'));
  });

  it('counts every event once when a raw shard is split in two while events flow', async () => {
    const raw = config.kinesis.streams.raw;
    const [parent] = await listShards(kinesis, raw);
    const flowing = send('faults-split', 600);
    await new Promise((r) => setTimeout(r, 500));
    await splitShard(kinesis, raw, parent.shardId);
    await flowing;
    const children = (await listShards(kinesis, raw)).filter((s) => s.parentShardId === parent.shardId);
    expect(children).toHaveLength(2);
    await expectEveryEventExactlyOnce();

    // Both raw-stream processors drained the parent before its children started.
    const rows = await streamsStatus(temporal.client, config, { stream: raw });
    for (const processor of ['enrich', 'raw-s3']) {
      const mine = rows.filter((r) => r.processor === processor);
      expect(mine.find((r) => r.shardId === parent.shardId)?.state).toBe('drained');
      for (const child of children) expect(mine.find((r) => r.shardId === child.shardId)?.state).toBe('running');
    }
  });
});
