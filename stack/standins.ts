import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { SluiceConfig } from '../config';
import { httpReady, tcpReady, type ProcessSpec } from './processes';

// Launch specs for the local stand-ins of the real parts (ARCHITECTURE.md, "Real parts").

const require = createRequire(import.meta.url);
export const projectRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** The port of the Temporal frontend, from `temporal.address` (host:port). */
export function temporalPort(config: SluiceConfig): number {
  return Number(config.temporal.address.split(':').pop());
}

/** `temporal` from the PATH, else the project-local build made by bin/bootstrap.mjs. */
export function findTemporalCli(): string {
  const local = path.join(projectRoot, '.tools', 'bin', 'temporal');
  if (fs.existsSync(local)) return local;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  throw new Error('no `temporal` CLI on the PATH or in .tools/bin: run `node bin/bootstrap.mjs` to build it');
}

export function temporalSpec(config: SluiceConfig): ProcessSpec {
  const dir = path.join(config.dataDir, 'temporal');
  fs.mkdirSync(dir, { recursive: true });
  const port = temporalPort(config);
  return {
    name: 'temporal',
    command: findTemporalCli(),
    args: [
      'server', 'start-dev',
      '--db-filename', path.join(dir, 'temporal.db'),
      '--ip', '127.0.0.1',
      '--port', String(port),
      '--ui-port', String(config.temporal.uiPort),
      '--namespace', config.temporal.namespace,
      '--log-level', 'warn',
    ],
    ready: tcpReady(port),
    readyTimeoutMs: 60_000,
  };
}

export function kinesaliteSpec(config: SluiceConfig): ProcessSpec {
  const dir = path.join(config.dataDir, 'kinesis');
  fs.mkdirSync(dir, { recursive: true });
  return {
    name: 'kinesalite',
    command: process.execPath,
    args: [
      require.resolve('kinesalite/cli.js'),
      '--port', String(config.kinesis.port),
      '--path', dir,
      '--createStreamMs', '0', '--deleteStreamMs', '0', '--updateStreamMs', '0',
      '--shardLimit', '200',
    ],
    ready: tcpReady(config.kinesis.port),
  };
}

export function s3Spec(config: SluiceConfig): ProcessSpec {
  const dir = path.join(config.dataDir, 's3');
  fs.mkdirSync(dir, { recursive: true });
  return {
    name: 's3',
    command: process.execPath,
    // s3rver builds ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node >= 17) only
    // has in its legacy provider: without it every listing past 1,000 keys fails with InternalError.
    args: ['--openssl-legacy-provider', require.resolve('s3rver/bin/s3rver.js'), '-d', dir, '-a', '127.0.0.1', '-p', String(config.s3.port), '--silent'],
    ready: tcpReady(config.s3.port),
  };
}

/** PostgreSQL's binaries: `pg_config --bindir`, else the newest Debian cluster version. */
export function findPostgresBin(): string {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (fs.existsSync(path.join(dir, 'postgres'))) return dir;
  } catch {
    // not on the PATH: look where Debian installs it
  }
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const dir = path.join(base, v, 'bin');
    if (fs.existsSync(path.join(dir, 'postgres'))) return dir;
  }
  throw new Error('PostgreSQL is not installed: `apt-get install postgresql` (bin/bootstrap.mjs does this as root)');
}

/** PostgreSQL refuses to run as root: run it as `postgres` (Debian's) or `nobody`. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      // try the next candidate
    }
  }
  throw new Error('running as root and found no unprivileged user (postgres or nobody) to run PostgreSQL');
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.chownSync(dir, uid, gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(p, uid, gid);
    else fs.chownSync(p, uid, gid);
  }
}

/** A project-local cluster: initdb once (trust auth on loopback only), then run `postgres`. */
export function postgresSpec(config: SluiceConfig): ProcessSpec {
  const bin = findPostgresBin();
  const dir = path.join(config.dataDir, 'postgres');
  const socketDir = path.join(dir, 'run');
  const data = path.join(dir, 'data');
  const user = postgresUser();
  fs.mkdirSync(socketDir, { recursive: true });
  if (user) {
    // The data dir's parents must be traversable by the unprivileged user.
    for (let p = dir; p !== path.dirname(p); p = path.dirname(p)) {
      const mode = fs.statSync(p).mode;
      if ((mode & 0o001) === 0) fs.chmodSync(p, mode | 0o001);
    }
    chownTree(dir, user.uid, user.gid);
  }
  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    execFileSync(
      path.join(bin, 'initdb'),
      ['-D', data, '-U', 'sluice', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { uid: user?.uid, gid: user?.gid, stdio: 'pipe', cwd: os.tmpdir() },
    );
  }
  return {
    name: 'postgres',
    command: path.join(bin, 'postgres'),
    args: [
      '-D', data,
      '-p', String(config.warehouse.postgresPort),
      '-k', socketDir,
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'max_connections=200',
      // The batch load commits its two connections with two-phase commit (warehouse/postgres-two-phase.ts).
      '-c', 'max_prepared_transactions=16',
      // A warehouse takes bulk loads: two COPYs at once queue on WALWriteLock with the default
      // 4 MB of WAL buffers (1/32 of shared_buffers), and a 1 GB max_wal_size checkpoints several
      // times during one run's load.
      '-c', 'wal_buffers=64MB',
      '-c', 'max_wal_size=4GB',
      // A load on a fresh server otherwise waits on zero-filling each new 16 MB WAL segment
      // (IO:WALInitWrite, 14% of its COPYs' samples; none since). It also waited on extending
      // table files (IO:DataFileExtend, 18% with the default 128 MB of shared buffers; 2% and 18%
      // in two runs with 512 MB, so that part depends on the page cache too): bench/batch.ts.
      '-c', 'wal_init_zero=off',
      '-c', 'shared_buffers=512MB',
    ],
    uid: user?.uid,
    gid: user?.gid,
    cwd: os.tmpdir(),
    ready: tcpReady(config.warehouse.postgresPort),
    stopSignal: 'SIGINT',
  };
}

/**
 * The local Redshift Data API endpoint (warehouse/redshift-local/): statements run on the local
 * PostgreSQL, COPY reads the object store, so start it after both. `configFile`: the resolved
 * config the child reads (else it loads the config as the parent did, from its environment).
 */
export function redshiftLocalSpec(config: SluiceConfig, configFile?: string): ProcessSpec {
  const port = config.warehouse.redshift.localPort;
  return {
    name: 'redshift-local',
    command: process.execPath,
    args: ['--import', require.resolve('tsx'), path.join(projectRoot, 'warehouse', 'redshift-local', 'main.ts')],
    env: configFile ? { SLUICE_CONFIG: configFile } : {},
    cwd: projectRoot,
    ready: httpReady(`http://127.0.0.1:${port}/health`),
  };
}
