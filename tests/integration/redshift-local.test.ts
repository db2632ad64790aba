import zlib from 'node:zlib';
import { CancelStatementCommand, DescribeStatementCommand, ExecuteStatementCommand, GetStatementResultCommand, ListStatementsCommand, type RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EnrichedEvent, formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { loadConfig } from '../../config';
import { runPrefix } from '../../batch/layout';
import { runShred } from '../../batch/shred-run';
import type { BatchEngine } from '../../engine/engine';
import { makeLogger } from '../../observability/logger';
import { ATOMIC_COLUMNS } from '../../warehouse/atomic-events';
import { postgresLoader } from '../../warehouse/postgres-loader';
import { executeBatch, executeStatement, fetchRows, makeRedshiftDataClient, type RedshiftTarget, redshiftTarget, RedshiftStatementError } from '../../warehouse/redshift-data';
import { redshiftLoaderFromConfig } from '../../warehouse/redshift-loader';
import { type RedshiftLocal, redshiftLocalFromConfig } from '../../warehouse/redshift-local/server';
import { waitFor } from '../helpers/standins';
import { inProcessEngine } from '../helpers/in-process-engine';
import { useStandins } from '../helpers/rig';

// The local Redshift Data API endpoint against the real stand-ins (PostgreSQL, s3rver), driven only
// through the official @aws-sdk/client-redshift-data client and the project's Data API helpers:
// parameters, batches as one transaction, result pages, cancellation, COPY from S3 with Redshift's
// text rules, strict refusal of PostgreSQL-only SQL, and the real Redshift loader loading a real
// shredded run, compared row for row with what the PostgreSQL loader loads from the same run.

const rig = useStandins({ postgres: true, s3: true, env: { SLUICE_WAREHOUSE__KIND: 'redshift', SLUICE_WAREHOUSE__REDSHIFT__POLL_MS: '50' } });
let endpoint: RedshiftLocal;
let client: RedshiftDataClient;
let target: RedshiftTarget;

beforeAll(async () => {
  endpoint = await redshiftLocalFromConfig(rig.config, makeLogger('test-redshift-local', 'warn'), { strict: true, pageRows: 1000 });
  client = makeRedshiftDataClient(rig.config);
  target = redshiftTarget(rig.config);
});

afterAll(async () => {
  client?.destroy();
  await endpoint?.close();
});

const poll = { pollMs: 25 };

const run = async (sql: string, params?: { name: string; value: string }[]) => fetchRows(client, (await executeStatement(client, target, sql, params, poll)).Id!);

describe('local Redshift Data API endpoint', () => {
  it('is what mode=local defaults to: endpoint, workgroup and IAM role; /health answers', async () => {
    expect(rig.config.warehouse.redshift).toMatchObject({
      mode: 'local', endpoint: `http://127.0.0.1:${rig.config.warehouse.redshift.localPort}`, workgroupName: 'sluice-local', database: 'dev',
      iamRoleArn: 'arn:aws:iam::000000000000:role/sluice-local-copy',
    });
    expect(endpoint.url).toBe(`http://127.0.0.1:${rig.config.warehouse.redshift.localPort}`);
    // mode=aws: every setting as given, nothing defaulted to the local endpoint.
    const aws = loadConfig({ SLUICE_WAREHOUSE__KIND: 'redshift', SLUICE_WAREHOUSE__REDSHIFT__MODE: 'aws' }, rig.config.dataDir).warehouse.redshift;
    expect([aws.endpoint, aws.workgroupName, aws.iamRoleArn]).toEqual(['', undefined, undefined]);
    expect((await fetch(`${endpoint.url}/health`)).status).toBe(200);
  });

  it('binds :name parameters (never spliced) and returns Data API fields by type, in UTC', async () => {
    const sql = "SELECT :who AS who, CAST(:n AS INTEGER) + 1 AS n, ':who stays' AS literal, CAST(1.5 AS FLOAT8) AS f, TRUE AS b, NULL AS z, " +
      "CAST('2026-04-01 10:00:00' AS TIMESTAMP) AS ts, CAST(12.3 AS DECIMAL(18,2)) AS money, GETDATE() AS now";
    const d = await executeStatement(client, target, sql, [{ name: 'who', value: "O'Brien'; DROP TABLE x; --" }, { name: 'n', value: '41' }], poll);
    expect(d).toMatchObject({ Status: 'FINISHED', HasResultSet: true, ResultRows: 1, QueryString: sql, Database: 'dev', WorkgroupName: 'sluice-local' });
    expect(d.CreatedAt).toBeInstanceOf(Date);
    const [row] = await fetchRows(client, d.Id!);
    expect(row).toMatchObject({ who: "O'Brien'; DROP TABLE x; --", n: 42, literal: ':who stays', f: 1.5, b: true, z: null, ts: '2026-04-01 10:00:00', money: '12.30' });
    // GETDATE() is the time in UTC (Redshift's TIMESTAMP has no time zone; sessions run in UTC).
    expect(Math.abs(Date.parse(`${String(row.now).replace(' ', 'T')}Z`) - Date.now())).toBeLessThan(60_000);
    await expect(executeStatement(client, target, 'SELECT :missing', undefined, poll)).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining(':missing') });
    // ListStatements: newest first, one page at a time.
    expect(await run('SELECT 2 AS two')).toEqual([{ two: 2 }]);
    const first = await client.send(new ListStatementsCommand({ MaxResults: 1 }));
    expect(first.Statements!.map((s) => [s.QueryString, s.StatementName, s.Status])).toEqual([['SELECT 2 AS two', 'sluice', 'FINISHED']]);
    const second = await client.send(new ListStatementsCommand({ MaxResults: 1, NextToken: first.NextToken }));
    expect(second.Statements!.map((s) => s.Id)).toEqual([d.Id]);
  });

  it('validates inputs as the Data API does: Sql size, batch length, Database, target', async () => {
    await expect(executeStatement(client, target, `SELECT 1 -- ${'x'.repeat(110_000)}`, undefined, poll)).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('over 102400 bytes') });
    await expect(executeBatch(client, target, Array.from({ length: 41 }, () => 'SELECT 1'), poll)).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('1 to 40') });
    await expect(executeStatement(client, { ...target, database: 'dev; DROP' }, 'SELECT 1', undefined, poll)).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(executeStatement(client, { database: 'dev' }, 'SELECT 1', undefined, poll)).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('WorkgroupName') });
    await expect(client.send(new DescribeStatementCommand({ Id: '00000000-0000-4000-8000-000000000000' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('strict: refuses PostgreSQL-only SQL and unknown COPY options with a ValidationException naming them', async () => {
    await expect(executeStatement(client, target, 'INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING', undefined, poll))
      .rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('ON CONFLICT') });
    await expect(executeBatch(client, target, ['SELECT 1', 'SELECT pg_advisory_xact_lock(1)'], poll))
      .rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('pg_advisory') });
    await expect(executeStatement(client, target, `COPY t FROM 's3://${rig.config.s3.bucket}/x/' IAM_ROLE '${rig.config.warehouse.redshift.iamRoleArn}' ESCAPE CSV`, undefined, poll))
      .rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining('"CSV" is not supported') });
  });

  it('runs a batch as one transaction: a failure rolls back everything and names the failed sub-statement', async () => {
    const sqls = [
      'CREATE TABLE "public"."rb" ("id" INTEGER ENCODE AZ64, PRIMARY KEY ("id")) DISTSTYLE ALL',
      'INSERT INTO "public"."rb" VALUES (1)',
      'INSERT INTO "public"."no_such_table" VALUES (2)',
      'INSERT INTO "public"."rb" VALUES (3)',
    ];
    const err = await executeBatch(client, target, sqls, poll).catch((e) => e);
    expect(err).toBeInstanceOf(RedshiftStatementError);
    expect(err).toMatchObject({ status: 'FAILED', failedIndex: 2 });
    expect(err.message).toContain('relation "public.no_such_table" does not exist');
    expect(err.message).toContain('statement 3 of 4: INSERT INTO "public"."no_such_table"');
    const d = await client.send(new DescribeStatementCommand({ Id: err.statementId }));
    expect(d.Error).toMatch(/^Query #3 failed with ERROR: /);
    expect(d.SubStatements!.map((s) => [s.Id, s.Status])).toEqual(sqls.map((_, i) => [`${err.statementId}:${i + 1}`, ['FINISHED', 'FINISHED', 'FAILED', 'ABORTED'][i]]));
    // The CREATE TABLE and the first INSERT were rolled back with the rest.
    await expect(run('SELECT COUNT(*) AS n FROM "public"."rb"')).rejects.toThrow(/relation "public.rb" does not exist/);

    // The same batch without the bad statement commits; the primary key is not enforced, as on Redshift.
    const ok = await executeBatch(client, target, [sqls[0], sqls[1], sqls[1], 'SELECT COUNT(*) AS n FROM "public"."rb"'], poll);
    expect(ok.SubStatements!.map((s) => [s.Status, s.ResultRows, s.HasResultSet])).toEqual([['FINISHED', -1, false], ['FINISHED', 1, false], ['FINISHED', 1, false], ['FINISHED', 1, true]]);
    expect(await fetchRows(client, `${ok.Id}:4`)).toEqual([{ n: 2 }]);
    await expect(fetchRows(client, ok.Id!)).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('GetStatementResult pages a large result with NextToken', async () => {
    const d = await executeStatement(client, target, 'SELECT n, CAST(n AS VARCHAR(10)) AS s FROM generate_series(1, 2500) AS g(n) ORDER BY n', undefined, poll);
    expect(d.ResultRows).toBe(2500);
    const pages: number[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new GetStatementResultCommand({ Id: d.Id, NextToken: token }));
      expect(page.TotalNumRows).toBe(2500);
      expect(page.ColumnMetadata!.map((c) => [c.name, c.typeName])).toEqual([['n', 'int4'], ['s', 'varchar']]);
      pages.push(page.Records!.length);
      token = page.NextToken;
    } while (token);
    expect(pages).toEqual([1000, 1000, 500]);
    const rows = await fetchRows(client, d.Id!);
    expect(rows).toHaveLength(2500);
    expect(rows[2499]).toEqual({ n: 2500, s: '2500' });
    await expect(client.send(new GetStatementResultCommand({ Id: d.Id, NextToken: 'bogus' }))).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('CancelStatement aborts a running SELECT pg_sleep(30) on PostgreSQL', async () => {
    const started = Date.now();
    const { Id } = await client.send(new ExecuteStatementCommand({ Sql: 'SELECT pg_sleep(30)', Database: target.database, WorkgroupName: target.workgroupName }));
    await waitFor(async () => (await client.send(new DescribeStatementCommand({ Id }))).Status === 'STARTED', 10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await client.send(new CancelStatementCommand({ Id }))).toMatchObject({ Status: true });
    await waitFor(async () => (await client.send(new DescribeStatementCommand({ Id }))).Status === 'ABORTED', 10_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    const sleeping = await run("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'");
    expect(sleeping).toEqual([{ n: 0 }]);
    await expect(client.send(new CancelStatementCommand({ Id }))).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it("COPY from S3 applies Redshift's text rules: ESCAPE, NULL AS, EMPTYASNULL, FILLRECORD, TRUNCATECOLUMNS, ACCEPTINVCHARS", async () => {
    const lines = Buffer.concat([
      Buffer.from('tab\\\there\t1\tback\\\\slash\n'), // escaped tab; an escaped backslash
      Buffer.from('toolongvalue\t\tnew\\\nline\n'), // truncated to 5 bytes; empty INTEGER → NULL; escaped newline
      Buffer.from('ééé\t3\n'), // 6 bytes cut to 4 (a whole character); missing field filled
      Buffer.from('\\N\t4\t\n'), // \N is NULL; empty text → NULL (EMPTYASNULL)
      Buffer.from([0x62, 0xff, 0x09, 0x35, 0x09, 0x6f, 0x6b, 0x0a]), // invalid UTF-8 → ?
    ]);
    await rig.store.put('copytest/part-00000.tsv.gz', zlib.gzipSync(lines));
    await rig.store.put('copytest/part-00001.tsv.gz', zlib.gzipSync('last\t6\tno newline'));
    const role = rig.config.warehouse.redshift.iamRoleArn!;
    const copy = `COPY "public"."copy_t" ("a", "n", "b") FROM 's3://${rig.config.s3.bucket}/copytest/' IAM_ROLE '${role}' DELIMITER '\\t' ESCAPE GZIP ` +
      "EMPTYASNULL FILLRECORD TRUNCATECOLUMNS ACCEPTINVCHARS TIMEFORMAT 'auto' REGION 'us-east-1'";
    const d = await executeBatch(client, target, ['CREATE TABLE "public"."copy_t" ("a" VARCHAR(5) ENCODE ZSTD, "n" INTEGER, "b" VARCHAR(20))', copy], poll);
    expect(d.SubStatements![1].ResultRows).toBe(6);
    expect(await run('SELECT "a", "n", "b" FROM "public"."copy_t" ORDER BY "n"')).toEqual([
      { a: 'tab\th', n: 1, b: 'back\\slash' },
      { a: 'éé', n: 3, b: null },
      { a: null, n: 4, b: null },
      { a: 'b?', n: 5, b: 'ok' },
      { a: 'last', n: 6, b: 'no newline' },
      { a: 'toolo', n: null, b: 'new\nline' },
    ]);
    // Bad data fails the batch, named by object and line, and nothing of it stays.
    await rig.store.put('copybad/a/part-0.tsv.gz', zlib.gzipSync('x\t7\ty\n\textra\tfields\there\n'));
    await rig.store.put('copybad/b/part-0.tsv.gz', zlib.gzipSync('x\tnot-a-number\ty\n'));
    for (const [prefix, message] of [['copybad/a/', 'copybad/a/part-0.tsv.gz line 2: Extra column(s) found'], ['copybad/b/', 'invalid input syntax for type integer']]) {
      const bad = await executeBatch(client, target, ['INSERT INTO "public"."copy_t" ("n") VALUES (100)', copy.replace('/copytest/', `/${prefix}`), 'SELECT 1'], poll).catch((e) => e);
      expect(bad).toMatchObject({ status: 'FAILED', failedIndex: 1, message: expect.stringContaining(message) });
    }
    expect(await run('SELECT COUNT(*) AS n FROM "public"."copy_t"')).toEqual([{ n: 6 }]);
    // ZSTD parts (what the shred step writes where the runtime has zstd) read the same.
    if (typeof zlib.zstdCompressSync === 'function') {
      await rig.store.put('copyzstd/part-00000.tsv.zst', zlib.zstdCompressSync(lines));
      const zstd = await executeBatch(client, target, [copy.replace('/copytest/', '/copyzstd/').replace(' GZIP ', ' ZSTD ')], poll);
      expect(zstd.SubStatements![0].ResultRows).toBe(5);
      expect(await run('SELECT "a", "b" FROM "public"."copy_t" WHERE "n" = 1')).toEqual([{ a: 'tab\th', b: 'back\\slash' }, { a: 'tab\th', b: 'back\\slash' }]);
    }
    // A prefix with no objects fails the COPY, as on Redshift.
    const err = await executeStatement(client, target, copy.replace('/copytest/', '/nothing-here/'), undefined, poll).catch((e) => e);
    expect(err).toMatchObject({ status: 'FAILED', message: expect.stringContaining("prefix 'nothing-here/' does not exist") });
  });
});

// ---- the real loader ------------------------------------------------------------------------

const CLICK = 'iglu:com.acme/link_click/jsonschema/1-0-0';
const SCHEMAS: Record<string, object> = {
  [CLICK]: {
    self: { vendor: 'com.acme', name: 'link_click', format: 'jsonschema', version: '1-0-0' }, type: 'object', required: ['targetUrl'],
    properties: { targetUrl: { type: 'string', maxLength: 4096 }, elementId: { type: ['string', 'null'], maxLength: 255 }, tags: { type: 'array' } },
  },
};
const TRICKY = ['plain', 'tab\there', 'new\nline', 'back\\slash', "quote'single", 'dq"uote', 'ünïcödé', '😀 emoji', '\\N', '', 'semi;colon --', 'cr\rhere', '\\t literally'];

async function shredRun(runId: string, n: number): Promise<number> {
  const engine: BatchEngine = inProcessEngine(rig.store);
  let clicks = 0;
  const lines = Array.from({ length: n }, (_, i) => {
    const click = i % 2 === 0;
    if (click) clicks++;
    const e: EnrichedEvent = {
      app_id: 'shop', platform: 'web', collector_tstamp: formatTstamp(Date.UTC(2026, 3, 1) + i * 1000), event: click ? 'unstruct' : 'page_view',
      event_id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`, v_collector: 'c', v_etl: 'e', event_fingerprint: `f${i}`,
      page_title: TRICKY[i % TRICKY.length], user_id: TRICKY[(i + 3) % TRICKY.length] || undefined, br_cookies: i % 3 ? '1' : '0', domain_sessionidx: String(i),
      se_value: i % 4 ? String(i / 8) : undefined,
      unstruct_event: click ? JSON.stringify({
        schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0',
        data: { schema: CLICK, data: { targetUrl: `https://x/${TRICKY[(i + 5) % TRICKY.length]}/${i}`, elementId: i % 3 ? TRICKY[(i + 7) % TRICKY.length] : null, tags: [TRICKY[i % TRICKY.length]] } },
      }) : undefined,
    };
    return toEnrichedTsv(e);
  });
  await rig.store.put(`${runPrefix.enriched(runId)}part-00000.tsv`, `${lines.join('\n')}\n`);
  await runShred({ store: rig.store, engine, lookup: async (u) => SCHEMAS[u] }, { runId, inputPrefix: runPrefix.enriched(runId), buckets: 2, etlTstamp: Date.UTC(2026, 3, 1) });
  return clicks;
}

describe('the real Redshift loader through the local endpoint', () => {
  it('loads a real shredded run end to end, row for row as the PostgreSQL loader does; a second load is a no-op', async () => {
    const n = 120;
    const clicks = await shredRun('rl-1', n);
    const window = { from: Date.UTC(2026, 3, 1), to: Date.UTC(2026, 3, 2) };
    const loader = redshiftLoaderFromConfig(rig.config, rig.store);
    const result = await loader.loadRun({ runId: 'rl-1', window });
    expect(result).toMatchObject({ alreadyLoaded: false, loaded: n, tables: { events: n, com_acme_link_click_1: clicks } });
    expect(result.actions).toContainEqual({ kind: 'create', table: 'com_acme_link_click_1', schema: CLICK });

    expect(await run('SELECT COUNT(*) AS n FROM "atomic"."events"')).toEqual([{ n }]);
    expect(await run('SELECT COUNT(*) AS n FROM "atomic"."com_acme_link_click_1"')).toEqual([{ n: clicks }]);
    expect(await run('SELECT COUNT(*) AS n FROM "atomic"."events" WHERE "load_tstamp" IS NULL')).toEqual([{ n: 0 }]);
    expect(await run('SELECT "event_count" FROM "sluice"."load_manifest" WHERE "run_id" = :run_id', [{ name: 'run_id', value: 'rl-1' }])).toEqual([{ event_count: n }]);

    // The same run through the PostgreSQL loader (database `sluice`): every atomic value and every
    // shredded text value comes out the same through both paths.
    await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: 'rl-1', window });
    const cols = ATOMIC_COLUMNS.map((c) => `"${c}"`);
    const viaRedshift = await run(`SELECT ${cols.map((c) => `CAST(${c} AS VARCHAR(65535)) AS ${c}`).join(', ')} FROM "atomic"."events" ORDER BY "event_id"`);
    const viaPostgres = (await rig.pool.query(`SELECT ${cols.map((c) => `${c}::text AS ${c}`).join(', ')} FROM "atomic"."events" ORDER BY "event_id"`)).rows;
    expect(viaRedshift).toHaveLength(n);
    expect(viaRedshift).toEqual(viaPostgres);
    expect(viaRedshift.map((r) => r.page_title)).toContain('back\\slash');
    const shredCols = '"root_id", "root_tstamp", "target_url", "element_id"';
    const shreddedRs = await run(`SELECT ${shredCols.split(', ').map((c) => `CAST(${c} AS VARCHAR(65535)) AS ${c}`).join(', ')} FROM "atomic"."com_acme_link_click_1" ORDER BY "root_id"`);
    const shreddedPg = (await rig.pool.query(`SELECT ${shredCols.split(', ').map((c) => `${c}::text AS ${c}`).join(', ')} FROM "atomic"."com_acme_link_click_1" ORDER BY "root_id"`)).rows;
    expect(shreddedRs).toEqual(shreddedPg);
    expect(shreddedRs.map((r) => r.element_id)).toContain('tab\there');

    const again = await redshiftLoaderFromConfig(rig.config, rig.store).loadRun({ runId: 'rl-1', window });
    expect(again).toEqual({ loaded: n, alreadyLoaded: true, tables: {}, actions: [] });
    expect(await run('SELECT COUNT(*) AS n FROM "atomic"."events"')).toEqual([{ n }]);
  });
});
