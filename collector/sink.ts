import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from '../observability/logger';
import { directPut, type PutRecordsFn } from './kinesis-writer';
import { ARENA_CHUNK_BYTES, RecordArena, type Stored } from './record-arena';

// The collector's sink for one stream: a bounded in-memory buffer flushed to Kinesis by byte,
// record and time limits, in PutRecords calls within Kinesis' limits. Records Kinesis refuses
// (throttled) go back to the front of the buffer and only they are retried, after an exponential
// backoff with jitter; a whole failed call is retried the same way. An acknowledged record is
// never dropped while the process lives; when the buffer is full, `offer` refuses (→ 503).

export interface SinkRecord {
  data: Buffer;
  partitionKey: string;
}

export interface SinkOptions {
  stream: string;
  /** Flush as soon as this many bytes are buffered. */
  byteLimit: number;
  /** Flush as soon as this many records are buffered. */
  recordLimit: number;
  /** Flush records at the latest this long after they arrive. */
  timeLimitMs: number;
  /** Bound on everything held in memory (queued + in flight); beyond it `offer` refuses. */
  maxBufferedBytes: number;
  backoffMinMs: number;
  backoffMaxMs: number;
  /** PutRecords calls in flight at once (default 1). */
  maxInFlight?: number;
  /** Bytes per PutRecords call, at most Kinesis' 5 MiB (the default). */
  maxBytesPerCall?: number;
  /** Consecutive failed calls before the sink reports itself unhealthy (default 1). */
  unhealthyAfterFailures?: number;
}

export interface SinkStats {
  stream: string;
  /** Records held: queued and in flight. */
  bufferedRecords: number;
  bufferedBytes: number;
  maxBufferedBytes: number;
  inFlightCalls: number;
  consecutiveFailures: number;
  healthy: boolean;
  /** Why the sink is unhealthy, in words. */
  reason?: string;
  lastError?: string;
}

export interface SinkHooks {
  /** Records a PutRecords call wrote (all of them, or those Kinesis accepted of a partial failure). */
  onFlush?(records: number, ms: number): void;
  /** Any PutRecords call, whatever its outcome. */
  onCall?(ms: number): void;
  onRetry?(records: number): void;
  onFailure?(err: Error): void;
  onBackoff?(ms: number): void;
}

// Kinesis' hard limits: one PutRecords call, and one record (data + partition key).
export const MAX_RECORDS_PER_CALL = 500;
export const MAX_BYTES_PER_CALL = 5 * 1024 * 1024;
export const MAX_BYTES_PER_RECORD = 1024 * 1024;

const recordSize = (r: SinkRecord) => r.data.length + Buffer.byteLength(r.partitionKey);

/** A record the sink holds: its bytes in the sink's arena when it has one, and its size. */
type Held = SinkRecord & Stored & { size: number };

export class KinesisSink {
  private queue: Held[] = [];
  private queuedBytes = 0;
  private inFlightRecords = 0;
  private inFlightBytes = 0;
  private inFlightCalls = 0;
  /** Send whatever is queued without waiting for a limit (time limit hit, retry, flush). */
  private urgent = false;
  private timer?: NodeJS.Timeout;
  private backoffTimer?: NodeJS.Timeout;
  private consecutiveFailures = 0;
  private lastError?: string;
  private full = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly maxInFlight: number;
  private readonly unhealthyAfter: number;
  private readonly put: PutRecordsFn;
  /**
   * With a client, the sink's own PutRecords copies the records into the call's body, so their
   * bytes can live in reused chunks (record-arena.ts) and be released once Kinesis has them. A
   * PutRecords function (a worker's, a test's) may keep what it is given: it gets records of
   * their own.
   */
  private readonly arena?: RecordArena;

  /** `kinesis`: a client (calls made on this thread) or a PutRecords function (e.g. PutWorker's). */
  constructor(
    kinesis: KinesisClient | PutRecordsFn,
    private readonly opts: SinkOptions,
    private readonly log: Logger,
    private readonly hooks: SinkHooks = {},
  ) {
    this.put = typeof kinesis === 'function' ? kinesis : directPut(kinesis);
    this.maxInFlight = opts.maxInFlight ?? 1;
    this.unhealthyAfter = opts.unhealthyAfterFailures ?? 1;
    if (typeof kinesis !== 'function') {
      // Free chunks kept for reuse: twice what a flush cycle holds (queued up to the byte limit,
      // plus the calls in flight), so steady traffic never allocates a chunk.
      const cycle = opts.byteLimit + this.maxInFlight * Math.min(MAX_BYTES_PER_CALL, opts.maxBytesPerCall ?? MAX_BYTES_PER_CALL);
      this.arena = new RecordArena(ARENA_CHUNK_BYTES, Math.min(64, 2 + 2 * Math.ceil(cycle / ARENA_CHUNK_BYTES)));
    }
  }

  get stream(): string {
    return this.opts.stream;
  }

  stats(): SinkStats {
    const reasons: string[] = [];
    const bufferedBytes = this.queuedBytes + this.inFlightBytes;
    if (this.full) reasons.push(`buffer full: ${bufferedBytes} of ${this.opts.maxBufferedBytes} bytes held, new requests are answered 503`);
    const failing = this.consecutiveFailures >= this.unhealthyAfter;
    if (failing) reasons.push(`Kinesis writes failing (${this.consecutiveFailures} in a row): ${this.lastError}`);
    if (this.closed) reasons.push('closing: no new records accepted');
    return {
      stream: this.opts.stream,
      bufferedRecords: this.queue.length + this.inFlightRecords,
      bufferedBytes,
      maxBufferedBytes: this.opts.maxBufferedBytes,
      inFlightCalls: this.inFlightCalls,
      consecutiveFailures: this.consecutiveFailures,
      healthy: !this.full && !failing,
      reason: reasons.length > 0 ? reasons.join('; ') : undefined,
      lastError: this.lastError,
    };
  }

  /** Whether `bytes` more would fit in the buffer now. */
  hasRoom(bytes: number): boolean {
    return !this.closed && this.queuedBytes + this.inFlightBytes + bytes <= this.opts.maxBufferedBytes;
  }

  /** Buffers all the records, or none of them (false) when the buffer is full or the sink is closing. */
  offer(records: SinkRecord[]): boolean {
    if (records.length === 1) return this.offerOne(records[0]);
    let size = 0;
    for (const r of records) {
      const n = recordSize(r);
      if (n > MAX_BYTES_PER_RECORD) throw new RangeError(`a record of ${n} bytes exceeds Kinesis' 1 MiB record limit`);
      size += n;
    }
    if (!this.hasRoom(size)) {
      if (!this.closed) this.full = true;
      return false;
    }
    this.full = false;
    for (const r of records) this.queue.push(this.hold(r, recordSize(r)));
    this.queuedBytes += size;
    this.pump();
    return true;
  }

  /** offer() of one record (nearly every request). */
  private offerOne(record: SinkRecord): boolean {
    const n = recordSize(record);
    if (n > MAX_BYTES_PER_RECORD) throw new RangeError(`a record of ${n} bytes exceeds Kinesis' 1 MiB record limit`);
    if (!this.hasRoom(n)) {
      if (!this.closed) this.full = true;
      return false;
    }
    this.full = false;
    this.queue.push(this.hold(record, n));
    this.queuedBytes += n;
    this.pump();
    return true;
  }

  private hold(r: SinkRecord, size: number): Held {
    if (!this.arena) return { data: r.data, partitionKey: r.partitionKey, chunk: undefined, size };
    const stored = this.arena.store(r.data);
    return { data: stored.data, partitionKey: r.partitionKey, chunk: stored.chunk, size };
  }

  /** Flushes everything buffered now (and waits for calls in flight). */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.inFlightCalls > 0) {
      this.urgent = true;
      this.pump();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /** Refuses new records, then flushes everything buffered. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Starts as many calls as the limits and the backoff allow; otherwise arms the time limit. */
  private pump(): void {
    if (this.backoffTimer) return; // the backoff's end pumps again
    while (this.queue.length > 0 && this.inFlightCalls < this.maxInFlight) {
      const due = this.urgent || this.queuedBytes >= this.opts.byteLimit || this.queue.length >= this.opts.recordLimit;
      if (!due) break;
      this.send(this.takeBatch());
    }
    if (this.queue.length === 0) {
      this.urgent = false;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
    } else if (!this.timer && !this.urgent) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.urgent = true;
        this.pump();
      }, this.opts.timeLimitMs);
    }
  }

  private takeBatch(): Held[] {
    const maxBytes = Math.min(MAX_BYTES_PER_CALL, this.opts.maxBytesPerCall ?? MAX_BYTES_PER_CALL);
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < MAX_RECORDS_PER_CALL) {
      const size = this.queue[n].size;
      if (n > 0 && bytes + size > maxBytes) break;
      bytes += size;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private send(batch: Held[]): void {
    let bytes = 0;
    for (const r of batch) bytes += r.size;
    this.queuedBytes -= bytes;
    this.inFlightBytes += bytes;
    this.inFlightRecords += batch.length;
    this.inFlightCalls += 1;
    const started = performance.now();
    this.put(this.opts.stream, batch)
      .then(
        ({ failed }) => {
          const ms = performance.now() - started;
          this.safely(() => this.hooks.onCall?.(ms));
          if (failed.length === 0) {
            this.consecutiveFailures = 0;
            this.lastError = undefined;
            this.full = false;
            this.released(batch);
            this.safely(() => this.hooks.onFlush?.(batch.length, ms));
            return;
          }
          const failedSet = new Set(failed);
          const retry = batch.filter((_, i) => failedSet.has(i));
          this.released(batch.filter((_, i) => !failedSet.has(i)));
          if (retry.length < batch.length) this.safely(() => this.hooks.onFlush?.(batch.length - retry.length, ms));
          this.safely(() => this.hooks.onRetry?.(retry.length));
          this.requeue(retry);
          this.failed(new Error(`${retry.length} of ${batch.length} records refused by Kinesis (throttled or internal failure)`));
        },
        (err: unknown) => {
          this.safely(() => this.hooks.onCall?.(performance.now() - started));
          this.requeue(batch);
          this.failed(err instanceof Error ? err : new Error(String(err)));
        },
      )
      .finally(() => {
        this.inFlightBytes -= bytes;
        this.inFlightRecords -= batch.length;
        this.inFlightCalls -= 1;
        this.pump();
        if (this.queue.length === 0 && this.inFlightCalls === 0) {
          for (const wake of this.idleWaiters.splice(0)) wake();
        }
      });
  }

  /** Kinesis has these: their bytes may be reused. */
  private released(records: Held[]): void {
    const arena = this.arena;
    if (arena) for (const r of records) arena.release(r);
  }

  /** Puts refused records back at the front, in their order, to go out first after the backoff. */
  private requeue(records: Held[]): void {
    const arena = this.arena;
    if (arena) {
      // A refused record moves to the current chunk, so that it does not keep its old chunk (and
      // that chunk's released records) from being reused while it waits: what the arena holds
      // stays close to what is buffered, even when throttling refuses a few records of every call.
      for (const r of records) {
        const moved = arena.store(r.data);
        arena.release(r);
        r.data = moved.data;
        r.chunk = moved.chunk;
      }
    }
    this.queue.unshift(...records);
    for (const r of records) this.queuedBytes += r.size;
    this.urgent = true;
  }

  private failed(err: Error): void {
    this.lastError = err.message;
    this.safely(() => this.hooks.onFailure?.(err));
    // Calls that were in flight together fail together: one backoff round counts once.
    if (this.backoffTimer) return;
    this.consecutiveFailures += 1;
    const wait = this.backoffMs();
    this.safely(() => this.hooks.onBackoff?.(wait));
    this.log.warn(
      { stream: this.opts.stream, err: err.message, failures: this.consecutiveFailures, retryInMs: Math.round(wait), buffered: this.queue.length + this.inFlightRecords },
      'kinesis write failed; backing off',
    );
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.pump();
    }, wait);
  }

  /** Full jitter between the minimum and an exponential ceiling capped at the maximum. */
  private backoffMs(): number {
    const { backoffMinMs: min, backoffMaxMs: max } = this.opts;
    const ceiling = Math.min(max, min * 2 ** Math.min(this.consecutiveFailures - 1, 30));
    return min + Math.random() * Math.max(0, ceiling - min);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'sink hook threw');
    }
  }
}
