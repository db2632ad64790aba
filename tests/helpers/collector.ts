import type net from 'node:net';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import { makeKinesisClient } from '../../adapters/aws-clients';
import { ensureStream } from '../../adapters/kinesis';
import { buildCollectorApp } from '../../collector/app';
import type { Sinks } from '../../collector/ingest';
import { CollectorMetrics } from '../../collector/metrics';
import { collectorOptions, sinkOptions } from '../../collector/options';
import { KinesisSink } from '../../collector/sink';
import type { SluiceConfig } from '../../config';
import type { Logger } from '../../observability/logger';
import type { ManagedProcess } from '../../stack/processes';
import { kinesaliteSpec } from '../../stack/standins';
import { startStandin, teardown } from './standins';

// The collector as `collector/main.ts` wires it, on a loopback port, writing to a real kinesalite.

export interface TestCollector {
  kinesalite: ManagedProcess;
  client: KinesisClient;
  sinks: Sinks;
  app: FastifyInstance;
  port: number;
  url: string;
  /** Closes the app, flushes the sinks, stops kinesalite and removes the config's data dir. */
  stop(): Promise<void>;
}

export async function startCollectorOnKinesalite(config: SluiceConfig, log: Logger): Promise<TestCollector> {
  const kinesalite = await startStandin(kinesaliteSpec(config), config);
  const client = makeKinesisClient(config);
  await ensureStream(client, config.kinesis.streams.raw, config.kinesis.shards);
  await ensureStream(client, config.kinesis.streams.bad, 1);
  const metrics = new CollectorMetrics();
  const sinks: Sinks = {
    good: new KinesisSink(client, sinkOptions(config, config.kinesis.streams.raw), log, metrics.sinkHooks('good')),
    bad: new KinesisSink(client, sinkOptions(config, config.kinesis.streams.bad), log, metrics.sinkHooks('bad')),
  };
  const app = buildCollectorApp({ sinks, metrics }, collectorOptions(config), log);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;
  return {
    kinesalite,
    client,
    sinks,
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await app.close();
      await sinks.good.close();
      await sinks.bad.close();
      client.destroy();
      await teardown(config, kinesalite);
    },
  };
}
