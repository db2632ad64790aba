import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { describe, expect, it } from 'vitest';
import type { Pool } from '../../adapters/postgres';
import { formatTstamp } from '../../codecs/enriched-tsv';
import { makeLogger } from '../../observability/logger';
import { redshiftBatchViewsStore, redshiftTime } from '../../views/batch-views-redshift';
import {
  batchValuesParameters, batchValuesSqlRedshift, countEventsSqlRedshift, recomputeBatchSql, redshiftViewsDdl, WATERMARK_SQL,
} from '../../views/batch-views-redshift-sql';
import { METRICS } from '../../views/definitions';
import { SLUICE_SCHEMA_DDL } from '../../warehouse/migrate';
import { redshiftSqlProblems } from '../../warehouse/redshift-dialect';

// The Redshift batch views' statements (pure) and the store's order of effects, against a scripted
// Data API client and a recording PostgreSQL pool. tests/integration/views-redshift.test.ts runs the
// same statements through the local Data API endpoint.

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;
const lit = (ms: number) => `CAST('${formatTstamp(ms)}' AS TIMESTAMP)`;

/** What must not appear in a statement sent to Redshift. */
function postgresOnly(sql: string): string[] {
  const problems: [RegExp, string][] = [
    [/FILTER\s*\(\s*WHERE/i, 'FILTER (WHERE'],
    [/ON\s+CONFLICT/i, 'ON CONFLICT'],
    [/GROUPING/i, 'GROUPING SETS / GROUPING()'],
    [/::/, ':: cast'],
    [/\$\d/, '$n parameter'],
    [/\bunnest\s*\(/i, 'unnest'],
    [/\bCHECK\s*\(/i, 'CHECK constraint'],
    [/\bpg_temp\b/i, 'pg_temp'],
    [/\bnow\(\)/i, 'now()'],
    [/RETURNING/i, 'RETURNING'],
    [/IN\s+EXCLUSIVE\s+MODE/i, 'LOCK … IN … MODE'],
  ];
  // Plus the local endpoint's own strict-mode check (warehouse/redshift-dialect.ts).
  return [...problems.filter(([re]) => re.test(sql)).map(([, what]) => what), ...redshiftSqlProblems(sql)];
}

/** Every schema-qualified name is "schema"."table", never bare. */
function unquotedTables(sql: string): string[] {
  return [...sql.matchAll(/(?<![:\w])(?:FROM|INTO|LOCK|TABLE(?: IF NOT EXISTS)?|USING|JOIN)\s+(?!\(|")([A-Za-z_][\w.]*)/gi)].map((m) => m[1]);
}

describe('Redshift batch views SQL', () => {
  it('recomputes each grain from atomic.events and moves the watermark forward only, in one batch starting with the LOCK', () => {
    const window = { from: T0 + 5 * MIN + 10_000, to: T0 + HOUR + 2 * MIN + 1 };
    const { sqls, insertIndexes } = recomputeBatchSql({ runId: 'run-7', window, candidate: T0 + 30 * MIN });
    expect(sqls[0]).toBe('LOCK "sluice"."batch_watermark"');
    // minute: 12:05 … 13:03, hour: 12:00 … 14:00 (the buckets overlapping [from, to]).
    const minute = `"grain" = 'minute' AND "bucket" >= ${lit(T0 + 5 * MIN)} AND "bucket" < ${lit(T0 + HOUR + 3 * MIN)}`;
    const hour = `"grain" = 'hour' AND "bucket" >= ${lit(T0)} AND "bucket" < ${lit(T0 + 2 * HOUR)}`;
    expect(sqls.slice(1, 3)).toEqual([`DELETE FROM "sluice"."batch_view_events" WHERE ${minute}`, `DELETE FROM "sluice"."batch_view_uniques" WHERE ${minute}`]);
    expect(sqls[5]).toBe(`DELETE FROM "sluice"."batch_view_events" WHERE ${hour}`);
    expect(sqls[3]).toContain(`SELECT 'minute', DATE_TRUNC('minute', "collector_tstamp"), COALESCE(NULLIF("event_name", ''), NULLIF("event", ''), 'unknown'), COUNT(*), 'run-7'`);
    expect(sqls[3]).toContain(`FROM "atomic"."events" WHERE "collector_tstamp" >= ${lit(T0 + 5 * MIN)} AND "collector_tstamp" < ${lit(T0 + HOUR + 3 * MIN)} GROUP BY 2, 3`);
    expect(sqls[4]).toContain(`COUNT(DISTINCT COALESCE(NULLIF("domain_userid", ''), NULLIF("network_userid", ''))), COUNT(DISTINCT NULLIF("domain_sessionid", ''))`);
    expect(sqls[8]).toContain(`DATE_TRUNC('hour', "collector_tstamp")`);
    expect(insertIndexes).toEqual([3, 4, 7, 8]);
    for (const i of insertIndexes) expect(sqls[i]).toMatch(/^INSERT INTO "sluice"\."batch_view_(events|uniques)"/);
    // Watermark: deleted only when behind the candidate, inserted only when no row is left.
    expect(sqls.slice(9)).toEqual([
      `DELETE FROM "sluice"."batch_watermark" WHERE "id" = 1 AND "watermark" < ${lit(T0 + 30 * MIN)}`,
      `INSERT INTO "sluice"."batch_watermark" ("id", "watermark", "run_id")
SELECT 1, ${lit(T0 + 30 * MIN)}, 'run-7' FROM (SELECT COUNT(*) AS "n" FROM "sluice"."batch_watermark" WHERE "id" = 1) AS "existing" WHERE "existing"."n" = 0`,
    ]);
    for (const sql of sqls) {
      expect(postgresOnly(sql), sql).toEqual([]);
      expect(unquotedTables(sql), sql).toEqual([]);
    }
  });

  it('without a window recomputes nothing, and without a candidate leaves the watermark alone', () => {
    expect(recomputeBatchSql({ runId: 'r', candidate: T0 }).sqls).toHaveLength(3);
    expect(recomputeBatchSql({ runId: 'r', candidate: null })).toEqual({ sqls: ['LOCK "sluice"."batch_watermark"'], insertIndexes: [] });
    expect(recomputeBatchSql({ runId: 'r', window: { from: T0, to: T0 }, candidate: null }).sqls).toHaveLength(9);
  });

  it('refuses a run id that would break out of its literal', () => {
    expect(() => recomputeBatchSql({ runId: "x'; DROP TABLE y; --\\", candidate: T0 })).toThrow(/unsafe SQL literal/);
    expect(recomputeBatchSql({ runId: "o'brien", candidate: T0 }).sqls[2]).toContain(`'o''brien'`);
  });

  it('reads values and watermark in one statement with every value a :name parameter', () => {
    for (const metric of METRICS) {
      for (const byEvent of [false, true]) {
        const sql = batchValuesSqlRedshift(metric, byEvent);
        expect(postgresOnly(sql), sql).toEqual([]);
        expect(unquotedTables(sql), sql).toEqual([]);
        expect(sql).toContain('"grain" = :grain AND "bucket" >= CAST(:from AS TIMESTAMP) AND "bucket" < CAST(:to AS TIMESTAMP)');
        expect(sql).toMatch(/^SELECT 'watermark' AS "row", "watermark" AS "bucket", .* FROM "sluice"\."batch_watermark" WHERE "id" = 1\nUNION ALL\nSELECT 'value'/);
        expect(sql).not.toMatch(/\d{4}-\d{2}-\d{2}/);
      }
    }
    expect(batchValuesSqlRedshift('events', true)).toContain('GROUP BY "bucket", "event_name"');
    expect(batchValuesSqlRedshift('page_views', false)).toContain(`AND "event_name" = 'page_view' GROUP BY "bucket"`);
    expect(batchValuesSqlRedshift('unique_users', false)).toContain('"users" AS "value" FROM "sluice"."batch_view_uniques"');
    expect(batchValuesSqlRedshift('sessions', false)).toContain('"sessions" AS "value"');
    expect(batchValuesParameters('hour', { from: T0, to: T0 + HOUR })).toEqual([
      { name: 'grain', value: 'hour' }, { name: 'from', value: formatTstamp(T0) }, { name: 'to', value: formatTstamp(T0 + HOUR) },
    ]);
    expect(WATERMARK_SQL).toBe('SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1');
  });

  it('counts atomic.events with the filter bound as parameters, never in the text', () => {
    const evil = "x' OR '1'='1";
    const c = countEventsSqlRedshift({ appId: evil, from: T0, to: T0 + MIN });
    expect(c.sql).toBe('SELECT COUNT(*) AS "n" FROM "atomic"."events" WHERE "app_id" = :app_id AND "collector_tstamp" >= CAST(:from AS TIMESTAMP) AND "collector_tstamp" < CAST(:to AS TIMESTAMP)');
    expect(c.parameters).toEqual([{ name: 'app_id', value: evil }, { name: 'from', value: formatTstamp(T0) }, { name: 'to', value: formatTstamp(T0 + MIN) }]);
    expect(countEventsSqlRedshift({})).toEqual({ sql: 'SELECT COUNT(*) AS "n" FROM "atomic"."events"', parameters: [] });
  });

  it('declares the same columns as the PostgreSQL tables, in Redshift DDL', () => {
    const ddl = redshiftViewsDdl();
    const columnsOf = (sql: string) => [...sql.matchAll(/^\s+"(\w+)" /gm)].map((m) => m[1]);
    for (const table of ['batch_view_events', 'batch_view_uniques', 'batch_watermark']) {
      const rs = ddl.find((s) => s.includes(`"sluice"."${table}" (`))!;
      const pg = SLUICE_SCHEMA_DDL.find((s) => s.includes(`"sluice"."${table}" (`))!;
      expect(rs, table).toMatch(/^CREATE TABLE IF NOT EXISTS /);
      expect(columnsOf(rs), table).toEqual(columnsOf(pg));
      expect(rs).toMatch(/DISTSTYLE ALL/);
    }
    for (const sql of ddl) expect(postgresOnly(sql), sql).toEqual([]);
  });

  it('reads the Data API timestamp forms as UTC', () => {
    expect(redshiftTime('2026-01-01 12:00:00')).toBe(T0);
    expect(redshiftTime('2026-01-01 12:01:00.5')).toBe(T0 + MIN + 500);
    expect(redshiftTime('2026-01-01T12:00:00Z')).toBe(T0);
    expect(redshiftTime('2026-01-01T13:00:00+01:00')).toBe(T0);
    expect(() => redshiftTime('yesterday')).toThrow(RangeError);
  });
});

// A scripted Data API: statements finish (or fail) at once; SELECTs return what `rows` says.
function fakeDataApi(effects: string[], script: { fail?: RegExp; watermark?: string | null; resultRows?: number }) {
  const statements = new Map<string, { sqls: string[]; batch: boolean }>();
  let seq = 0;
  const send = async (cmd: { constructor: { name: string }; input: Record<string, any> }) => {
    const input = cmd.input;
    switch (cmd.constructor.name) {
      case 'BatchExecuteStatementCommand':
      case 'ExecuteStatementCommand': {
        const id = `s-${++seq}`;
        const batch = cmd.constructor.name === 'BatchExecuteStatementCommand';
        const sqls: string[] = batch ? input.Sqls : [input.Sql];
        statements.set(id, { sqls, batch });
        effects.push(`${batch ? 'batch' : 'statement'}:${sqls[0].split('\n')[0]}`);
        return { Id: id };
      }
      case 'DescribeStatementCommand': {
        const s = statements.get(input.Id)!;
        const failed = script.fail && s.sqls.some((q) => script.fail!.test(q));
        return {
          Id: input.Id,
          Status: failed ? 'FAILED' : 'FINISHED',
          Error: failed ? 'scripted failure' : undefined,
          SubStatements: s.batch ? s.sqls.map((q, i) => ({ Id: `${input.Id}:${i + 1}`, Status: failed ? 'FAILED' : 'FINISHED', QueryString: q, ResultRows: q.startsWith('INSERT') ? (script.resultRows ?? 2) : 0 })) : undefined,
        };
      }
      case 'GetStatementResultCommand': {
        const wm = script.watermark;
        return { ColumnMetadata: [{ name: 'watermark' }], Records: wm ? [[{ stringValue: wm }]] : [] };
      }
      default:
        throw new Error(`unexpected ${cmd.constructor.name}`);
    }
  };
  return { send, destroy() {} } as unknown as RedshiftDataClient;
}

function recordingPool(effects: string[]): Pool {
  return {
    connect: async () => ({
      on() {}, off() {}, release() {},
      query: async (sql: string) => {
        effects.push(`pg:${sql.split(' ').slice(0, 3).join(' ')}`);
        return { rowCount: 1, rows: [] };
      },
    }),
  } as unknown as Pool;
}

describe('Redshift views store', () => {
  const target = { workgroupName: 'wg', database: 'dev' };
  const run = { runId: 'run-1', window: { from: T0, to: T0 + 5 * MIN }, completeThroughMs: [T0 + 10 * MIN + 5_000], latenessMs: 2_000 };
  const log = makeLogger('test', 'silent');

  it('commits the Redshift batch, reads the watermark back, then retires the realtime rows in PostgreSQL', async () => {
    const effects: string[] = [];
    const store = redshiftBatchViewsStore({ client: fakeDataApi(effects, { watermark: '2026-01-01 12:10:00' }), target, pollMs: 50, pool: recordingPool(effects), log });
    expect(await store.computeViews(run)).toEqual({ watermark: T0 + 10 * MIN, rows: 8 });
    expect(effects[0]).toBe('batch:CREATE SCHEMA IF NOT EXISTS "atomic"');
    expect(effects.slice(1, 3)).toEqual(['batch:LOCK "sluice"."batch_watermark"', 'statement:SELECT "watermark" FROM "sluice"."batch_watermark" WHERE "id" = 1']);
    expect(effects[3]).toBe('pg:BEGIN');
    expect(effects.slice(4, -1).every((e) => e.startsWith('pg:DELETE FROM'))).toBe(true);
    expect(effects.at(-1)).toBe('pg:COMMIT');
    // The tables are created once per store.
    effects.length = 0;
    await store.computeViews(run);
    expect(effects[0]).toBe('batch:LOCK "sluice"."batch_watermark"');
  });

  it('retires nothing when the Redshift transaction fails, or when there is no watermark', async () => {
    const effects: string[] = [];
    const failing = redshiftBatchViewsStore({ client: fakeDataApi(effects, { fail: /^INSERT INTO "sluice"."batch_view_events"/ }), target, pollMs: 50, pool: recordingPool(effects), log });
    await expect(failing.computeViews(run)).rejects.toThrow(/scripted failure/);
    expect(effects.filter((e) => e.startsWith('pg:'))).toEqual([]);

    const none = redshiftBatchViewsStore({ client: fakeDataApi(effects, { watermark: null }), target, pollMs: 50, pool: recordingPool(effects), log });
    expect(await none.computeViews({ ...run, completeThroughMs: [] })).toEqual({ watermark: null, rows: 8 });
    expect(effects.filter((e) => e.startsWith('pg:'))).toEqual([]);
  });
});
