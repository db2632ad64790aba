import type { SqlParameter } from '@aws-sdk/client-redshift-data';
import { formatTstamp } from '../codecs/enriched-tsv';
import { ATOMIC_SCHEMA } from '../warehouse/ddl';
import { qualified, quoteIdent, quoteLiteral } from '../warehouse/sql';
import { EVENT_NAME, SESSION_KEY, USER_KEY, viewRanges } from './batch-views';
import type { EventCountFilter } from './batch-views-store';
import type { Metric } from './definitions';

// The batch views' statements in Redshift SQL (pure; views/batch-views-redshift.ts runs them). The
// view definitions are the same expressions as views/batch-views.ts, so both warehouses count alike.
//
// Redshift SQL only: no GROUPING SETS or FILTER (WHERE …) (the PostgreSQL recompute's single scan),
// no ON CONFLICT (upsert = DELETE + INSERT under a LOCK), no `::` casts (the Data API reads `:name`
// as a parameter), no CHECK constraints. atomic.events is columnar and sorted by collector_tstamp in
// Redshift, so a plain GROUP BY per grain reads only the five view columns of the window's blocks.
//
// BatchExecuteStatement takes no parameters, so the recompute's values are literals: the run id
// (assertRunId's alphabet) and timestamps formatted from numbers, through quoteLiteral. Serving
// reads are single statements and bind every value as a `:name` parameter.

export const VIEW_EVENTS = qualified('sluice', 'batch_view_events');
export const VIEW_UNIQUES = qualified('sluice', 'batch_view_uniques');
export const WATERMARK = qualified('sluice', 'batch_watermark');
const EVENTS = qualified(ATOMIC_SCHEMA, 'events');
const q = quoteIdent;

const tstamp = (ms: number) => `CAST(${quoteLiteral(formatTstamp(ms))} AS TIMESTAMP)`;

/** Redshift DDL for the batch views and the watermark (idempotent; beside redshiftBaseDdl). */
export function redshiftViewsDdl(): string[] {
  const grainBucket = `  ${q('grain')} VARCHAR(8) NOT NULL,\n  ${q('bucket')} TIMESTAMP NOT NULL`;
  // Small tables read by every dashboard query: a copy on every node, sorted for the range scans.
  const layout = `DISTSTYLE ALL\nSORTKEY (${q('grain')}, ${q('bucket')})`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${q('sluice')}`,
    `CREATE TABLE IF NOT EXISTS ${VIEW_EVENTS} (
${grainBucket},
  ${q('event_name')} VARCHAR(1000) NOT NULL,
  ${q('events')} BIGINT NOT NULL,
  ${q('run_id')} VARCHAR(128) NOT NULL,
  PRIMARY KEY (${q('grain')}, ${q('bucket')}, ${q('event_name')})
)
${layout}`,
    `CREATE TABLE IF NOT EXISTS ${VIEW_UNIQUES} (
${grainBucket},
  ${q('users')} BIGINT NOT NULL,
  ${q('sessions')} BIGINT NOT NULL,
  ${q('run_id')} VARCHAR(128) NOT NULL,
  PRIMARY KEY (${q('grain')}, ${q('bucket')})
)
${layout}`,
    // One row (id 1); Redshift does not enforce the key, the recompute's LOCK keeps it single.
    `CREATE TABLE IF NOT EXISTS ${WATERMARK} (
  ${q('id')} SMALLINT NOT NULL,
  ${q('watermark')} TIMESTAMP NOT NULL,
  ${q('run_id')} VARCHAR(128) NOT NULL,
  ${q('updated_at')} TIMESTAMP DEFAULT GETDATE(),
  PRIMARY KEY (${q('id')})
)
DISTSTYLE ALL`,
  ];
}

export interface RecomputeRequest {
  runId: string;
  /** Recompute the buckets overlapping [from, to] (omitted: nothing loaded, views untouched). */
  window?: { from: number; to: number };
  /** nextWatermark(null, completeThrough, lateness): the watermark moves here unless it is past it already. */
  candidate: number | null;
}

export interface RecomputeBatch {
  sqls: string[];
  /** Indexes of the INSERTs of view rows (their ResultRows add up to the rows written). */
  insertIndexes: number[];
}

/**
 * One transaction (one BatchExecuteStatement): LOCK the watermark (serializes view steps), per
 * grain DELETE the window's buckets and INSERT … SELECT them again from atomic.events, then move
 * the watermark forward only (DELETE the row if it is behind, INSERT if none is left).
 */
export function recomputeBatchSql(req: RecomputeRequest): RecomputeBatch {
  const run = quoteLiteral(req.runId);
  const sqls = [`LOCK ${WATERMARK}`];
  const insertIndexes: number[] = [];
  for (const r of req.window ? viewRanges(req.window) : []) {
    const grain = quoteLiteral(r.grain);
    const buckets = `${q('grain')} = ${grain} AND ${q('bucket')} >= ${tstamp(r.from)} AND ${q('bucket')} < ${tstamp(r.to)}`;
    const source = `FROM ${EVENTS} WHERE ${q('collector_tstamp')} >= ${tstamp(r.from)} AND ${q('collector_tstamp')} < ${tstamp(r.to)}`;
    const bucket = `DATE_TRUNC(${grain}, ${q('collector_tstamp')})`;
    sqls.push(`DELETE FROM ${VIEW_EVENTS} WHERE ${buckets}`, `DELETE FROM ${VIEW_UNIQUES} WHERE ${buckets}`);
    insertIndexes.push(sqls.length);
    sqls.push(
      `INSERT INTO ${VIEW_EVENTS} (${['grain', 'bucket', 'event_name', 'events', 'run_id'].map(q).join(', ')})
SELECT ${grain}, ${bucket}, ${EVENT_NAME}, COUNT(*), ${run} ${source} GROUP BY 2, 3`,
    );
    // Every bucket with events gets a row; COUNT(DISTINCT) skips NULL keys, so members may be 0.
    insertIndexes.push(sqls.length);
    sqls.push(
      `INSERT INTO ${VIEW_UNIQUES} (${['grain', 'bucket', 'users', 'sessions', 'run_id'].map(q).join(', ')})
SELECT ${grain}, ${bucket}, COUNT(DISTINCT ${USER_KEY}), COUNT(DISTINCT ${SESSION_KEY}), ${run} ${source} GROUP BY 2`,
    );
  }
  if (req.candidate !== null) {
    const at = tstamp(req.candidate);
    sqls.push(
      `DELETE FROM ${WATERMARK} WHERE ${q('id')} = 1 AND ${q('watermark')} < ${at}`,
      `INSERT INTO ${WATERMARK} (${['id', 'watermark', 'run_id'].map(q).join(', ')})
SELECT 1, ${at}, ${run} FROM (SELECT COUNT(*) AS ${q('n')} FROM ${WATERMARK} WHERE ${q('id')} = 1) AS ${q('existing')} WHERE ${q('existing')}.${q('n')} = 0`,
    );
  }
  return { sqls, insertIndexes };
}

export const WATERMARK_SQL = `SELECT ${q('watermark')} FROM ${WATERMARK} WHERE ${q('id')} = 1`;

/**
 * One metric's batch values (parameters :grain, :from, :to) and, as a row of its own, the
 * watermark: one statement, so values and watermark come from the same snapshot of the warehouse.
 * Columns: row ('watermark' | 'value'), bucket, key, value.
 */
export function batchValuesSqlRedshift(metric: Metric, byEvent: boolean): string {
  const range = `${q('grain')} = :grain AND ${q('bucket')} >= CAST(:from AS TIMESTAMP) AND ${q('bucket')} < CAST(:to AS TIMESTAMP)`;
  let values: string;
  if (metric === 'events' || metric === 'page_views') {
    const only = metric === 'page_views' ? ` AND ${q('event_name')} = 'page_view'` : '';
    const key = byEvent ? q('event_name') : `CAST('' AS VARCHAR(1000))`;
    const group = byEvent ? `${q('bucket')}, ${q('event_name')}` : q('bucket');
    values = `SELECT 'value' AS ${q('row')}, ${q('bucket')}, ${key} AS ${q('key')}, SUM(${q('events')}) AS ${q('value')} FROM ${VIEW_EVENTS} WHERE ${range}${only} GROUP BY ${group}`;
  } else {
    const column = q(metric === 'unique_users' ? 'users' : 'sessions');
    values = `SELECT 'value' AS ${q('row')}, ${q('bucket')}, CAST('' AS VARCHAR(1000)) AS ${q('key')}, ${column} AS ${q('value')} FROM ${VIEW_UNIQUES} WHERE ${range}`;
  }
  const watermark = `SELECT 'watermark' AS ${q('row')}, ${q('watermark')} AS ${q('bucket')}, CAST('' AS VARCHAR(1000)) AS ${q('key')}, CAST(0 AS BIGINT) AS ${q('value')} FROM ${WATERMARK} WHERE ${q('id')} = 1`;
  return `${watermark}\nUNION ALL\n${values}`;
}

export function batchValuesParameters(grain: string, range: { from: number; to: number }): SqlParameter[] {
  return [
    { name: 'grain', value: grain },
    { name: 'from', value: formatTstamp(range.from) },
    { name: 'to', value: formatTstamp(range.to) },
  ];
}

/** COUNT(*) of atomic.events under the filter, every value a `:name` parameter. */
export function countEventsSqlRedshift(filter: EventCountFilter): { sql: string; parameters: SqlParameter[] } {
  const conds: string[] = [];
  const parameters: SqlParameter[] = [];
  if (filter.appId !== undefined) {
    conds.push(`${q('app_id')} = :app_id`);
    parameters.push({ name: 'app_id', value: filter.appId });
  }
  if (filter.from !== undefined) {
    conds.push(`${q('collector_tstamp')} >= CAST(:from AS TIMESTAMP)`);
    parameters.push({ name: 'from', value: formatTstamp(filter.from) });
  }
  if (filter.to !== undefined) {
    conds.push(`${q('collector_tstamp')} < CAST(:to AS TIMESTAMP)`);
    parameters.push({ name: 'to', value: formatTstamp(filter.to) });
  }
  const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
  return { sql: `SELECT COUNT(*) AS ${q('n')} FROM ${EVENTS}${where}`, parameters };
}
