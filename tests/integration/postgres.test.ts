import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction, makePool, migrateWarehouse, type Pool } from '../../adapters/postgres';
import type { StreamRecord } from '../../adapters/kinesis';
import { formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import type { SluiceConfig } from '../../config';
import { StaleCheckpointError } from '../../speed/processor';
import { realtimeViewsProcessor } from '../../speed/realtime-views';
import type { ManagedProcess } from '../../stack/processes';
import { postgresSpec } from '../../stack/standins';
import { ATOMIC_COLUMNS } from '../../warehouse/atomic-events';
import { UnsafeIdentifierError, quoteIdent } from '../../warehouse/sql';
import { startStandin, teardown, testConfig } from '../helpers/standins';

let config: SluiceConfig;
let postgres: ManagedProcess;
let pool: Pool;

beforeAll(async () => {
  config = testConfig();
  postgres = await startStandin(postgresSpec(config), config);
  await migrateWarehouse(config);
  pool = makePool(config);
});

afterAll(async () => {
  await pool?.end();
  await teardown(config, postgres);
});

describe('warehouse migrations (PostgreSQL)', () => {
  it('migrateWarehouse is idempotent', async () => {
    await migrateWarehouse(config);
    await migrateWarehouse(config);
    // Concurrent runs serialise on the advisory lock.
    await Promise.all([migrateWarehouse(config), migrateWarehouse(config)]);
  });

  it('atomic.events has the 128 Snowplow columns plus load_tstamp, in order', async () => {
    const { rows } = await pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'atomic' AND table_name = 'events' ORDER BY ordinal_position`,
    );
    expect(ATOMIC_COLUMNS).toHaveLength(128);
    expect(rows).toHaveLength(129);
    expect(rows.map((r) => r.column_name)).toEqual([...ATOMIC_COLUMNS, 'load_tstamp']);
  });

  it('creates the sluice.* tables', async () => {
    const { rows } = await pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'sluice' ORDER BY table_name`,
    );
    expect(rows.map((r) => r.table_name)).toEqual([
      'batch_minute_counts',
      'batch_watermark',
      'load_manifest',
      'realtime_minute_counts',
      'stream_checkpoints',
    ]);
  });

  it('inTransaction commits on resolve and rolls back on throw', async () => {
    const committed = await inTransaction(pool, async (c) => {
      await c.query('INSERT INTO sluice.load_manifest (run_id, event_count) VALUES ($1, $2)', ['run-ok', 1]);
      return 'done';
    });
    expect(committed).toBe('done');
    await expect(
      inTransaction(pool, async (c) => {
        await c.query('INSERT INTO sluice.load_manifest (run_id, event_count) VALUES ($1, $2)', ['run-rolled-back', 2]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const { rows } = await pool.query('SELECT run_id FROM sluice.load_manifest ORDER BY run_id');
    expect(rows.map((r) => r.run_id)).toEqual(['run-ok']);
    // The failed transaction's client went back to the pool usable (no transaction left open).
    const { rows: idle } = await pool.query(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = 'sluice' AND state LIKE 'idle in transaction%'`,
    );
    expect(idle[0].n).toBe(0);
  });

  it('quoteIdent rejects hostile identifiers', () => {
    expect(quoteIdent('events')).toBe('"events"');
    expect(() => quoteIdent('x"; drop table atomic.events; --')).toThrow(UnsafeIdentifierError);
    expect(() => quoteIdent('atomic.events')).toThrow(UnsafeIdentifierError);
    expect(() => quoteIdent('')).toThrow(UnsafeIdentifierError);
  });
});

describe('realtime views processor (PostgreSQL)', () => {
  const STREAM = 'sluice-enriched';
  const SHARD = 'shardId-000000000000';
  const MINUTE_A = Date.UTC(2026, 0, 1, 12, 0, 0);
  const MINUTE_B = MINUTE_A + 60_000;
  let seq = 49_000_000_000_000_000_000_000_000_000_000_000_000_000_000n;

  function record(collectorMs: number): StreamRecord {
    seq += 7n;
    const tsv = toEnrichedTsv({
      app_id: 'test',
      platform: 'web',
      collector_tstamp: formatTstamp(collectorMs),
      event: 'page_view',
      event_id: randomUUID(),
      v_collector: 'sluice-collector-0.1.0-kinesis',
      v_etl: 'sluice-enrich-0.1.0',
    });
    return { sequenceNumber: seq.toString(), partitionKey: 'pk', data: Buffer.from(tsv), arrivalMs: Date.now() };
  }

  async function counts(): Promise<Record<string, number>> {
    const { rows } = await pool.query<{ minute: Date; event_count: number }>(
      'SELECT minute, event_count FROM sluice.realtime_minute_counts ORDER BY minute',
    );
    return Object.fromEntries(rows.map((r) => [r.minute.toISOString(), r.event_count]));
  }

  async function checkpoint(): Promise<string | undefined> {
    const { rows } = await pool.query(
      `SELECT sequence_number FROM sluice.stream_checkpoints WHERE stream = $1 AND processor = 'realtime-views' AND shard_id = $2`,
      [STREAM, SHARD],
    );
    return rows[0]?.sequence_number;
  }

  it('counts per minute, stores the checkpoint, and fences a stale attempt', async () => {
    const proc = realtimeViewsProcessor(pool);
    expect(await proc.resume!(STREAM, SHARD)).toBeUndefined();

    const first = [
      record(MINUTE_A + 1_000),
      record(MINUTE_A + 59_999),
      record(MINUTE_B),
      record(MINUTE_A + 30_000),
      record(MINUTE_B + 45_500),
    ];
    const ctx = { stream: STREAM, shardId: SHARD, after: undefined };
    const committed = await proc.process(first, ctx, {});
    expect(committed).toBe(first[4].sequenceNumber);
    expect(await checkpoint()).toBe(committed);
    const expected = { [new Date(MINUTE_A).toISOString()]: 3, [new Date(MINUTE_B).toISOString()]: 2 };
    expect(await counts()).toEqual(expected);

    // The same batch again from the same (now stale) position: refused, nothing counted twice.
    await expect(proc.process(first, ctx, {})).rejects.toBeInstanceOf(StaleCheckpointError);
    expect(await counts()).toEqual(expected);
    expect(await checkpoint()).toBe(committed);

    // A stale position that is not "start of shard" is refused too.
    await expect(
      proc.process([record(MINUTE_B)], { ...ctx, after: first[2].sequenceNumber }, {}),
    ).rejects.toBeInstanceOf(StaleCheckpointError);
    expect(await counts()).toEqual(expected);

    // The next batch, following the committed checkpoint, applies.
    const second = [record(MINUTE_B + 1), record(MINUTE_B + 60_000)];
    const next = await proc.process(second, { ...ctx, after: committed }, {});
    expect(next).toBe(second[1].sequenceNumber);
    expect(await counts()).toEqual({
      [new Date(MINUTE_A).toISOString()]: 3,
      [new Date(MINUTE_B).toISOString()]: 3,
      [new Date(MINUTE_B + 60_000).toISOString()]: 1,
    });
    expect(await proc.resume!(STREAM, SHARD)).toBe(next);
    // Another shard has no checkpoint of its own.
    expect(await proc.resume!(STREAM, 'shardId-000000000001')).toBeUndefined();
    // An empty batch changes nothing.
    expect(await proc.process([], { ...ctx, after: next }, {})).toBeUndefined();
    expect(await proc.resume!(STREAM, SHARD)).toBe(next);
  });
});
