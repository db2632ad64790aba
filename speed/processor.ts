import type { StreamRecord } from '../adapters/kinesis';
import type { PoisonFailure } from './poison';

// A speed-layer processor: what one shard consumer does with the records it reads.
//
// Exactly-once contract: two attempts of one shard's consume activity may overlap (a worker that
// lost its heartbeat keeps running for a while). A processor therefore either commits its effects
// together with its checkpoint, compared-and-set against `ctx.after` (a stale attempt finds the
// checkpoint moved and applies nothing), or writes deterministic outputs that a repeat overwrites
// with the same bytes.

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
  /**
   * Called when a consume attempt starts: completes whatever an earlier attempt committed but did
   * not finish, and returns the durable checkpoint kept with the processor's effects (it wins over
   * the workflow's copy). Processors without one are at-least-once from the workflow's checkpoint.
   */
  resume?(stream: string, shardId: string): Promise<string | undefined>;
  /**
   * Applies the records' effects. Returns the checkpoint that is now committed, or throws. The
   * checkpoint may stop short of the last record (a file sink cutting on a recorded boundary):
   * the consumer keeps the rest and offers it again. `idle.caughtUpAtMs` is set when the read that
   * ended this batch found the shard caught up (the processor may record progress without records).
   */
  process(records: StreamRecord[], ctx: ProcessorContext, idle: { caughtUpAtMs?: number }): Promise<string | undefined>;
  /**
   * Where a rewind restarts, given the first record at or after the rewind instant: file sinks
   * move back to the start of the file that holds it, so re-written files get the same keys.
   * Without it: at that record, with no checkpoint before it.
   */
  rewindPoint?(stream: string, shardId: string, firstSequence: string): Promise<RewindPoint>;
  /** Set when the processor cannot be rewound (its checkpoint lives where a rewind cannot move it): why. */
  readonly rewindUnsupported?: string;
  /**
   * Commits `record` as a bad row with the checkpoint (fenced like process) and returns that
   * checkpoint: the record made process() throw for a reason tied to its content, on every one
   * of `failure.attempts` attempts (speed/poison.ts). Only processors that commit every call
   * offer it; without it a throwing record is retried as any failure is.
   */
  skipPoison?(record: StreamRecord, failure: PoisonFailure, ctx: ProcessorContext): Promise<string>;
}

export interface RewindPoint {
  /** The checkpoint to restore (undefined: none, the shard starts afresh at `startSequence`). */
  after?: string;
  /** The first record to read again. */
  startSequence: string;
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

/** Two checkpoints are the same position (both absent, or equal sequence numbers). */
export function sameCheckpoint(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return compareSequence(a, b) === 0;
}
