import { availableParallelism } from 'node:os';
import { z } from 'zod';

// One typed config for every endpoint. Defaults point at the local stand-ins that `sluice up`
// starts; pointing Sluice at AWS is a matter of overriding these values (file or environment).

const port = z.coerce.number().int().min(1).max(65535);
const host = z.string().min(1);
const boolish = z.union([z.boolean(), z.stringbool()]);
// Collector helpers: lists from env vars are comma-separated; maps are JSON.
const stringList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v),
  z.array(z.string().min(1)),
);
const jsonObject = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v; // left as a string: the schema then reports the key as not an object
  }
};
const TWO_SEGMENTS = /^\/[^/]+\/[^/]+$/;
const STANDARD_PATHS = ['/com.snowplowanalytics.snowplow/tp2', '/r/tp2', '/com.snowplowanalytics.iglu/v1'] as const;

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
      // TLS or mTLS to a production cluster, and Temporal Cloud API keys (docs/operations-security.md).
      // PEM files; TLS is on when enabled or when any file or an API key is set.
      tls: z
        .object({
          enabled: boolish.default(false),
          serverRootCaFile: z.string().default(''),
          clientCertFile: z.string().default(''),
          clientKeyFile: z.string().default(''),
          serverNameOverride: z.string().default(''),
        })
        .prefault({}),
      apiKey: z.string().default(''),
      apiKeyFile: z.string().default(''),
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
      // "local" runs the job code in worker threads on the batch worker host; "transient" starts an
      // EMR cluster per step (it terminates when the step ends); "j-…" adds steps to that cluster.
      clusterId: z.string().regex(/^(local|transient|j-[A-Za-z0-9]+)$/, 'must be "local", "transient" or an EMR cluster id (j-…)').default('local'),
      // Worker threads of the local engine: one per core the process may use, by default.
      threads: z.coerce.number().int().min(1).max(64).default(() => Math.min(64, availableParallelism())),
      // How long the local engine keeps idle threads (ms): long enough to carry them from one step
      // of a run to the next with the job code loaded; 0 ends them after every step.
      threadIdleMs: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
      // EMR API endpoint; empty = AWS's endpoint for the region.
      endpoint: z.string().default(''),
      // Key prefix (in s3.bucket) for job bundles, step manifests, step outputs and cluster logs.
      prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)+$/, 'must be path segments ending in "/"').default('emr/'),
      // Filesystem scheme the step uses for the bucket: EMRFS (s3) on EMR; s3a on plain Hadoop.
      fsScheme: z.enum(['s3', 's3a']).default('s3'),
      pollMs: z.coerce.number().int().min(100).max(60_000).default(5_000),
      // Input objects per map task (NLineInputFormat lines per split).
      tasksPerMapper: z.coerce.number().int().min(1).max(10_000).default(1),
      // Node.js major version the bootstrap action installs on transient clusters.
      nodeMajor: z.coerce.number().int().min(18).default(20),
      transient: z
        .object({
          releaseLabel: z.string().min(1).default('emr-7.12.0'),
          instanceType: z.string().min(1).default('m5.xlarge'),
          coreInstances: z.coerce.number().int().min(0).max(256).default(2),
          serviceRole: z.string().min(1).default('EMR_DefaultRole'),
          jobFlowRole: z.string().min(1).default('EMR_EC2_DefaultRole'),
          subnetId: z.string().optional(),
          ec2KeyName: z.string().optional(),
        })
        .prefault({}),
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
          // Provisioned clusters without a secret authenticate as this database user.
          dbUser: z.string().optional(),
          // Data API endpoint override; empty = the AWS endpoint for the region.
          endpoint: z.string().default(''),
          // How often a running statement's status is polled (each poll heartbeats the activity).
          pollMs: z.coerce.number().int().min(50).max(60_000).default(1_000),
          // local: `sluice up` starts the local Data API endpoint (statements run on the local
          // PostgreSQL, COPY reads the object store) on localPort, and endpoint, workgroupName and
          // iamRoleArn default to it; aws: the real Data API, every setting as given.
          mode: z.enum(['local', 'aws']).default('local'),
          localPort: port.default(8097),
        })
        .prefault({}),
    })
    .prefault({}),
  collector: z
    .object({
      host: host.default('127.0.0.1'),
      port: port.default(8080),
      // Guards /metrics and /sink-health only (tracking routes are public); required off loopback.
      token: z.string().optional(),
      name: z.string().min(1).default('sluice-collector'),
      // Requests with a bigger body get 413. Bodies bigger than one Kinesis record are split on their
      // `data` array (see sink.maxRecordBytes), so this may exceed the record limit.
      bodyLimitBytes: z.coerce.number().int().min(1024).max(50_000_000).default(2_097_152),
      // Request line + headers; beyond it Node answers 431.
      maxHeaderBytes: z.coerce.number().int().min(1024).max(1_048_576).default(32_768),
      // Addresses (IPs, CIDRs, or proxy-addr names such as `loopback`) whose X-Forwarded-For is
      // believed. Empty: the socket address is the client IP and X-Forwarded-For is ignored.
      trustedProxies: stringList.default([]),
      // Custom `/{vendor}/{version}` paths mapped to the standard ones (Snowplow's `paths`).
      paths: z
        .preprocess(
          jsonObject,
          z.record(z.string().regex(TWO_SEGMENTS, 'must be a /vendor/version path'), z.enum(STANDARD_PATHS)),
        )
        .default({}),
      cookie: z
        .object({
          enabled: boolish.default(true),
          name: z.string().regex(/^[A-Za-z0-9_\-.]+$/, 'must be a cookie name token').default('sp'),
          expirationDays: z.coerce.number().min(0).max(3650).default(365),
          // The first domain that the Origin host equals or is a subdomain of; else fallbackDomain;
          // else no Domain attribute (the cookie belongs to the collector's host).
          domains: stringList.default([]),
          fallbackDomain: z.string().min(1).optional(),
          secure: boolish.default(true),
          httpOnly: boolish.default(true),
          sameSite: z.enum(['None', 'Lax', 'Strict']).default('None'),
        })
        .prefault({}),
      // Requests carrying this cookie (name exact, value a regular expression matched whole) are
      // answered as usual but not sunk, and get no cookie.
      doNotTrackCookie: z
        .object({
          enabled: boolish.default(false),
          name: z.string().default(''),
          value: z.string().default(''),
        })
        .superRefine((dnt, ctx) => {
          if (!dnt.enabled) return;
          if (!dnt.name) ctx.addIssue({ code: 'custom', path: ['name'], message: 'required when doNotTrackCookie is enabled' });
          try {
            new RegExp(dnt.value);
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: ['value'], message: `not a regular expression: ${(err as Error).message}` });
          }
        })
        .prefault({}),
      redirect: z
        .object({
          // `/r/*` answers 404 unless enabled; custom paths mapped to /r/tp2 work either way.
          enabled: boolish.default(false),
          // Hosts a redirect may go to (exact match). Empty: every redirect is refused (400).
          allowedHosts: stringList.default([]),
          macro: z
            .object({
              enabled: boolish.default(false),
              placeholder: z.string().min(1).default('${SP_NUID}'),
            })
            .prefault({}),
        })
        .prefault({}),
      cors: z.object({ maxAgeSeconds: z.coerce.number().int().min(-1).default(3600) }).prefault({}),
      crossDomain: z
        .object({
          enabled: boolish.default(false),
          domains: stringList.default(['*']),
          secure: boolish.default(true),
        })
        .prefault({}),
      sink: z
        .object({
          // `ip` keeps one client's records on one shard; `random` spreads the load evenly.
          partitionKey: z.enum(['random', 'ip']).default('random'),
          // Largest raw record (Snowplow's maxBytes); Kinesis takes up to 1 MiB of data + key.
          maxRecordBytes: z.coerce.number().int().min(1024).max(1_048_000).default(1_000_000),
          // PutRecords calls in flight at once per stream.
          maxInFlight: z.coerce.number().int().min(1).max(64).default(2),
          // Bytes per PutRecords call (Kinesis allows 5 MiB): smaller calls hold less memory and
          // spend less time serialising at once.
          maxBytesPerCall: z.coerce.number().int().min(65_536).max(5_242_880).default(1_048_576),
          // Consecutive failed PutRecords calls before /sink-health answers 503.
          unhealthyAfterFailures: z.coerce.number().int().min(1).default(1),
          // Make PutRecords calls (serialising, signing, sending) in a worker thread: no event-loop
          // stalls of ~10 ms per MiB sent, for ~30 MB more resident memory.
          writerThread: boolish.default(false),
        })
        .prefault({}),
      buffer: z
        .object({
          byteLimit: z.coerce.number().int().min(1).default(3_145_728),
          recordLimit: z.coerce.number().int().min(1).max(500).default(500),
          timeLimitMs: z.coerce.number().int().min(1).default(500),
          // Everything held in memory per stream (queued + in flight); beyond it requests get 503.
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
      // Guards /metrics (docs/serving.md, access control); required when host is not loopback.
      token: z.string().optional(),
    })
    .prefault({}),
  serving: z
    .object({
      host: host.default('127.0.0.1'),
      port: port.default(8090),
      token: z.string().optional(),
    })
    .prefault({}),
  // The token of every guarded service that has none of its own (serving, workers, collector).
  auth: z.object({ token: z.string().optional() }).prefault({}),
  speed: z
    .object({
      // Where a shard with no checkpoint starts; AT_TIMESTAMP reads from speed.startTimestamp.
      startPosition: z.enum(['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP']).default('TRIM_HORIZON'),
      startTimestamp: z.iso.datetime({ offset: true }).optional(),
      // Wait between polls of a shard: pollMs after an empty read, flowPollMs after a short one
      // (records flowing, the consumer at the tip); none after a full read (catching up).
      pollMs: z.coerce.number().int().min(50).default(250),
      flowPollMs: z.coerce.number().int().min(10).default(100),
      // An idle shard's wait doubles after each empty read, from pollMs up to idlePollMs (KCL
      // reads an idle shard once a second too). The first event after a quiet spell waits for it.
      idlePollMs: z.coerce.number().int().min(50).default(1_000),
      // A record that makes a processor throw for a reason tied to its content is retried this
      // many times on its own, then committed as a bad row so the shard moves on (docs/speed.md).
      poisonAttempts: z.coerce.number().int().min(1).max(100).default(3),
      // The Kinesis read budget per shard, for every reader of the shard together (docs/speed.md,
      // "Kinesis read budget"): GetRecords calls and bytes a second (Kinesis: 5 and 2 MB), split
      // into whole calls per processor of the stream; guardMs lengthens the one-second window
      // against network jitter.
      reads: z
        .object({
          callsPerSecond: z.coerce.number().int().min(1).max(5).default(5),
          bytesPerSecond: z.coerce.number().int().min(1_024).max(2_000_000).default(2_000_000),
          guardMs: z.coerce.number().int().min(0).max(1_000).default(100),
          // Records per GetRecords call (Kinesis allows up to 10,000).
          recordsPerCall: z.coerce.number().int().min(1).max(10_000).default(1_000),
        })
        .prefault({}),
      // How long one consume activity polls before it returns its checkpoint to the workflow.
      activityBudgetMs: z.coerce.number().int().min(1_000).default(20_000),
      // …or after this many records, whichever comes first.
      activityMaxRecords: z.coerce.number().int().min(1).default(200_000),
      // The warehouse dripfeed: the enriched stream micro-batched into atomic.events and the
      // shredded tables (docs/warehouse.md, "Dripfeed and batch"). A micro-batch is committed when
      // any limit is reached, or when the shard is caught up.
      dripfeed: z
        .object({
          enabled: boolish.default(true),
          maxRecords: z.coerce.number().int().min(1).default(5_000),
          maxBytes: z.coerce.number().int().min(1).default(8 * 1024 * 1024),
          maxAgeMs: z.coerce.number().int().min(0).default(1_000),
          // A micro-batch waiting longer than this for the warehouse write lock (a batch load
          // holds it) gives up and is retried with backoff.
          lockTimeoutMs: z.coerce.number().int().min(100).default(30_000),
        })
        .prefault({}),
      rawSink: z
        .object({
          maxRecords: z.coerce.number().int().min(1).default(50_000),
          maxBytes: z.coerce.number().int().min(1).default(64 * 1024 * 1024),
          maxAgeMs: z.coerce.number().int().min(100).default(10_000),
        })
        .prefault({}),
      // The enriched S3 sink (enriched/in/): on whenever batch.mode is stream-enrich.
      enrichedSink: z
        .object({
          enabled: boolish.default(false),
          maxRecords: z.coerce.number().int().min(1).default(50_000),
          maxBytes: z.coerce.number().int().min(1).default(64 * 1024 * 1024),
          maxAgeMs: z.coerce.number().int().min(100).default(10_000),
        })
        .prefault({}),
      // The bad-rows sink (bad/in/ files + the searchable sluice.bad_rows table): short age, so a
      // bad row is searchable seconds after it happened.
      badRowsSink: z
        .object({
          maxRecords: z.coerce.number().int().min(1).default(10_000),
          maxBytes: z.coerce.number().int().min(1).default(16 * 1024 * 1024),
          maxAgeMs: z.coerce.number().int().min(100).default(2_000),
        })
        .prefault({}),
    })
    .refine((s) => s.startPosition !== 'AT_TIMESTAMP' || s.startTimestamp !== undefined, {
      path: ['startTimestamp'],
      message: 'required when startPosition is AT_TIMESTAMP',
    })
    .prefault({}),
  batch: z
    .object({
      // classic: raw files → enrich → shred. stream-enrich: the speed layer's enriched files → shred
      // (enrich is skipped, as Snowplow's R102 allowed).
      mode: z.enum(['classic', 'stream-enrich']).default('classic'),
      // Events collected within this long of the newest raw-sink progress marker are left to the
      // speed layer: the batch watermark never runs ahead of what the master dataset holds.
      latenessMs: z.coerce.number().int().min(0).default(2_000),
    })
    .prefault({}),
  // The pipeline operator workflow (docs/operator.md): the one place operators reprocess windows
  // from, and the lease that serializes batch runs, reprocesses and retention.
  operator: z
    .object({
      // The longest window one reprocess request may ask for.
      maxReprocessDays: z.coerce.number().int().min(1).max(366).default(31),
      // A reprocess window runs as child reprocess runs of at most this many hours each.
      reprocessChunkHours: z.coerce.number().int().min(1).max(744).default(24),
      // How far back the master dataset (archive/raw/) is kept: older windows cannot be reprocessed.
      masterRetentionDays: z.coerce.number().int().min(1).max(36_500).default(400),
      // A window whose load an operator skipped is reprocessed as soon as the lease is free (true),
      // or stays owed, answered by the realtime views, until an operator reprocesses it (false).
      reprocessOwedWindows: boolish.default(true),
    })
    .prefault({}),
  // Retention (docs/retention.md): what the scheduled retention workflow deletes, and when. It holds
  // the pipeline lease while it deletes and never touches the windows queued reprocesses and
  // skipped loads still need. The master dataset's own age limit is operator.masterRetentionDays.
  retention: z
    .object({
      // `sluice up` keeps the Temporal Schedule `sluice-retention` in step with `every` (false: leaves it alone).
      schedule: boolish.default(true),
      every: z.string().regex(/^\d+(s|m|h|d)$/, 'must be a number and a unit: 30m, 6h, 1d').default('6h'),
      // sluice.sink_files (and sluice.staged_files) rows of files already archived; keep it above the streams' retention period.
      sinkFilesDays: z.coerce.number().int().min(1).max(36_500).default(7),
      // Realtime view rows older than this AND behind the batch watermark (a batch run retires most of them already).
      realtimeHours: z.coerce.number().int().min(1).max(876_000).default(48),
      // sluice.bad_rows rows, and the bad-rows sink's files under bad/in/.
      badRowsDays: z.coerce.number().int().min(1).max(36_500).default(90),
      // A run's archived enriched and shredded outputs (archive/enriched/, archive/shredded/): rebuilt from archive/raw/ by a reprocess.
      archiveEnrichedDays: z.coerce.number().int().min(1).max(36_500).default(30),
      archiveShreddedDays: z.coerce.number().int().min(1).max(36_500).default(30),
      // A reprocess's copies of the raw files it replayed (archive/reprocess/): archive/raw/ holds the originals.
      archiveReprocessDays: z.coerce.number().int().min(1).max(36_500).default(14),
      // Parts the Redshift dripfeed left under dripfeed/ when it crashed between its COPY and its clean-up.
      dripfeedHours: z.coerce.number().int().min(1).max(876_000).default(24),
      // EMR step folders (<emr.prefix>runs/) and cluster logs (<emr.prefix>logs/).
      emrDays: z.coerce.number().int().min(1).max(36_500).default(30),
      // workflow: the retention workflow deletes the object store's prefixes too; lifecycle: S3
      // lifecycle rules do (docs/retention.md prints them) and the workflow prunes tables only.
      archiveBy: z.enum(['workflow', 'lifecycle']).default('workflow'),
      // Rows per DELETE statement, and objects per DeleteObjects request (S3 takes at most 1,000).
      batchSize: z.coerce.number().int().min(1).max(100_000).default(5_000),
    })
    .prefault({}),
  // Bounds on every JSON document that comes from outside: tracker bodies, ue_pr/cx, webhooks,
  // redirect payloads, Iglu schemas, enrichment configs (docs/hostile-input.md). Beyond them the
  // event is a bad row, never a crash. Applied by loadConfig to the process that loads the config.
  input: z
    .object({
      jsonMaxDepth: z.coerce.number().int().min(8).max(1_000).default(100),
      jsonMaxBytes: z.coerce.number().int().min(1_024).max(50_000_000).default(1_048_576),
    })
    .prefault({}),
  // Enrich (docs/enrich.md). Relative paths resolve against the project root.
  enrich: z
    .object({
      // The local Iglu registry (vendor/name/format/version); always consulted first.
      schemasDir: z.string().min(1).default('schemas'),
      // Optional Iglu resolver config adding remote static registries; '' = local registry only.
      resolverConfig: z.string().default(''),
      // One self-describing JSON file per enrichment (Snowplow's config schemas).
      enrichmentsDir: z.string().min(1).default('config/enrichments'),
      // Time limit of one run of the JavaScript enrichment's process(event).
      jsTimeoutMs: z.coerce.number().int().min(1).max(60_000).default(1_000),
      // The JavaScript enrichment's worker thread: V8 heap (old and young generations) and stack,
      // and how much the JSON it returns may exceed the event's own (docs/enrich.md, resource bounds).
      jsMaxOldGenerationMb: z.coerce.number().int().min(8).max(4_096).default(64),
      jsMaxYoungGenerationMb: z.coerce.number().int().min(1).max(1_024).default(16),
      jsStackMb: z.coerce.number().int().min(1).max(64).default(4),
      jsMaxOutputBytes: z.coerce.number().int().min(1_024).max(100_000_000).default(1_000_000),
      // An enriched line longer than this becomes a size_violation bad row (Kinesis caps at 1 MiB).
      maxEnrichedBytes: z.coerce.number().int().min(1024).default(1_000_000),
    })
    .prefault({}),
  log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info') }).prefault({}),
});

export type SluiceConfig = z.infer<typeof configSchema>;
