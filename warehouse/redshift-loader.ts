import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import type { ObjectStore } from '../adapters/object-store';
import { formatTstamp } from '../codecs/enriched-tsv';
import type { SluiceConfig } from '../config';
import { assertRunId } from '../batch/layout';
import { partCompression } from '../batch/run-files';
import { ATOMIC_COLUMNS } from './atomic-events';
import { CATALOG_SCHEMA, catalogSql, shreddedTableNames, tablesFromCatalog, type CatalogRow } from './catalog';
import { ATOMIC_SCHEMA, redshiftBaseDdl, tableColumns } from './ddl';
import { readRunOutputs, type LoadProgress, type LoadRequest, type LoadResult, type WarehouseLoader } from './loader';
import { planLoad, type TableState } from './migration';
import {
  ddlOnce, executeBatch, executeStatement, fetchRows, makeRedshiftDataClient, type PollOptions, type RedshiftTarget, redshiftTarget,
  RedshiftStatementError,
} from './redshift-data';
import { qualified, quoteIdent, quoteLiteral } from './sql';

// The Redshift loader, over the Data API. Per run:
//  1. base tables (atomic.events, sluice.load_manifest) created if missing (once per loader);
//  2. the manifest checked: a loaded run is a no-op;
//  3. the catalog read (table comments and columns) and the DDL planned (warehouse/migration.ts);
//  4. VARCHAR widenings run one by one (Redshift refuses ALTER COLUMN TYPE in a transaction);
//  5. one BatchExecuteStatement — a single transaction — holding: LOCK on the manifest (the
//     warehouse write lock, docs/warehouse.md), a guard that fails the batch if the run was
//     loaded meanwhile, the CREATE/ADD COLUMN/COMMENT DDL, the deletes of the rows already there
//     for the run's events (the batch wins), a COPY from S3 per table (IAM role), and the
//     manifest row.
// Every statement is polled until FINISHED/FAILED/ABORTED, with progress reported on each poll.

const MANIFEST = qualified('sluice', 'load_manifest');
const IAM_ROLE = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export interface RedshiftLoaderOptions {
  client: RedshiftDataClient;
  target: RedshiftTarget;
  store: ObjectStore;
  iamRoleArn: string;
  /** Region of the bucket, for COPY's REGION option. */
  region?: string;
  pollMs: number;
  signal?: AbortSignal;
}

/** Index of the guard statement in the load batch (after the LOCK). */
const GUARD_INDEX = 1;

export type CopyCompression = 'GZIP' | 'ZSTD';

/**
 * COPY's compression option for the parts under one prefix, from their names (the shred step
 * writes zstd or gzip, batch/run-files.ts). One COPY reads a whole prefix with one option, so
 * parts of both kinds there are refused.
 */
export function copyCompression(keys: readonly string[]): CopyCompression {
  const kinds = new Set(keys.map(partCompression));
  if (kinds.size !== 1 || kinds.has('none')) throw new Error(`parts under one COPY prefix must all be gzip or all zstd: ${keys.slice(0, 5).join(', ')}`);
  return kinds.has('zstd') ? 'ZSTD' : 'GZIP';
}

/** COPY's options for compressed text parts (atomic: atomic.events rows). */
export function copyOptions(opts: Pick<RedshiftLoaderOptions, 'iamRoleArn' | 'region'>, atomic: boolean, compression: CopyCompression = 'GZIP'): string {
  // DELIMITER '\t' and NULL AS '\\N' are fixed text: Redshift reads backslash escapes there.
  const parts = [`IAM_ROLE ${quoteLiteral(opts.iamRoleArn)}`, "DELIMITER '\\t'", 'ESCAPE', compression];
  parts.push(atomic ? 'EMPTYASNULL FILLRECORD' : "NULL AS '\\\\N'");
  parts.push('TRUNCATECOLUMNS', 'ACCEPTINVCHARS', "TIMEFORMAT 'auto'");
  if (opts.region) parts.push(`REGION ${quoteLiteral(opts.region)}`);
  return parts.join(' ');
}

const LOAD_KEYS = quoteIdent('sluice_load_keys');

/**
 * The statements that delete, inside the load's transaction, every row already in the warehouse
 * for the run's events: the key parts COPYed into a temporary table, then DELETE … USING it on
 * atomic.events (event_id, collector_tstamp) and each shredded table (root_id, root_tstamp).
 */
export function replaceKeysSql(shreddedTables: readonly string[], copyKeys: string): string[] {
  const events = qualified(ATOMIC_SCHEMA, 'events');
  const sqls = [
    `DROP TABLE IF EXISTS ${LOAD_KEYS}`,
    `CREATE TEMPORARY TABLE ${LOAD_KEYS} (${quoteIdent('event_id')} CHAR(36) NOT NULL, ${quoteIdent('collector_tstamp')} TIMESTAMP NOT NULL)`,
    copyKeys,
    `DELETE FROM ${events} USING ${LOAD_KEYS} WHERE ${events}.${quoteIdent('event_id')} = ${LOAD_KEYS}.${quoteIdent('event_id')} AND ${events}.${quoteIdent('collector_tstamp')} = ${LOAD_KEYS}.${quoteIdent('collector_tstamp')}`,
  ];
  for (const t of shreddedTables) {
    const table = qualified(ATOMIC_SCHEMA, t);
    sqls.push(`DELETE FROM ${table} USING ${LOAD_KEYS} WHERE ${table}.${quoteIdent('root_id')} = ${LOAD_KEYS}.${quoteIdent('event_id')} AND ${table}.${quoteIdent('root_tstamp')} = ${LOAD_KEYS}.${quoteIdent('collector_tstamp')}`);
  }
  sqls.push(`DROP TABLE ${LOAD_KEYS}`);
  return sqls;
}

/** The atomic schema's tables as Redshift's catalog describes them now. */
export async function readRedshiftTables(client: RedshiftDataClient, target: RedshiftTarget, poll: PollOptions): Promise<Map<string, TableState>> {
  const cat = await executeStatement(client, target, catalogSql('redshift'), [{ name: 'schema', value: CATALOG_SCHEMA }], poll);
  return tablesFromCatalog((await fetchRows(client, cat.Id!)) as unknown as CatalogRow[]);
}

const tstampLiteral = (ms: number | undefined) => (ms === undefined ? 'NULL' : quoteLiteral(formatTstamp(ms)));

/** What COPY's text is made of must be what it claims (they are quoted, and also checked). */
export function assertCopySettings(opts: Pick<RedshiftLoaderOptions, 'iamRoleArn' | 'region' | 'store'>): void {
  if (!IAM_ROLE.test(opts.iamRoleArn)) throw new Error(`warehouse.redshift.iamRoleArn is not an IAM role ARN: ${JSON.stringify(opts.iamRoleArn)}`);
  if (!BUCKET.test(opts.store.bucket)) throw new Error(`bucket name ${JSON.stringify(opts.store.bucket)} cannot be used in COPY`);
  if (opts.region !== undefined && !REGION.test(opts.region)) throw new Error(`region ${JSON.stringify(opts.region)} is not an AWS region`);
}

export function redshiftLoader(opts: RedshiftLoaderOptions): WarehouseLoader {
  assertCopySettings(opts);
  const poll = { pollMs: opts.pollMs, signal: opts.signal };
  const s3 = (prefix: string) => quoteLiteral(`s3://${opts.store.bucket}/${prefix}`);
  const ensureBase = ddlOnce(opts.client, opts.target, redshiftBaseDdl, () => poll);

  const manifestCount = async (runId: string): Promise<number | undefined> => {
    const d = await executeStatement(
      opts.client, opts.target,
      `SELECT ${quoteIdent('event_count')} FROM ${MANIFEST} WHERE ${quoteIdent('run_id')} = :run_id`,
      [{ name: 'run_id', value: runId }], poll,
    );
    const rows = await fetchRows(opts.client, d.Id!);
    return rows.length ? Number(rows[0].event_count) : undefined;
  };

  return {
    dialect: 'redshift',
    async loadRun(req: LoadRequest, onProgress: LoadProgress = () => undefined): Promise<LoadResult> {
      const runId = assertRunId(req.runId);
      await ensureBase();
      const already = await manifestCount(runId);
      if (already !== undefined) return { loaded: already, alreadyLoaded: true, tables: {}, actions: [] };

      const outputs = await readRunOutputs(opts.store, runId);
      if (outputs.expectedAtomic === undefined) throw new Error(`run ${runId} has no shred counts (shredded by shred-map/shred-reduce?): cannot record its manifest row`);
      const existing = await readRedshiftTables(opts.client, opts.target, poll);
      const plan = planLoad('redshift', existing, outputs.types.map((t) => t.model));
      for (const sql of plan.beforeTransaction) await executeStatement(opts.client, opts.target, sql, undefined, poll);

      const sqls: string[] = [
        `LOCK ${MANIFEST}`,
        // Fails the whole batch (division by zero) when another attempt loaded the run meanwhile.
        `SELECT 1 / (CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END) FROM ${MANIFEST} WHERE ${quoteIdent('run_id')} = ${quoteLiteral(runId)}`,
      ];
      const shreddedTables = shreddedTableNames(existing);
      if (req.replaceWindow) {
        if (req.window.from === undefined || req.window.to === undefined) throw new Error('replacing a window needs both from and to');
        const range = (col: string) => `${quoteIdent(col)} >= ${tstampLiteral(req.window.from)} AND ${quoteIdent(col)} < ${tstampLiteral(req.window.to)}`;
        sqls.push(`DELETE FROM ${qualified(ATOMIC_SCHEMA, 'events')} WHERE ${range('collector_tstamp')}`);
        for (const t of shreddedTables) sqls.push(`DELETE FROM ${qualified(ATOMIC_SCHEMA, t)} WHERE ${range('root_tstamp')}`);
      }
      sqls.push(...plan.inTransaction);
      // The batch wins, per event (docs/warehouse.md): rows already there for the run's events go first.
      if (outputs.keyParts.length) sqls.push(...replaceKeysSql(shreddedTables, `COPY ${LOAD_KEYS} (${quoteIdent('event_id')}, ${quoteIdent('collector_tstamp')}) FROM ${s3(outputs.keysPrefix)} ${copyOptions(opts, false, copyCompression(outputs.keyParts))}`));
      const copies: { table: string; index: number; expected?: number }[] = [];
      if (outputs.atomicKeys.length) {
        copies.push({ table: 'events', index: sqls.length, expected: outputs.expectedAtomic });
        sqls.push(`COPY ${qualified(ATOMIC_SCHEMA, 'events')} (${ATOMIC_COLUMNS.map(quoteIdent).join(', ')}) FROM ${s3(outputs.atomicPrefix)} ${copyOptions(opts, true, copyCompression(outputs.atomicKeys))}`);
      }
      for (const t of outputs.types) {
        const table = plan.targets.get(t.uri)!;
        const cols = tableColumns(t.model.columns, 'redshift').map((c) => quoteIdent(c.name)).join(', ');
        copies.push({ table, index: sqls.length, expected: t.expected });
        sqls.push(`COPY ${qualified(ATOMIC_SCHEMA, table)} (${cols}) FROM ${s3(t.prefix)} ${copyOptions(opts, false, copyCompression(t.keys))}`);
      }
      sqls.push(
        `INSERT INTO ${MANIFEST} (${['run_id', 'event_count', 'window_from', 'window_to'].map(quoteIdent).join(', ')}) VALUES (${quoteLiteral(runId)}, ${outputs.expectedAtomic}, ${tstampLiteral(req.window.from)}, ${tstampLiteral(req.window.to)})`,
      );

      let described;
      try {
        described = await executeBatch(opts.client, opts.target, sqls, {
          ...poll,
          onPoll: (d) => {
            const subs = d.SubStatements ?? [];
            onProgress(subs.filter((s) => s.Status === 'FINISHED').length, subs.length || sqls.length);
          },
        });
      } catch (err) {
        if (err instanceof RedshiftStatementError && err.failedIndex === GUARD_INDEX) {
          const count = await manifestCount(runId);
          if (count !== undefined) return { loaded: count, alreadyLoaded: true, tables: {}, actions: [] };
        }
        throw err;
      }
      const tables: Record<string, number> = {};
      for (const c of copies) {
        const reported = described.SubStatements?.[c.index]?.ResultRows;
        tables[c.table] = (tables[c.table] ?? 0) + (reported !== undefined && reported >= 0 ? reported : (c.expected ?? 0));
      }
      return { loaded: tables.events ?? 0, alreadyLoaded: false, tables, actions: plan.actions };
    },
  };
}

/** The Redshift loader wired from config (warehouse.kind = redshift). */
export function redshiftLoaderFromConfig(config: SluiceConfig, store: ObjectStore, signal?: AbortSignal): WarehouseLoader {
  const r = config.warehouse.redshift;
  if (!r.iamRoleArn) throw new Error('warehouse.redshift.iamRoleArn (SLUICE_WAREHOUSE__REDSHIFT__IAM_ROLE_ARN) is required to COPY from S3');
  return redshiftLoader({
    client: makeRedshiftDataClient(config),
    target: redshiftTarget(config),
    store,
    iamRoleArn: r.iamRoleArn,
    region: config.region,
    pollMs: r.pollMs,
    signal,
  });
}
