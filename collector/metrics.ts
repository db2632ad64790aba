import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SinkHooks } from './sink';

// Prometheus metrics for the collector: requests, bytes, buffer depth, sink latency, retries, failures.
export class CollectorMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'sluice_collector_requests_total', help: 'Requests by route and status', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly bytes = new Counter({ name: 'sluice_collector_bytes_total', help: 'Raw record bytes offered to the sink', registers: [this.registry] });
  readonly refused = new Counter({ name: 'sluice_collector_refused_total', help: 'Requests refused with 503 because the sink buffer is full', registers: [this.registry] });
  readonly buffered = new Gauge({ name: 'sluice_collector_buffer_records', help: 'Records waiting in the sink buffer', registers: [this.registry] });
  readonly flushSeconds = new Histogram({ name: 'sluice_collector_sink_flush_seconds', help: 'PutRecords latency', registers: [this.registry] });
  readonly retries = new Counter({ name: 'sluice_collector_sink_retried_records_total', help: 'Records retried after Kinesis refused them', registers: [this.registry] });
  readonly failures = new Counter({ name: 'sluice_collector_sink_failures_total', help: 'Failed PutRecords calls', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  sinkHooks(): SinkHooks {
    return {
      onFlush: (_records, ms) => this.flushSeconds.observe(ms / 1000),
      onRetry: (records) => this.retries.inc(records),
      onFailure: () => this.failures.inc(),
    };
  }
}
