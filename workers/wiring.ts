import { Client, Connection } from '@temporalio/client';
import { makeKinesisClient, makeS3Client } from '../adapters/aws-clients';
import { s3ObjectStore } from '../adapters/object-store';
import { makePool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import { localEngine } from '../engine/local';
import type { BatchEngine } from '../engine/engine';
import { rawSinkProcessor } from '../speed/raw-sink';
import { realtimeViewsProcessor } from '../speed/realtime-views';
import { streamEnrichProcessor } from '../speed/stream-enrich';

// Builds the adapters from config: the only place that decides local stand-in vs AWS.

export async function connectTemporal(config: SluiceConfig): Promise<{ connection: Connection; client: Client }> {
  const connection = await Connection.connect({ address: config.temporal.address });
  return { connection, client: new Client({ connection, namespace: config.temporal.namespace }) };
}

export function makeEngine(config: SluiceConfig): BatchEngine {
  if (config.emr.clusterId !== 'local') {
    throw new Error(`emr.clusterId=${config.emr.clusterId}: the EMR engine is not built yet; use "local"`);
  }
  return localEngine(config);
}

export function makeAdapters(config: SluiceConfig) {
  const kinesis = makeKinesisClient(config);
  const store = s3ObjectStore(makeS3Client(config), config.s3.bucket);
  const pool = makePool(config);
  const processors = {
    enrich: streamEnrichProcessor(kinesis, config.kinesis.streams),
    'raw-s3': rawSinkProcessor(store, config.speed.rawSink),
    'realtime-views': realtimeViewsProcessor(pool),
  };
  return { kinesis, store, pool, processors };
}

/** The speed layer's (stream, processor) pairs: what each supervisor consumes. */
export function speedTopology(config: SluiceConfig): { stream: string; processor: string }[] {
  const { raw, enriched } = config.kinesis.streams;
  return [
    { stream: raw, processor: 'enrich' },
    { stream: raw, processor: 'raw-s3' },
    { stream: enriched, processor: 'realtime-views' },
  ];
}
