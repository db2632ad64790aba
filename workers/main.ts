import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type LogLevel } from '@temporalio/worker';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createBatchActivities, type BatchDeps } from '../activities/batch';
import { createReprocessActivities } from '../activities/reprocess';
import { createRetentionActivities, kinesisShardIds } from '../activities/retention';
import { retentionPolicy } from '../batch/retention-plan';
import { createOperatorActivities, operatorPolicy } from '../activities/operator';
import { createSpeedActivities } from '../activities/speed';
import { ConfigError, loadConfig, redactConfig, type SluiceConfig } from '../config';
import { serviceToken } from '../observability/access';
import { makeLogger } from '../observability/logger';
import { speedHeartbeatThrottle } from '../temporal.config';
import { buildWorkerHealthApp } from './health-app';
import { kinesisReadMetrics, speedMetrics } from './speed-metrics';
import { operatorMetrics } from './operator-metrics';
import { ShardReads } from '../speed/shard-feed';
import { temporalConnectionOptions } from './temporal-connection';
import { makeWarehouseLoader } from '../warehouse/make-loader';
import { makeBatchViewsStore } from '../views/make-batch-views-store';
import { connectTemporal, makeAdapters, makeEngine, makeSchemaLookup, speedReadBudget, speedStartPosition } from './wiring';

// The Temporal worker process: the speed and batch task queues, sharing one workflow bundle.

let config: SluiceConfig;
let metricsToken: string | undefined;
let temporalOptions: ReturnType<typeof temporalConnectionOptions>;
try {
  config = loadConfig();
  // Off loopback without a token the workers refuse to start: /metrics names streams and shards.
  metricsToken = serviceToken(config, 'workers');
  // Certificate and API key files are read here, so a missing one is a clean start-up error.
  temporalOptions = temporalConnectionOptions(config);
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(2);
}
const log = makeLogger('worker', config.log.level);
log.info({ config: redactConfig(config) }, 'configuration loaded');
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => log[entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as Lowercase<Exclude<LogLevel, 'TRACE'>>)]({ ...entry.meta }, entry.message)),
});

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const adapters = makeAdapters(config, log, registry);
const engine = makeEngine(config, registry);
const { client } = await connectTemporal(config);
const connection = await NativeConnection.connect(temporalOptions);
const workflowBundle = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
  logger: new DefaultLogger('WARN'),
});

const speedWorker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: config.temporal.taskQueues.speed,
  workflowBundle,
  activities: createSpeedActivities({
    kinesis: adapters.kinesis,
    temporal: client,
    processors: adapters.processors,
    checkpoints: adapters.checkpoints,
    startPosition: speedStartPosition(config),
    pollMs: config.speed.pollMs,
    flowPollMs: config.speed.flowPollMs,
    idlePollMs: config.speed.idlePollMs,
    poisonAttempts: config.speed.poisonAttempts,
    budgetMs: config.speed.activityBudgetMs,
    maxRecords: config.speed.activityMaxRecords,
    readLimit: config.speed.reads.recordsPerCall,
    metrics: speedMetrics(registry),
    // Every GetRecords within this process's share of each shard's limit, one shared read per shard for its processors here.
    reads: new ShardReads({ kinesis: adapters.kinesis, budget: speedReadBudget(config), metrics: kinesisReadMetrics(registry) }),
  }),
  // Each shard consumer holds an activity slot for its whole poll budget.
  maxConcurrentActivityTaskExecutions: 64,
  maxHeartbeatThrottleInterval: speedHeartbeatThrottle,
});
const batchDeps: BatchDeps = {
  store: adapters.store,
  pool: adapters.pool,
  engine,
  kinesis: adapters.kinesis,
  streams: config.kinesis.streams,
  lookup: makeSchemaLookup(config),
  loader: makeWarehouseLoader(config, adapters),
  // The batch views and the watermark live in the warehouse (Redshift through the Data API, or PostgreSQL).
  views: makeBatchViewsStore(config, adapters.pool, log),
  latenessMs: config.batch.latenessMs,
};
const batchWorker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: config.temporal.taskQueues.batch,
  workflowBundle,
  activities: {
    ...createBatchActivities(batchDeps),
    ...createReprocessActivities(batchDeps),
    ...createRetentionActivities({
      pool: adapters.pool,
      store: adapters.store,
      views: batchDeps.views!,
      policy: retentionPolicy(config),
      streams: Object.values(config.kinesis.streams),
      listShardIds: kinesisShardIds(adapters.kinesis),
      log,
    }),
    ...createOperatorActivities({ client, taskQueue: config.temporal.taskQueues.batch, policy: operatorPolicy(config), pool: adapters.pool, views: batchDeps.views! }),
  },
  maxConcurrentActivityTaskExecutions: 4,
});

operatorMetrics(registry, client);
const health = buildWorkerHealthApp(log, registry, () => ({ speed: speedWorker.getState(), batch: batchWorker.getState() }), metricsToken);
await health.listen({ host: config.workers.host, port: config.workers.port });

const shutdown = () => {
  speedWorker.shutdown();
  batchWorker.shutdown();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

log.info({ queues: config.temporal.taskQueues }, 'workers running');
await Promise.all([speedWorker.run(), batchWorker.run()]);
await health.close();
await engine.close();
await adapters.pool.end();
await connection.close();
log.info('workers stopped');
process.exit(0);
