import { DeleteStreamCommand, ExpiredIteratorException, ProvisionedThroughputExceededException, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { createSpeedActivities, type ConfiguredStart, type ShardProgress, type SpeedMetrics } from '../../activities/speed';
import { makeKinesisClient } from '../../adapters/aws-clients';
import { ensureStream, listShards, putRecords, splitShard, type StreamRecord } from '../../adapters/kinesis';
import type { CheckpointStore } from '../../speed/checkpoints';
import type { ShardProcessor } from '../../speed/processor';
import { sleep } from '../helpers/standins';
import { faultInjector, recordingMetrics, startConsume, unpacedReads } from '../helpers/speed';
import { useStandins } from '../helpers/rig';

// The consume activity against kinesalite: start positions, throttling and iterator expiry
// (injected into the real client: kinesalite neither throttles nor expires iterators in under
// five minutes), a Kinesis outage (the stand-in stopped and started again), a shard that
// disappears, a closed shard read to its end, and cancellation.

const rig = useStandins({ kinesis: true });
let streamSeq = 0;

async function newStream(shards = 1): Promise<{ stream: string; shardId: string }> {
  const stream = `consume-${process.pid}-${++streamSeq}`;
  await ensureStream(rig.kinesis, stream, shards);
  return { stream, shardId: (await listShards(rig.kinesis, stream))[0].shardId };
}

async function put(stream: string, from: number, count: number): Promise<void> {
  const records = Array.from({ length: count }, (_, i) => ({ data: Buffer.from(`rec-${from + i}`), partitionKey: 'pk', explicitHashKey: '0' }));
  for (let i = 0; i < records.length; i += 100) expect((await putRecords(rig.kinesis, stream, records.slice(i, i + 100))).failed).toEqual([]);
}

/** A processor that remembers what it was given (no durable checkpoint: the workflow's is used). */
function recorder(maxRecords = 1) {
  const seen: StreamRecord[] = [];
  const processor: ShardProcessor = {
    name: 'rec',
    flushPolicy: { maxRecords, maxBytes: 1e9, maxAgeMs: 60_000 },
    async process(records) {
      seen.push(...records);
      return records.length > 0 ? records[records.length - 1].sequenceNumber : undefined;
    },
  };
  return { seen, processor, values: () => seen.map((r) => r.data.toString()) };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => `rec-${from + i}`);
const noCheckpoints: CheckpointStore = { read: async () => undefined, set: async () => undefined, advance: async () => undefined };

function activities(processor: ShardProcessor, opts: { kinesis?: KinesisClient; start?: ConfiguredStart; budgetMs?: number; readLimit?: number; metrics?: SpeedMetrics; idlePollMs?: number } = {}) {
  const kinesis = opts.kinesis ?? rig.kinesis;
  return createSpeedActivities({
    kinesis,
    reads: unpacedReads(kinesis), // the consume loop's own waits are tested here, not the read budget
    temporal: undefined as unknown as Client,
    processors: { [processor.name]: processor },
    checkpoints: noCheckpoints,
    startPosition: opts.start ?? { type: 'TRIM_HORIZON' },
    pollMs: 20,
    idlePollMs: opts.idlePollMs,
    budgetMs: opts.budgetMs ?? 2_000,
    maxRecords: 1_000_000,
    readLimit: opts.readLimit ?? 10,
    metrics: opts.metrics,
  });
}

describe('consumeShard (kinesalite)', () => {
  it('starts at TRIM_HORIZON, AT_TIMESTAMP, or LATEST pinned to the consumer\'s first start', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 20);
    await sleep(1_100);
    const between = Date.now();
    await sleep(1_100);
    await put(stream, 20, 20);

    const all = recorder();
    await startConsume(activities(all.processor), { stream, processor: 'rec', shardId }).result;
    expect(all.values()).toEqual(range(0, 40));

    const fromTime = recorder();
    await startConsume(activities(fromTime.processor, { start: { type: 'AT_TIMESTAMP', timestampMs: between } }), { stream, processor: 'rec', shardId }).result;
    expect(fromTime.values()).toEqual(range(20, 20));

    // LATEST: what arrived after the consumer first started, even when this attempt starts later.
    const latest = recorder();
    const result = await startConsume(activities(latest.processor, { start: { type: 'LATEST' } }), { stream, processor: 'rec', shardId, firstStartMs: between }).result;
    expect(latest.values()).toEqual(range(20, 20));
    expect(result).toMatchObject({ records: 20, shardEnded: false });
  });

  it('reads an idle shard less and less often, and still reads what arrives after a quiet spell', async () => {
    // Without idlePollMs: a read every 20 ms (plus the call itself) while the shard stays empty.
    const fixed = recordingMetrics();
    const quiet = await newStream();
    await startConsume(activities(recorder().processor, { metrics: fixed, budgetMs: 1_800 }), { ...quiet, processor: 'rec' }).result;

    const { stream, shardId } = await newStream();
    const idle = recordingMetrics();
    const rec = recorder();
    const run = startConsume(activities(rec.processor, { metrics: idle, idlePollMs: 320, budgetMs: 3_000 }), { stream, processor: 'rec', shardId });
    await sleep(1_800);
    const idlePolls = idle.polls; // waits of 20, 40, 80, 160, then 320 ms: about 9 reads in 1.8 s
    await put(stream, 0, 3);
    const result = await run.result;
    expect(rec.values()).toEqual(range(0, 3));
    expect(result.records).toBe(3);
    expect(idlePolls).toBeLessThanOrEqual(12);
    expect(idlePolls).toBeLessThan(fixed.polls / 1.5);
  });

  it('backs off on throttling with jitter, heartbeating meanwhile, and reads everything once', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 50);
    const kinesis = makeKinesisClient(rig.config);
    const faults = faultInjector(kinesis);
    faults.failNext('GetRecordsCommand', () => new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: {} }), 4);
    const metrics = recordingMetrics();
    const rec = recorder(20);
    const run = startConsume(activities(rec.processor, { kinesis, metrics, budgetMs: 4_000 }), { stream, processor: 'rec', shardId });
    const result = await run.result;
    kinesis.destroy();
    expect(metrics.failures).toEqual({ throttled: 4 });
    expect(rec.values()).toEqual(range(0, 50));
    expect(result.checkpoint).toBe(rec.seen[49].sequenceNumber);
    // Heartbeats kept going through the backoff (at least one per failed call besides the polls).
    expect(run.heartbeats.length).toBeGreaterThan(metrics.polls + 4);
    expect((run.heartbeats.at(-1) as ShardProgress).checkpoint).toBeDefined();
  });

  it('re-acquires an expired iterator after the last record read, without reading anything twice', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 45);
    const kinesis = makeKinesisClient(rig.config);
    const faults = faultInjector(kinesis);
    const rec = recorder(25); // records wait in the consumer's buffer, past the checkpoint
    const metrics = recordingMetrics();
    const acts = activities(rec.processor, { kinesis, metrics });
    // Expire the iterator at the third read (20 records read, none committed yet).
    let reads = 0;
    kinesis.middlewareStack.add(
      (next, context) => async (args) => {
        if ((context as { commandName?: string }).commandName === 'GetRecordsCommand' && ++reads === 3) {
          throw new ExpiredIteratorException({ message: 'Iterator expired', $metadata: {} });
        }
        return next(args);
      },
      { step: 'initialize', name: 'expireThirdRead', priority: 'low' },
    );
    await startConsume(acts, { stream, processor: 'rec', shardId }).result;
    kinesis.destroy();
    expect(metrics.failures).toEqual({ 'expired-iterator': 1 });
    expect(rec.values()).toEqual(range(0, 45));
    const reopened = faults.sent.filter((c) => c.command === 'GetShardIteratorCommand');
    expect(reopened).toHaveLength(2);
    expect(reopened[1].input).toMatchObject({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' });
    expect(reopened[1].input.StartingSequenceNumber).toBe(rec.seen[19].sequenceNumber);
  });

  it('rides out the Kinesis stand-in being stopped and started again', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 30);
    const metrics = recordingMetrics();
    const rec = recorder();
    const run = startConsume(activities(rec.processor, { metrics, budgetMs: 12_000 }), { stream, processor: 'rec', shardId });
    await sleep(1_000);
    await rig.procs.kinesis.stop();
    await sleep(3_000);
    await rig.procs.kinesis.start();
    await put(stream, 30, 30);
    await run.result;
    expect(metrics.failures.unavailable).toBeGreaterThanOrEqual(1);
    expect(rec.values()).toEqual(range(0, 60));
  });

  it('ends cleanly when the shard no longer exists', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 10);
    const metrics = recordingMetrics();
    const rec = recorder();
    const run = startConsume(activities(rec.processor, { metrics, budgetMs: 10_000 }), { stream, processor: 'rec', shardId });
    await sleep(600);
    await rig.kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
    const result = await run.result;
    expect(result).toMatchObject({ shardGone: true, shardEnded: false, records: 10 });
    expect(metrics.endedShards).toEqual([shardId]);
  });

  it('reads a closed parent shard to its end and reports it ended', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 25);
    await splitShard(rig.kinesis, stream, shardId);
    await put(stream, 25, 10); // these go to the children
    const rec = recorder(7);
    const result = await startConsume(activities(rec.processor, { budgetMs: 10_000 }), { stream, processor: 'rec', shardId }).result;
    expect(result).toMatchObject({ shardEnded: true, records: 25 });
    expect(rec.values()).toEqual(range(0, 25));
    const shards = await listShards(rig.kinesis, stream);
    expect(shards.filter((s) => s.parentShardId === shardId)).toHaveLength(2);
  });

  it('stops promptly when cancelled and returns what it committed', async () => {
    const { stream, shardId } = await newStream();
    await put(stream, 0, 15);
    const rec = recorder();
    const run = startConsume(activities(rec.processor, { budgetMs: 60_000 }), { stream, processor: 'rec', shardId });
    await sleep(800);
    const cancelledAt = Date.now();
    run.cancel();
    const result = await run.result;
    expect(Date.now() - cancelledAt).toBeLessThan(1_000);
    expect(result.checkpoint).toBe(rec.seen[14].sequenceNumber);
  });
});
