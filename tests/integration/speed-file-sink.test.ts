import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSpeedActivities, type ConsumeInput, type SpeedMetrics } from '../../activities/speed';
import type { ObjectStore } from '../../adapters/object-store';
import { ensureStream, listShards, putRecords } from '../../adapters/kinesis';
import { pgCheckpointStore } from '../../speed/checkpoints';
import { fileSinkProcessor, readSinkProgress } from '../../speed/file-sink';
import { StaleCheckpointError } from '../../speed/processor';
import { RAW_FORMAT } from '../../speed/raw-sink';
import { occurrences, readRawFiles, recordingMetrics, runActivity, startConsume, unpacedReads } from '../helpers/speed';
import { useStandins } from '../helpers/rig';

// The raw S3 sink's exactly-once guarantee, against kinesalite, s3rver and PostgreSQL: two
// overlapping attempts with different batch boundaries, crashes between the steps of a file's
// commit, and a rewind. After each, every raw file is read back and every record must be in
// exactly one file under raw/in/.

const rig = useStandins({ kinesis: true, s3: true, postgres: true });
let streamSeq = 0;

const PROCESSOR = 'raw-s3';
const limits = (maxRecords: number) => ({ maxRecords, maxBytes: 1e9, maxAgeMs: 60_000 });

beforeEach(async () => {
  await rig.pool.query('TRUNCATE "sluice"."sink_files", "sluice"."stream_checkpoints", "sluice"."staged_files"');
});

/** A one-shard stream holding `count` records `rec-<i>`; returns its name and shard. */
async function streamWith(count: number): Promise<{ stream: string; shardId: string }> {
  const stream = `sink-${process.pid}-${++streamSeq}`;
  await ensureStream(rig.kinesis, stream, 1);
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => ({ data: Buffer.from(`rec-${i + j}`), partitionKey: `pk-${(i + j) % 7}` }));
    expect((await putRecords(rig.kinesis, stream, batch)).failed).toEqual([]);
  }
  const [shard] = await listShards(rig.kinesis, stream);
  return { stream, shardId: shard.shardId };
}

function activities(opts: { maxRecords: number; readLimit: number; store?: ObjectStore; metrics?: SpeedMetrics; budgetMs?: number }) {
  return createSpeedActivities({
    kinesis: rig.kinesis,
    reads: unpacedReads(rig.kinesis), // short time budgets: reads as fast as kinesalite answers
    temporal: undefined as unknown as Client, // consumerStates is not used here
    processors: { [PROCESSOR]: fileSinkProcessor(PROCESSOR, opts.store ?? rig.store, RAW_FORMAT, limits(opts.maxRecords), rig.pool) },
    checkpoints: pgCheckpointStore(rig.pool),
    startPosition: { type: 'TRIM_HORIZON' },
    pollMs: 20,
    budgetMs: opts.budgetMs ?? 4_000,
    maxRecords: 1_000_000,
    readLimit: opts.readLimit,
    metrics: opts.metrics,
  });
}

/** Every record under raw/in/ for the stream, with the files holding it. */
async function recordsInFiles(stream: string, prefix = 'raw/in/'): Promise<Map<string, number>> {
  const files = (await readRawFiles(rig.store, prefix)).filter((f) => f.key.includes(`/${stream}-`));
  return occurrences(files.flatMap((f) => f.records.map((r) => r.toString())));
}

function expectExactlyOnce(counts: Map<string, number>, count: number) {
  const expected = Array.from({ length: count }, (_, i) => `rec-${i}`).sort();
  expect([...counts.keys()].sort()).toEqual(expected);
  expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
}

const input = (stream: string, shardId: string, over: Partial<ConsumeInput> = {}): ConsumeInput => ({ stream, processor: PROCESSOR, shardId, ...over });

describe('durable checkpoints', () => {
  it('let exactly one of many concurrent attempts move a checkpoint on from each value', async () => {
    const checkpoints = pgCheckpointStore(rig.pool);
    const key = { stream: 'cas', processor: PROCESSOR, shardId: 'shardId-000000000000' };
    for (const expected of [undefined, '1000']) {
      const attempts = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => checkpoints.advance(key, expected, String(1000 + (expected ? 100 : 0) + i))));
      const won = attempts.filter((a) => a.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const a of attempts) if (a.status === 'rejected') expect(a.reason).toBeInstanceOf(StaleCheckpointError);
      if (!expected) await checkpoints.set(key, '1000');
    }
    expect(Number(await checkpoints.read(key))).toBeGreaterThanOrEqual(1100);
  });
});

describe('raw S3 sink exactly once', () => {
  it('overlapping attempts with different boundaries write each record into exactly one file', async () => {
    const { stream, shardId } = await streamWith(300);
    const metrics = recordingMetrics();
    // Three workers holding the same shard at once, each cutting files at other points.
    const a = startConsume(activities({ maxRecords: 37, readLimit: 10, metrics }), input(stream, shardId));
    const b = startConsume(activities({ maxRecords: 50, readLimit: 13, metrics }), input(stream, shardId));
    const c = startConsume(activities({ maxRecords: 41, readLimit: 41, metrics }), input(stream, shardId));
    // An attempt may also fail on the stand-ins' side (s3rver aborts a read of an object another
    // attempt is moving): Temporal would retry it, as the last attempt below does.
    for (const r of await Promise.allSettled([a.result, b.result, c.result])) {
      if (r.status === 'rejected') expect(String(r.reason)).not.toMatch(/refusing|duplicate/);
    }
    // Both started from no checkpoint, so whichever committed second found it moved.
    expect(metrics.failures['stale-checkpoint']).toBeGreaterThanOrEqual(1);
    // Whatever is left, one more attempt finishes it.
    const last = await startConsume(activities({ maxRecords: 37, readLimit: 10 }), input(stream, shardId)).result;
    expect(last.checkpoint).toBeDefined();
    expectExactlyOnce(await recordsInFiles(stream), 300);
    // The losers' files stayed under pending/, which no batch run reads.
    const [marker] = await readSinkProgress(rig.store, 'raw', stream, [shardId]);
    expect(marker?.lastSequenceNumber).toBe(last.checkpoint);
  });

  it('finishes a file committed by an attempt that crashed before putting it into raw/in', async () => {
    const { stream, shardId } = await streamWith(120);
    let files = 0;
    const crashing: ObjectStore = {
      ...rig.store,
      async put(key, body, contentType) {
        if (key.startsWith('raw/in/') && ++files === 2) throw new Error('worker killed between commit and publish');
        return rig.store.put(key, body, contentType);
      },
    };
    await expect(startConsume(activities({ maxRecords: 25, readLimit: 10, store: crashing }), input(stream, shardId)).result).rejects.toThrow('worker killed');
    const { rows } = await rig.pool.query('SELECT count(*)::int AS n FROM "sluice"."sink_files" WHERE "stream" = $1 AND NOT "published"', [stream]);
    expect(rows[0].n).toBe(1);
    // The retry, with other boundaries, first publishes the committed file, then goes on after it.
    await startConsume(activities({ maxRecords: 40, readLimit: 7 }), input(stream, shardId)).result;
    expectExactlyOnce(await recordsInFiles(stream), 120);
    const after = await rig.pool.query('SELECT count(*)::int AS n FROM "sluice"."sink_files" WHERE "stream" = $1 AND NOT "published"', [stream]);
    expect(after.rows[0].n).toBe(0);
  });

  it('leaves a file written before a crash (not committed) out of raw/in', async () => {
    const { stream, shardId } = await streamWith(90);
    let puts = 0;
    const crashing: ObjectStore = {
      ...rig.store,
      async put(key, body, contentType) {
        await rig.store.put(key, body, contentType);
        if (key.startsWith('raw/pending/') && ++puts === 2) throw new Error('worker killed after writing a file');
      },
    };
    await expect(startConsume(activities({ maxRecords: 30, readLimit: 10, store: crashing }), input(stream, shardId)).result).rejects.toThrow('worker killed');
    await startConsume(activities({ maxRecords: 45, readLimit: 9 }), input(stream, shardId)).result;
    expectExactlyOnce(await recordsInFiles(stream), 90);
    // The uncommitted file (records 30..59) is an orphan under pending/, never published.
    const catalogued = await rig.pool.query<{ first: string; last: string }>(
      `SELECT "first_sequence"::text AS first, "last_sequence"::text AS last FROM "sluice"."sink_files" WHERE "stream" = $1`,
      [stream],
    );
    const committed = new Set(catalogued.rows.map((r) => `${r.first.padStart(56, '0')}-${r.last.padStart(56, '0')}.lzo`));
    const orphans = (await rig.store.list(`raw/pending/${stream}/`)).filter((k) => !committed.has(k.split('/').pop()!));
    expect(orphans).toHaveLength(1);
    expect((await readRawFiles(rig.store, `raw/pending/${stream}/`)).find((f) => f.key === orphans[0])!.records.map(String)).toEqual(Array.from({ length: 30 }, (_, i) => `rec-${30 + i}`));
  });

  it('a rewind re-writes the same keys with the same bytes, restores a lost file and never re-adds a staged one', async () => {
    const { stream, shardId } = await streamWith(200);
    const first = await startConsume(activities({ maxRecords: 30, readLimit: 10 }), input(stream, shardId)).result;
    const digest = async () => {
      const out = new Map<string, string>();
      for (const key of (await rig.store.list('raw/in/')).filter((k) => k.includes(`/${stream}-`))) {
        out.set(key, createHash('sha256').update(await rig.store.get(key)).digest('hex'));
      }
      return out;
    };
    const before = await digest();
    expect(before.size).toBe(7); // 6 × 30 + 20
    const keys = [...before.keys()];
    // A batch run staged the first file (claimed in PostgreSQL, moved away); the third was lost.
    await rig.pool.query('INSERT INTO "sluice"."staged_files" ("key", "run_id") VALUES ($1, $2)', [keys[0], 'run-1']);
    await rig.store.move(keys[0], `raw/processing/run=run-1/${keys[0].slice('raw/in/'.length)}`);
    await rig.store.delete(keys[2]);

    // Rewind to the very first record; re-read with other flush limits (the recorded boundaries win).
    const acts = activities({ maxRecords: 45, readLimit: 17 });
    const rewind = await runActivity(acts.rewindShard, { stream, processor: PROCESSOR, shardId, toMs: Date.now() - 60_000 });
    expect(rewind).toMatchObject({ applied: true, checkpoint: undefined });
    const again = await startConsume(acts, input(stream, shardId, { checkpoint: rewind.checkpoint, startSequence: rewind.startSequence })).result;
    expect(again.checkpoint).toBe(first.checkpoint);

    const after = await digest();
    expect([...after.keys()]).toEqual(keys.slice(1));
    for (const [key, hash] of after) expect(hash).toBe(before.get(key));
    const all = occurrences([...(await recordsInFiles(stream)).keys(), ...(await recordsInFiles(stream, 'raw/processing/')).keys()]);
    expectExactlyOnce(all, 200);
  });

  it('a rewind to the middle restarts at the start of the file holding that record', async () => {
    const { stream, shardId } = await streamWith(60);
    const acts = activities({ maxRecords: 20, readLimit: 10 });
    await startConsume(acts, input(stream, shardId)).result;
    const files = await rig.pool.query<{ first: string; last: string; after: string | null }>(
      `SELECT "first_sequence"::text AS first, "last_sequence"::text AS last, "after_sequence"::text AS after
       FROM "sluice"."sink_files" WHERE "stream" = $1 ORDER BY "first_sequence"`,
      [stream],
    );
    expect(files.rows).toHaveLength(3);
    expect(files.rows[0].after).toBeNull();
    expect(files.rows[1].after).toBe(files.rows[0].last);
    // A record inside the second file: the rewind restarts at that file's first record, after the first file.
    const sink = fileSinkProcessor(PROCESSOR, rig.store, RAW_FORMAT, limits(20), rig.pool);
    expect(await sink.rewindPoint!(stream, shardId, files.rows[1].last)).toEqual({ after: files.rows[0].last, startSequence: files.rows[1].first });
    // A rewind to after every record finds nothing to re-read and keeps the checkpoint.
    const none = await runActivity(acts.rewindShard, { stream, processor: PROCESSOR, shardId, toMs: Date.now() - 1 });
    expect(none).toMatchObject({ applied: false, reason: 'no record at or after that time', checkpoint: files.rows[2].last });
    // All records arrived before this instant, so a rewind to it re-reads from the first file.
    const point = await runActivity(acts.rewindShard, { stream, processor: PROCESSOR, shardId, toMs: Date.now() - 60_000 });
    expect(point).toMatchObject({ applied: true, startSequence: files.rows[0].first });
  });
});
