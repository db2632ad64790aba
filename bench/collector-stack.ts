import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { makeKinesisClient } from '../adapters/aws-clients';
import { ensureStream } from '../adapters/kinesis';
import { loadConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { ManagedProcess, httpReady } from '../stack/processes';
import { COLLECTOR_NODE_FLAGS } from '../stack/stack';
import { kinesaliteSpec, projectRoot } from '../stack/standins';
import { freePorts } from '../tests/helpers/standins';
import { COLLECTOR_BENCH_ENV } from './collector-scenarios';

// The processes bench/collector.ts and bench/collector-profile.ts measure, each a child process of
// its own (so /proc and a profiler see it alone): kinesalite with the collector's streams, the
// collector writing to it, and the bare Fastify route, on free ports, with their data in a fresh
// temporary directory.

const require = createRequire(import.meta.url);

export async function collectorStack() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  const [kinesisPort, collectorPort, barePort] = await freePorts(3);
  const env: Record<string, string> = {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_LOG__LEVEL: 'warn',
    SLUICE_KINESIS__PORT: String(kinesisPort),
    SLUICE_KINESIS__ENDPOINT: `http://127.0.0.1:${kinesisPort}`,
    SLUICE_COLLECTOR__PORT: String(collectorPort),
    // The default settings, plus redirects on (to the bench's target host) for the redirect rows.
    ...COLLECTOR_BENCH_ENV,
  };
  const config = loadConfig(env, dataDir);
  const log = makeLogger('bench', 'warn');
  const logs = path.join(dataDir, 'logs');
  const tsx = require.resolve('tsx');
  const kinesalite = new ManagedProcess(kinesaliteSpec(config), logs, log);
  const servers: ManagedProcess[] = [];
  const server = (spec: ConstructorParameters<typeof ManagedProcess>[0]) => {
    servers.push(new ManagedProcess(spec, logs, log));
    return servers.at(-1)!;
  };
  return {
    dataDir,
    collectorPort,
    barePort,
    kinesalite,
    /** The collector, with the flags the stack gives it; `nodeFlags` go after them (a profiler's). */
    collector: (nodeFlags: string[] = []) =>
      server({ name: 'collector', command: process.execPath, args: [...COLLECTOR_NODE_FLAGS, ...nodeFlags, '--import', tsx, path.join(projectRoot, 'collector', 'main.ts')], env, cwd: dataDir, ready: httpReady(`http://127.0.0.1:${collectorPort}/health`) }),
    /** The bare Fastify route (bench/bare-server.ts); `nodeFlags` as for the collector. */
    bare: (nodeFlags: string[] = []) =>
      server({ name: 'bare', command: process.execPath, args: [...nodeFlags, '--import', tsx, path.join(projectRoot, 'bench', 'bare-server.ts'), String(barePort)], ready: httpReady(`http://127.0.0.1:${barePort}/health`) }),
    /** Starts kinesalite and creates the streams the collector writes to. */
    async startKinesalite() {
      await kinesalite.start();
      const client = makeKinesisClient(config);
      await ensureStream(client, config.kinesis.streams.raw, config.kinesis.shards);
      await ensureStream(client, config.kinesis.streams.bad, 1);
      client.destroy();
    },
    /** Stops the servers (the last made first), then kinesalite, which the collector flushes to, and removes the data. */
    async close() {
      for (const s of [...servers].reverse()) await s.stop();
      await kinesalite.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
