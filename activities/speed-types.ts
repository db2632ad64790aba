import type { Client } from '@temporalio/client';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { CheckpointStore } from '../speed/checkpoints';
import type { ShardProcessor } from '../speed/processor';
import type { ShardReads } from '../speed/shard-feed';

// The speed-layer activities' inputs, results and dependencies (activities/speed.ts assembles the
// activities; activities/speed-consume.ts and activities/speed-control.ts implement them).

export interface ConsumeInput {
  stream: string;
  processor: string;
  shardId: string;
  checkpoint?: string;
  /** After a rewind: the first record to read again (`checkpoint` is the one before it). */
  startSequence?: string;
  /** When this shard's consumer first started: start position LATEST means "from then", across restarts. */
  firstStartMs?: number;
}

export interface ConsumeResult {
  checkpoint?: string;
  /** The shard is closed (split or merge) and every record in it is committed. */
  shardEnded: boolean;
  /** The shard no longer exists (trimmed after the retention period, or its stream deleted). */
  shardGone?: boolean;
  records: number;
  millisBehindLatest: number;
  recordsPerSecond: number;
  lastPollMs?: number;
}

/** What the consume activity heartbeats: the live numbers `sluice streams status` shows. */
export interface ShardProgress {
  checkpoint?: string;
  millisBehindLatest: number;
  recordsPerSecond: number;
  atMs: number;
}

export interface RewindInput {
  stream: string;
  processor: string;
  shardId: string;
  toMs: number;
  /** The workflow's checkpoint (for processors without a durable one). */
  checkpoint?: string;
}

export interface RewindResult {
  applied: boolean;
  reason: string;
  checkpoint?: string;
  startSequence?: string;
}

export type ConsumerState = 'none' | 'running' | 'completed' | 'failed';

export interface ShardLabels {
  stream: string;
  processor: string;
  shard: string;
}

/** Where the worker's Prometheus metrics come from (workers/speed-metrics.ts). */
export interface SpeedMetrics {
  polled(labels: ShardLabels, poll: { records: number; millisBehindLatest: number; recordsPerSecond: number }): void;
  failed(labels: ShardLabels, kind: string): void;
  ended(labels: ShardLabels): void;
}

export type ConfiguredStart = { type: 'TRIM_HORIZON' } | { type: 'LATEST' } | { type: 'AT_TIMESTAMP'; timestampMs: number };

export interface SpeedDeps {
  kinesis: KinesisClient;
  temporal: Client;
  processors: Record<string, ShardProcessor>;
  checkpoints: CheckpointStore;
  startPosition: ConfiguredStart;
  pollMs: number;
  /** Wait after a read that returned records but not a full batch (default pollMs). */
  flowPollMs?: number;
  /**
   * The longest wait between reads of an idle shard (default pollMs: no backoff). After each
   * empty read in a row the wait doubles from pollMs up to this.
   */
  idlePollMs?: number;
  budgetMs: number;
  /** An activity returns after this many records even within its time budget. */
  maxRecords: number;
  /** Records per GetRecords call (Kinesis allows up to 10,000). */
  readLimit?: number;
  /** Attempts, record by record, before a record that keeps failing the processor is skipped as bad (default 3). */
  poisonAttempts?: number;
  metrics?: SpeedMetrics;
  /**
   * This process's Kinesis reads: the read budget per shard and the shared feed (speed/shard-feed.ts).
   * Default: the Kinesis limits for a single process reading every shard (defaultShardReads).
   */
  reads?: ShardReads;
}
