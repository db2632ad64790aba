import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { putRecords } from '../adapters/kinesis';
import type { Logger } from '../observability/logger';

// The collector's sink: a bounded in-memory buffer flushed to Kinesis by byte, record and time
// limits. Records Kinesis refuses are retried (alone, in order) with exponential backoff and
// jitter; an acknowledged record is never dropped while the process lives.

export interface SinkRecord {
  data: Buffer;
  partitionKey: string;
}

export interface SinkOptions {
  stream: string;
  byteLimit: number;
  recordLimit: number;
  timeLimitMs: number;
  /** Bound on everything held in memory; beyond it `offer` refuses and the route answers 503. */
  maxBufferedBytes: number;
  backoffMinMs: number;
  backoffMaxMs: number;
}

export interface SinkStats {
  bufferedRecords: number;
  bufferedBytes: number;
  healthy: boolean;
  lastError?: string;
}

// Kinesis' hard limits for one PutRecords call.
const MAX_RECORDS_PER_CALL = 500;
const MAX_BYTES_PER_CALL = 5 * 1024 * 1024;

export interface SinkHooks {
  onFlush?(records: number, ms: number): void;
  onRetry?(records: number): void;
  onFailure?(err: Error): void;
}

export class KinesisSink {
  private queue: SinkRecord[] = [];
  private bytes = 0;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private failures = 0;
  private lastError?: string;
  private closed = false;

  constructor(
    private readonly client: KinesisClient,
    private readonly opts: SinkOptions,
    private readonly log: Logger,
    private readonly hooks: SinkHooks = {},
  ) {}

  stats(): SinkStats {
    return { bufferedRecords: this.queue.length, bufferedBytes: this.bytes, healthy: this.failures === 0, lastError: this.lastError };
  }

  /** Buffers the records; false (nothing buffered) when the buffer is full or the sink is closing. */
  offer(records: SinkRecord[]): boolean {
    const size = records.reduce((n, r) => n + r.data.length + r.partitionKey.length, 0);
    if (this.closed || this.bytes + size > this.opts.maxBufferedBytes) return false;
    this.queue.push(...records);
    this.bytes += size;
    if (this.bytes >= this.opts.byteLimit || this.queue.length >= this.opts.recordLimit) this.kick();
    else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.opts.timeLimitMs);
    return true;
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.flushing) this.flushing = this.drain().finally(() => (this.flushing = undefined));
  }

  private backoffMs(): number {
    const ceiling = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** Math.min(this.failures - 1, 20));
    // Full jitter between the minimum and the exponential ceiling.
    return this.opts.backoffMinMs + Math.random() * Math.max(0, ceiling - this.opts.backoffMinMs);
  }

  private takeBatch(): SinkRecord[] {
    const batch: SinkRecord[] = [];
    let bytes = 0;
    for (const r of this.queue) {
      const size = r.data.length + r.partitionKey.length;
      if (batch.length === MAX_RECORDS_PER_CALL || (batch.length > 0 && bytes + size > MAX_BYTES_PER_CALL)) break;
      batch.push(r);
      bytes += size;
    }
    return batch;
  }

  /** Sends until the buffer is empty; on failure waits out a backoff and tries again. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      const started = Date.now();
      let sent: SinkRecord[] = batch;
      try {
        const { failed } = await putRecords(this.client, this.opts.stream, batch);
        if (failed.length > 0) {
          const failedSet = new Set(failed);
          sent = batch.filter((_, i) => !failedSet.has(i));
          const retry = batch.filter((_, i) => failedSet.has(i));
          this.hooks.onRetry?.(retry.length);
          this.removeSent(batch.length, retry);
          throw new Error(`${retry.length} of ${batch.length} records refused by Kinesis (throttled)`);
        }
        this.removeSent(batch.length, []);
        this.failures = 0;
        this.lastError = undefined;
        this.hooks.onFlush?.(sent.length, Date.now() - started);
      } catch (err) {
        this.failures += 1;
        this.lastError = (err as Error).message;
        this.hooks.onFailure?.(err as Error);
        const wait = this.backoffMs();
        this.log.warn({ err: this.lastError, retryInMs: Math.round(wait), buffered: this.queue.length }, 'kinesis write failed; backing off');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Drops the first `n` queued records (just sent), re-queueing `retry` at the front in order. */
  private removeSent(n: number, retry: SinkRecord[]): void {
    const removed = this.queue.splice(0, n, ...retry);
    for (const r of removed) this.bytes -= r.data.length + r.partitionKey.length;
    for (const r of retry) this.bytes += r.data.length + r.partitionKey.length;
  }

  /** Flushes everything buffered now (and anything being flushed). */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) {
      this.kick();
      await this.flushing;
    }
  }

  /** Refuses new records, then flushes everything buffered. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}
