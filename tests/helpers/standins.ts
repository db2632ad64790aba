import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../adapters/aws-clients';
import { ensureBucket, type ObjectStore, s3ObjectStore } from '../../adapters/object-store';
import { loadConfig, type SluiceConfig } from '../../config';
import { makeLogger } from '../../observability/logger';
import { ManagedProcess, type ProcessSpec } from '../../stack/processes';

// Test helpers: free ports, a config pointing every endpoint at fresh ports and a fresh temp data
// dir, and real stand-ins (kinesalite, s3rver, PostgreSQL) started as managed child processes.

// Draws n distinct ports (all held open until every one is chosen, so none repeats), then
// reserves each: Linux hands out ephemeral ports at random, so a port drawn and closed can come
// back from the next bind(0) (the Temporal dev server draws its internal ports that way while it
// starts) before our stand-in binds it. As the Temporal CLI does for its own ports, each port gets
// one connection that the listening side closes first; the TIME_WAIT socket that leaves on the
// port keeps bind(0) off it for a minute, while a listener with SO_REUSEADDR (Node, PostgreSQL,
// Go) can still bind it. Prints the ports once every one is reserved and closed.
const FREE_PORTS_SCRIPT = `
const net = require('node:net');
const reserveAndClose = (server) => new Promise((resolve) => {
  server.once('connection', (socket) => socket.end());
  const client = net.connect(server.address().port, '127.0.0.1');
  client.on('end', () => client.end());
  client.once('close', () => server.close(resolve));
});
const n = Number(process.argv[1]);
const servers = [];
const next = () => {
  if (servers.length === n) {
    const ports = servers.map((s) => s.address().port);
    Promise.all(servers.map(reserveAndClose)).then(() => process.stdout.write(JSON.stringify(ports)));
    return;
  }
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { servers.push(s); next(); });
};
next();
`;

/** `n` distinct TCP ports free on 127.0.0.1 and kept from bind(0) for a minute (a short-lived child process draws them). */
export function freePortsSync(n: number): number[] {
  const out = execFileSync(process.execPath, ['-e', FREE_PORTS_SCRIPT, String(n)], { encoding: 'utf8' });
  return JSON.parse(out) as number[];
}

/** `n` distinct free ports (freePortsSync; the draw takes milliseconds). */
export async function freePorts(n: number): Promise<number[]> {
  return freePortsSync(n);
}

/** One free port (freePortsSync). */
export async function freePort(): Promise<number> {
  return freePortsSync(1)[0];
}

/**
 * A config on a fresh temp dataDir (os.tmpdir()/sluice-test-*) and fresh ports for every
 * listener. `overrides` are extra SLUICE_* environment entries, applied last
 * (e.g. `{ SLUICE_COLLECTOR__BODY_LIMIT_BYTES: '2048' }`).
 */
export function testConfig(overrides: Record<string, string> = {}): SluiceConfig {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-test-'));
  const [kinesis, s3, postgres, temporal, temporalUi, collector, serving, workers, redshiftLocal] = freePortsSync(9);
  const env: Record<string, string> = {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_LOG__LEVEL: 'warn',
    SLUICE_KINESIS__PORT: String(kinesis),
    SLUICE_KINESIS__ENDPOINT: `http://127.0.0.1:${kinesis}`,
    SLUICE_S3__PORT: String(s3),
    SLUICE_S3__ENDPOINT: `http://127.0.0.1:${s3}`,
    SLUICE_WAREHOUSE__POSTGRES_PORT: String(postgres),
    SLUICE_WAREHOUSE__POSTGRES_URL: `postgres://sluice@127.0.0.1:${postgres}/sluice`,
    SLUICE_TEMPORAL__ADDRESS: `127.0.0.1:${temporal}`,
    SLUICE_TEMPORAL__UI_PORT: String(temporalUi),
    SLUICE_COLLECTOR__PORT: String(collector),
    SLUICE_SERVING__PORT: String(serving),
    SLUICE_WORKERS__PORT: String(workers),
    SLUICE_WAREHOUSE__REDSHIFT__LOCAL_PORT: String(redshiftLocal),
    ...overrides,
  };
  // cwd = the temp dir, so a sluice.config.json in the project root is never picked up.
  return loadConfig(env, dataDir);
}

/** Starts a stand-in (logs under config.dataDir/logs); stop() and start() again to simulate an outage. */
export async function startStandin(spec: ProcessSpec, config: SluiceConfig): Promise<ManagedProcess> {
  const proc = new ManagedProcess(spec, path.join(config.dataDir, 'logs'), makeLogger(`test-${spec.name}`, 'warn'));
  await proc.start();
  return proc;
}

/** An S3 client on the config's s3rver, the bucket created, and the object store over it. */
export async function bucketStore(config: SluiceConfig): Promise<{ client: S3Client; store: ObjectStore }> {
  const client = makeS3Client(config);
  await ensureBucket(client, config.s3.bucket);
  return { client, store: s3ObjectStore(client, config.s3.bucket) };
}

/** Stops the stand-ins (in reverse order) and removes the config's temp data dir. */
export async function teardown(config: SluiceConfig | undefined, ...procs: (ManagedProcess | undefined)[]): Promise<void> {
  for (const p of procs.reverse()) await p?.stop().catch(() => undefined);
  if (config && path.basename(config.dataDir).startsWith('sluice-test-')) {
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds or `timeoutMs` passes. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await sleep(stepMs);
  }
}
