import { makeKinesisClient } from '../adapters/aws-clients';
import { ConfigError, loadConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { buildCollectorApp } from './app';
import { CollectorMetrics } from './metrics';
import { PutWorker } from './kinesis-writer';
import { collectorOptions, sinkOptions } from './options';
import { KinesisSink } from './sink';

// Collector process: HTTP in, Thrift CollectorPayload records out to the raw Kinesis stream
// (size-violation bad rows to the bad stream). SIGTERM/SIGINT: stop accepting, flush, exit.

let config;
let opts;
try {
  config = loadConfig();
  opts = collectorOptions(config);
} catch (err) {
  // Config validation at start (and the access policy): the message names the key and its environment variable.
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = makeLogger('collector', config.log.level);
const metrics = new CollectorMetrics();
const worker = config.collector.sink.writerThread ? new PutWorker(config, log) : undefined;
const client = worker ? undefined : makeKinesisClient(config);
const kinesis = worker ? worker.put : client!;
const sinks = {
  good: new KinesisSink(kinesis, sinkOptions(config, config.kinesis.streams.raw), log, metrics.sinkHooks('good')),
  bad: new KinesisSink(kinesis, sinkOptions(config, config.kinesis.streams.bad), log, metrics.sinkHooks('bad')),
};
const app = buildCollectorApp({ sinks, metrics }, opts, log);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const held = () => sinks.good.stats().bufferedRecords + sinks.bad.stats().bufferedRecords;
  log.info({ signal, buffered: held() }, 'stopping: no new requests, flushing the sinks');
  await app.close();
  // Retries (with backoff) until Kinesis takes everything: an acknowledged event is not dropped.
  await Promise.all([sinks.good.close(), sinks.bad.close()]);
  log.info({ buffered: held() }, 'sinks flushed; exiting');
  await worker?.close();
  client?.destroy();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

await app.listen({ host: config.collector.host, port: config.collector.port });
log.info(
  { url: `http://${config.collector.host}:${config.collector.port}`, raw: config.kinesis.streams.raw, bad: config.kinesis.streams.bad, collector: opts.collectorName },
  'collector listening',
);
