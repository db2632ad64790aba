import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../adapters/aws-clients';
import { ensureStream, listShards, readBatch, shardIterator } from '../../adapters/kinesis';
import { COLLECTOR_PAYLOAD_SCHEMA, decodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { buildCollectorApp, type CollectorOptions } from '../../collector/app';
import { CollectorMetrics } from '../../collector/metrics';
import { collectorName } from '../../collector/payload';
import { KinesisSink } from '../../collector/sink';
import type { SluiceConfig } from '../../config';
import { makeLogger } from '../../observability/logger';
import type { ManagedProcess } from '../../stack/processes';
import { kinesaliteSpec } from '../../stack/standins';
import { startStandin, teardown, testConfig } from '../helpers/standins';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const log = makeLogger('test-collector', 'silent');

let config: SluiceConfig;
let kinesalite: ManagedProcess;
let client: KinesisClient;
let sink: KinesisSink;
let app: FastifyInstance;
let opts: CollectorOptions;
let t0: number;

function makeSink(maxBufferedBytes: number): KinesisSink {
  const b = config.collector.buffer;
  return new KinesisSink(
    client,
    {
      stream: config.kinesis.streams.raw,
      byteLimit: b.byteLimit,
      recordLimit: b.recordLimit,
      timeLimitMs: b.timeLimitMs,
      maxBufferedBytes,
      backoffMinMs: 100,
      backoffMaxMs: 400,
    },
    log,
  );
}

async function readRaw(): Promise<CollectorPayload[]> {
  const out: CollectorPayload[] = [];
  for (const { shardId } of await listShards(client, config.kinesis.streams.raw)) {
    let it: string | undefined = await shardIterator(client, config.kinesis.streams.raw, shardId, { type: 'TRIM_HORIZON' });
    while (it) {
      const batch = await readBatch(client, it);
      if (batch.records.length === 0) break;
      out.push(...batch.records.map((r) => decodeCollectorPayload(r.data)));
      it = batch.next;
    }
  }
  return out;
}

function spCookie(res: { cookies: { name: string; value: string; httpOnly?: boolean; secure?: boolean; sameSite?: string; path?: string; maxAge?: number }[] }) {
  const c = res.cookies.find((x) => x.name === 'sp');
  expect(c).toBeDefined();
  return c!;
}

beforeAll(async () => {
  config = testConfig({ SLUICE_COLLECTOR__BODY_LIMIT_BYTES: '2048' });
  kinesalite = await startStandin(kinesaliteSpec(config), config);
  client = makeKinesisClient(config);
  await ensureStream(client, config.kinesis.streams.raw, config.kinesis.shards);
  opts = {
    collectorName: collectorName(config.collector.name, '0.1.0', 'kinesis'),
    bodyLimitBytes: config.collector.bodyLimitBytes,
    cookie: { name: 'sp', maxAgeDays: 365, secure: true, sameSite: 'none' },
  };
  sink = makeSink(config.collector.buffer.maxBufferedBytes);
  app = buildCollectorApp(sink, new CollectorMetrics(), opts, log);
  await app.ready();
  t0 = Date.now();
});

afterAll(async () => {
  await app?.close();
  await sink?.close();
  client?.destroy();
  await teardown(config, kinesalite);
});

describe('collector over kinesalite', () => {
  const sent: { path: string; nuid: string; querystring?: string; body?: string }[] = [];

  it('GET /i answers the pixel and sets the sp cookie', async () => {
    const res = await app.inject({ method: 'GET', url: '/i?e=pv&url=https%3A%2F%2Fexample.com%2Fa&aid=test', headers: { 'user-agent': 'vitest-agent', referer: 'https://ref.example/' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(res.headers['cache-control']).toContain('no-cache');
    expect(res.rawPayload.subarray(0, 6).toString()).toBe('GIF89a');
    const c = spCookie(res);
    expect(c.value).toMatch(UUID);
    expect(c).toMatchObject({ httpOnly: true, secure: true, sameSite: 'None', path: '/', maxAge: 365 * 86_400 });
    sent.push({ path: '/i', nuid: c.value, querystring: 'e=pv&url=https%3A%2F%2Fexample.com%2Fa&aid=test' });
  });

  it('POST tp2 takes a payload_data body', async () => {
    const body = JSON.stringify({
      schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4',
      data: [{ e: 'pv', url: 'https://example.com/b', aid: 'test', eid: '5d4c0a2e-1c6a-4b8d-9a6b-2f0d6c9c9a11' }],
    });
    const res = await app.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('ok');
    sent.push({ path: TP2, nuid: spCookie(res).value, body });
  });

  it('keeps the nuid of an sp cookie, and a nuid query param overrides it', async () => {
    const mine = '0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f';
    const res = await app.inject({ method: 'GET', url: '/i?e=pv&aid=test', cookies: { sp: mine } });
    expect(res.statusCode).toBe(200);
    expect(spCookie(res).value).toBe(mine);
    sent.push({ path: '/i', nuid: mine, querystring: 'e=pv&aid=test' });

    const override = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const res2 = await app.inject({ method: 'GET', url: `/i?e=pv&nuid=${override}`, cookies: { sp: mine } });
    expect(spCookie(res2).value).toBe(override);
    sent.push({ path: '/i', nuid: override, querystring: `e=pv&nuid=${override}` });

    // Not a UUID: ignored, a fresh id is minted.
    const res3 = await app.inject({ method: 'GET', url: '/i?e=pv', cookies: { sp: 'x"; evil' } });
    const fresh = spCookie(res3).value;
    expect(fresh).toMatch(UUID);
    expect(fresh).not.toBe(mine);
    sent.push({ path: '/i', nuid: fresh, querystring: 'e=pv' });
  });

  it('answers 413 to a body over bodyLimitBytes and sinks nothing', async () => {
    const before = sink.stats().bufferedRecords;
    const res = await app.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: 'x'.repeat(4096) });
    expect(res.statusCode).toBe(413);
    expect(sink.stats().bufferedRecords).toBe(before);
  });

  it('serves /health, /sink-health and /metrics', async () => {
    expect((await app.inject('/health')).statusCode).toBe(200);
    const health = await app.inject('/sink-health');
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ healthy: true });
    const metrics = await app.inject('/metrics');
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('sluice_collector_requests_total');
    expect(metrics.body).toMatch(/sluice_collector_requests_total\{route="\/i",status="200"\} 4/);
  });

  it('writes one CollectorPayload per accepted request to the raw stream', async () => {
    await sink.flush();
    const t1 = Date.now();
    const got = await readRaw();
    expect(got).toHaveLength(sent.length);
    // Records from two shards: match each request by its (distinct) network user id.
    const byNuid = new Map(got.map((p) => [p.networkUserId, p]));
    expect(byNuid.size).toBe(sent.length);
    const ordered = sent.map((want) => byNuid.get(want.nuid)!);
    ordered.forEach((p, i) => {
      const want = sent[i];
      expect(p).toBeDefined();
      expect(p.schema).toBe(COLLECTOR_PAYLOAD_SCHEMA);
      expect(p.encoding).toBe('UTF-8');
      expect(p.collector).toBe('sluice-collector-0.1.0-kinesis');
      expect(p.ipAddress).toBe('127.0.0.1');
      expect(p.timestamp).toBeGreaterThanOrEqual(t0);
      expect(p.timestamp).toBeLessThanOrEqual(t1);
      expect(p.path).toBe(want.path);
      expect(p.networkUserId).toBe(want.nuid);
      expect(p.querystring).toBe(want.querystring);
      expect(p.body).toBe(want.body);
    });
    const [pixel, post] = ordered;
    expect(pixel.userAgent).toBe('vitest-agent');
    expect(pixel.refererUri).toBe('https://ref.example/');
    expect(pixel.contentType).toBeUndefined();
    expect(pixel.headers).toContain('user-agent: vitest-agent');
    expect(post.contentType).toBe('application/json');
    expect(post.headers!.some((h) => /^content-type: application\/json$/i.test(h))).toBe(true);
    // Snowplow's collector appends the bare content type as the last header element.
    expect(post.headers![post.headers!.length - 1]).toBe('application/json');
  });

  it('answers 503 when the sink buffer is full, and sinks nothing', async () => {
    const tinySink = makeSink(10);
    const tiny = buildCollectorApp(tinySink, new CollectorMetrics(), opts, log);
    try {
      const res = await tiny.inject({ method: 'GET', url: '/i?e=pv&aid=test' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.cookies.find((c) => c.name === 'sp')).toBeUndefined();
      expect(tinySink.stats().bufferedRecords).toBe(0);
      const post = await tiny.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: '{}' });
      expect(post.statusCode).toBe(503);
      expect((await tiny.inject('/metrics')).body).toMatch(/sluice_collector_refused_total 2/);
    } finally {
      await tiny.close();
      await tinySink.close();
    }
    expect(await readRaw()).toHaveLength(sent.length);
  });
});
