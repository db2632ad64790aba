import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { makeKinesisClient, makeS3Client } from '../adapters/aws-clients';
import { s3ObjectStore, type ObjectStore } from '../adapters/object-store';
import { makePool, type Pool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import { emrEngine } from '../engine/emr';
import { localEngine } from '../engine/local';
import { engineMetrics } from './engine-metrics';
import { makeLogger, type Logger } from '../observability/logger';
import { badRowsSinkProcessor } from '../speed/bad-rows-sink';
import { getEnricher } from '../enrich/default-enricher';
import type { SchemaLookup } from '../warehouse/iglu';
import type { BatchEngine } from '../engine/engine';
import type { ConfiguredStart } from '../activities/speed';
import { pgCheckpointStore, withDurableCheckpoint } from '../speed/checkpoints';
import { ReadBudget, readShares } from '../speed/read-budget';
import { temporalConnectionOptions } from './temporal-connection';
import type { ShardProcessor } from '../speed/processor';
import { enrichedSinkProcessor, rawSinkProcessor } from '../speed/raw-sink';
import { realtimeViewsProcessor } from '../speed/realtime-views';
import { streamEnrichProcessor } from '../speed/stream-enrich';
import { postgresDripfeed } from '../speed/dripfeed-postgres';
import { redshiftDripfeed } from '../speed/dripfeed-redshift';
import { makeRedshiftDataClient, redshiftTarget } from '../warehouse/redshift-data';
import { WAREHOUSE_PROCESSOR, warehouseDripfeedProcessor, type DripfeedHooks } from '../speed/warehouse-dripfeed';
import { Counter, type Registry } from 'prom-client';

// Builds the adapters from config: the only place that decides local stand-in vs AWS.

export async function connectTemporal(config: SluiceConfig): Promise<{ connection: Connection; client: Client }> {
  // TLS / mTLS and API keys from temporal.tls.* and temporal.apiKey (docs/operations-security.md).
  const connection = await Connection.connect(temporalConnectionOptions(config));
  return { connection, client: new Client({ connection, namespace: config.temporal.namespace }) };
}

/**
 * The batch engine from emr.clusterId: "local" runs the jobs in worker threads (its threads, queue
 * and tasks on `registry`, when given: workers/engine-metrics.ts), anything else on EMR.
 */
export function makeEngine(config: SluiceConfig, registry?: Registry): BatchEngine {
  if (config.emr.clusterId !== 'local') return withActivityCancellation(emrEngine(config));
  const metrics = registry && engineMetrics(registry, config.emr.threads);
  const engine = localEngine(config, config.emr.threads, config.emr.threadIdleMs, metrics);
  metrics?.watch(() => engine.status());
  return withActivityCancellation(engine);
}

/**
 * Runs inside a Temporal activity get the activity's cancellation signal, so cancelling a batch
 * run (or its activity timing out) stops the EMR step instead of leaving it running.
 */
function withActivityCancellation(engine: BatchEngine): BatchEngine {
  const activitySignal = (): AbortSignal | undefined => {
    try {
      return Context.current().cancellationSignal;
    } catch {
      return undefined; // not called from an activity
    }
  };
  return {
    run: (job, tasks, onProgress, options) => engine.run(job, tasks, onProgress, { ...options, signal: options?.signal ?? activitySignal() }),
    close: () => engine.close(),
  };
}

/** The dripfeed into Redshift (warehouse.kind = redshift): the Data API, COPY from the bucket, bad rows in PostgreSQL. */
function redshiftDripfeedFromConfig(config: SluiceConfig, store: ObjectStore, pool: Pool) {
  const r = config.warehouse.redshift;
  if (!r.iamRoleArn) throw new Error('warehouse.redshift.iamRoleArn (SLUICE_WAREHOUSE__REDSHIFT__IAM_ROLE_ARN) is required for the dripfeed to COPY from S3');
  // Each micro-batch waits for a few statements: poll them more often than a batch load does.
  return redshiftDripfeed({ client: makeRedshiftDataClient(config), target: redshiftTarget(config), store, pool, iamRoleArn: r.iamRoleArn, region: config.region, pollMs: Math.min(r.pollMs, 200) });
}

/** Counts what the dripfeed did with each event, on the workers' /metrics. */
function dripfeedMetrics(registry: Registry | undefined, log: Logger): DripfeedHooks {
  const events = registry && new Counter({
    name: 'sluice_dripfeed_events_total',
    help: 'Enriched events the warehouse dripfeed committed, by outcome (inserted, already_loaded, duplicate, bad)',
    labelNames: ['shard', 'outcome'],
    registers: [registry],
  });
  return {
    onCommit(shard, records, c) {
      events?.inc({ shard, outcome: 'inserted' }, c.inserted);
      events?.inc({ shard, outcome: 'already_loaded' }, c.alreadyLoaded);
      events?.inc({ shard, outcome: 'duplicate' }, c.duplicates);
      events?.inc({ shard, outcome: 'bad' }, c.bad);
      if (c.actions.length) log.info({ shard, actions: c.actions }, 'dripfeed: warehouse tables created or migrated');
      log.debug({ shard, records, inserted: c.inserted, alreadyLoaded: c.alreadyLoaded, bad: c.bad }, 'dripfeed: micro-batch committed');
    },
  };
}

export function makeAdapters(config: SluiceConfig, log: Logger = makeLogger('workers', config.log.level), registry?: Registry) {
  const kinesis = makeKinesisClient(config);
  const store = s3ObjectStore(makeS3Client(config), config.s3.bucket);
  const pool = makePool(config);
  const checkpoints = pgCheckpointStore(pool);
  // Keyed by processor name (the name is also the checkpoint row's and the workflow id's).
  const processors: Record<string, ShardProcessor> = {
    // At least once into the enriched stream; the durable checkpoint bounds a repeat to one batch.
    enrich: withDurableCheckpoint(streamEnrichProcessor(kinesis, config.kinesis.streams), checkpoints),
    'raw-s3': rawSinkProcessor(store, pool, config.speed.rawSink),
    'enriched-s3': enrichedSinkProcessor(store, pool, config.speed.enrichedSink),
    'realtime-views': realtimeViewsProcessor(pool, {
      // Not an enriched event: logged (and left in the enriched stream) rather than counted.
      onUnparsable: (count, shardId) => log.warn({ count, shardId }, 'realtime views: records that are not enriched events were skipped'),
    }),
    'bad-rows': badRowsSinkProcessor(store, pool, config.speed.badRowsSink),
  };
  const { enabled, lockTimeoutMs, ...flush } = config.speed.dripfeed;
  if (enabled) {
    const warehouse = config.warehouse.kind === 'redshift' ? redshiftDripfeedFromConfig(config, store, pool) : postgresDripfeed(pool, { lockTimeoutMs });
    processors[WAREHOUSE_PROCESSOR] = warehouseDripfeedProcessor(warehouse, makeSchemaLookup(config), flush, dripfeedMetrics(registry, log));
  }
  return { kinesis, store, pool, checkpoints, processors };
}

/** Where a shard with no checkpoint starts reading (speed.startPosition). */
export function speedStartPosition(config: SluiceConfig): ConfiguredStart {
  const { startPosition, startTimestamp } = config.speed;
  if (startPosition === 'AT_TIMESTAMP') return { type: 'AT_TIMESTAMP', timestampMs: Date.parse(startTimestamp!) };
  return { type: startPosition };
}

/**
 * The Kinesis read budget of a worker process: speed.reads split into whole calls per second per
 * (stream, processor) of speedTopology, so the processes reading a shard stay within its limit
 * together whichever of them runs which consumer (docs/speed.md, "Kinesis read budget").
 */
export function speedReadBudget(config: SluiceConfig): ReadBudget {
  const { callsPerSecond, bytesPerSecond, guardMs } = config.speed.reads;
  const shares = readShares(speedTopology(config), callsPerSecond);
  return new ReadBudget({ callsPerSecond, bytesPerSecond, guardMs, shareOf: (stream, processor) => shares.get(stream)?.get(processor) ?? 1 });
}

/** The Iglu lookup the shredder builds tables from: the same resolver enrich validates with. */
export function makeSchemaLookup(config: SluiceConfig): SchemaLookup {
  const { resolver } = getEnricher(config.enrich).iglu;
  return (uri) => resolver.lookupSchema(uri);
}

/** The speed layer's (stream, processor) pairs: what each supervisor consumes. */
export function speedTopology(config: SluiceConfig): { stream: string; processor: string }[] {
  const { raw, enriched, bad } = config.kinesis.streams;
  const topology = [
    { stream: raw, processor: 'enrich' },
    { stream: raw, processor: 'raw-s3' },
    { stream: enriched, processor: 'realtime-views' },
    { stream: bad, processor: 'bad-rows' },
  ];
  // The enriched S3 sink feeds stream-enrich batch mode.
  if (config.batch.mode === 'stream-enrich' || config.speed.enrichedSink.enabled) topology.push({ stream: enriched, processor: 'enriched-s3' });
  if (config.speed.dripfeed.enabled) topology.push({ stream: enriched, processor: WAREHOUSE_PROCESSOR });
  return topology;
}
