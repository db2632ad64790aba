import type { StreamRecord } from '../adapters/kinesis';

// A speed-layer processor: what one shard consumer does with the records it reads.

export interface ProcessorContext {
  stream: string;
  shardId: string;
  /** The checkpoint the records follow (undefined = start of the shard). Fenced processors compare it. */
  after?: string;
}

export interface ShardProcessor {
  readonly name: string;
  /** Flush after every read (low latency) or accumulate up to these limits (file sinks). */
  readonly flushPolicy: { maxRecords: number; maxBytes: number; maxAgeMs: number };
  /** A durable checkpoint kept with the processor's effects, when it has one; it wins over the workflow's. */
  resume?(stream: string, shardId: string): Promise<string | undefined>;
  /**
   * Applies the records' effects. Returns the checkpoint that is now committed (the last record's
   * sequence number), or throws. `idle` is true when the read that ended this batch found the shard
   * caught up (the processor may record progress even with no records).
   */
  process(records: StreamRecord[], ctx: ProcessorContext, idle: { caughtUpAtMs?: number }): Promise<string | undefined>;
}

export class StaleCheckpointError extends Error {
  override name = 'StaleCheckpointError';
}

/** Kinesis sequence numbers are decimal strings of up to 128 bits: compare them as integers. */
export function compareSequence(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
