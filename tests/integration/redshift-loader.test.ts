import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../adapters/object-store';
import { type EnrichedEvent, formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import type { SluiceConfig } from '../../config';
import { DUPLICATE_SCHEMA_URI } from '../../batch/dedupe';
import { runPrefix } from '../../batch/layout';
import { PART_EXTENSION, partText } from '../../batch/run-files';
import { runShred } from '../../batch/shred-run';
import type { BatchEngine } from '../../engine/engine';
import type { ManagedProcess } from '../../stack/processes';
import { s3Spec } from '../../stack/standins';
import { ATOMIC_COLUMNS } from '../../warehouse/atomic-events';
import { RedshiftStatementError } from '../../warehouse/redshift-data';
import { redshiftLoaderFromConfig } from '../../warehouse/redshift-loader';

// What the shred step writes on this runtime, so what the loader's COPYs name.
const COMPRESSION = PART_EXTENSION.endsWith('.zst') ? 'ZSTD' : 'GZIP';
import { bucketStore, startStandin, teardown, testConfig } from '../helpers/standins';
import { inProcessEngine } from '../helpers/in-process-engine';
import { CLICK, CLICK101, CLICK_SCHEMAS as SCHEMAS } from '../helpers/link-click-schemas';

// The Redshift loader through the real @aws-sdk/client-redshift-data client, pointed at a small
// server on loopback that speaks the Data API's JSON protocol (X-Amz-Target RedshiftData.*),
// records every call and plays scripted statement statuses. The shredded run it loads is real
// (shred-map/shred-reduce against s3rver).

interface Call {
  target: string;
  body: Record<string, any>;
}

interface Statement {
  id: string;
  sqls: string[];
  batch: boolean;
  polls: number;
  params?: { name: string; value: string }[];
}

/** Scripted behaviour: which statement fails, what SELECTs return. */
interface Script {
  failWhen?: (sql: string) => string | undefined;
  manifestRows?: () => { event_count: number }[];
  catalogRows?: { table_name: string; comment: string | null; column_name: string; column_type: string; not_null: boolean }[];
}

class FakeDataApi {
  calls: Call[] = [];
  statements = new Map<string, Statement>();
  script: Script = {};
  private server = http.createServer((req, res) => this.handle(req, res));
  private seq = 0;

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  reset(script: Script = {}) {
    this.calls = [];
    this.statements.clear();
    this.script = script;
  }

  get batches(): Statement[] {
    return [...this.statements.values()].filter((s) => s.batch);
  }

  private reply(res: http.ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(JSON.stringify(body));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      this.calls.push({ target, body });
      const op = target.replace(/^RedshiftData\./, '');
      const now = Date.now() / 1000;
      switch (op) {
        case 'ExecuteStatement':
        case 'BatchExecuteStatement': {
          if (!body.Database || !(body.WorkgroupName || body.ClusterIdentifier)) {
            return this.reply(res, 400, { __type: 'ValidationException', message: 'Database and a workgroup or cluster are required' });
          }
          const id = `00000000-0000-4000-8000-${String(++this.seq).padStart(12, '0')}`;
          this.statements.set(id, { id, sqls: op === 'BatchExecuteStatement' ? body.Sqls : [body.Sql], batch: op === 'BatchExecuteStatement', polls: 0, params: body.Parameters });
          return this.reply(res, 200, { Id: id, CreatedAt: now, Database: body.Database, WorkgroupName: body.WorkgroupName });
        }
        case 'DescribeStatement': {
          const st = this.statements.get(body.Id);
          if (!st) return this.reply(res, 400, { __type: 'ResourceNotFoundException', message: `no statement ${body.Id}` });
          st.polls++;
          // Two polls in flight, then the outcome.
          const running = st.polls < 3;
          const failedAt = running ? -1 : st.sqls.findIndex((q) => this.script.failWhen?.(q));
          const subs = st.sqls.map((q, i) => ({
            Id: `${st.id}:${i + 1}`,
            QueryString: q,
            Status: running ? (i === 0 && st.polls === 2 ? 'FINISHED' : 'SUBMITTED') : failedAt === -1 ? 'FINISHED' : i < failedAt ? 'FINISHED' : i === failedAt ? 'FAILED' : 'ABORTED',
            Error: i === failedAt ? this.script.failWhen!(q) : undefined,
            ResultRows: /^COPY /.test(q) ? -1 : 0,
            HasResultSet: /^SELECT /.test(q),
          }));
          const status = running ? (st.polls === 1 ? 'SUBMITTED' : 'STARTED') : failedAt === -1 ? 'FINISHED' : 'FAILED';
          return this.reply(res, 200, {
            Id: st.id, Status: status, CreatedAt: now, UpdatedAt: now, HasResultSet: !st.batch && /^SELECT /.test(st.sqls[0]),
            ...(st.batch ? { SubStatements: subs } : { QueryString: st.sqls[0] }),
            ...(failedAt >= 0 ? { Error: subs[failedAt].Error } : {}),
          });
        }
        case 'GetStatementResult': {
          const st = this.statements.get(body.Id)!;
          const sql = st.sqls[0];
          if (sql.includes('"load_manifest" WHERE')) {
            const rows = this.script.manifestRows?.() ?? [];
            return this.reply(res, 200, { ColumnMetadata: [{ name: 'event_count', typeName: 'int8' }], Records: rows.map((r) => [{ longValue: r.event_count }]), TotalNumRows: rows.length });
          }
          if (sql.includes('pg_catalog.pg_class')) {
            const rows = this.script.catalogRows ?? [];
            return this.reply(res, 200, {
              ColumnMetadata: ['table_name', 'comment', 'column_name', 'column_type', 'not_null'].map((name) => ({ name })),
              Records: rows.map((r) => [{ stringValue: r.table_name }, r.comment === null ? { isNull: true } : { stringValue: r.comment }, { stringValue: r.column_name }, { stringValue: r.column_type }, { booleanValue: r.not_null }]),
              TotalNumRows: rows.length,
            });
          }
          return this.reply(res, 400, { __type: 'ValidationException', message: 'no result set' });
        }
        case 'CancelStatement':
          return this.reply(res, 200, { Status: true });
        default:
          return this.reply(res, 400, { __type: 'UnknownOperationException', message: op });
      }
    });
  }
}

let config: SluiceConfig;
let s3: ManagedProcess;
let client: S3Client;
let store: ObjectStore;
const api = new FakeDataApi();
const ROLE = 'arn:aws:iam::123456789012:role/sluice-redshift-copy';

const inProcess: BatchEngine = inProcessEngine(() => store);


async function shredRun(runId: string, uri: string, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) => {
    const e: EnrichedEvent = {
      app_id: 'shop', platform: 'web', collector_tstamp: formatTstamp(Date.UTC(2026, 3, 1) + i * 1000), event: 'unstruct',
      event_id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`, v_collector: 'c', v_etl: 'e', event_fingerprint: `f${i}`,
      unstruct_event: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema: uri, data: { targetUrl: `https://x/${i}`, tags: ['a'] } } }),
    };
    return toEnrichedTsv(e);
  });
  await store.put(`${runPrefix.enriched(runId)}part-00000.tsv`, `${lines.join('\n')}\n`);
  await runShred({ store, engine: inProcess, lookup: async (u) => SCHEMAS[u] }, { runId, inputPrefix: runPrefix.enriched(runId), buckets: 2, etlTstamp: 0 });
}

let loaderConfig: SluiceConfig;

beforeAll(async () => {
  const port = await api.start();
  config = testConfig();
  s3 = await startStandin(s3Spec(config), config);
  ({ client, store } = await bucketStore(config));
  // The Data API client takes the SDK's default credential chain, as in production.
  process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  loaderConfig = testConfig({
    SLUICE_REGION: 'eu-west-1',
    SLUICE_WAREHOUSE__KIND: 'redshift',
    SLUICE_WAREHOUSE__REDSHIFT__ENDPOINT: `http://127.0.0.1:${port}`,
    SLUICE_WAREHOUSE__REDSHIFT__WORKGROUP_NAME: 'sluice-wg',
    SLUICE_WAREHOUSE__REDSHIFT__DATABASE: 'analytics',
    SLUICE_WAREHOUSE__REDSHIFT__IAM_ROLE_ARN: ROLE,
    SLUICE_WAREHOUSE__REDSHIFT__POLL_MS: '50',
  });
});

afterAll(async () => {
  client?.destroy();
  await api.stop();
  await teardown(config, s3);
  await teardown(loaderConfig);
});

beforeEach(() => api.reset());

describe('Redshift loader (Data API protocol)', () => {
  it('creates base tables, checks the manifest, reads the catalog, then loads everything in one batch', async () => {
    await shredRun('rs-1', CLICK, 20);
    const progress: [number, number][] = [];
    const loader = redshiftLoaderFromConfig(loaderConfig, store);
    const result = await loader.loadRun({ runId: 'rs-1', window: { from: Date.UTC(2026, 3, 1), to: Date.UTC(2026, 3, 2) } }, (d, t) => progress.push([d, t]));
    expect(result).toMatchObject({ alreadyLoaded: false, loaded: 20, tables: { events: 20, com_acme_link_click_1: 20 } });

    // The call sequence: every statement polled until it finished, results read where needed.
    const ops = api.calls.map((c) => c.target.replace('RedshiftData.', ''));
    expect(ops[0]).toBe('BatchExecuteStatement');
    expect(ops.filter((o) => o === 'BatchExecuteStatement')).toHaveLength(2);
    expect(ops.filter((o) => o === 'ExecuteStatement')).toHaveLength(2);
    expect(ops.filter((o) => o === 'GetStatementResult')).toHaveLength(2);
    expect(ops.filter((o) => o === 'DescribeStatement')).toHaveLength(4 * 3);
    for (const call of api.calls.filter((c) => /Execute/.test(c.target))) {
      expect(call.body).toMatchObject({ Database: 'analytics', WorkgroupName: 'sluice-wg' });
    }
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);

    const [base, load] = api.batches;
    expect(base.sqls[1]).toMatch(/^CREATE TABLE IF NOT EXISTS "atomic"."events" \(/);
    expect(base.sqls[1]).toContain('"event_id" CHAR(36) ENCODE RAW NOT NULL');
    expect(base.sqls[1]).toMatch(/DISTKEY \("event_id"\)\nSORTKEY \("collector_tstamp"\)$/);
    expect(base.sqls[3]).toContain('CREATE TABLE IF NOT EXISTS "sluice"."load_manifest"');

    const [manifest, catalog] = [...api.statements.values()].filter((s) => !s.batch);
    expect(manifest.sqls[0]).toBe('SELECT "event_count" FROM "sluice"."load_manifest" WHERE "run_id" = :run_id');
    expect(manifest.params).toEqual([{ name: 'run_id', value: 'rs-1' }]);
    expect(catalog.sqls[0]).toContain('obj_description(c.oid)');
    expect(catalog.params).toEqual([{ name: 'schema', value: 'atomic' }]);

    const bucket = loaderConfig.s3.bucket;
    expect(load.sqls[0]).toBe('LOCK "sluice"."load_manifest"');
    expect(load.sqls[1]).toBe(`SELECT 1 / (CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END) FROM "sluice"."load_manifest" WHERE "run_id" = 'rs-1'`);
    expect(load.sqls[2]).toContain('CREATE TABLE IF NOT EXISTS "atomic"."com_acme_link_click_1" (');
    expect(load.sqls[2]).toContain('"tags" VARCHAR(65535) ENCODE ZSTD');
    expect(load.sqls[2]).toMatch(/DISTSTYLE KEY\nDISTKEY \("root_id"\)\nSORTKEY \("root_tstamp"\)$/);
    expect(load.sqls[3]).toBe(`COMMENT ON TABLE "atomic"."com_acme_link_click_1" IS '${CLICK}'`);
    // The batch wins: rows already there for the run's events are deleted first (docs/warehouse.md).
    expect(load.sqls.slice(4, 9)).toEqual([
      'DROP TABLE IF EXISTS "sluice_load_keys"',
      'CREATE TEMPORARY TABLE "sluice_load_keys" ("event_id" CHAR(36) NOT NULL, "collector_tstamp" TIMESTAMP NOT NULL)',
      `COPY "sluice_load_keys" ("event_id", "collector_tstamp") FROM 's3://${bucket}/shredded/good/run=rs-1/_keys/' ` +
        `IAM_ROLE '${ROLE}' DELIMITER '\\t' ESCAPE ${COMPRESSION} NULL AS '\\\\N' TRUNCATECOLUMNS ACCEPTINVCHARS TIMEFORMAT 'auto' REGION 'eu-west-1'`,
      'DELETE FROM "atomic"."events" USING "sluice_load_keys" WHERE "atomic"."events"."event_id" = "sluice_load_keys"."event_id" AND "atomic"."events"."collector_tstamp" = "sluice_load_keys"."collector_tstamp"',
      'DROP TABLE "sluice_load_keys"',
    ]);
    expect(load.sqls[9]).toBe(
      `COPY "atomic"."events" (${ATOMIC_COLUMNS.map((c) => `"${c}"`).join(', ')}) FROM 's3://${bucket}/shredded/good/run=rs-1/atomic-events/' ` +
      `IAM_ROLE '${ROLE}' DELIMITER '\\t' ESCAPE ${COMPRESSION} EMPTYASNULL FILLRECORD TRUNCATECOLUMNS ACCEPTINVCHARS TIMEFORMAT 'auto' REGION 'eu-west-1'`,
    );
    expect(load.sqls[10]).toBe(
      'COPY "atomic"."com_acme_link_click_1" ("schema_vendor", "schema_name", "schema_format", "schema_version", "root_id", "root_tstamp", "ref_root", "ref_tree", "ref_parent", "target_url", "element_id", "tags") ' +
      `FROM 's3://${bucket}/shredded/good/run=rs-1/vendor=com.acme/name=link_click/format=jsonschema/version=1-0-0/' ` +
      `IAM_ROLE '${ROLE}' DELIMITER '\\t' ESCAPE ${COMPRESSION} NULL AS '\\\\N' TRUNCATECOLUMNS ACCEPTINVCHARS TIMEFORMAT 'auto' REGION 'eu-west-1'`,
    );
    expect(load.sqls[11]).toBe(`INSERT INTO "sluice"."load_manifest" ("run_id", "event_count", "window_from", "window_to") VALUES ('rs-1', 20, '2026-04-01 00:00:00.000', '2026-04-02 00:00:00.000')`);
    expect(load.sqls).toHaveLength(12);
    // The COPY prefix holds exactly the rows the loader counted.
    const objects = await store.list('shredded/good/run=rs-1/vendor=com.acme/name=link_click/format=jsonschema/version=1-0-0/');
    const rows = (await Promise.all(objects.map(async (k) => partText(k, await store.get(k))))).join('').split('\n').filter(Boolean);
    expect(rows).toHaveLength(20);
  });

  it('migrates an existing table: VARCHAR widened before the batch, new column added inside it', async () => {
    await shredRun('rs-2', CLICK101, 5);
    const col = (column_name: string, column_type: string, not_null: boolean) => ({ table_name: 'com_acme_link_click_1', comment: CLICK, column_name, column_type, not_null });
    api.reset({
      catalogRows: [
        ...['schema_vendor', 'schema_name', 'schema_format', 'schema_version'].map((c) => col(c, 'character varying(128)', true)),
        col('root_id', 'character(36)', true), col('root_tstamp', 'timestamp without time zone', true),
        col('ref_root', 'character varying(255)', true), col('ref_tree', 'character varying(1500)', true), col('ref_parent', 'character varying(255)', true),
        col('target_url', 'character varying(4096)', true), col('element_id', 'character varying(255)', false), col('tags', 'character varying(65535)', false),
        { table_name: 'events', comment: null, column_name: 'event_id', column_type: 'character(36)', not_null: true },
      ],
    });
    const result = await redshiftLoaderFromConfig(loaderConfig, store).loadRun({ runId: 'rs-2', window: {} });
    expect(result.actions).toEqual([
      { kind: 'widen', table: 'com_acme_link_click_1', column: 'element_id', from: 'VARCHAR(255)', to: 'VARCHAR(1000)' },
      { kind: 'add-column', table: 'com_acme_link_click_1', column: 'is_new', type: 'BOOLEAN' },
      { kind: 'comment', table: 'com_acme_link_click_1', schema: CLICK101 },
    ]);
    const singles = [...api.statements.values()].filter((s) => !s.batch).map((s) => s.sqls[0]);
    expect(singles[2]).toBe('ALTER TABLE "atomic"."com_acme_link_click_1" ALTER COLUMN "element_id" TYPE VARCHAR(1000)');
    const load = api.batches.at(-1)!;
    expect(load.sqls.slice(2, 4)).toEqual([
      'ALTER TABLE "atomic"."com_acme_link_click_1" ADD COLUMN "is_new" BOOLEAN ENCODE RUNLENGTH',
      `COMMENT ON TABLE "atomic"."com_acme_link_click_1" IS '${CLICK101}'`,
    ]);
    expect(load.sqls.some((q) => q.startsWith('CREATE TABLE'))).toBe(false);
  });

  it('a FAILED statement fails the load with its error and the statement; nothing is committed', async () => {
    api.reset({ failWhen: (q) => (q.startsWith('COPY "atomic"."com_acme_link_click_1"') ? "Load into table 'com_acme_link_click_1' failed. Check 'sys_load_error_detail' system table for details." : undefined) });
    const err = await redshiftLoaderFromConfig(loaderConfig, store).loadRun({ runId: 'rs-1', window: {} }).catch((e) => e);
    expect(err).toBeInstanceOf(RedshiftStatementError);
    expect(err.status).toBe('FAILED');
    expect(err.failedIndex).toBe(10);
    expect(err.message).toContain("Load into table 'com_acme_link_click_1' failed");
    expect(err.message).toContain('statement 11 of 12: COPY "atomic"."com_acme_link_click_1"');
    // The manifest insert came after the failed COPY, so it never ran.
    const d = api.calls.filter((c) => c.target === 'RedshiftData.DescribeStatement').at(-1)!;
    expect(api.statements.get(d.body.Id)!.sqls.at(-1)).toMatch(/^INSERT INTO "sluice"."load_manifest"/);
  });

  it('a run loaded meanwhile by another attempt trips the guard and is reported as already loaded', async () => {
    let loadedByOther = false;
    api.reset({
      failWhen: (q) => {
        if (q.startsWith('SELECT 1 / (CASE')) {
          loadedByOther = true;
          return 'division by zero';
        }
        return undefined;
      },
      manifestRows: () => (loadedByOther ? [{ event_count: 20 }] : []),
    });
    const result = await redshiftLoaderFromConfig(loaderConfig, store).loadRun({ runId: 'rs-1', window: {} });
    expect(result).toEqual({ loaded: 20, alreadyLoaded: true, tables: {}, actions: [] });
  });

  it('a run already in the manifest submits no load at all', async () => {
    api.reset({ manifestRows: () => [{ event_count: 20 }] });
    const result = await redshiftLoaderFromConfig(loaderConfig, store).loadRun({ runId: 'rs-1', window: {} });
    expect(result.alreadyLoaded).toBe(true);
    expect(api.batches).toHaveLength(1); // only the base DDL
    expect(api.calls.some((c) => c.body.Sql?.includes('pg_catalog'))).toBe(false);
  });

  it('reprocessing deletes the window from atomic.events and the shredded tables inside the batch', async () => {
    api.reset({ catalogRows: [{ table_name: 'com_acme_link_click_1', comment: CLICK, column_name: 'root_id', column_type: 'character(36)', not_null: true }] });
    await redshiftLoaderFromConfig(loaderConfig, store).loadRun({ runId: 'rs-1', window: { from: Date.UTC(2026, 3, 1), to: Date.UTC(2026, 3, 2) }, replaceWindow: true });
    const load = api.batches.at(-1)!;
    expect(load.sqls.slice(2, 4)).toEqual([
      `DELETE FROM "atomic"."events" WHERE "collector_tstamp" >= '2026-04-01 00:00:00.000' AND "collector_tstamp" < '2026-04-02 00:00:00.000'`,
      `DELETE FROM "atomic"."com_acme_link_click_1" WHERE "root_tstamp" >= '2026-04-01 00:00:00.000' AND "root_tstamp" < '2026-04-02 00:00:00.000'`,
    ]);
  });

  it('refuses a config it cannot use safely', () => {
    expect(() => redshiftLoaderFromConfig({ ...loaderConfig, warehouse: { ...loaderConfig.warehouse, redshift: { ...loaderConfig.warehouse.redshift, iamRoleArn: "arn'; DROP TABLE x; --" } } }, store)).toThrow(/IAM role ARN/);
    expect(() => redshiftLoaderFromConfig({ ...loaderConfig, warehouse: { ...loaderConfig.warehouse, redshift: { ...loaderConfig.warehouse.redshift, iamRoleArn: undefined } } }, store)).toThrow(/iamRoleArn/);
    expect(DUPLICATE_SCHEMA_URI).toMatch(/^iglu:/);
  });
});
