import { Counter, Gauge, type Registry } from 'prom-client';
import type { ShardLabels, SpeedMetrics } from '../activities/speed';
import type { KinesisReadMetrics } from '../speed/shard-feed';

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

/**
 * The Kinesis reads of this worker process, per (stream, shard): GetRecords calls (every HTTP
 * attempt, the SDK's retries included), throttles, bytes, calls in the last second, and reads
 * the shared feed answered without a call (speed/shard-feed.ts).
 */
export function kinesisReadMetrics(registry: Registry): KinesisReadMetrics {
  const shardLabels = ['stream', 'shard'] as const;
  const calls = new Counter({ name: 'sluice_kinesis_get_records_total', help: 'GetRecords calls made to Kinesis (each HTTP attempt)', labelNames: shardLabels, registers: [registry] });
  const throttles = new Counter({ name: 'sluice_kinesis_throttles_total', help: 'GetRecords calls Kinesis refused with ProvisionedThroughputExceededException (or another throttling error)', labelNames: shardLabels, registers: [registry] });
  const bytes = new Counter({ name: 'sluice_kinesis_get_records_bytes_total', help: 'Bytes of record data GetRecords returned', labelNames: shardLabels, registers: [registry] });
  const shared = new Counter({ name: 'sluice_kinesis_shared_reads_total', help: "Consumers' reads answered by the shard's shared feed, without a GetRecords call of their own", labelNames: shardLabels, registers: [registry] });
  const recent = new Map<string, { labels: { stream: string; shard: string }; at: number[] }>();
  new Gauge({
    name: 'sluice_kinesis_get_records_per_second',
    help: 'GetRecords calls to the shard in the last second (at most the read budget: speed.reads.callsPerSecond)',
    labelNames: shardLabels,
    registers: [registry],
    collect() {
      const since = Date.now() - 1_000;
      for (const [key, r] of recent) {
        r.at = r.at.filter((t) => t > since);
        this.set(r.labels, r.at.length);
        if (r.at.length === 0) recent.delete(key);
      }
    },
  });
  return {
    call(labels, outcome) {
      calls.inc(labels);
      if (outcome.throttled) throttles.inc(labels);
      if (outcome.bytes > 0) bytes.inc(labels, outcome.bytes);
      const key = `${labels.stream}\u0000${labels.shard}`;
      const r = recent.get(key) ?? { labels, at: [] };
      const now = Date.now();
      while (r.at.length > 0 && r.at[0] <= now - 1_000) r.at.shift();
      r.at.push(now);
      recent.set(key, r);
    },
    shared(labels) {
      shared.inc(labels);
    },
  };
}
