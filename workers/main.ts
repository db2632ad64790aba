import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode, type LogLevel } from '@temporalio/worker';
import Fastify from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createBatchActivities, type BatchDeps } from '../activities/batch';
import { createReprocessActivities } from '../activities/reprocess';
import { createSpeedActivities } from '../activities/speed';
import { loadConfig, redactConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { fastifyLogging } from '../observability/fastify';
import { speedHeartbeatThrottle } from '../temporal.config';
import { speedMetrics } from './speed-metrics';
import { makeWarehouseLoader } from '../warehouse/make-loader';
import { connectTemporal, makeAdapters, makeEngine, makeSchemaLookup, speedStartPosition } from './wiring';

// The Temporal worker process: the speed and batch task queues, sharing one workflow bundle.

const config = loadConfig();
const log = makeLogger('worker', config.log.level);
log.info({ config: redactConfig(config) }, 'configuration loaded');
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => log[entry.level === 'TRACE' ? 'trace' : (entry.level.toLowerCase() as Lowercase<Exclude<LogLevel, 'TRACE'>>)]({ ...entry.meta }, entry.message)),
});

const adapters = makeAdapters(config);
const engine = makeEngine(config);
const { client } = await connectTemporal(config);
const connection = await NativeConnection.connect({ address: config.temporal.address });
const workflowBundle = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
  logger: new DefaultLogger('WARN'),
});

const registry = new Registry();
collectDefaultMetrics({ register: registry });

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
    metrics: speedMetrics(registry),
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
  latenessMs: config.batch.latenessMs,
};
const batchWorker = await Worker.create({
  connection,
  namespace: config.temporal.namespace,
  taskQueue: config.temporal.taskQueues.batch,
  workflowBundle,
  activities: { ...createBatchActivities(batchDeps), ...createReprocessActivities(batchDeps) },
  maxConcurrentActivityTaskExecutions: 4,
});

const health = Fastify(fastifyLogging(log));
health.get('/health', async (_req, reply) => {
  const ok = speedWorker.getState() === 'RUNNING' && batchWorker.getState() === 'RUNNING';
  return reply.code(ok ? 200 : 503).send({ speed: speedWorker.getState(), batch: batchWorker.getState() });
});
health.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
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
