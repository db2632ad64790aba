import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { PROJECT_ROOT, createEnricher } from '../../enrich/default-enricher';
import { type EnrichContext, enrichPayload } from '../../enrich/enrich';
import { EnrichmentConfigError, buildEnrichments, loadEnrichments } from '../../enrich/enrichments/registry';
import { badRowType } from '../../enrich/bad-rows';
import { parseSchemaUri } from '../../enrich/iglu';
import { buildMmdb } from '../helpers/mmdb';
import { enrichmentConfig as cfg, piiConfig } from '../helpers/enrichment-configs';

const SP = 'com.snowplowanalytics.snowplow';
const dirs: string[] = [];
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-enrich-cfg-')); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function enricherWith(configs: Record<string, unknown>) {
  const dir = tmp();
  for (const [name, json] of Object.entries(configs)) fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(json));
  return createEnricher({ enrichmentsDir: dir });
}
const T = Date.UTC(2024, 2, 1, 12, 0, 0);
const cp = (querystring: string, over: Partial<CollectorPayload> = {}): CollectorPayload => ({
  schema: `iglu:${SP}/CollectorPayload/thrift/1-0-0`, ipAddress: '81.2.69.160', timestamp: T, encoding: 'UTF-8',
  collector: 'c-1', path: '/i', querystring, headers: ['Host: c.test', 'Cookie: sp=abc; x=1', 'Accept-Language: en'], ...over,
});
const ctxOf = (enricher: ReturnType<typeof createEnricher>): EnrichContext => ({ etlTstamp: T + 5000, etlVersion: 'sluice-enrich-0.1.0', enricher });

describe('enrichment config files', () => {
  it('the shipped folder loads, with UA, referer, campaign and fingerprint on by default', () => {
    const reg = loadEnrichments(path.join(PROJECT_ROOT, 'config/enrichments'), { validator: createEnricher().iglu.validator });
    expect(Object.keys(reg).sort()).toEqual(['campaignAttribution', 'eventFingerprint', 'refererParser', 'uaParser']);
  });

  it('every shipped config is valid against its Iglu schema, even the ones switched off', () => {
    const dir = path.join(PROJECT_ROOT, 'config/enrichments');
    const { validator } = createEnricher().iglu;
    for (const f of fs.readdirSync(dir)) {
      const json = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const key = parseSchemaUri(json.schema);
      if (typeof key === 'string') throw new Error(f);
      expect(validator.check(key, json.data), f).toBeNull();
    }
  });

  it('names the file and the problem when a config is wrong', () => {
    const { validator } = createEnricher().iglu;
    const build = (json: unknown) => () => buildEnrichments([{ source: 'x.json', json }], { validator, baseDir: '/' });
    expect(build({ data: {} })).toThrow(EnrichmentConfigError);
    expect(build(cfg(`${SP}/anon_ip/jsonschema/1-0-1`, { vendor: SP, name: 'anon_ip', parameters: { anonOctets: 9 } }))).toThrow(/x\.json: invalid against .*anon_ip.*maximum/);
    expect(build(cfg('com.acme/whatever/jsonschema/1-0-0', {}))).toThrow('x.json: iglu:com.acme/whatever/jsonschema/1-0-0 is not a supported enrichment');
    expect(build(cfg(`${SP}/referer_parser/jsonschema/2-0-0`, { vendor: SP, name: 'referer_parser', parameters: { internalDomains: [], database: 'referers.json', uri: 'https://example.invalid/' } })))
      .toThrow(/only file: URIs are read/);
    expect(build(cfg(`${SP}/referer_parser/jsonschema/2-0-0`, { vendor: SP, name: 'referer_parser', parameters: { internalDomains: [], database: 'nope.json', uri: 'file:/nowhere/' } })))
      .toThrow(/nope\.json does not exist/);
    // Switched off: not even its database is looked for.
    expect(Object.keys(buildEnrichments([{ source: 'off.json', json: cfg(`${SP}/ip_lookups/jsonschema/2-0-0`, { enabled: false, vendor: SP, name: 'ip_lookups', parameters: { geo: { database: 'GeoLite2-City.mmdb', uri: 'file:/nowhere/' } } }) }], { validator, baseDir: '/' }))).toEqual([]);
  });
});

describe('PII pseudonymisation (pii_enrichment_config 2-0-0)', () => {
  const enricher = enricherWith({
    pii: piiConfig(),
  });
  const sha = (s: string) => createHash('sha256').update(`${s}pepper123`).digest('hex');
  const session = { userId: '0f0c5c5c-1d2d-4c5c-8a8a-111111111111', sessionId: '0f0c5c5c-1d2d-4c5c-8a8a-222222222222', sessionIndex: 1, storageMechanism: 'COOKIE_1', previousSessionId: null };

  it('hashes fields and JSON paths with the salt, and emits a pii_transformation event linked to its parent', () => {
    const q = new URLSearchParams({
      e: 'ue', p: 'web', uid: 'alice@example.com', eid: 'c6ef3124-b53a-4b13-a233-0088f79dcbcb',
      ue_pr: JSON.stringify({ schema: `iglu:${SP}/unstruct_event/jsonschema/1-0-0`, data: { schema: `iglu:${SP}/link_click/jsonschema/1-0-1`, data: { targetUrl: 'https://t', elementId: 'secret-button' } } }),
      co: JSON.stringify({ schema: `iglu:${SP}/contexts/jsonschema/1-0-0`, data: [{ schema: `iglu:${SP}/client_session/jsonschema/1-0-2`, data: session }] }),
    }).toString();
    const { good, bad } = enrichPayload(cp(q), ctxOf(enricher));
    expect(bad).toEqual([]);
    expect(good).toHaveLength(2);
    const [e, pii] = good;
    expect(e.user_id).toBe(sha('alice@example.com'));
    expect(e.user_ipaddress).toBe(sha('81.2.69.160'));
    expect(JSON.parse(e.unstruct_event!).data.data.elementId).toBe(sha('secret-button'));
    expect(JSON.parse(e.contexts!).data[0].data).toEqual({ ...session, userId: sha(session.userId) });
    expect([pii.event, pii.platform, pii.event_name, pii.event_version]).toEqual(['pii_transformation', 'srv', 'pii_transformation', '1-0-0']);
    expect(JSON.parse(pii.contexts!).data).toEqual([{ schema: `iglu:${SP}/parent_event/jsonschema/1-0-0`, data: { parentEventId: e.event_id } }]);
    const sd = JSON.parse(pii.unstruct_event!).data;
    expect(sd.schema).toBe(`iglu:${SP}/pii_transformation/jsonschema/1-0-0`);
    expect(sd.data.strategy).toEqual({ pseudonymize: { hashFunction: 'SHA-256' } });
    expect(sd.data.pii.pojo).toEqual(expect.arrayContaining([{ fieldName: 'user_id', originalValue: 'alice@example.com', modifiedValue: sha('alice@example.com') }]));
    expect(sd.data.pii.json).toEqual(expect.arrayContaining([{ fieldName: 'contexts', originalValue: session.userId, modifiedValue: sha(session.userId), jsonPath: "$.['userId','previousSessionId']", schema: `iglu:${SP}/client_session/jsonschema/1-0-2` }]));
    const key = parseSchemaUri(sd.schema);
    if (typeof key === 'string') throw new Error(key);
    expect(enricher.iglu.validator.check(key, sd.data)).toBeNull();
  });

  it('emits nothing when nothing was replaced', () => {
    expect(enrichPayload(cp('e=pv&p=web', { ipAddress: '' }), ctxOf(enricher)).good).toHaveLength(1);
  });
});

describe('JavaScript enrichment (javascript_script_config)', () => {
  const js = (script: string, timeoutMs = 50) => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'js.json'), JSON.stringify(cfg(`${SP}/javascript_script_config/jsonschema/1-0-0`, { vendor: SP, name: 'javascript_script_config', parameters: { script: Buffer.from(script).toString('base64') } })));
    return createEnricher({ enrichmentsDir: dir, jsTimeoutMs: timeoutMs });
  };
  const run = (enricher: ReturnType<typeof js>, q = 'e=pv&p=web&aid=shop') => enrichPayload(cp(q), ctxOf(enricher));

  it('returns contexts and may change the event, through properties or POJO accessors', () => {
    const enricher = js(`function process(event) {
      event.setApp_id(event.getApp_id().toUpperCase());
      event.user_id = 'from-js';
      return [{ schema: 'iglu:${SP}/web_page/jsonschema/1-0-0', data: { id: '0a8bfd3b-0a25-4c5e-8a14-c7c84e63bc7b' } }];
    }`);
    const { good, bad } = run(enricher);
    expect(bad).toEqual([]);
    expect([good[0].app_id, good[0].user_id]).toEqual(['SHOP', 'from-js']);
    expect(JSON.parse(good[0].derived_contexts!).data).toEqual([{ schema: `iglu:${SP}/web_page/jsonschema/1-0-0`, data: { id: '0a8bfd3b-0a25-4c5e-8a14-c7c84e63bc7b' } }]);
  });

  it('turns errors, timeouts and bad results into enrichment failures', () => {
    const failure = (script: string) => {
      const r = run(js(script));
      expect(r.bad.map(badRowType)).toEqual(['enrichment_failures']);
      return (r.bad[0].data.failure as { messages: { enrichment: unknown; message: { error?: string; schemaKey?: string } }[] }).messages[0];
    };
    expect(failure('function process(e) { throw new Error("nope"); }')).toEqual({
      enrichment: { schemaKey: `iglu:${SP}/javascript_script_config/jsonschema/1-0-0`, identifier: 'Javascript enrichment' },
      message: { error: 'Error during execution of JavaScript function: [nope]' },
    });
    expect(failure('function process(e) { for (;;) {} }').message.error).toMatch(/ran for more than 50 ms/);
    expect(failure('function process(e) { return {}; }').message.error).toMatch(/is not read as an array/);
    expect(failure('function process(e) { return [{ nope: 1 }]; }').message.error).toMatch(/not self-desribing/);
    expect(failure(`function process(e) { return [{ schema: 'iglu:${SP}/web_page/jsonschema/1-0-0', data: { id: 'x' } }]; }`).message.schemaKey).toBe(`iglu:${SP}/web_page/jsonschema/1-0-0`);
  });

  it('runs in a sandbox without Node.js', () => {
    const { good } = run(js('function process(e) { e.user_id = [typeof require, typeof globalThis.process === "function", typeof setTimeout].join(","); return []; }'));
    expect(good[0].user_id).toBe('undefined,true,undefined');
  });

  it('rejects a script without process() at start', () => {
    expect(() => js('var x = 1;')).toThrow(/must define a function process\(event\)/);
  });
});

describe('IP lookups (ip_lookups 2-0-0) with MaxMind-format databases', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'GeoIP2-City.mmdb'), buildMmdb({
    '81.2.69.0/24': {
      country: { iso_code: 'GB' }, city: { names: { en: 'London' } }, postal: { code: 'EC2V' },
      location: { latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' },
      subdivisions: [{ iso_code: 'ENG', names: { en: 'England' } }],
    },
    '2001:db8::/32': { country: { iso_code: 'US' }, location: { latitude: 37.751, longitude: -97.822 } },
  }, { databaseType: 'GeoIP2-City' }));
  fs.writeFileSync(path.join(dir, 'GeoIP2-ISP.mmdb'), buildMmdb({ '81.2.69.0/24': { isp: 'Andrews & Arnold Ltd', organization: 'STONEHOUSE office network', autonomous_system_number: 20712 } }, { databaseType: 'GeoIP2-ISP' }));
  fs.writeFileSync(path.join(dir, 'GeoIP2-Domain.mmdb'), buildMmdb({ '81.2.69.0/24': { domain: 'aaisp.net.uk' } }, { databaseType: 'GeoIP2-Domain' }));
  fs.writeFileSync(path.join(dir, 'GeoIP2-Connection-Type.mmdb'), buildMmdb({ '81.2.69.0/24': { connection_type: 'Corporate' } }, { databaseType: 'GeoIP2-Connection-Type' }));
  const uri = `file://${dir}/`;
  const enricher = enricherWith({
    ip: cfg(`${SP}/ip_lookups/jsonschema/2-0-0`, {
      vendor: SP, name: 'ip_lookups',
      parameters: { geo: { database: 'GeoIP2-City.mmdb', uri }, isp: { database: 'GeoIP2-ISP.mmdb', uri }, domain: { database: 'GeoIP2-Domain.mmdb', uri }, connectionType: { database: 'GeoIP2-Connection-Type.mmdb', uri } },
    }),
    anon: cfg(`${SP}/anon_ip/jsonschema/1-0-1`, { vendor: SP, name: 'anon_ip', parameters: { anonOctets: 2, anonSegments: 3 } }),
  });

  it('fills geo and network fields from the real address, then anonymises it', () => {
    const e = enrichPayload(cp('e=pv&p=web'), ctxOf(enricher)).good[0];
    expect(e).toMatchObject({
      geo_country: 'GB', geo_region: 'ENG', geo_city: 'London', geo_zipcode: 'EC2V', geo_latitude: '51.5142', geo_longitude: '-0.0931',
      geo_region_name: 'England', geo_timezone: 'Europe/London', ip_isp: 'Andrews & Arnold Ltd', ip_organization: 'STONEHOUSE office network',
      ip_domain: 'aaisp.net.uk', ip_netspeed: 'Corporate', user_ipaddress: '81.2.x.x',
    });
  });

  it('looks IPv6 addresses up, and leaves unknown or invalid addresses alone', () => {
    const v6 = enrichPayload(cp('e=pv&p=web', { ipAddress: '2001:db8::1' }), ctxOf(enricher)).good[0];
    expect([v6.geo_country, v6.geo_latitude, v6.user_ipaddress]).toEqual(['US', '37.751', '2001:db8:0:0:0:x:x:x']);
    const unknown = enrichPayload(cp('e=pv&p=web', { ipAddress: '8.8.8.8' }), ctxOf(enricher)).good[0];
    expect([unknown.geo_country, unknown.user_ipaddress]).toEqual([undefined, '8.8.x.x']);
    const junk = enrichPayload(cp('e=pv&p=web&ip=not-an-ip'), ctxOf(enricher));
    expect(junk.bad).toEqual([]);
    expect(junk.good[0].geo_country).toBeUndefined();
  });
});

describe('cookie and header extractors in the pipeline', () => {
  it('add org.ietf contexts to derived_contexts', () => {
    const enricher = enricherWith({
      c: cfg(`${SP}/cookie_extractor_config/jsonschema/1-0-0`, { vendor: SP, name: 'cookie_extractor_config', parameters: { cookies: ['sp'] } }),
      h: cfg(`${SP}.enrichments/http_header_extractor_config/jsonschema/1-0-0`, { vendor: `${SP}.enrichments`, name: 'http_header_extractor_config', parameters: { headersPattern: 'Accept-Language' } }),
    });
    const e = enrichPayload(cp('e=pv&p=web'), ctxOf(enricher)).good[0];
    expect(JSON.parse(e.derived_contexts!)).toEqual({
      schema: `iglu:${SP}/contexts/jsonschema/1-0-1`,
      data: [
        { schema: 'iglu:org.ietf/http_cookie/jsonschema/1-0-0', data: { name: 'sp', value: 'abc' } },
        { schema: 'iglu:org.ietf/http_header/jsonschema/1-0-0', data: { name: 'Accept-Language', value: 'en' } },
      ],
    });
  });
});
