import { describe, expect, it } from 'vitest';
import { ensureStream, listShards, putRecords, readBatch, shardIterator, type StreamRecord } from '../../adapters/kinesis';
import { KinesisSink, type SinkOptions } from '../../collector/sink';
import { makeLogger } from '../../observability/logger';
import { readStreamByShard } from '../helpers/kinesis';
import { waitFor } from '../helpers/standins';
import { useStandins } from '../helpers/rig';

const rig = useStandins({ kinesis: true });
const log = makeLogger('test-sink', 'silent');
let streamSeq = 0;

async function newStream(shards = 2): Promise<string> {
  const name = `test-${process.pid}-${++streamSeq}`;
  await ensureStream(rig.kinesis, name, shards);
  return name;
}

const readAll = (stream: string) => readStreamByShard(rig.kinesis, stream, 250);

const flat = (m: Map<string, StreamRecord[]>) => [...m.values()].flat();
const payload = (i: number, size = 64) => Buffer.concat([Buffer.from(`rec-${i}:`), Buffer.alloc(size, i % 256)]);

function sinkOptions(stream: string, over: Partial<SinkOptions> = {}): SinkOptions {
  return {
    stream,
    byteLimit: 1_000_000,
    recordLimit: 500,
    timeLimitMs: 50,
    maxBufferedBytes: 10_000_000,
    backoffMinMs: 100,
    backoffMaxMs: 400,
    ...over,
  };
}

describe('kinesis adapter (kinesalite)', () => {
  it('ensureStream is idempotent and listShards returns the shard count', async () => {
    await ensureStream(rig.kinesis, 'idem', 3);
    await ensureStream(rig.kinesis, 'idem', 3);
    const shards = await listShards(rig.kinesis, 'idem');
    expect(shards).toHaveLength(3);
    expect(new Set(shards.map((s) => s.shardId)).size).toBe(3);
    expect(shards.every((s) => s.endingSequenceNumber === undefined)).toBe(true);
  });

  it('putRecords → readBatch round-trips bytes, in order per shard', async () => {
    const stream = await newStream(2);
    const input = Array.from({ length: 60 }, (_, i) => ({
      // Every byte value, so nothing is text-mangled on the way.
      data: Buffer.concat([Buffer.from([i]), Buffer.from(Array.from({ length: 256 }, (_, b) => b))]),
      partitionKey: `pk-${i % 7}`,
    }));
    expect((await putRecords(rig.kinesis, stream, input)).failed).toEqual([]);

    const byShard = await readAll(stream);
    expect(byShard.size).toBe(2);
    const all = flat(byShard);
    expect(all).toHaveLength(input.length);
    for (const records of byShard.values()) {
      // Each shard holds a subsequence of the input, in input order.
      const idx = records.map((r) => r.data[0]);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
      for (const r of records) {
        expect(r.data.equals(input[r.data[0]].data)).toBe(true);
        expect(r.partitionKey).toBe(input[r.data[0]].partitionKey);
        expect(r.arrivalMs).toBeGreaterThan(0);
      }
    }
    // A partition key always lands on the same shard.
    const shardOfKey = new Map<string, string>();
    for (const [shardId, records] of byShard) {
      for (const r of records) {
        expect(shardOfKey.get(r.partitionKey) ?? shardId).toBe(shardId);
        shardOfKey.set(r.partitionKey, shardId);
      }
    }
  });

  it('AFTER_SEQUENCE_NUMBER resumes right after a record; an empty shard reads empty', async () => {
    const stream = await newStream(2);
    const [s0, s1] = await listShards(rig.kinesis, stream);
    // Explicit hash key 0 → the first shard only; the second stays empty.
    const input = Array.from({ length: 10 }, (_, i) => ({ data: payload(i), partitionKey: 'k', explicitHashKey: '0' }));
    expect((await putRecords(rig.kinesis, stream, input)).failed).toEqual([]);

    const it0 = await shardIterator(rig.kinesis, stream, s0.shardId, { type: 'TRIM_HORIZON' });
    const first = await readBatch(rig.kinesis, it0, 3);
    expect(first.records.map((r) => r.data)).toEqual(input.slice(0, 3).map((r) => r.data));
    const rest = await readBatch(rig.kinesis, first.next!);
    expect(rest.records.map((r) => r.data)).toEqual(input.slice(3).map((r) => r.data));

    const after = await shardIterator(rig.kinesis, stream, s0.shardId, {
      type: 'AFTER_SEQUENCE_NUMBER',
      sequenceNumber: first.records[2].sequenceNumber,
    });
    const resumed = await readBatch(rig.kinesis, after);
    expect(resumed.records.map((r) => r.sequenceNumber)).toEqual(rest.records.map((r) => r.sequenceNumber));
    const tail = await readBatch(rig.kinesis, resumed.next!);
    expect(tail.records).toEqual([]);
    expect(tail.next).toBeTruthy();

    const empty = await readBatch(rig.kinesis, await shardIterator(rig.kinesis, stream, s1.shardId, { type: 'TRIM_HORIZON' }));
    expect(empty.records).toEqual([]);
    expect(empty.next).toBeTruthy();
    expect(empty.millisBehindLatest).toBe(0);
  });
});

describe('collector KinesisSink (kinesalite)', () => {
  it('delivers every offered record', async () => {
    const stream = await newStream(2);
    const sink = new KinesisSink(rig.kinesis, sinkOptions(stream, { recordLimit: 40 }), log);
    const sent = Array.from({ length: 100 }, (_, i) => payload(i));
    for (const data of sent) expect(sink.offer([{ data, partitionKey: `p${data.length}-${data[4]}` }])).toBe(true);
    await sink.flush();
    expect(sink.stats()).toMatchObject({ bufferedRecords: 0, bufferedBytes: 0, healthy: true });
    const got = flat(await readAll(stream)).map((r) => r.data.toString('latin1'));
    expect(got.sort()).toEqual(sent.map((b) => b.toString('latin1')).sort());
  });

  it('refuses an offer that would exceed maxBufferedBytes (full buffer), buffering nothing of it', async () => {
    const stream = await newStream(1);
    const sink = new KinesisSink(rig.kinesis, sinkOptions(stream, { maxBufferedBytes: 1_000, timeLimitMs: 60_000 }), log);
    const a = { data: Buffer.alloc(600, 1), partitionKey: 'a' };
    const b = { data: Buffer.alloc(600, 2), partitionKey: 'b' };
    expect(sink.offer([a])).toBe(true);
    expect(sink.offer([b])).toBe(false);
    expect(sink.stats()).toMatchObject({ bufferedRecords: 1, bufferedBytes: 601 });
    await sink.flush();
    // Room again once flushed.
    expect(sink.offer([b])).toBe(true);
    await sink.flush();
    const got = flat(await readAll(stream));
    expect(got.map((r) => r.data)).toEqual([a.data, b.data]);
  });

  it('survives a Kinesis outage: unhealthy while down, then every record exactly once', async () => {
    const stream = await newStream(2);
    const failures: Error[] = [];
    const sink = new KinesisSink(rig.kinesis, sinkOptions(stream), log, { onFailure: (err) => failures.push(err) });
    const sent = Array.from({ length: 50 }, (_, i) => payload(i, 32));
    for (const data of sent.slice(0, 10)) expect(sink.offer([{ data, partitionKey: `k${data[4]}` }])).toBe(true);
    await sink.flush();

    await rig.procs.kinesis.stop();
    try {
      for (const data of sent.slice(10)) expect(sink.offer([{ data, partitionKey: `k${data[4]}` }])).toBe(true);
      await waitFor(() => failures.length >= 2, 60_000);
      const stats = sink.stats();
      expect(stats.healthy).toBe(false);
      expect(stats.lastError).toBeTruthy();
      expect(stats.bufferedRecords).toBe(40);
    } finally {
      await rig.procs.kinesis.start();
    }
    await sink.flush();
    expect(sink.stats()).toMatchObject({ bufferedRecords: 0, healthy: true, lastError: undefined });

    const got = flat(await readAll(stream)).map((r) => r.data.toString('latin1'));
    expect(got).toHaveLength(sent.length);
    expect(got.sort()).toEqual(sent.map((b) => b.toString('latin1')).sort());
  });

  it('close() flushes everything, then refuses new records', async () => {
    const stream = await newStream(1);
    const sink = new KinesisSink(rig.kinesis, sinkOptions(stream, { timeLimitMs: 60_000 }), log);
    const sent = Array.from({ length: 25 }, (_, i) => payload(i, 16));
    for (const data of sent) expect(sink.offer([{ data, partitionKey: 'p' }])).toBe(true);
    await sink.close();
    expect(sink.stats().bufferedRecords).toBe(0);
    expect(sink.offer([{ data: payload(99), partitionKey: 'p' }])).toBe(false);
    const got = flat(await readAll(stream));
    expect(got.map((r) => r.data)).toEqual(sent);
  });
});
