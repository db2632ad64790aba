import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { PROJECT_ROOT } from '../../enrich/default-enricher';
import { enrichPayload, enrichPayloads, type Enricher } from '../../enrich/enrich';
import {
  IgluConfigError, Resolver, Validator, createIglu, httpRegistry, localRegistry, matchesCriterion, parseSchemaCriterion,
  parseSchemaUri, parseSelfDescribing, schemaUri,
} from '../../enrich/iglu';

const SCHEMAS = path.join(PROJECT_ROOT, 'schemas');
const key = (uri: string) => { const k = parseSchemaUri(uri); if (typeof k === 'string') throw new Error(k); return k; };
const acmeSchema = (version: string, props: Record<string, unknown>) => ({
  $schema: 'http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#',
  self: { vendor: 'com.acme', name: 'checkout', format: 'jsonschema', version },
  type: 'object', properties: props, required: Object.keys(props), additionalProperties: false,
});

describe('schema keys, SchemaVer and criteria', () => {
  it('parses URIs with Iglu\'s error codes', () => {
    expect(parseSchemaUri('iglu:com.acme/ev-1/jsonschema/1-0-12')).toEqual({ vendor: 'com.acme', name: 'ev-1', format: 'jsonschema', version: { model: 1, revision: 0, addition: 12 } });
    expect(parseSchemaUri('iglu:com.acme/ev/jsonschema/1-0')).toBe('INVALID_SCHEMAVER');
    expect(parseSchemaUri('iglu:com.acme/ev/jsonschema/01-0-0')).toBe('INVALID_SCHEMAVER');
    expect(parseSchemaUri('http:com.acme/ev/jsonschema/1-0-0')).toBe('INVALID_IGLUURI');
    expect(parseSchemaUri(7)).toBe('INVALID_IGLUURI');
    expect(schemaUri(key('iglu:com.acme/ev/jsonschema/2-1-3'))).toBe('iglu:com.acme/ev/jsonschema/2-1-3');
  });
  it('matches criteria on model, revision and addition', () => {
    const c = parseSchemaCriterion('iglu:com.acme/ev/jsonschema/1-*-*')!;
    expect(matchesCriterion(c, key('iglu:com.acme/ev/jsonschema/1-4-2'))).toBe(true);
    expect(matchesCriterion(c, key('iglu:com.acme/ev/jsonschema/2-0-0'))).toBe(false);
    expect(matchesCriterion(parseSchemaCriterion('iglu:com.acme/ev/jsonschema/1-0-*')!, key('iglu:com.acme/ev/jsonschema/1-1-0'))).toBe(false);
    expect(parseSchemaCriterion('iglu:com.acme/ev/jsonschema/0-*-*')).toBeNull();
  });
  it('checks self-describing JSON as Iglu does', () => {
    expect(parseSelfDescribing([])).toEqual({ ok: false, error: 'INVALID_DATA_PAYLOAD' });
    expect(parseSelfDescribing({ data: 1 })).toEqual({ ok: false, error: 'INVALID_IGLUURI' });
    expect(parseSelfDescribing({ schema: 'iglu:a/b/jsonschema/1-0-0' })).toEqual({ ok: false, error: 'INVALID_DATA_PAYLOAD' });
  });
});

describe('the local registry and validation', () => {
  const local = localRegistry(SCHEMAS);
  it('finds the shipped Iglu Central schemas, and reports misses', () => {
    const found = local.lookupSync!(key('iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1'));
    expect(found.ok && (found.schema.self as { name: string }).name).toBe('link_click');
    expect(local.lookupSync!(key('iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/9-0-0'))).toEqual({ ok: false, error: 'NotFound' });
  });
  it('validates draft-04 schemas with formats, reporting Snowplow-style data reports', () => {
    const v = new Validator(new Resolver([local]));
    const cs = key('iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2');
    const ok = { userId: '0f0c5c5c-1d2d-4c5c-8a8a-111111111111', sessionId: '0f0c5c5c-1d2d-4c5c-8a8a-222222222222', sessionIndex: 1, storageMechanism: 'COOKIE_1', firstEventTimestamp: '2024-03-01T12:00:00.000Z' };
    expect(v.check(cs, ok)).toBeNull();
    expect(v.check(cs, { ...ok, sessionId: 'nope', storageMechanism: 'DISK', extra: 1 })).toEqual({
      error: 'ValidationError',
      dataReports: expect.arrayContaining([
        { message: expect.stringMatching(/^\$: must NOT have additional properties/), path: '$', keyword: 'additionalProperties', targets: ['extra'] },
        { message: expect.stringMatching(/^\$\.sessionId: must match format "uuid"/), path: '$.sessionId', keyword: 'format', targets: [] },
        { message: expect.stringMatching(/^\$\.storageMechanism: /), path: '$.storageMechanism', keyword: 'enum', targets: [] },
      ]),
    });
  });
  it('compiles each schema once and asks the registries once per key', () => {
    let lookups = 0;
    const counting = { ...localRegistry(SCHEMAS), lookupSync: (k: Parameters<NonNullable<typeof local.lookupSync>>[0]) => { lookups++; return local.lookupSync!(k); } };
    const v = new Validator(new Resolver([counting]));
    const wp = key('iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0');
    for (let i = 0; i < 1000; i++) v.check(wp, { id: '0a8bfd3b-0a25-4c5e-8a14-c7c84e63bc7b' });
    v.check(key('iglu:com.acme/missing/jsonschema/1-0-0'), {});
    v.check(key('iglu:com.acme/missing/jsonschema/1-0-0'), {});
    expect(lookups).toBe(2);
  });
  it('reports a schema it cannot compile as schema issues', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-iglu-'));
    fs.mkdirSync(path.join(dir, 'com.acme/broken/jsonschema'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'com.acme/broken/jsonschema/1-0-0'), JSON.stringify({ type: 'object', properties: { a: { $ref: '#/definitions/none' } } }));
    const v = new Validator(new Resolver([localRegistry(dir)]));
    expect(v.check(key('iglu:com.acme/broken/jsonschema/1-0-0'), {})).toMatchObject({ error: 'ValidationError', schemaIssues: [{ path: '$', message: expect.any(String) }] });
    fs.rmSync(dir, { recursive: true });
  });
});

describe('remote static registries over HTTP', () => {
  let server: http.Server;
  let base = '';
  const requests: { url: string; apikey?: string }[] = [];
  const served: Record<string, unknown> = {
    '/api/schemas/com.acme/checkout/jsonschema/1-0-0': acmeSchema('1-0-0', { total: { type: 'number' } }),
    '/api/schemas/com.acme/checkout/jsonschema/1-0-1': acmeSchema('1-0-1', { total: { type: 'number' }, currency: { type: 'string', maxLength: 3 } }),
    '/api/schemas/com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1': { type: 'object', description: 'a decoy the local copy must win over' },
  };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push({ url: req.url!, apikey: req.headers.apikey as string | undefined });
      const body = served[req.url!];
      if (req.url === '/api/schemas/com.acme/flaky/jsonschema/1-0-0') { res.writeHead(500).end('oops'); return; }
      if (!body) { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('fetches a schema only a remote registry has, caches it, and tries the local registry first', async () => {
    let now = 1_000_000;
    const resolver = new Resolver([localRegistry(SCHEMAS), httpRegistry(base, { name: 'acme', priority: 1, apikey: 's3cret' })], { now: () => now, missTtlMs: 60_000 });
    const checkout = key('iglu:com.acme/checkout/jsonschema/1-0-0');
    expect(resolver.lookupSync(checkout)).toBeUndefined(); // needs the network
    await resolver.prefetch([checkout, checkout]);
    expect(resolver.lookupSync(checkout)).toMatchObject({ ok: true });
    expect(requests.filter((r) => r.url.endsWith('checkout/jsonschema/1-0-0'))).toEqual([{ url: '/api/schemas/com.acme/checkout/jsonschema/1-0-0', apikey: 's3cret' }]);
    // Shipped schemas never go to the network.
    expect(resolver.lookupSync(key('iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1'))).toMatchObject({ ok: true, schema: { self: { name: 'link_click' } } });
    // Misses are cached for missTtlMs, then asked again.
    const missing = key('iglu:com.acme/missing/jsonschema/1-0-0');
    const miss = await resolver.lookup(missing);
    expect(miss).toMatchObject({ ok: false, error: { error: 'ResolutionError', lookupHistory: [{ repository: 'local', errors: [{ error: 'NotFound' }] }, { repository: 'acme', errors: [{ error: 'NotFound' }], attempts: 1 }] } });
    await resolver.lookup(missing);
    expect(requests.filter((r) => r.url.includes('missing'))).toHaveLength(1);
    now += 60_001;
    await resolver.lookup(missing);
    expect(requests.filter((r) => r.url.includes('missing'))).toHaveLength(2);
    // A failing registry is a RepoFailure with its message.
    expect(await resolver.lookup(key('iglu:com.acme/flaky/jsonschema/1-0-0'))).toMatchObject({ ok: false, error: { lookupHistory: [{}, { errors: [{ error: 'RepoFailure', message: expect.stringContaining('HTTP 500') }] }] } });
  });

  it('honours vendor prefixes before priority', async () => {
    const seen: string[] = [];
    const spy = (name: string, priority: number, prefixes: string[]) => ({
      ...httpRegistry(base, { name, priority, vendorPrefixes: prefixes }),
      lookup: async () => { seen.push(name); return { ok: false as const, error: 'NotFound' as const }; },
    });
    await new Resolver([spy('general', 0, []), spy('acme-only', 5, ['com.acme'])]).lookup(key('iglu:com.acme/x/jsonschema/1-0-0'));
    expect(seen).toEqual(['acme-only', 'general']);
  });

  it('enrichPayloads fetches what the events need, then enriches them; a schema nobody has is a bad row', async () => {
    const iglu = createIglu({ schemasDir: SCHEMAS });
    const resolver = new Resolver([localRegistry(SCHEMAS), httpRegistry(base, { name: 'acme', priority: 1 })]);
    const enricher: Enricher = { iglu: { resolver, validator: new Validator(resolver) }, enrichments: {}, maxEnrichedBytes: 1_000_000 };
    expect(iglu.resolver.needsAsync).toBe(false);
    const ue = (schema: string, data: unknown) => JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema, data } });
    const payload = (ue_pr: string): CollectorPayload => ({
      schema: 'iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-0', ipAddress: '1.2.3.4', timestamp: Date.UTC(2024, 0, 1), encoding: 'UTF-8',
      collector: 'c', path: '/i', querystring: new URLSearchParams({ e: 'ue', p: 'web', ue_pr }).toString(),
    });
    const ctx = { etlTstamp: Date.UTC(2024, 0, 1, 0, 0, 1), etlVersion: 'sluice-enrich-0.1.0', enricher };
    const fresh = payload(ue('iglu:com.acme/checkout/jsonschema/1-0-1', { total: 9.5, currency: 'EUR' }));
    expect(enrichPayload(fresh, ctx).pending).toEqual(['iglu:com.acme/checkout/jsonschema/1-0-1']);
    const [good, bad] = await enrichPayloads([fresh, payload(ue('iglu:com.acme/nowhere/jsonschema/1-0-0', {}))], ctx);
    expect(good.bad).toEqual([]);
    expect(good.good[0].event_name).toBe('checkout');
    expect(bad.good).toEqual([]);
    expect(bad.bad[0].data.failure).toMatchObject({ messages: [{ schemaKey: 'iglu:com.acme/nowhere/jsonschema/1-0-0', error: { error: 'ResolutionError' } }] });
  });

  it('reads an Iglu resolver config file (embedded and http repositories)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-resolver-'));
    fs.mkdirSync(path.join(dir, 'extra/com.acme/local_only/jsonschema'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'extra/com.acme/local_only/jsonschema/1-0-0'), JSON.stringify({ type: 'object' }));
    const file = path.join(dir, 'resolver.json');
    fs.writeFileSync(file, JSON.stringify({
      schema: 'iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-3',
      data: { cacheSize: 500, cacheTtl: 600, repositories: [
        { name: 'extra', priority: 1, vendorPrefixes: [], connection: { embedded: { path: 'extra' } } },
        { name: 'acme', priority: 2, vendorPrefixes: ['com.acme'], connection: { http: { uri: base } } },
      ] },
    }));
    const iglu = createIglu({ schemasDir: SCHEMAS, resolverConfigFile: file });
    expect(iglu.resolver.registries.map((r) => r.name)).toEqual(['Sluice local registry', 'extra', 'acme']);
    // The com.acme-prefixed remote registry is asked first, so this waits for a fetch.
    const k = key('iglu:com.acme/local_only/jsonschema/1-0-0');
    expect(iglu.resolver.lookupSync(k)).toBeUndefined();
    await iglu.resolver.prefetch([k]);
    expect(iglu.resolver.lookupSync(k)).toMatchObject({ ok: true });
    expect(requests.some((r) => r.url === '/api/schemas/com.acme/local_only/jsonschema/1-0-0')).toBe(true);
    fs.writeFileSync(file, JSON.stringify({ schema: 'iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-3', data: { repositories: [] } }));
    expect(() => createIglu({ schemasDir: SCHEMAS, resolverConfigFile: file })).toThrow(IgluConfigError);
    fs.rmSync(dir, { recursive: true });
  });
});
