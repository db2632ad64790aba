import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KinesisSink, SinkHooks } from './sink';

// Prometheus metrics for the collector: requests, bytes, buffer depth, sink latency, retries,
// failures, backoffs, refusals (503), size violations. Streams are labelled `good` (raw) and `bad`.

/** One label set of a counter, counted on the hot path. */
export interface Tally {
  inc(value?: number): void;
}

/**
 * A counter's per-request increments as plain additions, handed to prom-client when the counter
 * is read (scrape, `get()`). prom-client hashes and validates the labels on every `inc`, even a
 * label child's (its children are bound `inc(labels)` calls): a microsecond per request that
 * bought nothing between scrapes. What a scrape shows is the same.
 */
class Deferred {
  private readonly tallies: { labels?: Record<string, string | number>; pending: number }[] = [];

  constructor(private readonly counter: Counter<string>) {
    (counter as unknown as { collect?: () => void }).collect = () => this.flush();
  }

  tally(labels?: Record<string, string | number>): Tally {
    const entry = { labels, pending: 0 };
    this.tallies.push(entry);
    const counter = this.counter;
    return {
      inc(value = 1) {
        // Anything prom-client would refuse is handed to it now, so it throws as it always did.
        if (value >= 0 && value < Infinity) entry.pending += value;
        else if (labels) counter.inc(labels, value);
        else counter.inc(value);
      },
    };
  }

  private flush(): void {
    for (const t of this.tallies) {
      if (t.pending === 0) continue;
      if (t.labels) this.counter.inc(t.labels, t.pending);
      else this.counter.inc(t.pending);
      t.pending = 0;
    }
  }
}

export class CollectorMetrics {
  readonly registry = new Registry();
  private readonly reg = [this.registry];
  private sinks: Record<string, KinesisSink> = {};

  readonly requests = new Counter({ name: 'sluice_collector_requests_total', help: 'Requests by route and status', labelNames: ['route', 'status'], registers: this.reg });
  readonly requestBytes = new Counter({ name: 'sluice_collector_request_body_bytes_total', help: 'Request body bytes received on tracking routes', registers: this.reg });
  readonly recordBytes = new Counter({ name: 'sluice_collector_record_bytes_total', help: 'Record bytes buffered for Kinesis, by stream', labelNames: ['stream'], registers: this.reg });
  readonly refused = new Counter({ name: 'sluice_collector_refused_total', help: 'Requests refused with 503 because a sink buffer is full', registers: this.reg });
  readonly doNotTrack = new Counter({ name: 'sluice_collector_do_not_track_total', help: 'Requests not sunk because of the do-not-track cookie', registers: this.reg });
  readonly sizeViolations = new Counter({ name: 'sluice_collector_size_violations_total', help: 'size_violation bad rows written to the bad stream', registers: this.reg });
  readonly splits = new Counter({ name: 'sluice_collector_split_requests_total', help: 'Requests split into several records', registers: this.reg });
  readonly bufferRecords = new Gauge({
    name: 'sluice_collector_buffer_records',
    help: 'Records held in the sink buffer (queued and in flight), by stream',
    labelNames: ['stream'],
    registers: this.reg,
    collect: () => this.collectBuffers(),
  });
  readonly bufferBytes = new Gauge({
    name: 'sluice_collector_buffer_bytes',
    help: 'Bytes held in the sink buffer, by stream',
    labelNames: ['stream'],
    registers: this.reg,
    collect: () => this.collectBuffers(),
  });
  readonly sinkHealthy = new Gauge({
    name: 'sluice_collector_sink_healthy',
    help: '1 when the sink can write and has room, by stream',
    labelNames: ['stream'],
    registers: this.reg,
    collect: () => this.collectBuffers(),
  });
  readonly callSeconds = new Histogram({
    name: 'sluice_collector_sink_put_seconds',
    help: 'PutRecords call latency, by stream',
    labelNames: ['stream'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: this.reg,
  });
  readonly flushedRecords = new Counter({ name: 'sluice_collector_sink_records_total', help: 'Records Kinesis accepted, by stream', labelNames: ['stream'], registers: this.reg });
  readonly retries = new Counter({ name: 'sluice_collector_sink_retried_records_total', help: 'Records retried after Kinesis refused them, by stream', labelNames: ['stream'], registers: this.reg });
  readonly failures = new Counter({ name: 'sluice_collector_sink_failures_total', help: 'PutRecords calls that failed whole or in part, by stream', labelNames: ['stream'], registers: this.reg });
  readonly backoffSeconds = new Histogram({
    name: 'sluice_collector_sink_backoff_seconds',
    help: 'Backoff waits after failed PutRecords calls, by stream',
    labelNames: ['stream'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: this.reg,
  });

  private readonly deferredRequests = new Deferred(this.requests);
  private readonly requestTallies = new Map<string, Map<number, Tally>>();
  private readonly deferredRecordBytes = new Deferred(this.recordBytes);

  /** The per-request counters, counted as plain additions (see Deferred). */
  readonly tally = {
    requestBytes: new Deferred(this.requestBytes).tally(),
    goodRecordBytes: this.deferredRecordBytes.tally({ stream: 'good' }),
    badRecordBytes: this.deferredRecordBytes.tally({ stream: 'bad' }),
    refused: new Deferred(this.refused).tally(),
    doNotTrack: new Deferred(this.doNotTrack).tally(),
    sizeViolations: new Deferred(this.sizeViolations).tally(),
    splits: new Deferred(this.splits).tally(),
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one request (this runs on every request). */
  countRequest(route: string, status: number): void {
    let byStatus = this.requestTallies.get(route);
    if (!byStatus) {
      byStatus = new Map();
      this.requestTallies.set(route, byStatus);
    }
    let tally = byStatus.get(status);
    if (!tally) {
      tally = this.deferredRequests.tally({ route, status });
      byStatus.set(status, tally);
    }
    tally.inc();
  }

  /** Buffer depth and health are read from the sinks at scrape time. */
  watch(sinks: Record<string, KinesisSink>): void {
    this.sinks = sinks;
  }

  private collectBuffers(): void {
    for (const [stream, sink] of Object.entries(this.sinks)) {
      const s = sink.stats();
      this.bufferRecords.set({ stream }, s.bufferedRecords);
      this.bufferBytes.set({ stream }, s.bufferedBytes);
      this.sinkHealthy.set({ stream }, s.healthy ? 1 : 0);
    }
  }

  sinkHooks(stream: string): SinkHooks {
    return {
      onCall: (ms) => this.callSeconds.observe({ stream }, ms / 1000),
      onFlush: (records) => this.flushedRecords.inc({ stream }, records),
      onRetry: (records) => this.retries.inc({ stream }, records),
      onFailure: () => this.failures.inc({ stream }),
      onBackoff: (ms) => this.backoffSeconds.observe({ stream }, ms / 1000),
    };
  }
}
