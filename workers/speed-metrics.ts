import { Counter, Gauge, type Registry } from 'prom-client';
import type { ShardLabels, SpeedMetrics } from '../activities/speed';

// Prometheus metrics of the shard consumers running in this worker process, per (stream,
// processor, shard): lag behind the tip, throughput, and read/commit errors by kind.

const labelNames = ['stream', 'processor', 'shard'] as const;

export function speedMetrics(registry: Registry): SpeedMetrics {
  const lag = new Gauge({
    name: 'sluice_speed_millis_behind_latest',
    help: 'Milliseconds the shard consumer is behind the tip of its shard (at its last poll)',
    labelNames,
    registers: [registry],
  });
  const rate = new Gauge({
    name: 'sluice_speed_records_per_second',
    help: 'Records read per second by the shard consumer (10 s window)',
    labelNames,
    registers: [registry],
  });
  const records = new Counter({
    name: 'sluice_speed_records_read_total',
    help: 'Records read by the shard consumer',
    labelNames,
    registers: [registry],
  });
  const lastPoll = new Gauge({
    name: 'sluice_speed_last_poll_timestamp_seconds',
    help: 'When the shard consumer last polled its shard (Unix time)',
    labelNames,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'sluice_speed_consume_errors_total',
    help: 'Failed reads and commits of the shard consumer, by kind (throttled, expired-iterator, unavailable, not-found, stale-checkpoint, poison-record, processor-unavailable)',
    labelNames: [...labelNames, 'kind'],
    registers: [registry],
  });
  return {
    polled(labels: ShardLabels, poll) {
      lag.set(labels, poll.millisBehindLatest);
      rate.set(labels, poll.recordsPerSecond);
      records.inc(labels, poll.records);
      lastPoll.set(labels, Date.now() / 1000);
    },
    failed(labels, kind) {
      errors.inc({ ...labels, kind });
    },
    ended(labels) {
      // A drained shard's consumer is gone for good: drop its gauges rather than freeze them.
      lag.remove(labels);
      rate.remove(labels);
      lastPoll.remove(labels);
    },
  };
}
