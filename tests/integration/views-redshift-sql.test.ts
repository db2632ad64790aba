import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { inTransaction } from '../../adapters/postgres';
import { formatTstamp } from '../../codecs/enriched-tsv';
import { recomputeBatchViews } from '../../views/batch-views';
import { recomputeBatchSql } from '../../views/batch-views-redshift-sql';
import { useStandins } from '../helpers/rig';

// The Redshift recompute's statements (views/batch-views-redshift-sql.ts: plain GROUP BY per grain,
// COUNT(DISTINCT), DELETE + INSERT watermark) against the PostgreSQL recompute (GROUPING SETS over a
// temporary table): run on the same atomic.events they must write the same view rows. Both run on a
// real PostgreSQL here, which reads that Redshift SQL the same way; that Redshift accepts it is
// checked in tests/unit/batch-views-redshift-sql.test.ts and, through the local Data API
// endpoint, in tests/integration/views-redshift.test.ts.

const rig = useStandins({ postgres: true });

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;

async function insertEvents(rows: [number, string, string, string, string, string][]): Promise<void> {
  for (const [t, ev, name, duid, nuid, sid] of rows) {
    await rig.pool.query(
      `INSERT INTO "atomic"."events" ("app_id", "platform", "event_id", "collector_tstamp", "event", "event_name", "domain_userid",
         "network_userid", "domain_sessionid", "v_collector", "v_etl") VALUES ('test', 'web', $1, $2, $3, $4, $5, $6, $7, 'c', 'e')`,
      [randomUUID(), formatTstamp(t), ev, name, duid, nuid, sid],
    );
  }
}

async function viewRows() {
  const events = await rig.pool.query(`SELECT "grain", "bucket", "event_name", "events"::int AS "n" FROM "sluice"."batch_view_events" ORDER BY 1, 2, 3`);
  const uniques = await rig.pool.query(`SELECT "grain", "bucket", "users"::int AS "u", "sessions"::int AS "s" FROM "sluice"."batch_view_uniques" ORDER BY 1, 2`);
  return {
    events: events.rows.map((r) => [r.grain, r.bucket.toISOString(), r.event_name, r.n]),
    uniques: uniques.rows.map((r) => [r.grain, r.bucket.toISOString(), r.u, r.s]),
  };
}

const runRedshiftSql = (sqls: string[]) => inTransaction(rig.pool, async (c) => {
  for (const sql of sqls) await c.query(sql);
});

describe('the Redshift recompute statements', () => {
  it('write the same view rows as the PostgreSQL recompute, replacing only the window buckets', async () => {
    const rows: [number, string, string, string, string, string][] = [
      [T0 + 1_000, 'page_view', 'page_view', 'u1', '', 's1'],
      [T0 + 2_000, 'page_view', 'page_view', 'u1', '', 's1'],
      [T0 + MIN + 1_000, 'unstruct', 'link_click', 'u1', '', 's2'],
      [T0 + MIN + 2_000, 'struct', '', '', 'n1', ''],
      [T0 + 2 * MIN + 5_000, 'page_ping', '', '', '', ''],
    ];
    // Three hours more, several users and sessions per minute and hour.
    for (let i = 0; i < 300; i++) {
      const t = T0 + 3 * MIN + Math.floor((i * 3 * 3_600_000) / 300) + (i % 7) * 1_000;
      const name = ['page_view', 'page_view', 'link_click', 'add_to_cart'][i % 4];
      rows.push([t, name === 'page_view' ? 'page_view' : 'unstruct', name, i % 9 === 0 ? '' : `user-${i % 11}`, i % 9 === 0 ? `n-${i % 3}` : '', i % 5 === 0 ? '' : `session-${i % 13}`]);
    }
    await insertEvents(rows);
    const window = { from: T0, to: T0 + 3 * MIN + 3 * 3_600_000 };

    await inTransaction(rig.pool, (c) => recomputeBatchViews(c, window, 'run-pg'));
    const expected = await viewRows();
    expect(expected.events.length).toBeGreaterThan(100);

    // A stale row inside the window goes, one outside stays.
    await rig.pool.query(`TRUNCATE "sluice"."batch_view_events", "sluice"."batch_view_uniques"`);
    await rig.pool.query(`INSERT INTO "sluice"."batch_view_events" VALUES ('minute', $1, 'stale', 99, 'old'), ('minute', $2, 'outside', 1, 'old')`, [
      formatTstamp(T0 + 10 * MIN), formatTstamp(T0 - 10 * MIN),
    ]);
    const { sqls } = recomputeBatchSql({ runId: 'run-rs', window, candidate: null });
    await runRedshiftSql(sqls);
    const got = await viewRows();
    expect(got.uniques).toEqual(expected.uniques);
    expect(got.events.filter((r) => r[2] !== 'outside')).toEqual(expected.events);
    expect(got.events.filter((r) => r[2] === 'outside')).toEqual([['minute', new Date(T0 - 10 * MIN).toISOString(), 'outside', 1]]);
  });

  it('move the watermark forward only, keeping one row', async () => {
    const watermark = async () => (await rig.pool.query(`SELECT "watermark", "run_id" FROM "sluice"."batch_watermark"`)).rows.map((r) => [r.watermark.getTime(), r.run_id]);
    await rig.pool.query('DELETE FROM "sluice"."batch_watermark"');
    await runRedshiftSql(recomputeBatchSql({ runId: 'a', candidate: T0 + 5 * MIN }).sqls);
    expect(await watermark()).toEqual([[T0 + 5 * MIN, 'a']]);
    await runRedshiftSql(recomputeBatchSql({ runId: 'b', candidate: T0 + 2 * MIN }).sqls);
    expect(await watermark()).toEqual([[T0 + 5 * MIN, 'a']]);
    await runRedshiftSql(recomputeBatchSql({ runId: 'c', candidate: T0 + 5 * MIN }).sqls);
    expect(await watermark()).toEqual([[T0 + 5 * MIN, 'a']]);
    await runRedshiftSql(recomputeBatchSql({ runId: 'd', candidate: T0 + 9 * MIN }).sqls);
    expect(await watermark()).toEqual([[T0 + 9 * MIN, 'd']]);
    await runRedshiftSql(recomputeBatchSql({ runId: 'e', candidate: null }).sqls);
    expect(await watermark()).toEqual([[T0 + 9 * MIN, 'd']]);
  });
});
