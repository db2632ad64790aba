import { ATOMIC_COLUMNS } from './atomic-events';
import { ATOMIC_SCHEMA } from './ddl';
import { qualified, quoteIdent, quoteLiteral } from './sql';

// The statements of one dripfeed micro-batch on Redshift, run as ONE BatchExecuteStatement (one
// transaction; docs/warehouse.md, "Dripfeed and batch"):
//   LOCK the manifest (the warehouse write lock, first as in every writer)
//   guard: the shard's checkpoint in sluice.dripfeed_checkpoints is still the expected one (a stale
//          or overlapping attempt fails here, division by zero, and applies nothing)
//   the DDL the planner wants for the micro-batch's schemas (same planner as the batch load)
//   COPY the micro-batch's atomic rows into a temporary table; keep the keys the warehouse does not
//   hold yet; insert those events, then each shredded type's rows for those events only
//   move the checkpoint
// Pure: the caller writes the files, runs the batch and reads ResultRows.

export const DRIPFEED_CHECKPOINTS = qualified('sluice', 'dripfeed_checkpoints');
const MANIFEST = qualified('sluice', 'load_manifest');
const STAGE_EVENTS = quoteIdent('sluice_drip_events');
const FRESH = quoteIdent('sluice_drip_fresh');
const stageOf = (i: number) => quoteIdent(`sluice_drip_type_${i}`);

export interface DripfeedTypeCopy {
  /** Target table in the atomic schema (from the plan). */
  table: string;
  /** Column names in the files' order. */
  columns: string[];
  /** COPY source and options, e.g. `'s3://…/vendor=…/' IAM_ROLE … GZIP …`. */
  from: string;
}

export interface DripfeedBatch {
  stream: string;
  shardId: string;
  /** The checkpoint the records follow (undefined: none yet). */
  expected?: string;
  next: string;
  /** DDL inside the transaction (plan.inTransaction). */
  ddl: string[];
  /** COPY source and options of the atomic rows (undefined: no events, only the checkpoint moves). */
  atomicFrom?: string;
  /** The micro-batch's collector_tstamp range (enriched-TSV timestamps): bounds the presence check to the blocks the sort key says can match. */
  tstamps?: { min: string; max: string };
  types: DripfeedTypeCopy[];
}

/** Index of the guard statement (its failure means the checkpoint moved). */
export const DRIPFEED_GUARD_INDEX = 1;

export function dripfeedBatchSql(b: DripfeedBatch): { sqls: string[]; insertIndex: number } {
  const where = `${quoteIdent('stream')} = ${quoteLiteral(b.stream)} AND ${quoteIdent('shard_id')} = ${quoteLiteral(b.shardId)}`;
  const guard =
    b.expected === undefined
      ? `SELECT 1 / (CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END) FROM ${DRIPFEED_CHECKPOINTS} WHERE ${where}`
      : `SELECT 1 / (CASE WHEN COUNT(*) = 1 THEN 1 ELSE 0 END) FROM ${DRIPFEED_CHECKPOINTS} WHERE ${where} AND ${quoteIdent('sequence_number')} = ${quoteLiteral(b.expected)}`;
  const events = qualified(ATOMIC_SCHEMA, 'events');
  const cols = ATOMIC_COLUMNS.map(quoteIdent);
  const id = quoteIdent('event_id');
  const ts = quoteIdent('collector_tstamp');
  const checkpoint = [
    `DELETE FROM ${DRIPFEED_CHECKPOINTS} WHERE ${where}`,
    `INSERT INTO ${DRIPFEED_CHECKPOINTS} (${['stream', 'shard_id', 'sequence_number'].map(quoteIdent).join(', ')}) VALUES (${quoteLiteral(b.stream)}, ${quoteLiteral(b.shardId)}, ${quoteLiteral(b.next)})`,
  ];
  if (b.atomicFrom === undefined) return { sqls: [`LOCK ${MANIFEST}`, guard, ...checkpoint], insertIndex: -1 };
  const sqls = [
    `LOCK ${MANIFEST}`,
    guard,
    ...b.ddl,
    `DROP TABLE IF EXISTS ${STAGE_EVENTS}`,
    `CREATE TEMPORARY TABLE ${STAGE_EVENTS} (LIKE ${events})`,
    `COPY ${STAGE_EVENTS} (${cols.join(', ')}) FROM ${b.atomicFrom}`,
    `DROP TABLE IF EXISTS ${FRESH}`,
    // The events the warehouse does not hold yet (the batch may have loaded some: it wins).
    `CREATE TEMPORARY TABLE ${FRESH} AS SELECT s.${id}, s.${ts} FROM ${STAGE_EVENTS} s LEFT JOIN ${events} e ON e.${id} = s.${id} AND e.${ts} = s.${ts}${
      b.tstamps ? ` AND e.${ts} BETWEEN ${quoteLiteral(b.tstamps.min)} AND ${quoteLiteral(b.tstamps.max)}` : ''
    } WHERE e.${id} IS NULL`,
  ];
  const insertIndex = sqls.length;
  sqls.push(`INSERT INTO ${events} (${cols.join(', ')}) SELECT ${cols.map((c) => `s.${c}`).join(', ')} FROM ${STAGE_EVENTS} s JOIN ${FRESH} f ON f.${id} = s.${id} AND f.${ts} = s.${ts}`);
  b.types.forEach((t, i) => {
    const table = qualified(ATOMIC_SCHEMA, t.table);
    const tcols = t.columns.map(quoteIdent);
    const stage = stageOf(i);
    sqls.push(
      `DROP TABLE IF EXISTS ${stage}`,
      `CREATE TEMPORARY TABLE ${stage} (LIKE ${table})`,
      `COPY ${stage} (${tcols.join(', ')}) FROM ${t.from}`,
      `INSERT INTO ${table} (${tcols.join(', ')}) SELECT ${tcols.map((c) => `s.${c}`).join(', ')} FROM ${stage} s JOIN ${FRESH} f ON f.${id} = s.${quoteIdent('root_id')} AND f.${ts} = s.${quoteIdent('root_tstamp')}`,
      `DROP TABLE ${stage}`,
    );
  });
  sqls.push(...checkpoint, `DROP TABLE ${FRESH}`, `DROP TABLE ${STAGE_EVENTS}`);
  return { sqls, insertIndex };
}

/** The shard's committed dripfeed checkpoint (Data API parameters :stream, :shard_id). */
export const DRIPFEED_CHECKPOINT_SQL = `SELECT ${quoteIdent('sequence_number')} FROM ${DRIPFEED_CHECKPOINTS} WHERE ${quoteIdent('stream')} = :stream AND ${quoteIdent('shard_id')} = :shard_id`;
