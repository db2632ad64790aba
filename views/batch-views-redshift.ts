import type { RedshiftDataClient, SqlParameter } from '@aws-sdk/client-redshift-data';
import { inTransaction, type Pool } from '../adapters/postgres';
import { parseTstamp } from '../codecs/enriched-tsv';
import type { SluiceConfig } from '../config';
import type { Logger } from '../observability/logger';
import { retireRealtimeRows } from '../speed/realtime-views';
import { redshiftBaseDdl } from '../warehouse/ddl';
import { ddlOnce, executeBatch, executeStatement, fetchRows, makeRedshiftDataClient, redshiftTarget, type RedshiftTarget } from '../warehouse/redshift-data';
import type { BatchViewsStore } from './batch-views-store';
import {
  batchValuesParameters, batchValuesSqlRedshift, countEventsSqlRedshift, recomputeBatchSql, redshiftViewsDdl, WATERMARK_SQL,
} from './batch-views-redshift-sql';
import type { ViewValue } from './definitions';
import { nextWatermark } from './minute-counts';

// The batch views in Redshift (warehouse.kind = redshift), through the Data API. atomic.events, the
// batch views and the watermark are in Redshift; the realtime views stay in PostgreSQL (the speed
// layer commits them with its checkpoints). So one run's views step is two transactions:
//   1. Redshift, one BatchExecuteStatement: recompute the window's buckets, move the watermark;
//   2. PostgreSQL, after 1 committed: retire the realtime rows below the watermark read back.
// Retiring only after the commit keeps every merged answer whole: before 2, a bucket below the new
// watermark is answered from the batch views (mergeViews takes batch ≤ watermark and realtime after
// it), so its realtime rows are still there but ignored. A crash between 1 and 2 leaves exactly
// that state, and the next run's step (or a retried attempt) retires them: step 2 runs whenever a
// watermark exists, not only when it moved. Retiring first could lose a bucket's realtime rows
// while the old watermark still sends it to realtime.

export interface RedshiftViewsOptions {
  client: RedshiftDataClient;
  target: RedshiftTarget;
  pollMs: number;
  /** The sluice PostgreSQL, where the realtime views live. */
  pool: Pool;
  log: Logger;
  /** close() destroys the client (when the store made it). */
  ownsClient?: boolean;
}

/** A TIMESTAMP as the Data API returns it ('2026-01-01 12:00:00', UTC) to epoch ms. */
export function redshiftTime(v: unknown): number {
  if (typeof v === 'number') return v;
  const s = String(v);
  try {
    return parseTstamp(s);
  } catch {
    const t = Date.parse(s);
    if (Number.isNaN(t)) throw new RangeError(`not a Redshift timestamp: ${JSON.stringify(s.slice(0, 64))}`);
    return t;
  }
}

export function redshiftBatchViewsStore(opts: RedshiftViewsOptions): BatchViewsStore {
  const { client, target, pool, log } = opts;
  const poll = (signal?: AbortSignal) => ({ pollMs: opts.pollMs, signal });
  // Serving reads are small and a person waits on them: poll those at most every 100 ms.
  const readPoll = (signal?: AbortSignal) => ({ pollMs: Math.min(opts.pollMs, 100), signal });
  // Tables created if missing, once per store (again after a failed attempt). atomic.events too:
  // the serving API may start before the first load.
  const ensureTables = ddlOnce(client, target, () => [...redshiftBaseDdl(), ...redshiftViewsDdl()], poll);

  // Reads try the DDL once and go on without it: a read-only serving user cannot create tables, and
  // the workers' views step creates them anyway (a read before that fails, and the next one works).
  let readable: Promise<void> | undefined;
  const query = async (sql: string, parameters?: SqlParameter[], signal?: AbortSignal) => {
    readable ??= ensureTables().catch((err: Error) => log.warn({ err: err.message }, 'could not create the batch view tables in Redshift; reading them as they are'));
    await readable;
    const d = await executeStatement(client, target, sql, parameters, readPoll(signal));
    return fetchRows(client, d.Id!);
  };

  const readWatermark = async (signal?: AbortSignal): Promise<number | null> => {
    const rows = await query(WATERMARK_SQL, undefined, signal);
    return rows.length ? redshiftTime(rows[0].watermark) : null;
  };

  return {
    warehouse: 'redshift',

    async computeViews({ runId, window, completeThroughMs, latenessMs }, { signal } = {}) {
      await ensureTables();
      const batch = recomputeBatchSql({
        runId,
        window: window.from !== undefined && window.to !== undefined ? { from: window.from, to: window.to } : undefined,
        // Forward only, in SQL under the LOCK: the same as nextWatermark(previous, …).
        candidate: nextWatermark(null, completeThroughMs, latenessMs),
      });
      const described = await executeBatch(client, target, batch.sqls, poll(signal));
      const rows = batch.insertIndexes.reduce((n, i) => n + Math.max(0, described.SubStatements?.[i]?.ResultRows ?? 0), 0);
      const watermark = await readWatermark(signal);
      let retired = 0;
      if (watermark !== null) retired = await inTransaction(pool, (c) => retireRealtimeRows(c, watermark));
      log.info({ runId, watermark: watermark === null ? null : new Date(watermark).toISOString(), rows, retired }, 'batch views recomputed in Redshift');
      return { watermark, rows };
    },

    readWatermark: () => readWatermark(),

    async readBatch(metric, grain, range, byEvent) {
      const rows = await query(batchValuesSqlRedshift(metric, byEvent), batchValuesParameters(grain, range));
      let watermark: number | null = null;
      const values: ViewValue[] = [];
      for (const r of rows) {
        if (r.row === 'watermark') watermark = redshiftTime(r.bucket);
        else values.push({ bucket: redshiftTime(r.bucket), key: String(r.key ?? ''), value: Number(r.value) });
      }
      return { watermark, values };
    },

    async countEvents(filter) {
      const { sql, parameters } = countEventsSqlRedshift(filter);
      const rows = await query(sql, parameters);
      return Number(rows[0]?.n ?? 0);
    },

    async close() {
      if (opts.ownsClient) client.destroy();
    },
  };
}

export function redshiftBatchViewsStoreFromConfig(config: SluiceConfig, pool: Pool, log: Logger): BatchViewsStore {
  // mode=local: config/index.ts points endpoint, workgroup and credentials at the local endpoint.
  return redshiftBatchViewsStore({ client: makeRedshiftDataClient(config), target: redshiftTarget(config), pollMs: config.warehouse.redshift.pollMs, pool, log, ownsClient: true });
}
