import { describe, expect, it } from 'vitest';
import { inTransaction } from '../../adapters/postgres';
import { ATOMIC_COLUMNS } from '../../warehouse/atomic-events';
import { migrateWarehouse } from '../../warehouse/migrate';
import { UnsafeIdentifierError, quoteIdent } from '../../warehouse/sql';
import { useStandins } from '../helpers/rig';

const rig = useStandins({ postgres: true });

describe('warehouse migrations (PostgreSQL)', () => {
  it('migrateWarehouse is idempotent', async () => {
    await migrateWarehouse(rig.config);
    await migrateWarehouse(rig.config);
    // Concurrent runs serialise on the advisory lock.
    await Promise.all([migrateWarehouse(rig.config), migrateWarehouse(rig.config)]);
  });

  it('atomic.events has the 128 Snowplow columns plus load_tstamp, in order', async () => {
    const { rows } = await rig.pool.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'atomic' AND table_name = 'events' ORDER BY ordinal_position`,
    );
    expect(ATOMIC_COLUMNS).toHaveLength(128);
    expect(rows).toHaveLength(129);
    expect(rows.map((r) => r.column_name)).toEqual([...ATOMIC_COLUMNS, 'load_tstamp']);
  });

  it('creates the sluice.* tables', async () => {
    const { rows } = await rig.pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'sluice' ORDER BY table_name`,
    );
    expect(rows.map((r) => r.table_name)).toEqual([
      'bad_rows',
      'batch_view_events',
      'batch_view_uniques',
      'batch_watermark',
      'load_keys',
      'load_manifest',
      'owed_windows',
      'realtime_seen_events',
      'realtime_view_events',
      'realtime_view_members',
      'sink_files',
      'staged_files',
      'stream_checkpoints',
    ]);
  });

  it('inTransaction commits on resolve and rolls back on throw', async () => {
    const committed = await inTransaction(rig.pool, async (c) => {
      await c.query('INSERT INTO sluice.load_manifest (run_id, event_count) VALUES ($1, $2)', ['run-ok', 1]);
      return 'done';
    });
    expect(committed).toBe('done');
    await expect(
      inTransaction(rig.pool, async (c) => {
        await c.query('INSERT INTO sluice.load_manifest (run_id, event_count) VALUES ($1, $2)', ['run-rolled-back', 2]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const { rows } = await rig.pool.query('SELECT run_id FROM sluice.load_manifest ORDER BY run_id');
    expect(rows.map((r) => r.run_id)).toEqual(['run-ok']);
    // The failed transaction's client went back to the pool usable (no transaction left open).
    const { rows: idle } = await rig.pool.query(
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
