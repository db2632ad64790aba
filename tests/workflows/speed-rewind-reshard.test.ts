import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureStream, listShards, mergeShards, putRecords, splitShard } from '../../adapters/kinesis';
import type { ShardProcessor } from '../../speed/processor';
import { workflowIds } from '../../temporal.config';
import { rewindSignal, statusQuery } from '../../workflows/shard-consumer';
import { streamSupervisorWorkflow } from '../../workflows/stream-supervisor';
import { sleep, waitFor } from '../helpers/standins';
import { startSpeedTestWorker, type SpeedTestWorker } from '../helpers/workflow-env';
import { useStandins } from '../helpers/rig';

// A rewind across a reshard, on a real Temporal server with the real speed activities and
// kinesalite: a stream is split and the children merged again while two processors read it;
// both are then rewound to before the first record. Every record must be processed again exactly
// once per processor, the drained parents (still listed) first: shard 0 before its children, the
// children before the shard they merged into.

const TASK_QUEUE = 'speed-rewind-reshard-test';
const PROCESSORS = ['alpha', 'beta'];

interface Seen {
  processor: string;
  shard: string;
  value: string;
}

const rig = useStandins({ kinesis: true });
let speed: SpeedTestWorker;
const log: Seen[] = [];

/** Remembers every record it is given, in order (its checkpoint is the workflow's). */
function recorder(name: string): ShardProcessor {
  return {
    name,
    flushPolicy: { maxRecords: 1, maxBytes: 1e9, maxAgeMs: 60_000 },
    async process(records, ctx) {
      for (const r of records) log.push({ processor: name, shard: ctx.shardId, value: r.data.toString() });
      return records.at(-1)?.sequenceNumber;
    },
  };
}

beforeAll(async () => {
  speed = await startSpeedTestWorker(TASK_QUEUE, {
    kinesis: rig.kinesis,
    processors: Object.fromEntries(PROCESSORS.map((p) => [p, recorder(p)])),
    checkpoints: { read: async () => undefined, set: async () => undefined, advance: async () => undefined },
    startPosition: { type: 'TRIM_HORIZON' },
    pollMs: 50,
    idlePollMs: 400,
    budgetMs: 3_000,
    maxRecords: 100_000,
  });
});

afterAll(async () => {
  await speed?.stop();
});

async function put(stream: string, tag: string, count: number): Promise<string[]> {
  const records = Array.from({ length: count }, (_, i) => ({ data: Buffer.from(`${tag}-${i}`), partitionKey: randomUUID() }));
  expect((await putRecords(rig.kinesis, stream, records)).failed).toEqual([]);
  return records.map((r) => r.data.toString());
}

/** What `processor` processed from log index `from` on: value → times, and the shards in order of processing. */
function pass(processor: string, from: number) {
  const mine = log.slice(from).filter((s) => s.processor === processor);
  const times = new Map<string, number>();
  for (const s of mine) times.set(s.value, (times.get(s.value) ?? 0) + 1);
  return { mine, times };
}

/** Every record of `before` shards was processed before any record of `after` shards. */
function expectOrder(mine: Seen[], before: string[], after: string[]) {
  const lastBefore = Math.max(...mine.map((s, i) => (before.includes(s.shard) ? i : -1)));
  const firstAfter = Math.min(...mine.map((s, i) => (after.includes(s.shard) ? i : Infinity)));
  expect(lastBefore).toBeGreaterThanOrEqual(0);
  expect(firstAfter).toBeLessThan(Infinity);
  expect(lastBefore).toBeLessThan(firstAfter);
}

describe('rewind across a reshard (real Temporal, kinesalite)', () => {
  it('re-reads drained parents, parents before children, every record once per processor', async () => {
    const stream = `rewind-reshard-${process.pid}`;
    await ensureStream(rig.kinesis, stream, 1);
    const [root] = await listShards(rig.kinesis, stream);
    const startedAt = Date.now();
    await sleep(1_100);
    const supervisors = await Promise.all(
      PROCESSORS.map((processor) => speed.env.client.workflow.start(streamSupervisorWorkflow, { workflowId: workflowIds.supervisor(stream, processor), taskQueue: TASK_QUEUE, args: [{ stream, processor }] })),
    );
    const all = (processor: string, from = 0) => pass(processor, from).times;
    const sent = await put(stream, 'before-split', 30);
    await waitFor(() => PROCESSORS.every((p) => all(p).size === sent.length), 60_000, 100);

    await splitShard(rig.kinesis, stream, root.shardId);
    const children = (await listShards(rig.kinesis, stream)).filter((s) => s.parentShardId === root.shardId).map((s) => s.shardId);
    expect(children).toHaveLength(2);
    sent.push(...(await put(stream, 'after-split', 60)));
    await waitFor(() => PROCESSORS.every((p) => all(p).size === sent.length), 90_000, 200);

    const [left, right] = (await listShards(rig.kinesis, stream)).filter((s) => children.includes(s.shardId));
    await mergeShards(rig.kinesis, stream, left.shardId, right.shardId);
    const merged = (await listShards(rig.kinesis, stream)).find((s) => s.parentShardId === left.shardId && s.adjacentParentShardId === right.shardId)!;
    expect(merged).toBeDefined();
    sent.push(...(await put(stream, 'after-merge', 30)));
    await waitFor(() => PROCESSORS.every((p) => all(p).size === sent.length), 90_000, 200);

    // The first pass: each record once per processor, in lineage order.
    for (const p of PROCESSORS) {
      const { mine, times } = pass(p, 0);
      expect([...times.values()].every((n) => n === 1)).toBe(true);
      expectOrder(mine, [root.shardId], children);
      expectOrder(mine, children, [merged.shardId]);
    }
    const consumer = (p: string, shardId: string) => speed.env.client.workflow.getHandle(workflowIds.shardConsumer(stream, p, shardId));
    // Quiet: the parents drained, the merged shard's consumers at its end.
    for (const p of PROCESSORS) {
      for (const parent of [root.shardId, ...children]) expect((await consumer(p, parent).describe()).status.name).toBe('COMPLETED');
    }

    // Rewind both processors to before the first record.
    const rewoundFrom = log.length;
    const drainedRuns = new Map<string, string>();
    for (const p of PROCESSORS) for (const parent of [root.shardId, ...children]) drainedRuns.set(`${p}/${parent}`, (await consumer(p, parent).describe()).runId);
    await Promise.all(supervisors.map((s) => s.signal(rewindSignal, { toMs: startedAt })));
    await waitFor(() => PROCESSORS.every((p) => all(p, rewoundFrom).size === sent.length), 120_000, 200);
    // Settled: every parent consumer drained again (a new run), the merged shard's running and released.
    await waitFor(async () => {
      for (const p of PROCESSORS) {
        for (const parent of [root.shardId, ...children]) {
          const d = await consumer(p, parent).describe();
          if (d.status.name !== 'COMPLETED' || d.runId === drainedRuns.get(`${p}/${parent}`)) return false;
        }
        const status = await consumer(p, merged.shardId).query(statusQuery);
        if (status.held || status.lastRewind?.applied !== true || status.records < 30) return false;
      }
      return true;
    }, 60_000, 300);

    for (const p of PROCESSORS) {
      const { mine, times } = pass(p, rewoundFrom);
      expect([...times.keys()].sort()).toEqual([...sent].sort());
      expect([...times.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      // Parents before children: the root before both halves of the split, both before the merge.
      expectOrder(mine, [root.shardId], children);
      expectOrder(mine, children, [merged.shardId]);
      expect(mine.filter((s) => s.shard === root.shardId).map((s) => s.value)).toEqual(sent.slice(0, 30));
    }
    await Promise.all(supervisors.map((s) => s.terminate()));
  });
});
