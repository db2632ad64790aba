import { describe, expect, it } from 'vitest';
import { DRIPFEED_GUARD_INDEX, dripfeedBatchSql } from '../../warehouse/redshift-dripfeed-sql';

// One Redshift dripfeed micro-batch is one transaction: the lock, the checkpoint guard, the DDL,
// the staged COPYs, inserts of absent events only, and the checkpoint — values quoted.

const batch = {
  stream: "enriched'; DROP TABLE x; --",
  shardId: 'shardId-000000000000',
  next: '49650000000000000000000000000000000000000000000000000002',
  ddl: ['CREATE TABLE IF NOT EXISTS "atomic"."com_acme_click_1" ("root_id" CHAR(36) NOT NULL)'],
  atomicFrom: "'s3://b/dripfeed/e/s/n/events/' IAM_ROLE 'arn:aws:iam::000000000000:role/r' GZIP",
  types: [{ table: 'com_acme_click_1', columns: ['root_id', 'root_tstamp', 'target'], from: "'s3://b/dripfeed/e/s/n/types/0/' GZIP" }],
};

describe('dripfeedBatchSql', () => {
  it('locks first, guards the checkpoint second, then DDL, staging, inserts of fresh events and the checkpoint', () => {
    const { sqls, insertIndex } = dripfeedBatchSql({ ...batch, expected: '49650000000000000000000000000000000000000000000000000001' });
    expect(sqls[0]).toBe('LOCK "sluice"."load_manifest"');
    expect(sqls[DRIPFEED_GUARD_INDEX]).toMatch(/^SELECT 1 \/ \(CASE WHEN COUNT\(\*\) = 1 THEN 1 ELSE 0 END\) FROM "sluice"."dripfeed_checkpoints" WHERE .* AND "sequence_number" = '4965\d+1'$/);
    expect(sqls[2]).toBe(batch.ddl[0]);
    expect(sqls[insertIndex]).toMatch(/^INSERT INTO "atomic"."events" \(.*\) SELECT .* FROM "sluice_drip_events" s JOIN "sluice_drip_fresh" f ON f."event_id" = s."event_id" AND f."collector_tstamp" = s."collector_tstamp"$/);
    const typeInsert = sqls.find((s) => s.startsWith('INSERT INTO "atomic"."com_acme_click_1"'))!;
    expect(typeInsert).toContain('JOIN "sluice_drip_fresh" f ON f."event_id" = s."root_id" AND f."collector_tstamp" = s."root_tstamp"');
    expect(sqls.some((s) => s.includes("'enriched''; DROP TABLE x; --'"))).toBe(true);
    expect(sqls.filter((s) => s.startsWith('INSERT INTO "sluice"."dripfeed_checkpoints"'))).toHaveLength(1);
    expect(sqls.indexOf(sqls.find((s) => s.startsWith('DELETE FROM "sluice"."dripfeed_checkpoints"'))!)).toBeGreaterThan(insertIndex);
  });

  it('bounds the presence check to the micro-batch\'s collector_tstamp range (the sort key prunes the rest)', () => {
    const { sqls } = dripfeedBatchSql({ ...batch, tstamps: { min: '2026-12-03 10:00:00.000', max: '2026-12-03 10:00:01.500' } });
    const fresh = sqls.find((s) => s.startsWith('CREATE TEMPORARY TABLE "sluice_drip_fresh"'))!;
    expect(fresh).toContain(`AND e."collector_tstamp" BETWEEN '2026-12-03 10:00:00.000' AND '2026-12-03 10:00:01.500' WHERE e."event_id" IS NULL`);
  });

  it('expects no checkpoint row for a shard not dripfed yet', () => {
    const { sqls } = dripfeedBatchSql(batch);
    expect(sqls[DRIPFEED_GUARD_INDEX]).toContain('COUNT(*) = 0');
    expect(sqls[DRIPFEED_GUARD_INDEX]).not.toContain('"sequence_number" =');
  });

  it('moves only the checkpoint when the micro-batch holds no events', () => {
    const { sqls, insertIndex } = dripfeedBatchSql({ ...batch, atomicFrom: undefined, types: [], ddl: [] });
    expect(insertIndex).toBe(-1);
    expect(sqls).toHaveLength(4);
    expect(sqls.some((s) => s.startsWith('COPY'))).toBe(false);
  });
});
