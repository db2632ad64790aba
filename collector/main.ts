import { makeKinesisClient } from '../adapters/aws-clients';
import { loadConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { buildCollectorApp } from './app';
import { CollectorMetrics } from './metrics';
import { collectorName } from './payload';
import { KinesisSink } from './sink';

// Collector process: HTTP in, Thrift CollectorPayload records out to the raw Kinesis stream.
// SIGTERM: stop accepting, flush the buffer, exit.

const config = loadConfig();
const log = makeLogger('collector', config.log.level);
const metrics = new CollectorMetrics();
const sink = new KinesisSink(
  makeKinesisClient(config),
  {
    stream: config.kinesis.streams.raw,
    byteLimit: config.collector.buffer.byteLimit,
    recordLimit: config.collector.buffer.recordLimit,
    timeLimitMs: config.collector.buffer.timeLimitMs,
    maxBufferedBytes: config.collector.buffer.maxBufferedBytes,
    backoffMinMs: config.collector.backoff.minMs,
    backoffMaxMs: config.collector.backoff.maxMs,
  },
  log,
  metrics.sinkHooks(),
);
const app = buildCollectorApp(
  sink,
  metrics,
  {
    collectorName: collectorName(config.collector.name, '0.1.0', 'kinesis'),
    bodyLimitBytes: config.collector.bodyLimitBytes,
    cookie: { name: 'sp', maxAgeDays: 365, secure: true, sameSite: 'none' },
  },
  log,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal, buffered: sink.stats().bufferedRecords }, 'stopping: no new requests, flushing the sink');
  await app.close();
  await sink.close();
  log.info('sink flushed; exiting');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await app.listen({ host: config.collector.host, port: config.collector.port });
log.info({ url: `http://${config.collector.host}:${config.collector.port}` }, 'collector listening');
