import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../adapters/aws-clients';
import { ensureStream } from '../../adapters/kinesis';
import { readStreamRecords } from '../helpers/kinesis';
import { COLLECTOR_PAYLOAD_SCHEMA, decodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { buildCollectorApp } from '../../collector/app';
import type { Sinks } from '../../collector/ingest';
import { CollectorMetrics } from '../../collector/metrics';
import { COLLECTOR_VERSION, collectorOptions, sinkOptions } from '../../collector/options';
import { KinesisSink } from '../../collector/sink';
import type { SluiceConfig } from '../../config';
import { configSchema } from '../../config/schema';
import { makeLogger } from '../../observability/logger';
import type { ManagedProcess } from '../../stack/processes';
import { kinesaliteSpec } from '../../stack/standins';
import { startStandin, teardown, testConfig } from '../helpers/standins';

// The collector's HTTP surface against a real kinesalite: every accepted request is read back
// from the raw stream and decoded; refused ones are checked to have left nothing behind.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';
const log = makeLogger('test-collector', 'silent');

let config: SluiceConfig;
let kinesalite: ManagedProcess;
let client: KinesisClient;
const apps: { app: FastifyInstance; sinks: Sinks }[] = [];
let t0: number;

/** A collector on the test streams with these `collector` settings on top of the test config. */
async function collector(patch: Record<string, unknown> = {}): Promise<{ app: FastifyInstance; sinks: Sinks; metrics: CollectorMetrics }> {
  const c = configSchema.parse({ ...config, collector: { ...config.collector, ...patch } });
  const metrics = new CollectorMetrics();
  const sinks = {
    good: new KinesisSink(client, sinkOptions(c, c.kinesis.streams.raw), log, metrics.sinkHooks('good')),
    bad: new KinesisSink(client, sinkOptions(c, c.kinesis.streams.bad), log, metrics.sinkHooks('bad')),
  };
  const app = buildCollectorApp({ sinks, metrics }, collectorOptions(c), log);
  await app.ready();
  apps.push({ app, sinks });
  return { app, sinks, metrics };
}

const readStream = (stream: string) => readStreamRecords(client, stream);

/** Raw records whose querystring or body carries `tag` (each test tags its requests). */
async function rawTagged(sinks: Sinks, tag: string): Promise<CollectorPayload[]> {
  await sinks.good.flush();
  return (await readStream(config.kinesis.streams.raw)).map(decodeCollectorPayload).filter((p) => p.querystring?.includes(tag) || p.body?.includes(tag));
}

const setCookie = (res: { headers: Record<string, unknown> }): string | undefined => {
  const h = res.headers['set-cookie'];
  return Array.isArray(h) ? h.join('\n') : (h as string | undefined);
};
const tp2Body = (tag: string, events: Record<string, string>[] = [{ e: 'pv' }]) =>
  JSON.stringify({ schema: PAYLOAD_DATA, data: events.map((e) => ({ ...e, tag })) });

beforeAll(async () => {
  config = testConfig({ SLUICE_COLLECTOR__BODY_LIMIT_BYTES: '65536' });
  kinesalite = await startStandin(kinesaliteSpec(config), config);
  client = makeKinesisClient(config);
  await ensureStream(client, config.kinesis.streams.raw, config.kinesis.shards);
  await ensureStream(client, config.kinesis.streams.bad, 1);
  t0 = Date.now();
});

afterAll(async () => {
  for (const { app, sinks } of apps) {
    await app.close();
    await sinks.good.close();
    await sinks.bad.close();
  }
  client?.destroy();
  await teardown(config, kinesalite);
});

describe('tracking routes write Snowplow raw records', () => {
  it('GET /i: the pixel, the sp cookie, and one CollectorPayload filled as Snowplow fills it', async () => {
    const { app, sinks } = await collector();
    const res = await app.inject({
      method: 'GET',
      url: '/i?e=pv&url=https%3A%2F%2Fexample.com%2Fa&aid=test&tag=get-i',
      headers: { 'user-agent': 'vitest-agent', referer: 'https://ref.example/', host: 'collector.example.com:8080' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(res.headers['cache-control']).toBe('no-cache, no-store, must-revalidate');
    expect(res.rawPayload.subarray(0, 6).toString()).toBe('GIF89a');
    const cookie = res.cookies.find((c) => c.name === 'sp')!;
    expect(cookie.value).toMatch(UUID);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'None', path: '/', maxAge: 365 * 86_400 });
    expect(cookie.domain).toBeUndefined();
    expect(Math.abs((cookie.expires as Date).getTime() - (Date.now() + 365 * 86_400_000))).toBeLessThan(5_000);

    const [p, ...more] = await rawTagged(sinks, 'tag=get-i');
    expect(more).toEqual([]);
    expect(p).toEqual({
      schema: COLLECTOR_PAYLOAD_SCHEMA,
      ipAddress: '127.0.0.1',
      timestamp: p.timestamp,
      encoding: 'UTF-8',
      collector: `sluice-collector-${COLLECTOR_VERSION}-kinesis`,
      userAgent: 'vitest-agent',
      refererUri: 'https://ref.example/',
      path: '/i',
      querystring: 'e=pv&url=https%3A%2F%2Fexample.com%2Fa&aid=test&tag=get-i',
      headers: ['user-agent: vitest-agent', 'referer: https://ref.example/', 'host: collector.example.com:8080'],
      hostname: 'collector.example.com',
      networkUserId: cookie.value,
    });
    expect(p.timestamp).toBeGreaterThanOrEqual(t0);
    expect(p.timestamp).toBeLessThanOrEqual(Date.now());
  });

  it('HEAD /i and GET /ice.png are pixels too', async () => {
    const { app, sinks } = await collector();
    const head = await app.inject({ method: 'HEAD', url: '/i?e=pv&tag=head-i' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toBe('image/gif');
    expect(head.body).toBe('');
    const ice = await app.inject({ method: 'GET', url: '/ice.png?e=pv&tag=ice-png' });
    expect(ice.headers['content-type']).toBe('image/gif');
    expect((await rawTagged(sinks, 'tag=head-i')).map((p) => p.path)).toEqual(['/i']);
    expect((await rawTagged(sinks, 'tag=ice-png')).map((p) => p.path)).toEqual(['/ice.png']);
  });

  it('POST tp2: `ok`, the body verbatim, the content type normalised and appended to the headers', async () => {
    const { app, sinks } = await collector();
    const body = `  ${tp2Body('post-tp2')}\n`;
    const res = await app.inject({ method: 'POST', url: `${TP2}?aid=qs`, headers: { 'content-type': 'application/json;charset=UTF-8' }, payload: body });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('ok');
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const [p] = await rawTagged(sinks, 'post-tp2');
    expect(p.path).toBe(TP2);
    expect(p.body).toBe(body);
    expect(p.querystring).toBe('aid=qs');
    expect(p.contentType).toBe('application/json; charset=utf-8');
    expect(p.headers).toContain('content-type: application/json;charset=UTF-8');
    expect(p.headers![p.headers!.length - 1]).toBe('application/json; charset=utf-8');
    expect(p.networkUserId).toBe(res.cookies.find((c) => c.name === 'sp')!.value);
  });

  it('any /{vendor}/{version}: webhook bodies are sunk as they come; custom paths map to standard ones', async () => {
    const { app, sinks } = await collector({ paths: { '/com.acme/track': TP2, '/com.acme/click': '/r/tp2' } });
    const hook = await app.inject({ method: 'POST', url: '/com.mailchimp/v1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'type=subscribe&tag=webhook' });
    expect(hook.statusCode).toBe(200);
    const pixel = await app.inject({ method: 'GET', url: '/com.acme/v1?e=pv&tag=vendor-get' });
    expect(pixel.headers['content-type']).toBe('image/gif');
    const mapped = await app.inject({ method: 'POST', url: '/com.acme/track', headers: { 'content-type': 'application/json' }, payload: tp2Body('custom-path') });
    expect(mapped.statusCode).toBe(200);
    const [w] = await rawTagged(sinks, 'tag=webhook');
    expect(w).toMatchObject({ path: '/com.mailchimp/v1', body: 'type=subscribe&tag=webhook', contentType: 'application/x-www-form-urlencoded' });
    expect((await rawTagged(sinks, 'vendor-get'))[0].path).toBe('/com.acme/v1');
    expect((await rawTagged(sinks, 'custom-path'))[0].path).toBe(TP2);
    // A custom path mapped to /r/tp2 redirects even with default redirects off (as Snowplow's).
    const click = await app.inject({ method: 'GET', url: '/com.acme/click?u=https%3A%2F%2Fexample.com%2F&tag=custom-redirect' });
    expect(click.statusCode).toBe(400); // example.com is not on the (empty) allow-list
    const [r] = await rawTagged(sinks, 'custom-redirect');
    expect(r.path).toBe('/r/tp2');
  });
});

describe('hostile bodies (issue #16)', () => {
  it('deep JSON gets a 400 on tp2 and is sunk as it comes on a webhook; nothing answers 5xx', async () => {
    const { app, sinks } = await collector();
    const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const tp2 = await app.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: `{"schema":"${PAYLOAD_DATA}","data":[{"e":"pv","x":${deep(5_000)}}]}` });
    expect(tp2.statusCode).toBe(400);
    expect(tp2.body).toMatch(/nested deeper than the 100-level limit/);
    const proto = await app.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: `{"schema":"${PAYLOAD_DATA}","data":[{"e":"pv","__proto__":{"x":1}}]}` });
    expect(proto.statusCode).toBe(400);
    // The collector does not read webhook bodies: stream enrich makes this an adapter bad row.
    const hook = await app.inject({ method: 'POST', url: '/com.snowplowanalytics.iglu/v1?tag=deep-hook', headers: { 'content-type': 'application/json' }, payload: deep(5_000) });
    expect(hook.statusCode).toBe(200);
    expect(await rawTagged(sinks, 'deep-hook')).toHaveLength(1);
  });
});

describe('identity', () => {
  it('keeps the nuid of a cookie; a nuid parameter overrides it; junk values get a fresh id', async () => {
    const { app, sinks } = await collector();
    const mine = '0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f';
    const a = await app.inject({ url: '/i?e=pv&tag=nuid-cookie', cookies: { sp: mine } });
    expect(a.cookies.find((c) => c.name === 'sp')!.value).toBe(mine);
    const override = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const b = await app.inject({ url: `/i?e=pv&nuid=${override}&tag=nuid-param`, cookies: { sp: mine } });
    expect(b.cookies.find((c) => c.name === 'sp')!.value).toBe(override);
    const c = await app.inject({ url: '/i?e=pv&tag=nuid-junk', headers: { cookie: 'sp=a b' } });
    const fresh = c.cookies.find((x) => x.name === 'sp')!.value;
    expect(fresh).toMatch(UUID);
    expect((await rawTagged(sinks, 'nuid-cookie'))[0].networkUserId).toBe(mine);
    expect((await rawTagged(sinks, 'nuid-param'))[0].networkUserId).toBe(override);
    expect((await rawTagged(sinks, 'nuid-junk'))[0].networkUserId).toBe(fresh);
  });

  it('cookie as configured: name, domain from the Origin or the fallback, expiry, flags', async () => {
    const { app } = await collector({
      cookie: { name: 'nid', expirationDays: 30, domains: ['acme.com', 'client.example.org'], fallbackDomain: 'fallback.net', secure: false, httpOnly: false, sameSite: 'Lax' },
    });
    const matched = await app.inject({ url: '/i?e=pv', headers: { origin: 'https://secure.client.example.org' } });
    expect(matched.cookies).toEqual([expect.objectContaining({ name: 'nid', domain: 'client.example.org', maxAge: 30 * 86_400, sameSite: 'Lax', path: '/' })]);
    expect(setCookie(matched)).not.toMatch(/Secure|HttpOnly/);
    const fallback = await app.inject({ url: '/i?e=pv', headers: { origin: 'https://elsewhere.com' } });
    expect(fallback.cookies[0].domain).toBe('fallback.net');
    const none = await collector({ cookie: { enabled: false } });
    expect(setCookie(await none.app.inject({ url: '/i?e=pv' }))).toBeUndefined();
  });

  it('SP-Anonymous: zero nuid, IP unknown, identifying headers dropped, the cookie expired', async () => {
    const { app, sinks } = await collector({ trustedProxies: ['127.0.0.1'] });
    const res = await app.inject({
      url: '/i?e=pv&tag=anonymous',
      headers: { 'sp-anonymous': '*', cookie: 'sp=0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f; other=1', 'x-forwarded-for': '198.51.100.1', 'x-real-ip': '198.51.100.1', 'user-agent': 'ua' },
    });
    expect(res.statusCode).toBe(200);
    expect(setCookie(res)).toMatch(/^sp=; Max-Age=0; .*Expires=Thu, 01 Jan 1970 00:00:00 GMT/);
    const [p] = await rawTagged(sinks, 'anonymous');
    expect(p.networkUserId).toBe('00000000-0000-0000-0000-000000000000');
    expect(p.ipAddress).toBe('unknown');
    expect(p.headers).toEqual(['sp-anonymous: *', 'user-agent: ua', 'host: localhost:80']);
  });

  it('X-Forwarded-For only from trusted proxies', async () => {
    const trusting = await collector({ trustedProxies: ['10.0.0.0/8'] });
    const untrusting = await collector();
    const headers = { 'x-forwarded-for': '198.51.100.7, 10.1.2.3' };
    await trusting.app.inject({ url: '/i?e=pv&tag=xff-trusted', headers, remoteAddress: '10.9.9.9' });
    await trusting.app.inject({ url: '/i?e=pv&tag=xff-not-from-proxy', headers, remoteAddress: '203.0.113.50' });
    await untrusting.app.inject({ url: '/i?e=pv&tag=xff-untrusted', headers, remoteAddress: '10.9.9.9' });
    expect((await rawTagged(trusting.sinks, 'xff-trusted'))[0].ipAddress).toBe('198.51.100.7');
    expect((await rawTagged(trusting.sinks, 'xff-not-from-proxy'))[0].ipAddress).toBe('203.0.113.50');
    expect((await rawTagged(untrusting.sinks, 'xff-untrusted'))[0].ipAddress).toBe('10.9.9.9');
  });

  it('do-not-track cookie: answered as usual, nothing sunk, no cookie set', async () => {
    const { app, sinks, metrics } = await collector({ doNotTrackCookie: { enabled: true, name: 'dnt', value: 'yes|1' } });
    const res = await app.inject({ url: '/i?e=pv&tag=dnt-on', cookies: { dnt: '1', sp: '0f8b7c3e-9d1a-4c2b-8e5f-6a7b8c9d0e1f' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(setCookie(res)).toBeUndefined();
    const post = await app.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, cookies: { dnt: 'yes' }, payload: tp2Body('dnt-post') });
    expect(post.body).toBe('ok');
    // Only a whole match counts: `1x` is not `1`.
    const other = await app.inject({ url: '/i?e=pv&tag=dnt-partial', cookies: { dnt: '1x' } });
    expect(setCookie(other)).toBeDefined();
    expect(await rawTagged(sinks, 'dnt-on')).toEqual([]);
    expect(await rawTagged(sinks, 'dnt-post')).toEqual([]);
    expect(await rawTagged(sinks, 'dnt-partial')).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('sluice_collector_do_not_track_total')).toMatch(/ 2$/m);
  });
});

describe('CORS, redirects and operations routes', () => {
  it('OPTIONS preflight echoes the Origin with credentials; tracking answers carry the grant', async () => {
    const { app } = await collector();
    const pre = await app.inject({ method: 'OPTIONS', url: TP2, headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' } });
    expect(pre.statusCode).toBe(200);
    expect(pre.headers).toMatchObject({
      'access-control-allow-origin': 'https://shop.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'Content-Type, SP-Anonymous',
      'access-control-max-age': '3600',
    });
    const post = await app.inject({ method: 'POST', url: TP2, headers: { origin: 'https://shop.example.com', 'content-type': 'application/json' }, payload: tp2Body('cors') });
    expect(post.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect(post.headers['access-control-allow-credentials']).toBe('true');
    // Errors too, so the browser tracker can read them.
    const bad = await app.inject({ method: 'POST', url: TP2, headers: { origin: 'https://shop.example.com', 'content-type': 'application/json' }, payload: '{' });
    expect(bad.headers['access-control-allow-origin']).toBe('https://shop.example.com');
    expect((await app.inject({ url: '/i' })).headers['access-control-allow-origin']).toBe('*');
  });

  it('redirects: 404 when off; when on, 302 only to allowed hosts (event tracked), else 400', async () => {
    const off = await collector();
    const r404 = await off.app.inject({ url: '/r/tp2?u=https%3A%2F%2Fexample.com%2F&tag=redirect-off' });
    expect(r404.statusCode).toBe(404);
    expect(r404.body).toBe('redirects disabled');
    expect(await rawTagged(off.sinks, 'redirect-off')).toEqual([]);

    const on = await collector({ redirect: { enabled: true, allowedHosts: ['example.com'], macro: { enabled: true } } });
    const ok = await on.app.inject({ url: `/r/tp2?u=${encodeURIComponent('https://example.com/landing?nuid=${SP_NUID}')}&tag=redirect-ok`, cookies: { sp: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' } });
    expect(ok.statusCode).toBe(302);
    expect(ok.headers.location).toBe('https://example.com/landing?nuid=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
    for (const target of ['https://evil.com/', 'https://example.com.evil.com/', 'javascript:alert(1)', '']) {
      const res = await on.app.inject({ url: `/r/tp2?u=${encodeURIComponent(target)}&tag=redirect-refused` });
      expect(res.statusCode).toBe(400);
      expect(res.headers.location).toBeUndefined();
    }
    const [p] = await rawTagged(on.sinks, 'redirect-ok');
    expect(p.path).toBe('/r/tp2');
  });

  it('/health, /sink-health, /metrics, /robots.txt, /crossdomain.xml', async () => {
    const { app, sinks } = await collector();
    expect((await app.inject('/health')).body).toBe('OK');
    const health = await app.inject('/sink-health');
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ healthy: true, reasons: [], sinks: { good: { stream: config.kinesis.streams.raw }, bad: { stream: config.kinesis.streams.bad } } });
    const robots = await app.inject('/robots.txt');
    expect(robots.body).toBe('User-agent: *\nDisallow: /');
    expect((await app.inject('/crossdomain.xml')).statusCode).toBe(404);
    const cd = await collector({ crossDomain: { enabled: true, domains: ['*.acme.com', 'example.org'], secure: false } });
    const xml = await cd.app.inject('/crossdomain.xml');
    expect(xml.headers['content-type']).toMatch(/^text\/xml/);
    expect(xml.body).toBe(
      '<?xml version="1.0"?>\n<cross-domain-policy>\n  <allow-access-from domain="*.acme.com" secure="false" />\n  <allow-access-from domain="example.org" secure="false" />\n</cross-domain-policy>',
    );
    await app.inject('/i?e=pv');
    expect((await app.inject('/metrics')).body).toContain('sluice_collector_buffer_records{stream="good"} 1');
    await sinks.good.flush();
    const metrics = (await app.inject('/metrics')).body;
    for (const line of [
      'sluice_collector_requests_total{route="/i",status="200"} 1',
      'sluice_collector_buffer_records{stream="good"} 0',
      'sluice_collector_sink_records_total{stream="good"} 1',
      'sluice_collector_sink_put_seconds_count{stream="good"} 1',
      'sluice_collector_sink_healthy{stream="good"} 1',
      '# TYPE sluice_collector_sink_retried_records_total counter',
      '# TYPE sluice_collector_sink_failures_total counter',
      '# TYPE sluice_collector_sink_backoff_seconds histogram',
      '# TYPE sluice_collector_refused_total counter',
    ]) {
      expect(metrics).toContain(line);
    }
    expect(metrics).toMatch(/sluice_collector_record_bytes_total\{stream="good"\} \d{3}/);
    expect((await app.inject('/')).statusCode).toBe(404);
  });
});

describe('malformed requests get a clear 4xx and leave nothing behind', () => {
  it('bad JSON, wrong content type, bad base64, bad envelope, body too large', async () => {
    const { app, sinks } = await collector();
    const cases: [InjectOptions, number, RegExp][] = [
      [{ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: '{"schema":"x", bad-json-tag' }, 400, /not valid JSON/],
      [{ method: 'POST', url: TP2, headers: { 'content-type': 'text/plain' }, payload: tp2Body('wrong-type-tag') }, 415, /expected application\/json/],
      [{ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: tp2Body('b64-post-tag', [{ e: 'ue', ue_px: 'eyJ!!!' }]) }, 400, /ue_px is not valid base64/],
      [{ method: 'GET', url: '/i?e=pv&cx=%%%25&tag=b64-get-tag' }, 400, /cx is not valid base64/],
      [{ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ schema: PAYLOAD_DATA, data: 'envelope-tag' }) }, 400, /non-empty array/],
      [{ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: tp2Body(`too-large-tag${'x'.repeat(70_000)}`) }, 413, /too large/i],
    ];
    for (const [req, status, message] of cases) {
      const res = await app.inject(req);
      expect(res.statusCode, JSON.stringify(req).slice(0, 100)).toBe(status);
      expect(res.body).toMatch(message);
      expect(setCookie(res)).toBeUndefined();
    }
    await sinks.good.flush();
    const raw = (await readStream(config.kinesis.streams.raw)).map((r) => r.toString('latin1'));
    for (const tag of ['bad-json-tag', 'wrong-type-tag', 'b64-post-tag', 'b64-get-tag', 'envelope-tag', 'too-large-tag']) {
      expect(raw.some((r) => r.includes(tag))).toBe(false);
    }
  });

  it('arbitrary requests never get a 5xx (property)', async () => {
    const { app, sinks } = await collector({ redirect: { enabled: true, allowedHosts: ['example.com'] } });
    const segment = fc.oneof(fc.constantFrom('i', 'ice.png', 'r', 'tp2', 'com.snowplowanalytics.snowplow', '%ff', '%', '..', ''), fc.string({ maxLength: 12 }).map(encodeURIComponent));
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'),
      path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => `/${parts.join('/')}`),
      query: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.constantFrom('?e=pv&cx=%%%', '?nuid=a&nuid=b', '?u=a&u=b', '?cx=a&cx=b', '?ue_px=====')),
      contentType: fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', ';;;'),
      body: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }), fc.constant(JSON.stringify({ schema: PAYLOAD_DATA, data: [{ e: 'pv', cx: '***' }] }))),
      cookie: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 30 }).filter((c) => !/[\r\n]/.test(c))),
      anonymous: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const hasBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.cookie !== undefined) headers.cookie = r.cookie;
        if (r.anonymous) headers['sp-anonymous'] = '*';
        const res = await app.inject({ method: r.method as 'GET', url: r.path + (r.query.startsWith('?') || !r.query ? r.query : `?${encodeURI(r.query)}`), headers, payload: hasBody ? r.body : undefined });
        expect(res.statusCode, `${r.method} ${r.path}${r.query} -> ${res.body}`).toBeLessThan(500);
      }),
      { numRuns: 400 },
    );
    expect((await app.inject('/health')).statusCode).toBe(200);
    await sinks.good.flush();
  });

  it('huge headers get 431 from the HTTP parser; the server keeps serving', async () => {
    const { app } = await collector({ maxHeaderBytes: 8192 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.write(`GET /i?e=pv HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    const ok = await fetch(`http://127.0.0.1:${port}/i?e=pv`);
    expect(ok.status).toBe(200);
    // A malformed request line is a 400, not a crash.
    const garbage = await new Promise<string>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  });

  it('a refused HEAD gets an answer its client can read: a status line, no body (Fastify\'s JSON body broke the connection)', async () => {
    const { app } = await collector({ maxHeaderBytes: 8192 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;
    // Request lines just over the limit, as a tracker with a long page URL would send them.
    for (const method of ['HEAD', 'GET'] as const) {
      const res = await new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path: `/i?e=pv&url=${'a'.repeat(8_200)}`, agent: false }, (r) => {
          let body = '';
          r.on('data', (c) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body, headers: r.headers }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res, method).toMatchObject({ status: 431, body: '', headers: { connection: 'close', 'content-length': '0' } });
    }
    const metrics = (await app.inject('/metrics')).body;
    expect(metrics).toContain('sluice_collector_requests_total{route="client_error",status="431"} 2');
    expect((await fetch(`http://127.0.0.1:${port}/i?e=pv`)).status).toBe(200);
  });
});

describe('size violations', () => {
  it('splits a POST too big for one record; an event too big alone goes to the bad stream as size_violation', async () => {
    const { app, sinks, metrics } = await collector({ bodyLimitBytes: 200_000, sink: { maxRecordBytes: 20_000 } });
    const events = Array.from({ length: 12 }, (_, i) => ({ e: 'pv', eid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, url: `https://example.com/${'p'.repeat(4_000)}` }));
    const huge = { e: 'ue', eid: 'ffffffff-0000-4000-8000-000000000000', ue_pr: JSON.stringify({ blob: 'z'.repeat(30_000) }) };
    const body = JSON.stringify({ schema: PAYLOAD_DATA, data: [...events.slice(0, 6), huge, ...events.slice(6)].map((e) => ({ ...e, tag: 'split-me' })) });
    const res = await app.inject({ method: 'POST', url: TP2, headers: { 'content-type': 'application/json' }, payload: body });
    expect(res.statusCode).toBe(200);

    const records = await rawTagged(sinks, 'split-me');
    expect(records.length).toBeGreaterThan(2);
    const eids = records.flatMap((p) => (JSON.parse(p.body!) as { data: { eid: string }[] }).data.map((e) => e.eid));
    expect(eids.sort()).toEqual(events.map((e) => e.eid).sort());
    const nuids = new Set(records.map((p) => p.networkUserId));
    expect(nuids.size).toBe(1);

    await sinks.bad.flush();
    const bad = (await readStream(config.kinesis.streams.bad)).map((b) => JSON.parse(b.toString('utf8')) as { schema: string; data: { failure: { actualSizeBytes: number; maximumAllowedSizeBytes: number }; payload: string } });
    const mine = bad.filter((r) => r.data.payload.includes('ffffffff-0000-4000-8000-000000000000'));
    expect(mine).toHaveLength(1);
    expect(mine[0].schema).toBe('iglu:com.snowplowanalytics.snowplow.badrows/size_violation/jsonschema/1-0-0');
    expect(mine[0].data.failure.maximumAllowedSizeBytes).toBe(20_000);
    expect(mine[0].data.failure.actualSizeBytes).toBeGreaterThan(30_000);
    expect(await metrics.registry.getSingleMetricAsString('sluice_collector_size_violations_total')).toMatch(/ 1$/m);
  });
});
