import { describe, expect, it } from 'vitest';
import sdk from 'snowplow-analytics-sdk';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { toEnrichedTsv } from '../../codecs/enriched-tsv';
import { enrichPayload, derivedTstamp } from '../../enrich/enrich';
import { type BadRow, BAD_ROW_SCHEMAS, badRowType } from '../../enrich/bad-rows';

const ctx = { etlTstamp: Date.UTC(2024, 2, 1, 12, 0, 5), etlVersion: 'sluice-enrich-0.1.0' };
const T = Date.UTC(2024, 2, 1, 12, 0, 0); // collector time
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const b64url = (s: string) => Buffer.from(s).toString('base64url');
const qs = (p: Record<string, string>) => new URLSearchParams(p).toString();
const TP2 = '/com.snowplowanalytics.snowplow/tp2';

function cp(over: Partial<CollectorPayload> = {}): CollectorPayload {
  return {
    schema: 'iglu:com.snowplowanalytics.snowplow/CollectorPayload/thrift/1-0-0',
    ipAddress: '203.0.113.9', timestamp: T, encoding: 'UTF-8', collector: 'ssc-3.4.0-kinesis',
    userAgent: 'Mozilla/5.0 (collector)', refererUri: 'https://fallback.test/from-header',
    headers: ['Host: c.test'], hostname: 'c.test', networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
    ...over,
  };
}
const post = (events: unknown[], over: Partial<CollectorPayload> = {}) => cp({
  path: TP2, contentType: 'application/json; charset=UTF-8',
  body: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data: events }),
  ...over,
});
const contexts = JSON.stringify({
  schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1',
  data: [{ schema: 'iglu:com.acme/user/jsonschema/1-0-0', data: { id: 7 } }],
});
const unstruct = JSON.stringify({
  schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0',
  data: { schema: 'iglu:com.acme/link_click/jsonschema/1-0-1', data: { target: 'https://t.test' } },
});
const types = (bad: BadRow[]) => bad.map((b) => badRowType(b));

describe('GET pixel', () => {
  it('maps every tracker-protocol field of a page view', () => {
    const params = {
      e: 'pv', p: 'web', aid: 'shop', eid: 'c6ef3124-b53a-4b13-a233-0088f79dcbcb', tv: 'js-3.17.0',
      tna: 'sp1', uid: 'alice', duid: 'd-uid', sid: '2b15e5c8-d3b1-11e4-b9d6-1681e6b88ec1', vid: '4',
      tnuid: 'tracker-nuid', ip: '198.51.100.1', ua: 'Tracker UA', url: 'http://shop.test:8080/p/1?x=1&y=2#frag',
      refr: 'https://www.google.com/search?q=shoes', page: 'Shoes', lang: 'en-GB', res: '1920x1080',
      vp: '1024x768', ds: '1000x3000', cs: 'UTF-8', cd: '24', tz: 'Europe/London', cookie: '1',
      co: contexts, dtm: String(T - 3000), stm: String(T - 1000),
    };
    const { good, bad } = enrichPayload(cp({ path: '/i', querystring: qs(params) }), ctx);
    expect(bad).toEqual([]);
    expect(good).toEqual([{
      event: 'page_view', platform: 'web', app_id: 'shop', event_id: params.eid, v_tracker: 'js-3.17.0',
      name_tracker: 'sp1', user_id: 'alice', domain_userid: 'd-uid', domain_sessionid: params.sid,
      domain_sessionidx: '4', network_userid: 'tracker-nuid', user_ipaddress: '198.51.100.1', useragent: 'Tracker UA',
      page_url: params.url, page_urlscheme: 'http', page_urlhost: 'shop.test', page_urlport: '8080',
      page_urlpath: '/p/1', page_urlquery: 'x=1&y=2', page_urlfragment: 'frag',
      page_referrer: params.refr, refr_urlscheme: 'https', refr_urlhost: 'www.google.com', refr_urlport: '443',
      refr_urlpath: '/search', refr_urlquery: 'q=shoes', page_title: 'Shoes', br_lang: 'en-GB',
      dvce_screenwidth: '1920', dvce_screenheight: '1080', br_viewwidth: '1024', br_viewheight: '768',
      doc_width: '1000', doc_height: '3000', doc_charset: 'UTF-8', br_colordepth: '24', os_timezone: 'Europe/London',
      br_cookies: '1', contexts, dvce_created_tstamp: '2024-03-01 11:59:57.000', dvce_sent_tstamp: '2024-03-01 11:59:59.000',
      collector_tstamp: '2024-03-01 12:00:00.000', etl_tstamp: '2024-03-01 12:00:05.000',
      derived_tstamp: '2024-03-01 11:59:58.000', v_collector: 'ssc-3.4.0-kinesis', v_etl: 'sluice-enrich-0.1.0',
      event_vendor: 'com.snowplowanalytics.snowplow', event_name: 'page_view', event_format: 'jsonschema', event_version: '1-0-0',
    }]);
  });

  it('falls back to the collector for ip, ua, nuid and page url; generates a v4 event id', () => {
    const { good } = enrichPayload(cp({ path: '/ice.png', querystring: 'e=pv&nuid=' }), ctx);
    expect(good).toHaveLength(1);
    const e = good[0];
    expect(e.event_id).toMatch(UUID);
    expect([e.user_ipaddress, e.useragent, e.network_userid]).toEqual(['203.0.113.9', 'Mozilla/5.0 (collector)', 'ecdff4d0-9175-40ac-a8bb-325c49733607']);
    expect([e.page_url, e.page_urlport, e.page_urlpath]).toEqual(['https://fallback.test/from-header', '443', '/from-header']);
    expect(enrichPayload(cp({ path: '/i', querystring: 'e=pv&nuid=n2' }), ctx).good[0].network_userid).toBe('n2');
  });
});

describe('POST tp2', () => {
  it('turns 3 events into 3 good events with querystring parameters merged in and winning', () => {
    const events = [
      { e: 'pv', p: 'web', tv: 'js-3', aid: 'from-body', url: 'https://a.test/' },
      { e: 'pp', p: 'web', tv: 'js-3', pp_mix: 0, pp_max: 10, pp_miy: '5', pp_may: '50' },
      { e: 'se', p: 'mob', tv: 'js-3', se_ca: 'c', se_ac: 'a', se_va: 2.5 },
    ];
    const { good, bad } = enrichPayload(post(events, { querystring: 'aid=from-qs&uid=u1' }), ctx);
    expect(bad).toEqual([]);
    expect(good.map((e) => [e.event, e.platform, e.app_id, e.user_id])).toEqual([
      ['page_view', 'web', 'from-qs', 'u1'], ['page_ping', 'web', 'from-qs', 'u1'], ['struct', 'mob', 'from-qs', 'u1'],
    ]);
    expect([good[1].pp_xoffset_min, good[1].pp_xoffset_max, good[1].pp_yoffset_max]).toEqual(['0', '10', '50']);
    expect(good[2].se_value).toBe('2.5');
    expect(new Set(good.map((e) => e.event_id)).size).toBe(3);
  });

  it('accepts application/json without charset, rejects other content types', () => {
    expect(enrichPayload(post([{ e: 'pv' }], { contentType: 'application/json' }), ctx).good).toHaveLength(1);
    const r = enrichPayload(post([{ e: 'pv' }], { contentType: 'text/plain' }), ctx);
    expect(types(r.bad)).toEqual(['tracker_protocol_violations']);
    expect(r.bad[0].data.failure).toMatchObject({ vendor: 'com.snowplowanalytics.snowplow', version: 'tp2', messages: [{ field: 'contentType', value: 'text/plain' }] });
  });

  it('puts a bad event in its own bad row, narrowed to that event, and keeps the good ones', () => {
    const events = [{ e: 'pv' }, { e: 'pv', dtm: 'soon' }, { e: 'pv' }];
    const { good, bad } = enrichPayload(post(events, { querystring: 'aid=x' }), ctx);
    expect(good).toHaveLength(2);
    expect(types(bad)).toEqual(['tracker_protocol_violations']);
    const payload = bad[0].data.payload as { body: string; querystring: unknown };
    expect(JSON.parse(payload.body).data).toEqual([{ e: 'pv', dtm: 'soon' }]);
    expect(payload.querystring).toEqual([{ name: 'aid', value: 'x' }]);
  });
});

describe('struct and unstruct events', () => {
  it('decodes cx and ue_px (URL-safe base64) and derives event_* from the inner schema', () => {
    const { good, bad } = enrichPayload(post([
      { e: 'ue', ue_px: b64url(unstruct), cx: b64url(contexts) },
      { e: 'se', se_ca: 'video', se_ac: 'play', se_la: 'intro', se_pr: 'hd', se_va: '12', co: contexts },
    ]), ctx);
    expect(bad).toEqual([]);
    const [ue, se] = good;
    expect(ue.event).toBe('unstruct');
    expect(ue.unstruct_event).toBe(unstruct);
    expect(ue.contexts).toBe(contexts);
    expect([ue.event_vendor, ue.event_name, ue.event_format, ue.event_version]).toEqual(['com.acme', 'link_click', 'jsonschema', '1-0-1']);
    expect([se.se_category, se.se_action, se.se_label, se.se_property, se.se_value]).toEqual(['video', 'play', 'intro', 'hd', '12']);
    expect([se.event_vendor, se.event_name, se.event_format, se.event_version]).toEqual(['com.google.analytics', 'event', 'jsonschema', '1-0-0']);
    const parsed = sdk.transform(toEnrichedTsv(ue)) as unknown as Record<string, unknown>;
    expect(parsed.unstruct_event_com_acme_link_click_1).toEqual({ target: 'https://t.test' });
    expect(parsed.contexts_com_acme_user_1).toEqual([{ id: 7 }]);
  });

  it('re-serialises ue_pr compactly', () => {
    const pretty = JSON.stringify(JSON.parse(unstruct), null, 2);
    const { good } = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'ue', ue_pr: pretty }) }), ctx);
    expect(good[0].unstruct_event).toBe(unstruct);
  });
});

describe('derived_tstamp', () => {
  const derived = (p: Record<string, string>) => enrichPayload(cp({ path: '/i', querystring: qs({ e: 'pv', ...p }) }), ctx).good[0].derived_tstamp;
  it('prefers true_tstamp', () => {
    expect(derived({ ttm: String(T - 60000), dtm: String(T - 5000), stm: String(T - 1000) })).toBe('2024-03-01 11:59:00.000');
  });
  it('corrects the collector time by sent - created', () => {
    expect(derived({ dtm: String(T - 5000), stm: String(T - 1000) })).toBe('2024-03-01 11:59:56.000');
  });
  it('uses the collector time otherwise', () => {
    expect(derived({ dtm: String(T - 5000) })).toBe('2024-03-01 12:00:00.000');
    expect(derived({})).toBe('2024-03-01 12:00:00.000');
    expect(derived({ dtm: String(T), stm: String(T - 1000) })).toBe('2024-03-01 12:00:00.000'); // created after sent
    expect(derivedTstamp(100, 10, 30)).toBe(80);
  });
});

describe('failures → bad rows', () => {
  const get = (q: string) => enrichPayload(cp({ path: '/i', querystring: q }), ctx);
  const cases: Array<[string, CollectorPayload, string]> = [
    ['bad path', cp({ path: '/a/b/c', querystring: 'e=pv' }), 'collector_payload_format_violation'],
    ['undecodable querystring', cp({ path: '/i', querystring: 'e=pv&url=%E0%A4%A' }), 'collector_payload_format_violation'],
    ['foreign schema', cp({ schema: 'iglu:com.acme/Other/thrift/1-0-0', path: '/i', querystring: 'e=pv' }), 'collector_payload_format_violation'],
    ['unknown vendor', cp({ path: '/com.acme/v1', querystring: 'e=pv' }), 'adapter_failures'],
    ['empty tp1 querystring', cp({ path: '/i' }), 'adapter_failures'],
    ['body not JSON', post([], { body: '{"schema":' }), 'tracker_protocol_violations'],
    ['body not self-describing', post([], { body: '{"data":[]}' }), 'tracker_protocol_violations'],
    ['wrong body schema', post([], { body: JSON.stringify({ schema: 'iglu:com.acme/x/jsonschema/1-0-0', data: [{ e: 'pv' }] }) }), 'tracker_protocol_violations'],
    ['empty event list', post([]), 'tracker_protocol_violations'],
    ['body without content type', post([{ e: 'pv' }], { contentType: undefined }), 'tracker_protocol_violations'],
  ];
  it.each(cases)('%s', (_name, payload, type) => {
    const { good, bad } = enrichPayload(payload, ctx);
    expect(good).toEqual([]);
    expect(types(bad)).toEqual([type]);
    expect(bad[0].schema).toBe(BAD_ROW_SCHEMAS[type as keyof typeof BAD_ROW_SCHEMAS]);
    expect(bad[0].data.processor).toEqual({ artifact: 'sluice-enrich', version: '0.1.0' });
    expect(bad[0].data.failure.timestamp).toBe('2024-03-01T12:00:05.000Z');
  });

  it.each([
    ['e=zz', 'e'], ['p=web', 'e'], ['e=pv&p=desktop', 'p'], ['e=pv&eid=not-a-uuid', 'eid'], ['e=pv&sid=123', 'sid'],
    ['e=pv&vid=x', 'vid'], ['e=pv&vid=99999999999', 'vid'], ['e=pv&dtm=abc', 'dtm'], ['e=pv&stm=1e12', 'stm'],
    ['e=pv&ttm=999999999999999', 'ttm'], ['e=pv&res=big', 'res'], ['e=pv&cookie=yes', 'cookie'], ['e=se&se_va=ten', 'se_va'],
    ['e=pv&url=not%20a%20url', 'url'], ['e=pv&refr=%2Frelative', 'refr'], ['e=pv&cx=%25%25%25', 'cx'], ['e=ue', 'ue_pr'],
    ['e=pv&co=%7Bnope', 'co'],
  ])('invalid %s → tracker_protocol_violations on %s', (q, field) => {
    const { good, bad } = get(q);
    expect(good).toEqual([]);
    expect(types(bad)).toEqual(['tracker_protocol_violations']);
    expect(JSON.stringify(bad[0].data.failure)).toContain(`"field":"${field}"`);
  });

  it('reports contexts that are not self-describing or have the wrong schema', () => {
    const notIglu = get(qs({ e: 'pv', co: JSON.stringify({ data: [] }) })).bad[0];
    expect(notIglu.data.failure).toMatchObject({ messages: [{ error: 'INVALID_IGLUURI' }] });
    const wrong = get(qs({ e: 'pv', co: unstruct })).bad[0];
    expect(wrong.data.failure).toMatchObject({ messages: [{ schemaKey: JSON.parse(unstruct).schema, schemaCriterion: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-*' }] });
  });

  it('carries a replayable collector payload in Snowplow\'s shape', () => {
    const bad = enrichPayload(cp({ path: '/com.acme/v1', querystring: 'a=1&b', body: 'x', contentType: 'text/plain' }), ctx).bad[0];
    expect(bad.data.payload).toEqual({
      vendor: 'com.acme', version: 'v1', querystring: [{ name: 'a', value: '1' }, { name: 'b', value: null }],
      contentType: 'text/plain', body: 'x', collector: 'ssc-3.4.0-kinesis', encoding: 'UTF-8', hostname: 'c.test',
      timestamp: '2024-03-01T12:00:00.000Z', ipAddress: '203.0.113.9', useragent: 'Mozilla/5.0 (collector)',
      refererUri: 'https://fallback.test/from-header', headers: ['Host: c.test'], networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
    });
    const fmt = enrichPayload(cp({ path: '/nope/x/y', querystring: 'e=pv' }), ctx).bad[0];
    expect(JSON.parse(fmt.data.payload as string)).toMatchObject({ path: '/nope/x/y', querystring: 'e=pv' });
  });

  it('wraps unexpected errors into generic_error rows instead of throwing', () => {
    expect(types(enrichPayload(null as unknown as CollectorPayload, ctx).bad)).toEqual(['generic_error']);
    const r = enrichPayload(post([{ e: 'pv' }, { e: 'pv' }]), { etlTstamp: Number.NaN, etlVersion: 'x' });
    expect(types(r.bad)).toEqual(['generic_error', 'generic_error']);
    expect(r.bad[0].data.processor.version).toBe('0.0.0');
  });
});

describe('fuzz', () => {
  // Deterministic PRNG so a failure can be reproduced.
  let seed = 0x5eed;
  const rnd = () => { seed = (seed + 0x6d2b79f5) | 0; let t = Math.imul(seed ^ (seed >>> 15), 1 | seed); t ^= t + Math.imul(t ^ (t >>> 7), 61 | t); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const junk = () => Array.from({ length: Math.floor(rnd() * 12) }, () => pick(['a', '%', '&', '=', '\t', '\n', 'é', '😀', '+', '"', '{', '0', '-', 'x'])).join('');
  const value = (): unknown => pick([
    () => junk(), () => String(Math.floor(rnd() * 2e12)), () => rnd() * 100, () => null, () => ({ a: 1 }), () => [1], () => true,
    () => 'c6ef3124-b53a-4b13-a233-0088f79dcbcb', () => 'https://x.test/p?q=1', () => b64url(pick([contexts, unstruct, '{']))
  , () => pick(['pv', 'pp', 'se', 'ue', 'tr', 'ti', 'ad', 'web', 'app', '1', '0', '800x600']), () => pick([contexts, unstruct])])();
  const keys = ['e', 'p', 'aid', 'eid', 'sid', 'vid', 'dtm', 'stm', 'ttm', 'url', 'refr', 'res', 'vp', 'cookie', 'co', 'cx', 'ue_pr', 'ue_px', 'se_va', 'tr_tt', 'ti_qu', 'f_pdf', junk()];
  const valid = (): Record<string, unknown> => pick([
    { e: 'pv', url: 'https://x.test/a', dtm: String(T - 10), stm: String(T) }, { e: 'pp', pp_mix: 1, cookie: '1' },
    { e: 'se', se_ca: 'c', se_va: '1.5', co: contexts }, { e: 'ue', ue_px: b64url(unstruct), cx: b64url(contexts) },
    { e: 'tr', tr_id: 'o1', tr_tt: 9.99 }, { e: 'ti', ti_qu: '2', ti_pr: '3' }, { e: 'ad', res: '800x600', p: 'app' },
  ]);
  // Mostly-valid events with a few random parameters, so good and bad outcomes both occur.
  const event = () => ({ ...(rnd() < 0.7 ? valid() : {}), ...Object.fromEntries(Array.from({ length: Math.floor(rnd() * (rnd() < 0.5 ? 2 : 8)) }, () => [pick(keys), value()])) });
  const truncate = (s: string) => s.slice(0, Math.floor(rnd() * s.length));

  it('never throws and accounts for every event', () => {
    const seen: Record<string, number> = { good: 0 };
    for (let i = 0; i < 3000; i++) {
      const items = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => (rnd() < 0.9 ? event() : value()));
      const body = JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data: items });
      const intact = rnd() < 0.6;
      const payload = cp({
        path: intact ? TP2 : pick([TP2, '/i', '/ice.png', '/com.acme/v1', '/', undefined, junk()]),
        contentType: intact ? 'application/json' : pick(['application/json', 'text/plain', undefined]),
        body: intact ? body : pick([truncate(body), junk(), undefined, body]),
        querystring: rnd() < 0.5 ? undefined : pick([qs({ aid: 'q' }), truncate(qs(event() as Record<string, string>)), junk()]),
        timestamp: rnd() < 0.97 ? T : pick([Number.NaN, 1e20, -1e20]),
      });
      let result!: ReturnType<typeof enrichPayload>;
      expect(() => { result = enrichPayload(payload, ctx); }, `case ${i}`).not.toThrow();
      const { good, bad } = result;
      for (const b of bad) seen[badRowType(b)] = (seen[badRowType(b)] ?? 0) + 1;
      seen.good += good.length;
      for (const e of good) {
        const line = toEnrichedTsv(e);
        expect(line.split('\t')).toHaveLength(131);
        expect(() => sdk.transform(line), `case ${i}: ${line}`).not.toThrow();
      }
      const total = good.length + bad.length;
      if (intact && payload.timestamp === T && (payload.querystring === undefined || !payload.querystring.includes('%'))) {
        expect(total, `case ${i}`).toBe(items.length); // one good event or one per-event bad row each
      } else {
        let parsedLen = -1;
        try { parsedLen = JSON.parse(payload.body ?? '').data.length; } catch { /* unparseable body */ }
        expect([1, parsedLen], `case ${i}`).toContain(total); // else exactly one payload-level bad row
      }
    }
    // The generator must actually reach every outcome, or the loop proves little.
    for (const k of ['good', 'tracker_protocol_violations', 'adapter_failures', 'collector_payload_format_violation']) {
      expect(seen[k], JSON.stringify(seen)).toBeGreaterThan(50);
    }
    expect(seen.generic_error, 'no internal error may reach the safety net').toBeUndefined();
  });
});
