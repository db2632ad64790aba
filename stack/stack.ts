import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { makeKinesisClient, makeS3Client } from '../adapters/aws-clients';
import { ensureStream } from '../adapters/kinesis';
import { ensureBucket } from '../adapters/object-store';
import type { SluiceConfig } from '../config';
import { serviceToken } from '../observability/access';
import type { Logger } from '../observability/logger';
import { workflowIds } from '../temporal.config';
import { connectTemporal, speedTopology } from '../workers/wiring';
import { streamSupervisorWorkflow } from '../workflows/stream-supervisor';
import { ensureOperator } from '../cli/operator';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID } from '../cli/retention';
import { migrateWarehouse } from '../warehouse/migrate';
import { ManagedProcess, assertPortFree, httpReady, type ProcessSpec } from './processes';
import { kinesaliteSpec, postgresSpec, projectRoot, redshiftLocalSpec, s3Spec, temporalPort, temporalSpec } from './standins';

// The whole local stack: stand-ins first, then provisioning, then Sluice's own services.

const require = createRequire(import.meta.url);

export interface StackUrls {
  collector: string;
  serving: string;
  temporalUi: string;
  temporal: string;
  workers: string;
}

export function stackUrls(config: SluiceConfig): StackUrls {
  return {
    collector: `http://${config.collector.host}:${config.collector.port}`,
    serving: `http://${config.serving.host}:${config.serving.port}`,
    temporalUi: `http://127.0.0.1:${config.temporal.uiPort}`,
    temporal: config.temporal.address,
    workers: `http://${config.workers.host}:${config.workers.port}`,
  };
}

/** warehouse.kind=redshift against the local Data API endpoint (which `up` starts). */
const redshiftLocal = (c: SluiceConfig) => c.warehouse.kind === 'redshift' && c.warehouse.redshift.mode === 'local';

/** Children read the same resolved config the parent has, through one file. */
function writeChildConfig(config: SluiceConfig): string {
  const file = path.join(config.dataDir, 'config.resolved.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}

/**
 * The collector's V8 flags. Node 24 sizes the young generation by the heap limit (semi-spaces of
 * up to 64 MB), and a collector at its peak then holds ~400 MB resident; 16 MB semi-spaces (Node
 * 20's default) keep it at ~275 MB for the same CPU per request (8 MB costs ~20% more CPU):
 * docs/collector.md.
 */
export const COLLECTOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];

function serviceSpec(name: string, entry: string, configFile: string, ready: () => Promise<boolean>, nodeFlags: readonly string[] = []): ProcessSpec {
  return {
    name,
    command: process.execPath,
    args: [...nodeFlags, '--import', require.resolve('tsx'), path.join(projectRoot, entry)],
    env: { SLUICE_CONFIG: configFile },
    cwd: projectRoot,
    ready,
    // The worker bundles the workflow code on start.
    readyTimeoutMs: 120_000,
  };
}

export class Stack {
  readonly processes = new Map<string, ManagedProcess>();

  constructor(
    readonly config: SluiceConfig,
    private readonly log: Logger,
  ) {}

  get urls(): StackUrls {
    return stackUrls(this.config);
  }

  private async launch(spec: ProcessSpec): Promise<void> {
    const proc = new ManagedProcess(spec, path.join(this.config.dataDir, 'logs'), this.log);
    this.processes.set(spec.name, proc);
    this.log.info({ process: spec.name }, 'starting');
    await proc.start();
  }

  async checkPorts(): Promise<void> {
    const c = this.config;
    const ports: [number, string][] = [
      [c.collector.port, 'collector.port'],
      [c.serving.port, 'serving.port'],
      [c.workers.port, 'workers.port'],
    ];
    if (c.temporal.mode === 'local') {
      ports.push([temporalPort(c), 'temporal.address'], [c.temporal.uiPort, 'temporal.uiPort']);
    }
    if (c.kinesis.local) ports.push([c.kinesis.port, 'kinesis.port']);
    if (c.s3.local) ports.push([c.s3.port, 's3.port']);
    if (c.warehouse.postgresMode === 'local') ports.push([c.warehouse.postgresPort, 'warehouse.postgresPort']);
    if (redshiftLocal(c)) ports.push([c.warehouse.redshift.localPort, 'warehouse.redshift.localPort']);
    for (const [port, key] of ports) await assertPortFree(port, key);
  }

  /** Starts the stand-ins and creates streams, bucket and tables (all idempotent). */
  async startInfrastructure(): Promise<void> {
    const c = this.config;
    fs.mkdirSync(c.dataDir, { recursive: true });
    // A service bound off loopback without a token refuses to start: say so before starting anything.
    for (const service of ['collector', 'serving', 'workers'] as const) serviceToken(c, service);
    await this.checkPorts();
    const standins: ProcessSpec[] = [];
    if (c.temporal.mode === 'local') standins.push(temporalSpec(c));
    if (c.kinesis.local) standins.push(kinesaliteSpec(c));
    if (c.s3.local) standins.push(s3Spec(c));
    if (c.warehouse.postgresMode === 'local') standins.push(postgresSpec(c));
    await Promise.all(standins.map((s) => this.launch(s)));
    // The local Data API endpoint runs its statements on PostgreSQL and COPYs from S3: both are up now.
    if (redshiftLocal(c)) await this.launch(redshiftLocalSpec(c, writeChildConfig(c)));

    const kinesis = makeKinesisClient(c);
    for (const stream of Object.values(c.kinesis.streams)) await ensureStream(kinesis, stream, c.kinesis.shards);
    kinesis.destroy();
    const s3 = makeS3Client(c);
    await ensureBucket(s3, c.s3.bucket);
    s3.destroy();
    await migrateWarehouse(c);
    this.log.info('streams, bucket and warehouse tables ready');
  }

  async startServices(): Promise<void> {
    const file = writeChildConfig(this.config);
    const urls = this.urls;
    await Promise.all([
      this.launch(serviceSpec('workers', 'workers/main.ts', file, httpReady(`${urls.workers}/health`))),
      this.launch(serviceSpec('collector', 'collector/main.ts', file, httpReady(`${urls.collector}/health`), COLLECTOR_NODE_FLAGS)),
      this.launch(serviceSpec('serving', 'serving/main.ts', file, httpReady(`${urls.serving}/health`))),
    ]);
    await this.ensureSupervisors();
  }

  /** One supervisor workflow per (stream, processor); starting one that runs already is a no-op. */
  async ensureSupervisors(): Promise<void> {
    const { client, connection } = await connectTemporal(this.config);
    try {
      for (const { stream, processor } of speedTopology(this.config)) {
        try {
          await client.workflow.start(streamSupervisorWorkflow, {
            workflowId: workflowIds.supervisor(stream, processor),
            taskQueue: this.config.temporal.taskQueues.speed,
            args: [{ stream, processor }],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }
      // The pipeline operator (one per deployment): batch runs and reprocesses take turns through it.
      if (await ensureOperator(client, this.config)) this.log.info({ workflowId: workflowIds.operator() }, 'pipeline operator started');
      // Retention on its Temporal Schedule, its interval kept in line with the config (docs/retention.md).
      if (this.config.retention.schedule) {
        const done = await ensureRetentionSchedule(client, this.config);
        this.log.info({ scheduleId: RETENTION_SCHEDULE_ID, every: this.config.retention.every, done }, 'retention schedule ready');
      }
    } finally {
      await connection.close();
    }
  }

  async start(): Promise<void> {
    await this.startInfrastructure();
    await this.startServices();
  }

  /** Stops Sluice's services first (the collector flushes), then the stand-ins. */
  async stop(): Promise<void> {
    const order = ['collector', 'serving', 'workers', 'redshift-local', 'temporal', 'kinesalite', 's3', 'postgres'];
    for (const name of order) await this.processes.get(name)?.stop();
    this.processes.clear();
  }
}
