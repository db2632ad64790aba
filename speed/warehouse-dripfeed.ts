import { badRowJson } from '../enrich/bad-rows';
import type { PlanAction } from '../warehouse/migration';
import type { SchemaLookup } from '../warehouse/iglu';
import { cachedModels, shredRecords, type DripShred } from './dripfeed-shred';
import { poisonBadRow } from './poison';
import type { ShardProcessor } from './processor';

// The warehouse dripfeed: the enriched stream, micro-batched into atomic.events and the shredded
// tables of the configured warehouse within seconds, beside the batch layer
// (docs/warehouse.md, "Dripfeed and batch: who loads an event"; docs/speed.md, "Dripfeed").
// Shredding is the batch's (batch/shred-line.ts), tables come from the batch's planner
// (warehouse/migration.ts); what differs per warehouse sits behind DripfeedWarehouse.

export const WAREHOUSE_PROCESSOR = 'warehouse';
const DRIPFEED_VERSION = 'sluice-dripfeed-0.1.0';

export interface DripCommitInput {
  stream: string;
  shardId: string;
  /** The checkpoint the micro-batch follows (fenced: another attempt's commit makes this throw StaleCheckpointError). */
  expected?: string;
  next: string;
  shred: DripShred;
}

export interface DripCommit {
  /** Events inserted (absent from the warehouse before). */
  inserted: number;
  /** Events the warehouse held already (a batch run loaded them, or an earlier attempt): not doubled. */
  alreadyLoaded: number;
  /** Bad rows stored (shredding's, and events of schemas the warehouse refused). */
  bad: number;
  actions: PlanAction[];
}

/** Where the dripfeed commits: one implementation per warehouse (speed/dripfeed-postgres.ts, speed/dripfeed-redshift.ts). */
export interface DripfeedWarehouse {
  /** The shard's committed checkpoint, kept with the rows. */
  checkpoint(stream: string, shardId: string): Promise<string | undefined>;
  /** Commits the micro-batch's absent events, its bad rows and the checkpoint together. */
  commit(input: DripCommitInput): Promise<DripCommit>;
  /** The checkpoint is not in sluice.stream_checkpoints (Redshift), so a rewind cannot move it: why. */
  readonly rewindUnsupported?: string;
}

export interface DripfeedHooks {
  onCommit?(shardId: string, records: number, commit: DripCommit & { duplicates: number }): void;
}

export function warehouseDripfeedProcessor(
  warehouse: DripfeedWarehouse, lookup: SchemaLookup,
  flushPolicy: { maxRecords: number; maxBytes: number; maxAgeMs: number }, hooks: DripfeedHooks = {},
): ShardProcessor {
  const models = cachedModels(lookup);
  return {
    name: WAREHOUSE_PROCESSOR,
    flushPolicy,
    ...(warehouse.rewindUnsupported ? { rewindUnsupported: warehouse.rewindUnsupported } : {}),
    resume: (stream, shardId) => warehouse.checkpoint(stream, shardId),
    async process(records, ctx) {
      if (records.length === 0) return undefined;
      const next = records[records.length - 1].sequenceNumber;
      const shred = await shredRecords(records, models);
      const committed = await warehouse.commit({ stream: ctx.stream, shardId: ctx.shardId, expected: ctx.after, next, shred });
      hooks.onCommit?.(ctx.shardId, records.length, { ...committed, duplicates: shred.duplicates });
      return next;
    },
    async skipPoison(record, failure, ctx) {
      // The record as a bad row, with the checkpoint: counted once, as bad.
      const row = badRowJson(poisonBadRow(record, ctx, failure, DRIPFEED_VERSION));
      const shred: DripShred = { events: [], bad: [{ sequenceNumber: record.sequenceNumber, arrivalMs: record.arrivalMs, row }], models: new Map(), duplicates: 0, truncated: 0 };
      await warehouse.commit({ stream: ctx.stream, shardId: ctx.shardId, expected: ctx.after, next: record.sequenceNumber, shred });
      return record.sequenceNumber;
    },
  };
}
