import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeLogger } from '../../observability/logger';
import { buildServingApp } from '../../serving/app';
import { projectRoot } from '../../stack/standins';
import { waitFor } from '../helpers/standins';
import { useStandins } from '../helpers/rig';

// Access control over real sockets and real processes: the serving API bound to a non-loopback
// address of this machine answers 401 without the token and serves PostgreSQL's answer with it;
// serving/main.ts, workers/main.ts and collector/main.ts refuse to start off loopback without a
// token; started with tokens, a password in the PostgreSQL URL, AWS keys and a Temporal API key,
// at log level trace, none of those strings reaches their logs.

const require = createRequire(import.meta.url);

const SECRETS = {
  servingToken: 'serving-tok-9c1e5b7a3d2f4e6a',
  workersToken: 'workers-tok-4b8d2a6c0e1f3a5b',
  collectorToken: 'collector-tok-7e3a9c5b1d0f2e4a',
  pgPassword: 'pg-pass-5e3c1a9b7d',
  awsKeyId: 'AKIAIOSFODNN7EXAMPLE',
  awsSecret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  temporalApiKey: 'temporal-api-key-2f6b8d0a4c',
  // Sent by the tests as wrong tokens: refused requests must not log what they carried either.
  wrongToken: 'wrong-tok-0a1b2c3d4e5f6a7b8c',
};

const rig = useStandins({ postgres: true, temporal: true });
let configFile: string;

beforeAll(() => {
  // The children read the resolved test config from a file, as `sluice up` hands it over.
  configFile = path.join(rig.config.dataDir, 'config.resolved.json');
  fs.writeFileSync(configFile, JSON.stringify(rig.config), { mode: 0o600 });
});

/** An address of this machine that is not loopback, or undefined when it has none. */
function nonLoopbackAddress(): string | undefined {
  const all = Object.values(os.networkInterfaces()).flat();
  return all.find((i) => i && !i.internal && i.family === 'IPv4')?.address;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('serving API on a non-loopback address, over real HTTP', () => {
  it('answers 401 without the token and the merged counts from PostgreSQL with it', async () => {
    // With no such interface, 0.0.0.0 is just as much off loopback; it is reached through 127.0.0.1.
    const address = nonLoopbackAddress();
    const host = address ?? '0.0.0.0';
    const app = buildServingApp(rig.pool, makeLogger('test', 'silent'), { host, token: SECRETS.servingToken });
    try {
      await app.listen({ host, port: 0 });
      const base = `http://${address ?? '127.0.0.1'}:${(app.server.address() as net.AddressInfo).port}`;
      const url = `${base}/v1/counts/minutes?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z`;

      const refused = await fetch(url);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(await refused.json()).toEqual({ error: 'unauthorized' });
      expect((await fetch(url, { headers: bearer(SECRETS.wrongToken) })).status).toBe(401);
      expect((await fetch(`${base}/health`)).status).toBe(200);

      const served = await fetch(url, { headers: bearer(SECRETS.servingToken) });
      expect(served.status).toBe(200);
      const body = (await served.json()) as { totals: unknown; points: unknown[] };
      expect(body).toHaveProperty('totals');
      expect(Array.isArray(body.points)).toBe(true);
    } finally {
      await app.close();
    }
  });
});

interface Service {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startService(entry: string, env: Record<string, string>): Service {
  // Only this test's settings: no SLUICE_* variable of the parent leaks into the child.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SLUICE_')));
  const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(projectRoot, entry)], {
    cwd: projectRoot,
    env: { ...base, SLUICE_CONFIG: configFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function stopService(s: Service): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
  const forced = setTimeout(() => s.child.kill('SIGKILL'), 30_000);
  await s.exited;
  clearTimeout(forced);
}

const up = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.ok === true;

describe('service processes', () => {
  it('refuse to start bound to 0.0.0.0 without a token, naming the keys to set', async () => {
    const cases = [
      ['serving/main.ts', 'serving'],
      ['workers/main.ts', 'workers'],
      ['collector/main.ts', 'collector'],
    ] as const;
    const runs = cases.map(([entry, service]) => ({ service, run: startService(entry, { [`SLUICE_${service.toUpperCase()}__HOST`]: '0.0.0.0' }) }));
    for (const { service, run } of runs) {
      const code = await run.exited;
      expect(code, run.output()).toBe(2);
      const upper = service.toUpperCase();
      expect(run.output()).toContain(`${service}.host (SLUICE_${upper}__HOST) is "0.0.0.0", which is not a loopback address`);
      expect(run.output()).toContain(`${service}.token (SLUICE_${upper}__TOKEN) or auth.token (SLUICE_AUTH__TOKEN)`);
    }
  });

  it('started off loopback with tokens and credentials: guarded over HTTP, and no secret in their logs', async () => {
    const pgUrl = new URL(rig.config.warehouse.postgresUrl);
    pgUrl.password = SECRETS.pgPassword; // the local cluster trusts loopback, so any password connects
    const common = {
      SLUICE_LOG__LEVEL: 'trace',
      SLUICE_WAREHOUSE__POSTGRES_URL: pgUrl.toString(),
      SLUICE_AWS__ACCESS_KEY_ID: SECRETS.awsKeyId,
      SLUICE_AWS__SECRET_ACCESS_KEY: SECRETS.awsSecret,
    };
    const services = {
      // The serving API's Temporal connection has an API key, so it goes over TLS to the plain dev
      // server and fails: the failure is logged, the key is not.
      serving: startService('serving/main.ts', { ...common, SLUICE_SERVING__HOST: '0.0.0.0', SLUICE_SERVING__TOKEN: SECRETS.servingToken, SLUICE_TEMPORAL__API_KEY: SECRETS.temporalApiKey }),
      workers: startService('workers/main.ts', { ...common, SLUICE_WORKERS__HOST: '0.0.0.0', SLUICE_WORKERS__TOKEN: SECRETS.workersToken }),
      collector: startService('collector/main.ts', { ...common, SLUICE_COLLECTOR__HOST: '0.0.0.0', SLUICE_COLLECTOR__TOKEN: SECRETS.collectorToken }),
    };
    const urls = {
      serving: `http://127.0.0.1:${rig.config.serving.port}`,
      workers: `http://127.0.0.1:${rig.config.workers.port}`,
      collector: `http://127.0.0.1:${rig.config.collector.port}`,
    };
    try {
      // The workers bundle the workflow code before they listen.
      await Promise.all(Object.entries(urls).map(([name, url]) => waitFor(up(`${url}/health`), 150_000, 250).catch(() => {
        throw new Error(`${name} did not come up:\n${services[name as keyof typeof services].output()}`);
      })));

      const guarded: [string, string][] = [
        [`${urls.serving}/v1/counts/minutes?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z`, SECRETS.servingToken],
        [`${urls.serving}/metrics`, SECRETS.servingToken],
        [`${urls.workers}/metrics`, SECRETS.workersToken],
        [`${urls.collector}/metrics`, SECRETS.collectorToken],
        [`${urls.collector}/sink-health`, SECRETS.collectorToken],
      ];
      for (const [url, token] of guarded) {
        expect((await fetch(url)).status, url).toBe(401);
        expect((await fetch(url, { headers: bearer(SECRETS.wrongToken) })).status, url).toBe(401);
        // Each service takes only its own token.
        const other = token === SECRETS.servingToken ? SECRETS.workersToken : SECRETS.servingToken;
        expect((await fetch(url, { headers: bearer(other) })).status, url).toBe(401);
        expect((await fetch(url, { headers: bearer(token) })).status, url).toBe(200);
      }
      const metrics = await (await fetch(`${urls.workers}/metrics`, { headers: bearer(SECRETS.workersToken) })).text();
      expect(metrics).toContain('process_cpu_seconds_total');
    } finally {
      await Promise.all(Object.values(services).map(stopService));
    }

    const logs = Object.values(services).map((s) => s.output()).join('\n');
    // The capture holds what the services logged: their start lines, the refused requests, the
    // worker's configuration (with the AWS key id masked to its last four characters).
    expect(logs).toContain('serving API listening');
    expect(logs).toContain('collector listening');
    expect(logs).toContain('workers running');
    expect(logs).toContain('unauthorized: no valid bearer token');
    expect(logs).toContain('Temporal unreachable');
    expect(logs).toContain('"accessKeyId":"***MPLE"');
    for (const [name, secret] of Object.entries(SECRETS)) expect(logs.includes(secret), `${name} appears in the logs`).toBe(false);
  });
});
