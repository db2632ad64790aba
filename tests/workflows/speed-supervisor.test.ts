import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, listShards, mergeShards, putRecords, splitShard } from '../../adapters/kinesis';
import { formatStatus, heartbeatOf, streamsCommand, streamsStatus } from '../../cli/streams';
import { formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { pgCheckpointStore } from '../../speed/checkpoints';
import { fileSinkProcessor } from '../../speed/file-sink';
import { RAW_FORMAT } from '../../speed/raw-sink';
import { realtimeViewsProcessor } from '../../speed/realtime-views';
import { workflowIds } from '../../temporal.config';
import { statusQuery } from '../../workflows/shard-consumer';
import { streamSupervisorWorkflow } from '../../workflows/stream-supervisor';
import { sleep, waitFor } from '../helpers/standins';
import { occurrences, readRawFiles } from '../helpers/speed';
import { startSpeedTestWorker, type SpeedTestWorker } from '../helpers/workflow-env';
import { useStandins } from '../helpers/rig';

// Stream supervisors and shard consumers on a real Temporal server with the real activities,
// kinesalite, s3rver and PostgreSQL: a split and a merge made while records flow (children start
// only after their parents are drained; every record lands in exactly one raw file), and the
// operator's pause, resume and rewind signals with `sluice streams status`.

const RAW = `raw-${process.pid}`;
const ENRICHED = `enriched-${process.pid}`;
const TASK_QUEUE = 'speed-supervisor-test';

const rig = useStandins({ kinesis: true, s3: true, postgres: true, env: { SLUICE_KINESIS__STREAMS__RAW: RAW, SLUICE_KINESIS__STREAMS__ENRICHED: ENRICHED } });
let speed: SpeedTestWorker;

beforeAll(async () => {
  speed = await startSpeedTestWorker(TASK_QUEUE, {
    kinesis: rig.kinesis,
    processors: {
      'raw-s3': fileSinkProcessor('raw-s3', rig.store, RAW_FORMAT, { maxRecords: 40, maxBytes: 1e9, maxAgeMs: 500 }, rig.pool),
      'realtime-views': realtimeViewsProcessor(rig.pool),
    },
    checkpoints: pgCheckpointStore(rig.pool),
    startPosition: { type: 'TRIM_HORIZON' },
    pollMs: 50,
    budgetMs: 3_000,
    maxRecords: 100_000,
  });
});

afterAll(async () => {
  await speed?.stop();
});

async function startSupervisor(stream: string, processor: string) {
  return speed.env.client.workflow.start(streamSupervisorWorkflow, {
    workflowId: workflowIds.supervisor(stream, processor),
    taskQueue: TASK_QUEUE,
    args: [{ stream, processor }],
  });
}

/** Puts `batches` batches of 20 records `<tag>-<n>` 100 ms apart, calling `during(i)` before each. */
async function produce(stream: string, tag: string, batches: number, during: (i: number) => Promise<void>): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < batches; i++) {
    await during(i);
    const records = Array.from({ length: 20 }, (_, j) => ({ data: Buffer.from(`${tag}-${i * 20 + j}`), partitionKey: randomUUID() }));
    expect((await putRecords(rig.kinesis, stream, records)).failed).toEqual([]);
    sent.push(...records.map((r) => r.data.toString()));
    await sleep(100);
  }
  return sent;
}

async function rawRecords(stream: string): Promise<string[]> {
  const files = (await readRawFiles(rig.store, 'raw/in/')).filter((f) => f.key.includes(`/${stream}-`));
  return files.flatMap((f) => f.records.map((r) => r.toString()));
}

/** Shard id → [start, close] of its consumer workflow. */
async function consumerTimes(stream: string, processor: string, shardIds: string[]) {
  const out = new Map<string, { start: number; close?: number; status: string }>();
  for (const shardId of shardIds) {
    const d = await speed.env.client.workflow.getHandle(workflowIds.shardConsumer(stream, processor, shardId)).describe();
    out.set(shardId, { start: d.startTime.getTime(), close: d.closeTime?.getTime(), status: d.status.name });
  }
  return out;
}

describe('stream supervisor (real Temporal, kinesalite, s3rver, PostgreSQL)', () => {
  it('follows a split made while records flow: parent drained first, every record in exactly one raw file', async () => {
    const stream = `${RAW}-split`;
    await ensureStream(rig.kinesis, stream, 1);
    const [parent] = await listShards(rig.kinesis, stream);
    const supervisor = await startSupervisor(stream, 'raw-s3');
    const sent = await produce(stream, 'split', 20, async (i) => {
      if (i === 8) await splitShard(rig.kinesis, stream, parent.shardId);
    });
    const shards = await listShards(rig.kinesis, stream);
    const children = shards.filter((s) => s.parentShardId === parent.shardId).map((s) => s.shardId);
    expect(children).toHaveLength(2);

    await waitFor(async () => (await rawRecords(stream)).length >= sent.length, 90_000, 500);
    const counts = occurrences(await rawRecords(stream));
    expect([...counts.keys()].sort()).toEqual([...sent].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);

    const times = await consumerTimes(stream, 'raw-s3', [parent.shardId, ...children]);
    const p = times.get(parent.shardId)!;
    expect(p.status).toBe('COMPLETED');
    for (const child of children) {
      expect(times.get(child)!.status).toBe('RUNNING');
      expect(times.get(child)!.start).toBeGreaterThanOrEqual(p.close!);
    }
    // The parent's files were all committed before any child's.
    const { rows } = await rig.pool.query<{ shard_id: string; first: Date; last: Date }>(
      `SELECT "shard_id", min("committed_at") AS first, max("committed_at") AS last FROM "sluice"."sink_files" WHERE "stream" = $1 GROUP BY 1`,
      [stream],
    );
    const byShard = new Map(rows.map((r) => [r.shard_id, r]));
    for (const child of children) expect(byShard.get(child)!.first.getTime()).toBeGreaterThan(byShard.get(parent.shardId)!.last.getTime());
    await supervisor.terminate();
  });

  it('follows a merge: the child starts once both parents are drained', async () => {
    const stream = `${RAW}-merge`;
    await ensureStream(rig.kinesis, stream, 2);
    const [a, b] = await listShards(rig.kinesis, stream);
    const supervisor = await startSupervisor(stream, 'raw-s3');
    const sent = await produce(stream, 'merge', 14, async (i) => {
      if (i === 6) await mergeShards(rig.kinesis, stream, a.shardId, b.shardId);
    });
    const child = (await listShards(rig.kinesis, stream)).find((s) => s.parentShardId === a.shardId && s.adjacentParentShardId === b.shardId);
    expect(child).toBeDefined();
    await waitFor(async () => (await rawRecords(stream)).length >= sent.length, 90_000, 500);
    const counts = occurrences(await rawRecords(stream));
    expect(counts.size).toBe(sent.length);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const times = await consumerTimes(stream, 'raw-s3', [a.shardId, b.shardId, child!.shardId]);
    const childStart = times.get(child!.shardId)!.start;
    for (const parent of [a.shardId, b.shardId]) {
      expect(times.get(parent)!.status).toBe('COMPLETED');
      expect(childStart).toBeGreaterThanOrEqual(times.get(parent)!.close!);
    }
    await supervisor.terminate();
  });

  it('pauses, resumes and rewinds the realtime views through the supervisor; a rewind counts nothing twice', async () => {
    const stream = ENRICHED;
    await ensureStream(rig.kinesis, stream, 2);
    const startedAt = Date.now();
    const put = async (n: number) => {
      const lines = Array.from({ length: n }, () =>
        toEnrichedTsv({ app_id: 'sig', platform: 'web', collector_tstamp: formatTstamp(Date.now()), event: 'page_view', event_name: 'page_view', event_id: randomUUID(), event_fingerprint: randomUUID(), v_collector: 'c', v_etl: 'e' }),
      );
      expect((await putRecords(rig.kinesis, stream, lines.map((l) => ({ data: Buffer.from(l), partitionKey: randomUUID() })))).failed).toEqual([]);
    };
    const counted = async () => Number((await rig.pool.query(`SELECT coalesce(sum("events"), 0) AS n FROM "sluice"."realtime_view_events" WHERE "grain" = 'minute'`)).rows[0].n);
    const out: string[] = [];
    const say = (line: string) => out.push(line);
    const supervisor = await startSupervisor(stream, 'realtime-views');
    await put(40);
    await waitFor(async () => (await counted()) === 40, 60_000, 200);

    await streamsCommand(speed.env.client, rig.config, { action: 'pause', processor: 'realtime-views' }, say);
    const shardIds = (await listShards(rig.kinesis, stream)).map((s) => s.shardId);
    const consumers = shardIds.map((id) => speed.env.client.workflow.getHandle(workflowIds.shardConsumer(stream, 'realtime-views', id)));
    await waitFor(async () => (await Promise.all(consumers.map((c) => c.query(statusQuery)))).every((s) => s.paused && !s.consuming), 30_000, 200);
    const pausedAt = await Promise.all(consumers.map((c) => c.query(statusQuery)));
    await put(20);
    await sleep(2_000);
    expect(await counted()).toBe(40);
    const rows = await streamsStatus(speed.env.client, rig.config, { processor: 'realtime-views' });
    expect(rows.map((r) => r.state)).toEqual(['paused', 'paused']);
    expect(rows.map((r) => r.checkpoint)).toEqual(pausedAt.map((s) => s.checkpoint));
    expect(formatStatus(rows)[0]).toMatch(/^stream +processor +shard +state +lag ms +records\/s/);

    await streamsCommand(speed.env.client, rig.config, { action: 'resume', processor: 'realtime-views' }, say);
    await waitFor(async () => (await counted()) === 60, 60_000, 200);
    // Running again: the live numbers come from the consume activities' heartbeats.
    await waitFor(async () => (await Promise.all(consumers.map(async (c) => heartbeatOf(await c.describe())))).every((p) => p !== undefined && p.atMs > Date.now() - 5_000), 30_000, 200);
    const live = await streamsStatus(speed.env.client, rig.config, { processor: 'realtime-views' });
    expect(live.map((r) => r.state)).toEqual(['running', 'running']);
    for (const r of live) expect(r).toMatchObject({ millisBehindLatest: expect.any(Number), recordsPerSecond: expect.any(Number), checkpoint: expect.any(String) });
    // The durable checkpoints (the workflows learn theirs when a consume activity returns).
    const durable = await rig.pool.query<{ shard_id: string; sequence_number: string }>(
      `SELECT "shard_id", "sequence_number" FROM "sluice"."stream_checkpoints" WHERE "stream" = $1 AND "processor" = 'realtime-views' ORDER BY 1`,
      [stream],
    );
    const checkpoints = durable.rows.map((r) => r.sequence_number);
    expect(durable.rows.map((r) => r.shard_id)).toEqual(shardIds);

    // Rewind to before everything: every record is read again, and de-duplication keeps the counts.
    await streamsCommand(speed.env.client, rig.config, { action: 'rewind', processor: 'realtime-views', to: new Date(startedAt - 1_000).toISOString() }, say);
    await waitFor(async () => {
      const statuses = await Promise.all(consumers.map((c) => c.query(statusQuery)));
      return statuses.every((s, i) => s.lastRewind?.applied === true && s.checkpoint === checkpoints[i]);
    }, 60_000, 300);
    await sleep(1_000);
    expect(await counted()).toBe(60);
    expect(out).toEqual([
      `sent pause to ${workflowIds.supervisor(stream, 'realtime-views')}`,
      `sent resume to ${workflowIds.supervisor(stream, 'realtime-views')}`,
      `sent rewind to ${new Date(startedAt - 1_000).toISOString()} to ${workflowIds.supervisor(stream, 'realtime-views')}`,
    ]);
    await supervisor.terminate();
  });
});
