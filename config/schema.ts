import { z } from 'zod';

// One typed config for every endpoint. Defaults point at the local stand-ins that `sluice up`
// starts; pointing Sluice at AWS is a matter of overriding these values (file or environment).

const port = z.coerce.number().int().min(1).max(65535);
const host = z.string().min(1);
const boolish = z.union([z.boolean(), z.stringbool()]);

export const configSchema = z.object({
  dataDir: z.string().min(1).default('.sluice'),
  region: z.string().min(1).default('us-east-1'),
  // Credentials for the local stand-ins only; against AWS leave them empty and the SDK's
  // default provider chain (environment, profile, instance role) is used.
  aws: z
    .object({
      accessKeyId: z.string().default('S3RVER'),
      secretAccessKey: z.string().default('S3RVER'),
    })
    .prefault({}),
  temporal: z
    .object({
      address: z.string().min(1).default('127.0.0.1:7233'),
      namespace: z.string().min(1).default('default'),
      uiPort: port.default(8233),
      // Start the dev server ourselves (local) or use an existing cluster (managed).
      mode: z.enum(['local', 'managed']).default('local'),
      taskQueues: z
        .object({
          speed: z.string().min(1).default('sluice-speed'),
          batch: z.string().min(1).default('sluice-batch'),
        })
        .prefault({}),
    })
    .prefault({}),
  kinesis: z
    .object({
      // Empty endpoint = the real AWS endpoint for the region.
      endpoint: z.string().default('http://127.0.0.1:4567'),
      port: port.default(4567),
      local: boolish.default(true),
      shards: z.coerce.number().int().min(1).max(64).default(2),
      streams: z
        .object({
          raw: z.string().min(1).default('sluice-raw'),
          enriched: z.string().min(1).default('sluice-enriched'),
          bad: z.string().min(1).default('sluice-bad'),
        })
        .prefault({}),
    })
    .prefault({}),
  s3: z
    .object({
      endpoint: z.string().default('http://127.0.0.1:4568'),
      port: port.default(4568),
      local: boolish.default(true),
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{2,62}$/, 'must be a valid S3 bucket name').default('sluice-data'),
    })
    .prefault({}),
  emr: z
    .object({
      // "local" runs the job code in worker threads on the batch worker host.
      clusterId: z.string().min(1).default('local'),
      threads: z.coerce.number().int().min(1).max(64).default(2),
    })
    .prefault({}),
  warehouse: z
    .object({
      kind: z.enum(['postgres', 'redshift']).default('postgres'),
      postgresUrl: z.string().default('postgres://sluice@127.0.0.1:5433/sluice'),
      postgresPort: port.default(5433),
      // Start a project-local PostgreSQL cluster (local) or use postgresUrl as given (managed).
      postgresMode: z.enum(['local', 'managed']).default('local'),
      redshift: z
        .object({
          workgroupName: z.string().optional(),
          clusterIdentifier: z.string().optional(),
          database: z.string().default('dev'),
          secretArn: z.string().optional(),
          iamRoleArn: z.string().optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  collector: z
    .object({
      host: host.default('127.0.0.1'),
      port: port.default(8080),
      name: z.string().min(1).default('sluice-collector'),
      bodyLimitBytes: z.coerce.number().int().min(1024).max(50_000_000).default(1_000_000),
      buffer: z
        .object({
          byteLimit: z.coerce.number().int().min(1).default(3_145_728),
          recordLimit: z.coerce.number().int().min(1).max(500).default(500),
          timeLimitMs: z.coerce.number().int().min(1).default(500),
          maxBufferedBytes: z.coerce.number().int().min(1).default(64 * 1024 * 1024),
        })
        .prefault({}),
      backoff: z
        .object({
          minMs: z.coerce.number().int().min(1).default(2_000),
          maxMs: z.coerce.number().int().min(1).default(600_000),
        })
        .prefault({}),
    })
    .prefault({}),
  workers: z
    .object({
      host: host.default('127.0.0.1'),
      // Health and metrics of the worker process.
      port: port.default(8091),
    })
    .prefault({}),
  serving: z
    .object({
      host: host.default('127.0.0.1'),
      port: port.default(8090),
      token: z.string().optional(),
    })
    .prefault({}),
  speed: z
    .object({
      startPosition: z.enum(['TRIM_HORIZON', 'LATEST']).default('TRIM_HORIZON'),
      pollMs: z.coerce.number().int().min(50).default(250),
      // How long one consume activity polls before it returns its checkpoint to the workflow.
      activityBudgetMs: z.coerce.number().int().min(1_000).default(20_000),
      rawSink: z
        .object({
          maxRecords: z.coerce.number().int().min(1).default(50_000),
          maxBytes: z.coerce.number().int().min(1).default(64 * 1024 * 1024),
          maxAgeMs: z.coerce.number().int().min(100).default(10_000),
        })
        .prefault({}),
    })
    .prefault({}),
  batch: z
    .object({
      // Events collected within this long of the newest raw-sink progress marker are left to the
      // speed layer: the batch watermark never runs ahead of what the master dataset holds.
      latenessMs: z.coerce.number().int().min(0).default(2_000),
    })
    .prefault({}),
  log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') }).prefault({}),
});

export type SluiceConfig = z.infer<typeof configSchema>;
