import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCollectorPayload } from '../../codecs/collector-payload';
import { collectorOptions } from '../../collector/options';
import { ConfigError, loadConfig } from '../../config';
import { AccessPolicyError, MIN_TOKEN_LENGTH, accessPolicy, isLoopback, serviceToken } from '../../observability/access';
import { makeLogger } from '../../observability/logger';
import { buildServingApp } from '../../serving/app';
import { buildWorkerHealthApp } from '../../workers/health-app';
import { startCollectorOnKinesalite, type TestCollector } from '../helpers/collector';
import { readStreamRecords } from '../helpers/kinesis';
import { testConfig } from '../helpers/standins';

// Access control on every non-public endpoint: the policy (loopback or a token), and the guard on
// the serving API, the collector's operations routes and the workers' /metrics, through app.inject.
// Real sockets, real processes and the logs they write: tests/integration/access-control.test.ts.

const TOKEN = 'tok-3f9a0c41d2b7e865a1c0';
const silent = makeLogger('test', 'silent');
const config = (env: Record<string, string>) => loadConfig(env, '/tmp');

/** The answers a guarded route must give: no header, wrong token (same and other length), wrong scheme. */
const refusals: Record<string, Record<string, string>> = {
  'no header': {},
  'wrong token, same length': { authorization: `Bearer ${TOKEN.slice(0, -1)}X` },
  'wrong token, shorter': { authorization: `Bearer ${TOKEN.slice(0, 8)}` },
  'wrong token, longer': { authorization: `Bearer ${TOKEN}0` },
  'token without the scheme': { authorization: TOKEN },
  'Basic scheme': { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` },
};
const auth = { authorization: `Bearer ${TOKEN}` };

interface Injectable {
  inject(opts: { url: string; headers?: Record<string, string> }): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>;
}

async function expectGuarded(app: Injectable, url: string): Promise<void> {
  for (const [what, headers] of Object.entries(refusals)) {
    const res = await app.inject({ url, headers });
    expect(res.statusCode, `${url}, ${what}`).toBe(401);
    expect(res.headers['www-authenticate'], `${url}, ${what}`).toMatch(/^Bearer /);
    expect(JSON.parse(res.body)).toEqual({ error: 'unauthorized' });
  }
  expect((await app.inject({ url, headers: auth })).statusCode, `${url} with the token`).toBe(200);
}

describe('isLoopback', () => {
  it('knows 127.0.0.0/8, ::1 and localhost, and nothing else', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      expect(isLoopback(h), h).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '192.0.2.2', '10.0.0.1', '::ffff:10.0.0.1', 'fd00::2', '128.0.0.1', 'example.com', 'localhost.example.com', '']) {
      expect(isLoopback(h), h).toBe(false);
    }
  });
});

describe('access policy', () => {
  it('off loopback without a token: refuses, naming the host key and where a token goes', () => {
    for (const service of ['serving', 'workers', 'collector'] as const) {
      const env = { [`SLUICE_${service.toUpperCase()}__HOST`]: '0.0.0.0' };
      expect(() => serviceToken(config(env), service)).toThrow(AccessPolicyError);
      expect(() => serviceToken(config(env), service)).toThrow(ConfigError);
      const upper = service.toUpperCase();
      expect(() => serviceToken(config(env), service)).toThrow(
        `${service}.host (SLUICE_${upper}__HOST) is "0.0.0.0", which is not a loopback address: set a token in ${service}.token (SLUICE_${upper}__TOKEN) or auth.token (SLUICE_AUTH__TOKEN)`,
      );
    }
  });

  it('on loopback a token is optional; its own token wins over the shared auth.token', () => {
    expect(serviceToken(config({}), 'serving')).toBeUndefined();
    expect(serviceToken(config({ SLUICE_SERVING__HOST: 'localhost' }), 'serving')).toBeUndefined();
    const shared = 'shared-token-0123456789';
    expect(serviceToken(config({ SLUICE_SERVING__HOST: '0.0.0.0', SLUICE_AUTH__TOKEN: shared }), 'serving')).toBe(shared);
    expect(serviceToken(config({ SLUICE_WORKERS__HOST: '::', SLUICE_AUTH__TOKEN: shared, SLUICE_WORKERS__TOKEN: TOKEN }), 'workers')).toBe(TOKEN);
    // An empty variable is no token at all.
    expect(() => serviceToken(config({ SLUICE_COLLECTOR__HOST: '0.0.0.0', SLUICE_COLLECTOR__TOKEN: '' }), 'collector')).toThrow(AccessPolicyError);
  });

  it('refuses short tokens and ones a header cannot carry, without echoing them', () => {
    const keys = { host: 'serving.host', tokens: ['serving.token', 'auth.token'] };
    const short = 'x'.repeat(MIN_TOKEN_LENGTH - 1);
    expect(() => accessPolicy('127.0.0.1', short, keys)).toThrow(/at least 16 characters \(it has 15\)/);
    expect(accessPolicy('127.0.0.1', 'x'.repeat(MIN_TOKEN_LENGTH), keys)).toBe('x'.repeat(MIN_TOKEN_LENGTH));
    for (const bad of ['has a space in it 0123', 'newline\n0123456789abcdef', 'quote"0123456789abcdef']) {
      let message = '';
      try {
        accessPolicy('0.0.0.0', bad, keys);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/may only hold/);
      expect(message).not.toContain(bad);
    }
  });
});

describe('serving API', () => {
  // Auth answers before any query, so a pool that never connects is enough here; the real
  // PostgreSQL answer over a real socket is in the integration test.
  const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
  afterAll(() => pool.end());

  it('bound to 0.0.0.0 without a token it refuses to start', () => {
    expect(() => buildServingApp(pool, silent, { host: '0.0.0.0' })).toThrow(/serving\.host \(SLUICE_SERVING__HOST\) is "0\.0\.0\.0"/);
    expect(() => buildServingApp(pool, silent, { host: '192.0.2.2', token: 'short' })).toThrow(/at least 16 characters/);
  });

  it('bound to 0.0.0.0 with a token: 401 unless the request carries it; health and the dashboard page stay open', async () => {
    const app = buildServingApp(pool, silent, { host: '0.0.0.0', token: TOKEN });
    try {
      for (const url of ['/health', '/', '/dashboard']) expect((await app.inject({ url })).statusCode, url).toBe(200);
      await expectGuarded(app, '/metrics');
      const q = '/v1/counts/minutes?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z';
      for (const url of [q, '/v1/series?metric=events&grain=minute&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z', '/v1/badrows', '/v1/streams']) {
        expect((await app.inject({ url })).statusCode, url).toBe(401);
      }
      // With the token the request reaches the route (here: its validation).
      expect((await app.inject({ url: `${q}&sql=1`, headers: auth })).statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/streams', headers: auth })).statusCode).toBe(503);
    } finally {
      await app.close();
    }
  });
});

describe("workers' health app", () => {
  it('/health stays open, /metrics needs the token', async () => {
    const registry = new Registry();
    const app = buildWorkerHealthApp(silent, registry, () => ({ speed: 'RUNNING', batch: 'RUNNING' }), TOKEN);
    try {
      expect((await app.inject({ url: '/health' })).statusCode).toBe(200);
      await expectGuarded(app, '/metrics');
    } finally {
      await app.close();
    }
    const open = buildWorkerHealthApp(silent, registry, () => ({ speed: 'RUNNING', batch: 'STOPPING' }), undefined);
    try {
      expect((await open.inject({ url: '/health' })).statusCode).toBe(503);
      expect((await open.inject({ url: '/metrics' })).statusCode).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe("collector's operations routes", () => {
  let collector: TestCollector;
  beforeAll(async () => {
    collector = await startCollectorOnKinesalite(testConfig({ SLUICE_COLLECTOR__TOKEN: TOKEN }), silent);
  });
  afterAll(() => collector?.stop());

  it('off loopback without a token the collector refuses to start', () => {
    expect(() => collectorOptions(testConfig({ SLUICE_COLLECTOR__HOST: '0.0.0.0' }))).toThrow(/collector\.host \(SLUICE_COLLECTOR__HOST\)/);
  });

  it('/metrics and /sink-health need the token; tracking, /health and /robots.txt stay public', async () => {
    const { app } = collector;
    await expectGuarded(app, '/metrics');
    await expectGuarded(app, '/sink-health');
    for (const url of ['/health', '/robots.txt']) expect((await app.inject({ url })).statusCode, url).toBe(200);
    const tracked = await app.inject({ url: '/i?e=pv&aid=access-test&tag=public-tracking' });
    expect(tracked.statusCode).toBe(200);
    await collector.sinks.good.flush();
    const raw = (await readStreamRecords(collector.client, 'sluice-raw')).map(decodeCollectorPayload);
    expect(raw.filter((p) => p.querystring?.includes('tag=public-tracking'))).toHaveLength(1);
  });
});
