import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../adapters/aws-clients';
import { ensureStream } from '../../adapters/kinesis';
import { readStreamRecords } from '../helpers/kinesis';
import { decodeCollectorPayload } from '../../codecs/collector-payload';
import { buildCollectorApp } from '../../collector/app';
import type { Sinks } from '../../collector/ingest';
import { CollectorMetrics } from '../../collector/metrics';
import { collectorOptions, sinkOptions } from '../../collector/options';
import { KinesisSink, type SinkHooks } from '../../collector/sink';
import type { SluiceConfig } from '../../config';
import { configSchema } from '../../config/schema';
import { makeLogger } from '../../observability/logger';
import type { ManagedProcess } from '../../stack/processes';
import { kinesaliteSpec, projectRoot } from '../../stack/standins';
import { freePort, sleep, startStandin, teardown, testConfig, waitFor } from '../helpers/standins';

// The collector's sink under faults, against a real kinesalite: throttling (a proxy in front of
// kinesalite refuses some records of PutRecords calls as Kinesis does when a shard is over its
// limit, which kinesalite itself never does), an outage (kinesalite stopped and restarted), a full
// buffer, and SIGTERM on a real collector process.

const require = createRequire(import.meta.url);
const log = makeLogger('test-collector-faults', 'silent');
const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';

let config: SluiceConfig;
let kinesalite: ManagedProcess;
let client: KinesisClient;
const cleanups: (() => Promise<void>)[] = [];

function collector(patch: Record<string, unknown>, hooks: { good?: SinkHooks } = {}, kinesis = client) {
  const c = configSchema.parse({ ...config, collector: { ...config.collector, ...patch } });
  const metrics = new CollectorMetrics();
  const withMetrics = (stream: string, extra: SinkHooks = {}): SinkHooks => {
    const m = metrics.sinkHooks(stream);
    return {
      onFlush: (records, ms) => (m.onFlush?.(records, ms), extra.onFlush?.(records, ms)),
      onCall: (ms) => (m.onCall?.(ms), extra.onCall?.(ms)),
      onRetry: (records) => (m.onRetry?.(records), extra.onRetry?.(records)),
      onFailure: (err) => (m.onFailure?.(err), extra.onFailure?.(err)),
      onBackoff: (ms) => (m.onBackoff?.(ms), extra.onBackoff?.(ms)),
    };
  };
  const sinks: Sinks = {
    good: new KinesisSink(kinesis, sinkOptions(c, c.kinesis.streams.raw), log, withMetrics('good', hooks.good)),
    bad: new KinesisSink(kinesis, sinkOptions(c, c.kinesis.streams.bad), log, withMetrics('bad')),
  };
  const app = buildCollectorApp({ sinks, metrics }, collectorOptions(c), log);
  cleanups.push(async () => {
    await app.close();
    await Promise.all([sinks.good.close(), sinks.bad.close()]);
  });
  return { app, sinks, metrics };
}

async function readRaw(): Promise<string[]> {
  return (await readStreamRecords(client, config.kinesis.streams.raw)).map((data) => decodeCollectorPayload(data).querystring ?? '');
}

/** Querystrings in the raw stream carrying `tag`, as a multiset (duplicates would show). */
const tagged = async (tag: string) => (await readRaw()).filter((q) => q.includes(`tag=${tag}&`)).sort();

const pixel = (app: FastifyInstance, tag: string, i: number) => app.inject({ url: `/i?e=pv&tag=${tag}&i=${i}` });

// A Kinesis endpoint that throttles: PutRecords calls go to kinesalite minus the records it
// decides to refuse, which come back with ProvisionedThroughputExceededException in their slot.
interface Throttle {
  url: string;
  forwarded: number;
  refused: number;
  close(): Promise<void>;
}

async function throttlingProxy(target: string, refuse: (call: number, index: number) => boolean): Promise<Throttle> {
  let call = 0;
  const state = { forwarded: 0, refused: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const isPut = req.headers['x-amz-target'] === 'Kinesis_20131202.PutRecords';
      let refusedAt: number[] = [];
      let input: { StreamName: string; Records: unknown[] } | undefined;
      if (isPut) {
        const n = call++;
        input = JSON.parse(body.toString('utf8')) as { StreamName: string; Records: unknown[] };
        refusedAt = input.Records.map((_, i) => i).filter((i) => refuse(n, i));
        const kept = input.Records.filter((_, i) => !refusedAt.includes(i));
        state.refused += refusedAt.length;
        state.forwarded += kept.length;
        if (kept.length === 0) {
          const records = input.Records.map(() => ({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' }));
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ FailedRecordCount: records.length, Records: records }));
          return;
        }
        body = Buffer.from(JSON.stringify({ ...input, Records: kept }));
      }
      const headers = { ...req.headers, 'content-length': String(body.length) };
      const upstream = http.request(target + (req.url ?? '/'), { method: req.method, headers }, (up) => {
        const upChunks: Buffer[] = [];
        up.on('data', (c: Buffer) => upChunks.push(c));
        up.on('end', () => {
          let out = Buffer.concat(upChunks);
          if (isPut && up.statusCode === 200 && input) {
            const result = JSON.parse(out.toString('utf8')) as { FailedRecordCount: number; Records: unknown[] };
            const merged: unknown[] = [];
            let k = 0;
            for (let i = 0; i < input.Records.length; i++) {
              merged.push(refusedAt.includes(i) ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' } : result.Records[k++]);
            }
            out = Buffer.from(JSON.stringify({ FailedRecordCount: result.FailedRecordCount + refusedAt.length, Records: merged }));
          }
          res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(out.length) });
          res.end(out);
        });
      });
      upstream.on('error', () => res.writeHead(502).end());
      upstream.end(body);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${port}`,
    get forwarded() {
      return state.forwarded;
    },
    get refused() {
      return state.refused;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

beforeAll(async () => {
  config = testConfig({ SLUICE_COLLECTOR__BACKOFF__MIN_MS: '100', SLUICE_COLLECTOR__BACKOFF__MAX_MS: '800', SLUICE_COLLECTOR__BUFFER__TIME_LIMIT_MS: '50' });
  kinesalite = await startStandin(kinesaliteSpec(config), config);
  client = makeKinesisClient(config);
  await ensureStream(client, config.kinesis.streams.raw, config.kinesis.shards);
  await ensureStream(client, config.kinesis.streams.bad, 1);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  client?.destroy();
  await teardown(config, kinesalite);
});

describe('collector sink faults (kinesalite)', () => {
  it('throttling: only refused records are retried, after a backoff; every record lands exactly once', async () => {
    // Calls 0-5 refuse every other record; call 2 refuses all of them; later calls pass.
    const proxy = await throttlingProxy(config.kinesis.endpoint, (call, i) => call === 2 || (call < 6 && i % 2 === 0));
    cleanups.push(() => proxy.close());
    const throttled = makeKinesisClient(configSchema.parse({ ...config, kinesis: { ...config.kinesis, endpoint: proxy.url } }));
    cleanups.push(async () => throttled.destroy());
    const waits: number[] = [];
    const retried: number[] = [];
    const { app, sinks, metrics } = collector({ buffer: { ...config.collector.buffer, recordLimit: 20 } }, { good: { onBackoff: (ms) => waits.push(ms), onRetry: (n) => retried.push(n) } }, throttled);

    const n = 120;
    for (let i = 0; i < n; i++) expect((await pixel(app, 'throttle', i)).statusCode).toBe(200);
    await sinks.good.flush();

    const got = await tagged('throttle');
    expect(got).toEqual(Array.from({ length: n }, (_, i) => `e=pv&tag=throttle&i=${i}`).sort());
    // Kinesalite received each record exactly once: accepted records were never resent.
    expect(proxy.forwarded).toBe(n);
    expect(proxy.refused).toBeGreaterThan(0);
    expect(retried.reduce((a, b) => a + b, 0)).toBe(proxy.refused);
    // One backoff per failed round, each between the minimum and the (doubling) ceiling.
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(100);
      expect(w).toBeLessThanOrEqual(800);
    }
    expect(sinks.good.stats()).toMatchObject({ healthy: true, bufferedRecords: 0, consecutiveFailures: 0 });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(new RegExp(`sluice_collector_sink_retried_records_total\\{stream="good"\\} ${proxy.refused}`));
    expect(text).toMatch(/sluice_collector_sink_backoff_seconds_count\{stream="good"\} [1-9]/);
  });

  it('outage: requests keep being accepted, /sink-health says why, backoff grows; after the restart nothing is lost', async () => {
    const waits: { at: number; ms: number }[] = [];
    const { app, sinks } = collector({}, { good: { onBackoff: (ms) => waits.push({ at: Date.now(), ms }) } });
    for (let i = 0; i < 10; i++) await pixel(app, 'outage', i);
    await sinks.good.flush();

    await kinesalite.stop();
    try {
      for (let i = 10; i < 60; i++) expect((await pixel(app, 'outage', i)).statusCode).toBe(200);
      await waitFor(() => waits.length >= 4, 60_000);
      const health = await app.inject('/sink-health');
      expect(health.statusCode).toBe(503);
      const body = health.json() as { healthy: boolean; reasons: string[]; sinks: { good: { bufferedRecords: number; consecutiveFailures: number } } };
      expect(body.healthy).toBe(false);
      expect(body.reasons.join(' ')).toMatch(new RegExp(`good stream ${config.kinesis.streams.raw}: Kinesis writes failing \\(\\d+ in a row\\)`));
      expect(body.sinks.good.bufferedRecords).toBe(50);
      // Waits are drawn under a ceiling that doubles per failure (100, 200, 400, 800 ms, capped).
      waits.slice(0, 4).forEach((w, k) => {
        expect(w.ms).toBeGreaterThanOrEqual(100);
        expect(w.ms).toBeLessThanOrEqual(Math.min(800, 100 * 2 ** k));
      });
    } finally {
      await kinesalite.start();
    }
    await sinks.good.flush();
    expect((await app.inject('/sink-health')).statusCode).toBe(200);
    expect(await tagged('outage')).toEqual(Array.from({ length: 60 }, (_, i) => `e=pv&tag=outage&i=${i}`).sort());
  });

  it('a full buffer answers 503 (nothing of the request kept) and /sink-health says so; room again once flushed', async () => {
    // Kinesis down so nothing drains; room for a few records only.
    const { app, sinks, metrics } = collector({ buffer: { ...config.collector.buffer, maxBufferedBytes: 1_500 } });
    await kinesalite.stop();
    let accepted = 0;
    let refused = 0;
    try {
      for (let i = 0; i < 10; i++) {
        const res = await pixel(app, 'full', i);
        if (res.statusCode === 200) accepted++;
        else {
          expect(res.statusCode).toBe(503);
          expect(res.headers['retry-after']).toBe('5');
          expect(res.headers['set-cookie']).toBeUndefined();
          refused++;
        }
      }
      expect(accepted).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
      const post = await app.inject({ method: 'POST', url: '/com.snowplowanalytics.snowplow/tp2', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ schema: PAYLOAD_DATA, data: [{ e: 'pv', tag: 'full-post' }] }) });
      expect(post.statusCode).toBe(503);
      const health = await app.inject('/sink-health');
      expect(health.statusCode).toBe(503);
      expect((health.json() as { reasons: string[] }).reasons.join(' ')).toMatch(new RegExp(`good stream ${config.kinesis.streams.raw}: buffer full: \\d+ of 1500 bytes held, new requests are answered 503`));
      expect(await metrics.registry.getSingleMetricAsString('sluice_collector_refused_total')).toMatch(new RegExp(` ${refused + 1}$`, 'm'));
    } finally {
      await kinesalite.start();
    }
    await sinks.good.flush();
    expect((await pixel(app, 'full', 99)).statusCode).toBe(200);
    await sinks.good.flush();
    expect((await tagged('full')).length).toBe(accepted + 1);
    expect((await readRaw()).some((q) => q.includes('full-post'))).toBe(false);
  });

  it('SIGTERM on a collector process: stops accepting, flushes everything (even through an outage), exits 0', async () => {
    const port = await freePort();
    const childConfig = configSchema.parse({
      ...config,
      log: { level: 'info' },
      // The writer thread on: this test also covers PutRecords made in the worker (outage included).
      collector: { ...config.collector, port, sink: { ...config.collector.sink, writerThread: true }, buffer: { ...config.collector.buffer, timeLimitMs: 600_000, byteLimit: 50_000_000, recordLimit: 500 }, backoff: { minMs: 200, maxMs: 1_000 } },
    });
    const file = path.join(config.dataDir, 'collector-sigterm.json');
    fs.writeFileSync(file, JSON.stringify(childConfig));
    const child: ChildProcess = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(projectRoot, 'collector', 'main.ts')], {
      env: { ...process.env, SLUICE_CONFIG: file },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok === true, 60_000, 200);

    const n = 40;
    const nuids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = i % 2 === 0
        ? await fetch(`${base}/i?e=pv&tag=sigterm&i=${i}`)
        : await fetch(`${base}/com.snowplowanalytics.snowplow/tp2?tag=sigterm&i=${i}&x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema: PAYLOAD_DATA, data: [{ e: 'pv' }] }) });
      expect(res.status).toBe(200);
      nuids.push(/^sp=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]);
    }
    const held = (await (await fetch(`${base}/sink-health`)).json()) as { sinks: { good: { bufferedRecords: number } } };
    expect(held.sinks.good.bufferedRecords).toBe(n);
    expect(await tagged('sigterm')).toEqual([]); // all still in the collector's buffer

    await kinesalite.stop();
    child.kill('SIGTERM');
    try {
      // Stopped accepting at once, but alive while it cannot flush.
      await waitFor(async () => (await fetch(`${base}/health`).catch(() => undefined)) === undefined, 10_000, 50);
      await sleep(1_500);
      expect(child.exitCode).toBeNull();
    } finally {
      await kinesalite.start();
    }
    expect(await Promise.race([exited, sleep(60_000).then(() => 'timeout')])).toBe(0);
    expect(output).toMatch(/stopping: no new requests, flushing the sinks/);
    expect(output).toMatch(/sinks flushed; exiting/);
    // Info-level logs carry no cookie (network user id) and no client address.
    expect(output).toMatch(/"level":30/);
    for (const nuid of nuids) expect(output).not.toContain(nuid);
    expect(output).not.toMatch(/"(remoteAddress|remotePort|ip|ipAddress|cookie|cookies)":/i);
    expect(await tagged('sigterm')).toHaveLength(n);
  });

  it('a bad configuration stops the process at start, naming the key and its variable', async () => {
    const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(projectRoot, 'collector', 'main.ts')], {
      env: { ...process.env, SLUICE_CONFIG: '', SLUICE_COLLECTOR__PORT: '99999', SLUICE_COLLECTOR__COOKIE__SAME_SITE: 'Sometimes' },
      cwd: config.dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(output).toContain('collector.port (SLUICE_COLLECTOR__PORT)');
    expect(output).toContain('collector.cookie.sameSite (SLUICE_COLLECTOR__COOKIE__SAME_SITE)');
  });
});
