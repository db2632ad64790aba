import type { RedshiftDataClient } from '@aws-sdk/client-redshift-data';
import type { ObjectStore } from '../adapters/object-store';
import type { Pool } from '../adapters/postgres';
import { gzipLines } from '../batch/run-files';
import { formatTstamp } from '../codecs/enriched-tsv';
import { redshiftBaseDdl, tableColumns } from '../warehouse/ddl';
import { planLoadPlacing } from '../warehouse/migration';
import { ddlOnce, executeBatch, executeStatement, fetchRows, RedshiftStatementError, type RedshiftTarget } from '../warehouse/redshift-data';
import { DRIPFEED_CHECKPOINT_SQL, DRIPFEED_GUARD_INDEX, dripfeedBatchSql, type DripfeedTypeCopy } from '../warehouse/redshift-dripfeed-sql';
import { assertCopySettings, copyOptions, readRedshiftTables } from '../warehouse/redshift-loader';
import { quoteLiteral } from '../warehouse/sql';
import { insertBadRows } from './bad-rows-sink';
import { badRowInputs, refuseSchemas, rowsByType } from './dripfeed-shred';
import { StaleCheckpointError } from './processor';
import type { DripCommit, DripfeedWarehouse } from './warehouse-dripfeed';

// The dripfeed into Redshift, over the Data API. Per micro-batch:
//  1. its bad rows into sluice.bad_rows on PostgreSQL (where every bad row is searched), keyed by
//     where they were read: a retried micro-batch stores nothing twice;
//  2. the catalog read and the tables planned by the batch's planner; VARCHAR widenings one by
//     one before the transaction (Redshift refuses them inside one), as the batch loader does;
//  3. the micro-batch's rows written to the object store as gzipped parts;
//  4. ONE BatchExecuteStatement (one transaction): LOCK the manifest (the warehouse write lock),
//     a guard on the shard's checkpoint in sluice.dripfeed_checkpoints (an overlapping or stale
//     attempt fails there and applies nothing), the DDL, COPY into temporary tables, INSERT of
//     the events the warehouse does not hold yet and of their shredded rows, the new checkpoint
//     (warehouse/redshift-dripfeed-sql.ts);
//  5. the parts deleted (a crash leaves them: retention sweeps `dripfeed/`).

export const DRIPFEED_PREFIX = 'dripfeed/';

export interface RedshiftDripfeedOptions {
  client: RedshiftDataClient;
  target: RedshiftTarget;
  store: ObjectStore;
  /** PostgreSQL, for the bad rows. */
  pool: Pool;
  iamRoleArn: string;
  region?: string;
  pollMs: number;
}

const safePath = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export function redshiftDripfeed(opts: RedshiftDripfeedOptions): DripfeedWarehouse {
  assertCopySettings(opts);
  const poll = { pollMs: opts.pollMs };
  const ensureBase = ddlOnce(opts.client, opts.target, redshiftBaseDdl, () => poll);
  const s3 = (prefix: string) => quoteLiteral(`s3://${opts.store.bucket}/${prefix}`);

  const checkpoint = async (stream: string, shardId: string): Promise<string | undefined> => {
    await ensureBase();
    const d = await executeStatement(opts.client, opts.target, DRIPFEED_CHECKPOINT_SQL, [{ name: 'stream', value: stream }, { name: 'shard_id', value: shardId }], poll);
    const rows = await fetchRows(opts.client, d.Id!);
    return rows.length ? String(rows[0].sequence_number) : undefined;
  };

  return {
    checkpoint,
    rewindUnsupported:
      'the Redshift dripfeed keeps its checkpoint in Redshift (sluice.dripfeed_checkpoints): a rewind would re-load nothing new anyway; reprocess the window to replace its rows',
    async commit({ stream, shardId, expected, next, shred }): Promise<DripCommit> {
      await ensureBase();
      const wanted = [...shred.models.values()];
      let ddl: string[] = [];
      let targets = new Map<string, string>();
      let actions: DripCommit['actions'] = [];
      let events = shred.events;
      if (wanted.length > 0) {
        const { plan, refused } = planLoadPlacing('redshift', await readRedshiftTables(opts.client, opts.target, poll), wanted);
        for (const sql of plan.beforeTransaction) await executeStatement(opts.client, opts.target, sql, undefined, poll);
        ({ targets, actions } = plan);
        ddl = plan.inTransaction;
        events = refuseSchemas(shred, refused);
      }
      if (shred.bad.length > 0) {
        await insertBadRows(opts.pool, stream, shardId, badRowInputs(shred.bad));
      }
      const folder = `${DRIPFEED_PREFIX}${safePath(stream)}/${safePath(shardId)}/${safePath(next)}/`;
      const written: string[] = [];
      const put = async (key: string, rows: string[]) => {
        await opts.store.put(key, gzipLines(rows));
        written.push(key);
      };
      let atomicFrom: string | undefined;
      const types: DripfeedTypeCopy[] = [];
      if (events.length > 0) {
        await put(`${folder}events/part-00000.tsv.gz`, events.map((e) => e.event.atomic));
        atomicFrom = `${s3(`${folder}events/`)} ${copyOptions(opts, true)}`;
        let i = 0;
        for (const [uri, rows] of rowsByType(events)) {
          const prefix = `${folder}types/${i++}/`;
          await put(`${prefix}part-00000.tsv.gz`, rows);
          types.push({
            table: targets.get(uri)!,
            columns: tableColumns(shred.models.get(uri)!.columns, 'redshift').map((c) => c.name),
            from: `${s3(prefix)} ${copyOptions(opts, false)}`,
          });
        }
      }
      const stamps = events.map((e) => e.event.tstampMs);
      const tstamps = events.length ? { min: formatTstamp(Math.min(...stamps)), max: formatTstamp(Math.max(...stamps)) } : undefined;
      const { sqls, insertIndex } = dripfeedBatchSql({ stream, shardId, expected, next, ddl: atomicFrom ? ddl : [], atomicFrom, types, tstamps });
      let inserted = 0;
      try {
        const d = await executeBatch(opts.client, opts.target, sqls, poll);
        if (insertIndex >= 0) inserted = Math.max(0, d.SubStatements?.[insertIndex]?.ResultRows ?? 0);
      } catch (err) {
        if (err instanceof RedshiftStatementError && err.failedIndex === DRIPFEED_GUARD_INDEX) {
          const committed = await checkpoint(stream, shardId).catch(() => undefined);
          throw new StaleCheckpointError(`dripfeed checkpoint of ${shardId} moved to ${committed ?? 'none'} (expected ${expected ?? 'none'})`);
        }
        throw err;
      } finally {
        await Promise.all(written.map((k) => opts.store.delete(k).catch(() => undefined)));
      }
      return { inserted, alreadyLoaded: events.length - inserted, bad: shred.bad.length, actions };
    },
  };
}
