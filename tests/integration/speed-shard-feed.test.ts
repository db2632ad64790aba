import { describe, expect, it } from 'vitest';
import { ensureStream, listShards, putRecords, splitShard } from '../../adapters/kinesis';
import { ReadBudget } from '../../speed/read-budget';
import { ShardReads, type ShardReadSession } from '../../speed/shard-feed';
import { useStandins } from '../helpers/rig';

// The shared feed of a shard on kinesalite: processors reading one shard in one process get every
// record once, in order, from fewer GetRecords calls than reads; one far behind catches up with
// its own reads and then joins the feed; a closed shard ends for each of them.

const rig = useStandins({ kinesis: true });
let seq = 0;

async function newShard(): Promise<{ stream: string; shardId: string }> {
  const stream = `feed-${process.pid}-${++seq}`;
  await ensureStream(rig.kinesis, stream, 1);
  return { stream, shardId: (await listShards(rig.kinesis, stream))[0].shardId };
}

async function put(stream: string, from: number, count: number): Promise<void> {
  for (let i = 0; i < count; i += 250) {
    const records = Array.from({ length: Math.min(250, count - i) }, (_, j) => ({ data: Buffer.from(`r-${from + i + j}`), partitionKey: 'pk' }));
    expect((await putRecords(rig.kinesis, stream, records)).failed).toEqual([]);
  }
}

function shardReads(cacheRecords?: number) {
  const calls = { n: 0, shared: 0 };
  const r = new ShardReads({
    kinesis: rig.kinesis,
    cacheRecords,
    budget: new ReadBudget({ callsPerSecond: 5, bytesPerSecond: 2_000_000, guardMs: 100, joinDelayMs: 0 }),
    metrics: { call: () => void (calls.n += 1), shared: () => void (calls.shared += 1) },
  });
  return { r, calls };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => `r-${from + i}`);

/** Reads until `want` records came or the shard ended; returns the values and whether it ended. */
async function readAll(session: ShardReadSession, want: number, limit = 100): Promise<{ values: string[]; ended: boolean; reads: number }> {
  const values: string[] = [];
  let reads = 0;
  for (;;) {
    const batch = await session.read(limit);
    reads += 1;
    values.push(...batch.records.map((x) => x.data.toString()));
    if (batch.ended || values.length >= want) return { values, ended: batch.ended, reads };
  }
}

describe('shard feed (kinesalite)', () => {
  it('two processors at the tip: every record once each, in order, from one read for both', async () => {
    const { stream, shardId } = await newShard();
    const { r, calls } = shardReads();
    const signal = new AbortController().signal;
    const open = (processor: string) => r.open({ stream, shardId, processor, signal, initial: () => ({ type: 'TRIM_HORIZON' }) });
    const [a, b] = [open('a'), open('b')];
    await put(stream, 0, 30);
    const got = { a: [] as string[], b: [] as string[] };
    let reads = 0;
    for (let round = 0; round < 6; round++) {
      // Both ask, interleaved; records keep arriving in between.
      const [ra, rb] = await Promise.all([a.read(20), b.read(20)]);
      reads += 2;
      got.a.push(...ra.records.map((x) => x.data.toString()));
      got.b.push(...rb.records.map((x) => x.data.toString()));
      if (round === 2) await put(stream, 30, 30);
    }
    for (let i = 0; i < 10 && (got.a.length < 60 || got.b.length < 60); i++) {
      got.a.push(...(await a.read(20)).records.map((x) => x.data.toString()));
      got.b.push(...(await b.read(20)).records.map((x) => x.data.toString()));
      reads += 2;
    }
    expect(got.a).toEqual(range(0, 60));
    expect(got.b).toEqual(range(0, 60));
    expect(calls.shared).toBeGreaterThan(0);
    expect(calls.n).toBeLessThan(reads);
    a.close();
    b.close();
  });

  it('a processor far behind catches up with its own reads, then joins the feed; a closed shard ends for both', async () => {
    const { stream, shardId } = await newShard();
    const { r, calls } = shardReads(100); // the feed keeps the last 100 records
    const signal = new AbortController().signal;
    await put(stream, 0, 500);
    const leader = r.open({ stream, shardId, processor: 'lead', signal, initial: () => ({ type: 'TRIM_HORIZON' }) });
    const lead = await readAll(leader, 500, 500);
    expect(lead.values).toEqual(range(0, 500));
    await put(stream, 500, 50);
    // The laggard starts at the oldest record: behind the feed, which holds records 400-499.
    const lagger = r.open({ stream, shardId, processor: 'lag', signal, initial: () => ({ type: 'TRIM_HORIZON' }) });
    const sharedBefore = calls.shared;
    const lag = await readAll(lagger, 550, 100);
    expect(lag.values).toEqual(range(0, 550));
    expect(calls.shared).toBeGreaterThan(sharedBefore); // it reached the feed
    expect((await readAll(leader, 50, 100)).values).toEqual(range(500, 50));
    const before = calls.n;
    // At the tip together now: the next records reach both through one read.
    await put(stream, 550, 10);
    const [x, y] = await Promise.all([readAll(leader, 10), readAll(lagger, 10)]);
    expect(x.values).toEqual(range(550, 10));
    expect(y.values).toEqual(range(550, 10));
    expect(calls.n - before).toBeLessThan(x.reads + y.reads);

    // Closed: both are told once everything is read.
    await splitShard(rig.kinesis, stream, shardId);
    const [ea, eb] = await Promise.all([readAll(leader, Infinity), readAll(lagger, Infinity)]);
    expect([ea.ended, eb.ended, ea.values, eb.values]).toEqual([true, true, [], []]);
    leader.close();
    lagger.close();
  });
});
