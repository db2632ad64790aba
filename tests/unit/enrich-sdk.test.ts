// Acceptance: every enriched line Sluice writes is parsed by the snowplow-analytics-sdk package
// without error, and the JSON it yields matches the enriched event field for field, over a
// generated corpus covering every event type, every platform and every enrichment.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sdk from 'snowplow-analytics-sdk';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { ENRICHED_FIELDS, type EnrichedEvent, parseEnrichedTsv } from '../../codecs/enriched-tsv';
import { createEnricher } from '../../enrich/default-enricher';
import { enrichPayload } from '../../enrich/enrich';
import { buildMmdb } from '../helpers/mmdb';

const { transform } = sdk; // a webpack CommonJS bundle: only the default import works from ESM

const SP = 'com.snowplowanalytics.snowplow';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sdk-corpus-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Every enrichment on.
fs.writeFileSync(path.join(dir, 'GeoLite2-City.mmdb'), buildMmdb({
  '81.2.69.0/24': { country: { iso_code: 'GB' }, city: { names: { en: 'London' } }, location: { latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' }, subdivisions: [{ iso_code: 'ENG', names: { en: 'England' } }] },
}, { databaseType: 'GeoLite2-City' }));
const on = (schema: string, data: Record<string, unknown>) => ({ schema: `iglu:${schema}`, data: { enabled: true, ...data } });
const configs = {
  ua: on(`${SP}/ua_parser_config/jsonschema/1-0-1`, { vendor: SP, name: 'ua_parser_config', parameters: {} }),
  referer: on(`${SP}/referer_parser/jsonschema/2-0-0`, { vendor: SP, name: 'referer_parser', parameters: { internalDomains: ['blog.shop.test'], database: 'referers.json', uri: `file://${path.resolve('enrich/data')}/` } }),
  campaign: on(`${SP}/campaign_attribution/jsonschema/1-0-1`, { vendor: SP, name: 'campaign_attribution', parameters: { fields: { mktMedium: ['utm_medium'], mktSource: ['utm_source'], mktTerm: ['utm_term'], mktContent: ['utm_content'], mktCampaign: ['utm_campaign'] } } }),
  fingerprint: on(`${SP}/event_fingerprint_config/jsonschema/1-0-1`, { vendor: SP, name: 'event_fingerprint_config', parameters: { hashAlgorithm: 'SHA256', excludeParameters: ['eid', 'stm'] } }),
  cookies: on(`${SP}/cookie_extractor_config/jsonschema/1-0-0`, { vendor: SP, name: 'cookie_extractor_config', parameters: { cookies: ['sp'] } }),
  headers: on(`${SP}.enrichments/http_header_extractor_config/jsonschema/1-0-0`, { vendor: `${SP}.enrichments`, name: 'http_header_extractor_config', parameters: { headersPattern: '(?i)accept-language' } }),
  anon: on(`${SP}/anon_ip/jsonschema/1-0-1`, { vendor: SP, name: 'anon_ip', parameters: { anonOctets: 1 } }),
  ip: on(`${SP}/ip_lookups/jsonschema/2-0-0`, { vendor: SP, name: 'ip_lookups', parameters: { geo: { database: 'GeoLite2-City.mmdb', uri: `file://${dir}/` } } }),
  pii: on(`${SP}.enrichments/pii_enrichment_config/jsonschema/2-0-0`, { vendor: `${SP}.enrichments`, name: 'pii_enrichment_config', emitEvent: true, parameters: { pii: [{ pojo: { field: 'user_id' } }], strategy: { pseudonymize: { hashFunction: 'SHA-1', salt: 's' } } } }),
  js: on(`${SP}/javascript_script_config/jsonschema/1-0-0`, { vendor: SP, name: 'javascript_script_config', parameters: { script: Buffer.from(`function process(event) {
    return event.getPlatform() === 'web' ? [{ schema: 'iglu:${SP}/web_page/jsonschema/1-0-0', data: { id: '0a8bfd3b-0a25-4c5e-8a14-c7c84e63bc7b' } }] : [];
  }`).toString('base64') } }),
};
const cfgDir = path.join(dir, 'enrichments');
fs.mkdirSync(cfgDir);
for (const [n, c] of Object.entries(configs)) fs.writeFileSync(path.join(cfgDir, `${n}.json`), JSON.stringify(c));
const enricher = createEnricher({ enrichmentsDir: cfgDir, jsTimeoutMs: 5_000 });

// ---- the corpus ----
const PLATFORMS = ['web', 'iot', 'app', 'mob', 'pc', 'cnsl', 'tv', 'srv', 'headset'];
const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1',
  'Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)',
];
const REFERRERS = ['https://www.google.co.uk/search?q=blue+mugs', 'https://t.co/abc', 'https://blog.shop.test/post/1', 'https://unknown.example/x', 'android-app://com.google.android.gm/'];
const uuid = (n: number) => `3f2a1b4c-5d6e-4f70-8a9b-${n.toString(16).padStart(12, '0')}`;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const ctxs = (n: number) => ({
  schema: `iglu:${SP}/contexts/jsonschema/1-0-0`,
  data: [
    { schema: `iglu:${SP}/web_page/jsonschema/1-0-0`, data: { id: uuid(n) } },
    { schema: `iglu:${SP}/client_session/jsonschema/1-0-2`, data: { userId: uuid(n + 1), sessionId: uuid(n + 2), sessionIndex: n % 5, storageMechanism: 'LOCAL_STORAGE', eventIndex: n, previousSessionId: null } },
  ],
});

function eventParams(kind: string, n: number): Record<string, string> {
  const base: Record<string, string> = {
    e: kind, eid: uuid(n), tv: 'js-3.17.0', tna: 'corpus', aid: `app-${n % 3}`, uid: `user-${n}`, duid: `d-${n}`,
    vid: String(n % 9), sid: uuid(10_000 + n), dtm: String(1_709_294_000_000 + n), stm: String(1_709_294_000_500 + n),
    lang: 'en-GB', cs: 'UTF-8', tz: 'Europe/London', cd: '24', res: '1920x1080', vp: '1280x720', ds: '1280x2000',
    cookie: String(n % 2), f_pdf: '1', f_java: '0', f_fla: String(n % 2), fp: String(1_000_000 + n), tid: String(n * 7),
    url: `https://www.shop.test/p/${n}?utm_source=news&utm_medium=email&utm_term=mugs&utm_content=c${n}&utm_campaign=spring${n % 2 ? '&gclid=g' + n : ''}${n % 4 === 0 ? `&_sp=dom${n}.1709294000000` : ''}#f${n}`,
    page: `Page ${n}`, refr: REFERRERS[n % REFERRERS.length], cx: b64(ctxs(n)),
  };
  if (n % 5 === 0) base.ttm = String(1_709_293_999_000 + n);
  switch (kind) {
    case 'pp': return { ...base, pp_mix: '0', pp_max: String(n), pp_miy: '-5', pp_may: String(n * 10) };
    case 'se': return { ...base, se_ca: 'video', se_ac: 'play', se_la: `clip ${n}`, se_pr: 'hd', se_va: `${n}.25` };
    case 'ue': return { ...base, ue_px: b64({ schema: `iglu:${SP}/unstruct_event/jsonschema/1-0-0`, data: { schema: `iglu:${SP}/link_click/jsonschema/1-0-1`, data: { targetUrl: `https://x.test/${n}`, elementClasses: ['a', 'b'] } } }) };
    case 'tr': return { ...base, tr_id: `o${n}`, tr_af: 'web', tr_tt: '99.99', tr_tx: '1.5e1', tr_sh: '4', tr_ci: 'Leeds', tr_st: 'W Yorks', tr_co: 'GB', tr_cu: 'GBP' };
    case 'ti': return { ...base, ti_id: `o${n}`, ti_sk: `sku-${n}`, ti_nm: 'Mug', ti_ca: 'Kitchen', ti_pr: '9.50', ti_qu: String(1 + (n % 4)), ti_cu: 'GBP' };
    default: return base;
  }
}

const corpus: CollectorPayload[] = [];
let n = 0;
for (const p of PLATFORMS) {
  const events = ['pv', 'pp', 'se', 'ue', 'tr', 'ti', 'ad'].map((kind) => ({ ...eventParams(kind, n++), p }));
  corpus.push({
    schema: `iglu:${SP}/CollectorPayload/thrift/1-0-0`, ipAddress: n % 2 ? '81.2.69.160' : '2001:db8::7', timestamp: 1_709_294_001_000 + n,
    encoding: 'UTF-8', collector: 'sluice-collector-0.1.0-kinesis', userAgent: UAS[n % UAS.length], path: `/${SP}/tp2`,
    contentType: 'application/json; charset=UTF-8', networkUserId: uuid(99_000 + n), hostname: 'c.shop.test',
    headers: ['Host: c.shop.test', 'Cookie: sp=nuid-cookie; other=x', 'Accept-Language: en-GB,en;q=0.9'],
    body: JSON.stringify({ schema: `iglu:${SP}/payload_data/jsonschema/1-0-4`, data: events }),
  });
  // The same events as GET pixels.
  for (const e of events.slice(0, 2)) corpus.push({ ...corpus[corpus.length - 1], path: '/i', body: undefined, contentType: undefined, querystring: new URLSearchParams(e).toString() });
}
corpus.push({ ...corpus[0], path: '/r/tp2', body: undefined, contentType: undefined, querystring: 'u=https%3A%2F%2Fdest.test%2F&aid=redirect' });

// ---- what the SDK should make of each field ----
const INTEGER = new Set(['txn_id', 'domain_sessionidx', 'page_urlport', 'refr_urlport', 'ti_quantity', 'pp_xoffset_min', 'pp_xoffset_max', 'pp_yoffset_min', 'pp_yoffset_max', 'br_viewwidth', 'br_viewheight', 'dvce_screenwidth', 'dvce_screenheight', 'doc_width', 'doc_height']);
const DOUBLE = new Set(['geo_latitude', 'geo_longitude', 'tr_total', 'tr_tax', 'tr_shipping', 'ti_price', 'tr_total_base', 'tr_tax_base', 'tr_shipping_base', 'ti_price_base']);
const BOOLEAN = new Set(['br_features_pdf', 'br_features_flash', 'br_features_java', 'br_features_director', 'br_features_quicktime', 'br_features_realplayer', 'br_features_windowsmedia', 'br_features_gears', 'br_features_silverlight', 'br_cookies', 'dvce_ismobile']);
const TIMESTAMP = new Set(['etl_tstamp', 'collector_tstamp', 'dvce_created_tstamp', 'dvce_sent_tstamp', 'refr_dvce_tstamp', 'derived_tstamp', 'true_tstamp']);

function sdkKey(prefix: string, schema: string): string {
  const [, vendor, name, , version] = /^iglu:([^/]+)\/([^/]+)\/([^/]+)\/(.+)$/.exec(schema)!;
  return [prefix, vendor.replace(/\./g, '_').toLowerCase(), name.replace(/([^A-Z_])([A-Z])/g, '$1_$2').toLowerCase(), version.split('-')[0]].join('_');
}

function expectedSdkJson(e: EnrichedEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of ENRICHED_FIELDS) {
    const v = e[f];
    if (v === undefined || v === '') continue;
    if (f === 'contexts' || f === 'derived_contexts') {
      // Grouped per field; the SDK lets derived_contexts replace a contexts_* key the event's own contexts also use.
      const grouped: Record<string, unknown[]> = {};
      for (const c of JSON.parse(v).data as { schema: string; data: unknown }[]) (grouped[sdkKey('contexts', c.schema)] ??= []).push(c.data);
      Object.assign(out, grouped);
    } else if (f === 'unstruct_event') {
      const inner = JSON.parse(v).data as { schema: string; data: unknown };
      out[sdkKey('unstruct_event', inner.schema)] = inner.data;
    } else if (INTEGER.has(f)) out[f] = Number.parseInt(v, 10);
    else if (DOUBLE.has(f)) out[f] = Number.parseFloat(v);
    else if (BOOLEAN.has(f)) out[f] = v === '1';
    else if (TIMESTAMP.has(f)) out[f === 'refr_dvce_tstamp' ? 'refr_device_tstamp' : f] = `${v.replace(' ', 'T')}Z`;
    else out[f] = v;
  }
  if (e.geo_latitude && e.geo_longitude) out.geo_location = `${e.geo_latitude},${e.geo_longitude}`;
  return out;
}

describe('enriched TSV through the Snowplow analytics SDK', () => {
  const results = corpus.map((p) => enrichPayload(p, { etlTstamp: 1_709_294_010_000, etlVersion: 'sluice-enrich-0.1.0', enricher }));

  it('the corpus enriches cleanly and covers every event type, platform and enrichment', () => {
    expect(results.flatMap((r) => r.bad)).toEqual([]);
    const good = results.flatMap((r) => r.good);
    expect(new Set(good.map((e) => e.event))).toEqual(new Set(['page_view', 'page_ping', 'struct', 'unstruct', 'transaction', 'transaction_item', 'ad_impression', 'pii_transformation']));
    expect(new Set(good.map((e) => e.platform))).toEqual(new Set(PLATFORMS));
    const has = (f: keyof EnrichedEvent) => good.some((e) => e[f] !== undefined);
    for (const f of ['refr_medium', 'refr_source', 'refr_term', 'mkt_source', 'mkt_clickid', 'mkt_network', 'event_fingerprint', 'geo_city', 'geo_timezone', 'refr_domain_userid', 'refr_dvce_tstamp', 'true_tstamp', 'derived_contexts'] as const) {
      expect(has(f), f).toBe(true);
    }
    const derived = new Set(good.flatMap((e) => (e.derived_contexts ? JSON.parse(e.derived_contexts).data.map((c: { schema: string }) => c.schema) : [])));
    expect(derived).toEqual(new Set(['iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0', 'iglu:org.ietf/http_cookie/jsonschema/1-0-0', 'iglu:org.ietf/http_header/jsonschema/1-0-0', 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0']));
    expect(good.every((e) => e.user_ipaddress === undefined || e.user_ipaddress.endsWith('x'))).toBe(true);
  });

  it('every line is parsed by the SDK and matches the event field for field', () => {
    let lines = 0;
    for (const r of results) {
      r.lines.forEach((line, i) => {
        lines++;
        expect(transform(line)).toEqual(expectedSdkJson(r.good[i]));
        expect(parseEnrichedTsv(line)).toEqual(Object.fromEntries(Object.entries(r.good[i]).filter(([, v]) => v !== undefined)));
      });
    }
    expect(lines).toBeGreaterThan(80);
  });

  it('the stream path (keepEvents: false, one reused event object) writes the same lines', () => {
    const streamed = corpus.map((p) => enrichPayload(p, { etlTstamp: 1_709_294_010_000, etlVersion: 'sluice-enrich-0.1.0', enricher, keepEvents: false }));
    const strip = (line: string) => line.split('\t').map((v, i) => (i === 6 ? '' : v)).join('\t'); // minus event_id, random for the PII events
    expect(streamed.map((r) => r.good)).toEqual(corpus.map(() => []));
    expect(streamed.flatMap((r) => r.lines).map(strip)).toEqual(results.flatMap((r) => r.lines).map(strip));
  });
});
