import { describe, expect, it } from 'vitest';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { enrichPayload, derivedTstamp, protocolOnlyEnricher, type Enricher } from '../../enrich/enrich';
import { type BadRow, badRowType } from '../../enrich/bad-rows';
import { parseSchemaUri } from '../../enrich/iglu';

// Enrich with the local registry and no enrichments: the tracker protocol, adapters and Iglu.
const base = protocolOnlyEnricher();
const ctx = { etlTstamp: Date.UTC(2024, 2, 1, 12, 0, 5), etlVersion: 'sluice-enrich-0.1.0', enricher: base };
const T = Date.UTC(2024, 2, 1, 12, 0, 0); // collector time
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const b64url = (s: string) => Buffer.from(s).toString('base64url');
const qs = (p: Record<string, string>) => new URLSearchParams(p).toString();
const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const SP = 'iglu:com.snowplowanalytics.snowplow';

function cp(over: Partial<CollectorPayload> = {}): CollectorPayload {
  return {
    schema: `${SP}/CollectorPayload/thrift/1-0-0`,
    ipAddress: '203.0.113.9', timestamp: T, encoding: 'UTF-8', collector: 'ssc-3.4.0-kinesis',
    userAgent: 'Mozilla/5.0 (collector)', refererUri: 'https://fallback.test/from-header',
    headers: ['Host: c.test'], hostname: 'c.test', networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
    ...over,
  };
}
const ev = (o: Record<string, string>) => ({ p: 'web', tv: 'js-3.17.0', ...o });
const post = (events: unknown[], over: Partial<CollectorPayload> = {}) => cp({
  path: TP2, contentType: 'application/json; charset=UTF-8',
  body: JSON.stringify({ schema: `${SP}/payload_data/jsonschema/1-0-4`, data: events }),
  ...over,
});
const contexts = JSON.stringify({ schema: `${SP}/contexts/jsonschema/1-0-1`, data: [{ schema: `${SP}/web_page/jsonschema/1-0-0`, data: { id: '0a8bfd3b-0a25-4c5e-8a14-c7c84e63bc7b' } }] });
const unstruct = (data: unknown = { targetUrl: 'https://t.test' }) => JSON.stringify({
  schema: `${SP}/unstruct_event/jsonschema/1-0-0`, data: { schema: `${SP}/link_click/jsonschema/1-0-1`, data },
});
const types = (bad: BadRow[]) => bad.map((b) => badRowType(b));
const one = (p: CollectorPayload, c = ctx) => {
  const r = enrichPayload(p, c);
  expect(r.bad).toEqual([]);
  expect(r.good).toHaveLength(1);
  return r.good[0];
};

/** Every bad row must be valid against its badrows schema (shipped in schemas/). */
function expectValidBadRows(bad: BadRow[]): void {
  for (const row of bad) {
    const key = parseSchemaUri(row.schema);
    if (typeof key === 'string') throw new Error(`bad schema ${row.schema}`);
    expect(base.iglu.validator.check(key, row.data), row.schema).toBeNull();
  }
}

describe('GET pixel (tp1)', () => {
  it('maps every tracker-protocol field of a page view', () => {
    const params = {
      e: 'pv', p: 'web', aid: 'shop', eid: 'C6EF3124-B53A-4B13-A233-0088F79DCBCB', tv: 'js-3.17.0', tna: 'sp1',
      uid: 'alice', duid: 'd-uid', sid: '2b15e5c8-d3b1-11e4-b9d6-1681e6b88ec1', vid: '004', tid: '12345',
      tnuid: 'tracker-nuid', ip: '198.51.100.1, 10.0.0.1', ua: 'Tracker UA', fp: '4048966212', cv: 'clj-1.0-tom-0.2',
      url: 'http://shop.test:8080/p/1?x=1&y=2#frag', refr: 'https://www.google.com/search?q=shoes', page: 'Shoes',
      lang: 'en-GB', res: '1920x1080', vp: '1024x768', ds: '1000x3000', cs: 'UTF-8', cd: '24', tz: 'Europe/London',
      cookie: '1', f_pdf: '1', f_fla: '0', f_java: '0', f_dir: '0', f_qt: '1', f_realp: '0', f_wma: '0', f_gears: '0', f_ag: '1',
      co: contexts, dtm: String(T - 3000), stm: String(T - 1000), ttm: String(T - 2500),
    };
    const e = one(cp({ path: '/i', querystring: qs(params) }));
    expect(e).toEqual({
      event: 'page_view', platform: 'web', app_id: 'shop', event_id: 'c6ef3124-b53a-4b13-a233-0088f79dcbcb',
      v_tracker: 'js-3.17.0', name_tracker: 'sp1', user_id: 'alice', domain_userid: 'd-uid', domain_sessionid: params.sid,
      domain_sessionidx: '4', txn_id: '12345', network_userid: 'tracker-nuid', user_ipaddress: '198.51.100.1',
      useragent: 'Tracker UA', user_fingerprint: '4048966212', v_collector: 'clj-1.0-tom-0.2',
      page_url: params.url, page_urlscheme: 'http', page_urlhost: 'shop.test', page_urlport: '8080',
      page_urlpath: '/p/1', page_urlquery: 'x=1&y=2', page_urlfragment: 'frag',
      page_referrer: params.refr, refr_urlscheme: 'https', refr_urlhost: 'www.google.com', refr_urlport: '443',
      refr_urlpath: '/search', refr_urlquery: 'q=shoes', page_title: 'Shoes', br_lang: 'en-GB',
      dvce_screenwidth: '1920', dvce_screenheight: '1080', br_viewwidth: '1024', br_viewheight: '768',
      doc_width: '1000', doc_height: '3000', doc_charset: 'UTF-8', br_colordepth: '24', os_timezone: 'Europe/London',
      br_cookies: '1', br_features_pdf: '1', br_features_flash: '0', br_features_java: '0', br_features_director: '0',
      br_features_quicktime: '1', br_features_realplayer: '0', br_features_windowsmedia: '0', br_features_gears: '0',
      br_features_silverlight: '1', contexts,
      dvce_created_tstamp: '2024-03-01 11:59:57.000', dvce_sent_tstamp: '2024-03-01 11:59:59.000', true_tstamp: '2024-03-01 11:59:57.500',
      collector_tstamp: '2024-03-01 12:00:00.000', etl_tstamp: '2024-03-01 12:00:05.000',
      derived_tstamp: '2024-03-01 11:59:57.500', v_etl: 'sluice-enrich-0.1.0',
      event_vendor: 'com.snowplowanalytics.snowplow', event_name: 'page_view', event_format: 'jsonschema', event_version: '1-0-0',
    });
  });

  it('falls back to the collector for ip, ua, nuid, v_collector and page url; generates a v4 event id', () => {
    const e = one(cp({ path: '/ice.png', querystring: 'e=pv&p=web&nuid=' }));
    expect(e.event_id).toMatch(UUID4);
    expect([e.user_ipaddress, e.useragent, e.network_userid, e.v_collector]).toEqual(['203.0.113.9', 'Mozilla/5.0 (collector)', 'ecdff4d0-9175-40ac-a8bb-325c49733607', 'ssc-3.4.0-kinesis']);
    expect([e.page_url, e.page_urlport, e.page_urlpath]).toEqual(['https://fallback.test/from-header', '443', '/from-header']);
    expect(one(cp({ path: '/i', querystring: 'e=pv&nuid=n2' })).network_userid).toBe('n2');
    expect(one(cp({ path: '/i', querystring: 'e=pv&nuid=n2&tnuid=n3' })).network_userid).toBe('n3');
  });

  it('URL-decodes the collector user agent as Snowplow does, and rejects a malformed one', () => {
    expect(one(cp({ path: '/i', querystring: 'e=pv', userAgent: 'Agent+1%2F2' })).useragent).toBe('Agent 1/2');
    const r = enrichPayload(cp({ path: '/i', querystring: 'e=pv', userAgent: 'Agent 100%' }), ctx);
    expect(types(r.bad)).toEqual(['tracker_protocol_violations']);
    expect(r.bad[0].data.failure).toMatchObject({ messages: [{ field: 'useragent', value: 'Agent 100%' }] });
  });

  it('rejects an empty querystring as a tracker protocol violation', () => {
    const r = enrichPayload(cp({ path: '/i' }), ctx);
    expect(types(r.bad)).toEqual(['tracker_protocol_violations']);
    expect(r.bad[0].data.failure).toMatchObject({ version: 'tp1', messages: [{ field: 'querystring', expectation: 'empty querystring: not a valid tracker protocol event' }] });
    expectValidBadRows(r.bad);
  });
});

describe('parameter validation (Snowplow messages)', () => {
  const cases: [string, string, string][] = [
    ['e', 'xx', 'not recognized as an event type'],
    ['p', 'desktop', 'not recognized as a tracking platform'],
    ['eid', 'not-a-uuid', 'Not a valid UUID'],
    ['sid', '2b15e5c8d3b111e4b9d61681e6b88ec1', 'Not a valid UUID'],
    ['tid', '12.5', 'Not a valid integer'],
    ['vid', '2147483648', 'Cannot be converted to java.lang.Integer'],
    ['ti_qu', 'two', 'Cannot be converted to java.lang.Integer'],
    ['pp_mix', '1e3', 'Cannot be converted to java.lang.Integer'],
    ['dtm', 'yesterday', 'not in the expected format: ms since epoch'],
    ['stm', '253402300800000', 'formatting as +010000-01-01T00:00:00.000Z is not Redshift-compatible'],
    ['cookie', 'true', 'Cannot be converted to Boolean-like java.lang.Byte'],
    ['f_pdf', '2', 'Cannot be converted to Boolean-like java.lang.Byte'],
    ['res', '1920*1080', 'does not conform to regex (\\d+)x(\\d+)'],
    ['vp', '99999999999x1', 'could not be converted to java.lang.Integer s'],
    ['se_va', '1,5', 'Cannot be converted to Double-like'],
    ['tr_tt', 'NaN', 'Cannot be converted to Double-like'],
  ];
  it.each(cases)('%s=%s → %s', (param, value, expectation) => {
    const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'pv', [param]: value }) }), ctx);
    expect(types(r.bad)).toEqual(['tracker_protocol_violations']);
    expect(r.bad[0].data.failure).toMatchObject({ messages: [{ field: param, value, expectation }] });
    expectValidBadRows(r.bad);
  });

  it('reports every bad parameter of an event in one bad row', () => {
    const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'pv', eid: 'x', vid: 'y', p: 'z' }) }), ctx);
    const messages = (r.bad[0].data.failure as { messages: { field: string }[] }).messages;
    expect(messages.map((m) => m.field).sort()).toEqual(['eid', 'p', 'vid']);
  });

  it('normalises numbers as Java does (BigDecimal.toPlainString, Integer.parseInt)', () => {
    const e = one(cp({ path: '/i', querystring: qs({ e: 'tr', tr_id: 'o1', tr_tt: '1.5e2', tr_tx: '0.50', tr_sh: '+3', vid: '+7', pp_mix: '-0' }) }));
    expect([e.tr_total, e.tr_tax, e.tr_shipping, e.domain_sessionidx, e.pp_xoffset_min]).toEqual(['150', '0.50', '3', '7', '0']);
  });

  it('keeps tabs and line breaks out of fields (four spaces for a tab, control characters dropped)', () => {
    const e = one(cp({ path: '/i', querystring: qs({ e: 'pv', page: 'a\tb\nc\u0001d' }) }));
    expect(e.page_title).toBe('a    bcd');
  });

  it('accepts every platform and every event type', () => {
    for (const p of ['web', 'iot', 'app', 'mob', 'pc', 'cnsl', 'tv', 'srv', 'headset']) expect(one(cp({ path: '/i', querystring: `e=pv&p=${p}` })).platform).toBe(p);
    const names: Record<string, string> = { pv: 'page_view', pp: 'page_ping', se: 'struct', ev: 'struct', tr: 'transaction', ti: 'transaction_item', ad: 'ad_impression' };
    for (const [code, event] of Object.entries(names)) expect(one(cp({ path: '/i', querystring: `e=${code}` })).event).toBe(event);
  });
});

describe('POST tp2', () => {
  it('turns 3 events into 3 good events with querystring parameters merged in and winning', () => {
    const events = [
      ev({ e: 'pv', aid: 'from-body', url: 'https://a.test/' }),
      ev({ e: 'pp', pp_mix: '0', pp_max: '10', pp_miy: '5', pp_may: '50' }),
      ev({ e: 'se', p: 'mob', se_ca: 'c', se_ac: 'a', se_va: '2.5' }),
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

  it.each([
    ['application/json', true], ['application/json; charset=utf-8', true], ['application/json; charset=UTF-8', true],
    ['text/plain', false], ['application/json; charset=latin1', false],
  ])('content type %s accepted: %s', (contentType, ok) => {
    const r = enrichPayload(post([ev({ e: 'pv' })], { contentType }), ctx);
    expect(r.good.length).toBe(ok ? 1 : 0);
    if (!ok) {
      expect(r.bad[0].data.failure).toMatchObject({
        vendor: 'com.snowplowanalytics.snowplow', version: 'tp2',
        messages: [{ field: 'contentType', value: contentType, expectation: 'expected one of application/json, application/json; charset=utf-8, application/json; charset=UTF-8' }],
      });
      expectValidBadRows(r.bad);
    }
  });

  it('follows the body/content-type/querystring decision table', () => {
    const msgs = (p: CollectorPayload) => (enrichPayload(p, ctx).bad[0]?.data.failure as { messages: { field: string; expectation?: string }[] } | undefined)?.messages;
    expect(msgs(cp({ path: TP2 }))?.map((m) => m.field)).toEqual(['body', 'querystring']);
    expect(msgs(cp({ path: TP2, body: '{}' }))).toEqual([{ field: 'contentType', value: null, expectation: expect.stringMatching(/^expected one of/) }]);
    expect(msgs(cp({ path: TP2, contentType: 'application/json', querystring: 'e=pv' }))?.[0]).toMatchObject({ field: 'body', expectation: 'empty body: not a valid track protocol event' });
    expect(one(cp({ path: TP2, querystring: 'e=pv&p=web' })).event).toBe('page_view'); // a GET on tp2
  });

  it('rejects bodies that are not JSON, not self-describing, another schema, not an array or empty', () => {
    const first = (body: string) => enrichPayload(cp({ path: TP2, contentType: 'application/json', body }), ctx).bad[0].data.failure as { messages: unknown[] };
    expect(first('{nope').messages[0]).toMatchObject({ field: 'body', value: '{nope', error: expect.stringMatching(/^invalid json: /) });
    expect(first('{"data":[]}').messages[0]).toEqual({ json: { data: [] }, error: 'INVALID_IGLUURI' });
    expect(first(JSON.stringify({ schema: 'iglu:com.acme/x/jsonschema/1-0-0', data: [] })).messages[0]).toEqual({ schemaKey: 'iglu:com.acme/x/jsonschema/1-0-0', schemaCriterion: `${SP}/payload_data/jsonschema/1-0-*` });
    expect(first(JSON.stringify({ schema: `${SP}/payload_data/jsonschema/1-0-4`, data: {} })).messages[0]).toMatchObject({ expectation: 'json is not an array' });
    expect(first(JSON.stringify({ schema: `${SP}/payload_data/jsonschema/1-0-4`, data: [] })).messages[0]).toMatchObject({ expectation: 'empty list of events' });
    expect(first(JSON.stringify({ schema: `${SP}/payload_data/jsonschema/1-0-99`, data: [{}] })).messages[0]).toMatchObject({ schemaKey: `${SP}/payload_data/jsonschema/1-0-99`, error: { error: 'ResolutionError' } });
  });

  it('validates each event against payload_data and puts a bad one in its own bad row, narrowed to that event', () => {
    const events = [ev({ e: 'pv' }), { e: 'pv', p: 'web' }, ev({ e: 'pv', dtm: 'soon' }), ev({ e: 'pv', pp_mix: 0 as unknown as string }), ev({ e: 'pv' })];
    const { good, bad } = enrichPayload(post(events, { querystring: 'aid=x' }), ctx);
    expect(good).toHaveLength(2);
    expect(types(bad)).toEqual(['tracker_protocol_violations', 'tracker_protocol_violations', 'tracker_protocol_violations']);
    const payloadOf = (b: BadRow) => JSON.parse((b.data.payload as { body: string }).body).data;
    expect(bad.map(payloadOf)).toEqual([[events[1]], [events[2]], [events[3]]]);
    expect((bad[0].data.payload as { querystring: unknown }).querystring).toEqual([{ name: 'aid', value: 'x' }]);
    expect(bad[0].data.failure).toMatchObject({ messages: [{ schemaKey: `${SP}/payload_data/jsonschema/1-0-4`, error: { error: 'ValidationError', dataReports: [{ path: '$[1]', keyword: 'required', targets: ['tv'] }] } }] });
    expect(bad[2].data.failure).toMatchObject({ messages: [{ error: { dataReports: [{ path: '$[3].pp_mix', keyword: 'type' }] } }] });
    expectValidBadRows(bad);
  });
});

describe('self-describing events and contexts', () => {
  it('decodes cx and ue_px (URL-safe base64, padded or not) and derives event_* from the inner schema', () => {
    const ue = unstruct({ targetUrl: 'https://t.test/?q=ü&x=>' }); // non-ASCII and characters that need - and _
    const { good, bad } = enrichPayload(post([
      ev({ e: 'ue', ue_px: b64url(ue), cx: b64url(contexts) }),
      ev({ e: 'ue', ue_px: Buffer.from(ue).toString('base64'), co: contexts }),
    ]), ctx);
    expect(bad).toEqual([]);
    for (const e of good) {
      expect(e.unstruct_event).toBe(ue);
      expect(e.contexts).toBe(contexts);
      expect([e.event_vendor, e.event_name, e.event_format, e.event_version]).toEqual(['com.snowplowanalytics.snowplow', 'link_click', 'jsonschema', '1-0-1']);
    }
  });

  it('assigns Snowplow\'s event schema to every other event type', () => {
    const kinds = { pv: 'page_view', pp: 'page_ping', tr: 'transaction', ti: 'transaction_item' };
    for (const [code, name] of Object.entries(kinds)) expect(one(cp({ path: '/i', querystring: `e=${code}` })).event_name).toBe(name);
    const se = one(cp({ path: '/i', querystring: 'e=se&se_ca=c&se_ac=a' }));
    expect([se.event_vendor, se.event_name, se.event_format, se.event_version]).toEqual(['com.google.analytics', 'event', 'jsonschema', '1-0-0']);
  });

  it('compacts JSON that was sent with whitespace', () => {
    const e = one(cp({ path: '/i', querystring: qs({ e: 'pv', co: JSON.stringify(JSON.parse(contexts), null, 2) }) }));
    expect(e.contexts).toBe(contexts);
  });

  it('makes a schema violation of each bad self-describing JSON', () => {
    const sv = (extra: Record<string, string>) => {
      const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'ue', ...extra }) }), ctx);
      expect(types(r.bad)).toEqual(['schema_violations']);
      expectValidBadRows(r.bad);
      return (r.bad[0].data.failure as { messages: unknown[] }).messages;
    };
    expect(sv({ ue_pr: '{"data":{}}' })).toEqual([{ json: { data: {} }, error: 'INVALID_IGLUURI' }]);
    expect(sv({ ue_pr: JSON.stringify({ schema: `${SP}/contexts/jsonschema/1-0-0`, data: [] }) })).toEqual([{ schemaKey: `${SP}/contexts/jsonschema/1-0-0`, schemaCriterion: `${SP}/unstruct_event/jsonschema/1-0-*` }]);
    expect(sv({ ue_pr: unstruct({}) })).toMatchObject([{ schemaKey: `${SP}/link_click/jsonschema/1-0-1`, error: { error: 'ValidationError', dataReports: [{ keyword: 'required', targets: ['targetUrl'] }] } }]);
    expect(sv({ ue_pr: JSON.stringify({ schema: `${SP}/unstruct_event/jsonschema/1-0-0`, data: { schema: 'iglu:com.acme/nope/jsonschema/1-0-0', data: {} } }) }))
      .toMatchObject([{ schemaKey: 'iglu:com.acme/nope/jsonschema/1-0-0', error: { error: 'ResolutionError', lookupHistory: [{ repository: 'Sluice local registry', errors: [{ error: 'NotFound' }], attempts: 1 }] } }]);
    expect(sv({ ue_pr: unstruct(), co: JSON.stringify({ schema: `${SP}/contexts/jsonschema/1-0-0`, data: [{ schema: 'iglu:com.acme/x/jsonschema/1-0', data: {} }] }) }))
      .toMatchObject([{ schemaKey: `${SP}/contexts/jsonschema/1-0-0`, error: { error: 'ValidationError' } }]);
  });

  it('makes a tracker protocol violation of JSON that does not parse', () => {
    const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'ue', ue_px: b64url('{"schema":') }) }), ctx);
    expect(r.bad[0].data.failure).toMatchObject({ messages: [{ field: 'ue_px', expectation: expect.stringMatching(/^invalid json: /) }] });
  });
});

describe('URL splitting and derived_tstamp', () => {
  const page = (url: string) => one(cp({ path: '/i', querystring: qs({ e: 'pv', url }) }));
  it.each([
    ['https://a.test', ['https', 'a.test', '443', undefined, undefined, undefined]],
    ['http://a.test/', ['http', 'a.test', '80', '/', undefined, undefined]],
    ['http://user:pw@a.test:81/p?q#f', ['http', 'a.test', '81', '/p', 'q', 'f']],
    ['https://[2001:db8::1]:8443/x', ['https', '[2001:db8::1]', '8443', '/x', undefined, undefined]],
    ['http://a.test/a b?c=d e', ['http', 'a.test', '80', '/a%20b', 'c=d%20e', undefined]],
  ])('%s', (url, parts) => {
    const e = page(url);
    expect([e.page_urlscheme, e.page_urlhost, e.page_urlport, e.page_urlpath, e.page_urlquery, e.page_urlfragment]).toEqual(parts);
  });

  it('fails the enrichment of a URL it cannot parse', () => {
    const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'pv', url: 'http://a.test:port/' }) }), ctx);
    expect(types(r.bad)).toEqual(['enrichment_failures']);
    expect(r.bad[0].data.failure).toMatchObject({ messages: [{ enrichment: null, message: { error: expect.stringContaining('could not be parsed') } }] });
    expectValidBadRows(r.bad);
  });

  it('derived_tstamp: true_tstamp, else the collector time corrected for device clock skew', () => {
    expect(derivedTstamp(10_000, 3_000, 5_000)).toBe(8_000);
    expect(derivedTstamp(10_000, 5_000, 3_000)).toBe(10_000);
    expect(derivedTstamp(10_000, 3_000)).toBe(10_000);
    expect(derivedTstamp(10_000, 3_000, 5_000, 4_000)).toBe(4_000);
  });
});

describe('adapters', () => {
  it('/r/tp2 without an event: the redirect is the event (uri_redirect)', () => {
    const e = one(cp({ path: '/r/tp2', querystring: qs({ u: 'https://dest.test/page', aid: 'ads' }) }));
    expect([e.event, e.app_id, e.platform, e.v_tracker]).toEqual(['unstruct', 'ads', 'web', 'r-tp2']);
    expect(JSON.parse(e.unstruct_event!)).toEqual({ schema: `${SP}/unstruct_event/jsonschema/1-0-0`, data: { schema: `${SP}/uri_redirect/jsonschema/1-0-0`, data: { uri: 'https://dest.test/page' } } });
    expect(e.event_name).toBe('uri_redirect');
  });

  it('/r/tp2 with an event: the redirect joins its contexts', () => {
    const redirect = { schema: `${SP}/uri_redirect/jsonschema/1-0-0`, data: { uri: 'https://dest.test/' } };
    const plain = one(cp({ path: '/r/tp2', querystring: qs({ u: 'https://dest.test/', e: 'pv' }) }));
    expect(JSON.parse(plain.contexts!).data).toEqual([redirect]);
    const withCx = one(cp({ path: '/r/tp2', querystring: qs({ u: 'https://dest.test/', e: 'pv', cx: b64url(contexts) }) }));
    expect(JSON.parse(withCx.contexts!).data).toEqual([redirect, ...JSON.parse(contexts).data]);
  });

  it('/r/tp2 without u is a tracker protocol violation', () => {
    const r = enrichPayload(cp({ path: '/r/tp2', querystring: 'e=pv' }), ctx);
    expect(r.bad[0].data.failure).toMatchObject({ vendor: 'r', version: 'tp2', messages: [{ field: 'querystring', value: 'e=pv', expectation: 'missing `u` parameter: not a valid URI redirect' }] });
    expectValidBadRows(r.bad);
  });

  it('the Iglu webhook turns querystring, JSON and form bodies into self-describing events', () => {
    const schema = `${SP}/link_click/jsonschema/1-0-1`;
    const get = one(cp({ path: '/com.snowplowanalytics.iglu/v1', querystring: qs({ schema, targetUrl: 'https://x.test', elementId: 'b1' }) }));
    expect([get.event, get.platform, get.v_tracker, get.event_name]).toEqual(['unstruct', 'app', 'com.snowplowanalytics.iglu-v1', 'link_click']);
    expect(JSON.parse(get.unstruct_event!).data).toEqual({ schema, data: { targetUrl: 'https://x.test', elementId: 'b1' } });
    // Every parameter is event data, so one the schema does not allow makes a schema violation.
    expect(types(enrichPayload(cp({ path: '/com.snowplowanalytics.iglu/v1', querystring: qs({ schema, targetUrl: 'x', aid: 'hook' }) }), ctx).bad)).toEqual(['schema_violations']);
    const json = enrichPayload(cp({ path: '/com.snowplowanalytics.iglu/v1', querystring: qs({ schema }), contentType: 'application/json', body: JSON.stringify([{ targetUrl: 'a' }, { targetUrl: 'b' }]) }), ctx);
    expect(json.good.map((e) => JSON.parse(e.unstruct_event!).data.data.targetUrl)).toEqual(['a', 'b']);
    const form = one(cp({ path: '/com.snowplowanalytics.iglu/v1', querystring: qs({ schema }), contentType: 'application/x-www-form-urlencoded', body: 'targetUrl=https%3A%2F%2Ff.test' }));
    expect([form.platform, JSON.parse(form.unstruct_event!).data.data]).toEqual(['srv', { targetUrl: 'https://f.test' }]);
    const sd = one(cp({ path: '/com.snowplowanalytics.iglu/v1', contentType: 'application/json', body: JSON.stringify({ schema, data: { targetUrl: 'sd' } }) }));
    expect(JSON.parse(sd.unstruct_event!).data.data).toEqual({ targetUrl: 'sd' });
  });

  it('the Iglu webhook reports adapter failures', () => {
    const r = enrichPayload(cp({ path: '/com.snowplowanalytics.iglu/v1', querystring: 'schema=iglu:com.acme/x/jsonschema/1' }), ctx);
    expect(types(r.bad)).toEqual(['adapter_failures']);
    expect(r.bad[0].data.failure).toMatchObject({ vendor: 'com.snowplowanalytics.iglu', version: 'v1', messages: [{ field: 'schema', expectation: 'INVALID_SCHEMAVER' }] });
    expectValidBadRows(r.bad);
    expect(enrichPayload(cp({ path: '/com.snowplowanalytics.iglu/v1' }), ctx).bad[0].data.failure).toMatchObject({ messages: [{ field: 'schema' }, { field: 'body' }] });
  });

  it('an unknown vendor/version is an adapter failure; a bad path or schema a format violation', () => {
    const af = enrichPayload(cp({ path: '/com.acme/v9', querystring: 'e=pv' }), ctx);
    expect(af.bad[0].data.failure).toMatchObject({ messages: [{ field: 'vendor/version', value: 'com.acme/v9', expectation: 'vendor/version combination is not supported' }] });
    expectValidBadRows(af.bad);
    const fv = enrichPayload(cp({ path: '/a/b/c' }), ctx);
    expect(types(fv.bad)).toEqual(['collector_payload_format_violation']);
    expect(fv.bad[0].data.failure).toMatchObject({ loader: 'thrift', message: { payloadField: 'path', value: '/a/b/c' } });
    expectValidBadRows(fv.bad);
    expect(types(enrichPayload(cp({ schema: 'iglu:com.acme/x/thrift/1-0-0' }), ctx).bad)).toEqual(['collector_payload_format_violation']);
  });
});

describe('the other bad row types', () => {
  it('an event longer than the enriched-record limit becomes a size violation with the line truncated', () => {
    const small: Enricher = { ...base, maxEnrichedBytes: 2000 };
    const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'pv', page: 'x'.repeat(1900) }) }), { ...ctx, enricher: small });
    expect(r.good).toEqual([]);
    expect(types(r.bad)).toEqual(['size_violation']);
    expect(r.bad[0].data.failure).toMatchObject({ maximumAllowedSizeBytes: 2000, actualSizeBytes: expect.any(Number), expectation: expect.any(String) });
    expect((r.bad[0].data.payload as string).length).toBe(200);
    expectValidBadRows(r.bad);
  });

  it('a value longer than its atomic column is an enrichment failure', () => {
    const r = enrichPayload(cp({ path: '/i', querystring: qs({ e: 'pv', aid: 'a'.repeat(256) }) }), ctx);
    expect(types(r.bad)).toEqual(['enrichment_failures']);
    expect(r.bad[0].data.failure).toMatchObject({ messages: [{ enrichment: null, message: { field: 'app_id', expectation: 'Field is longer than maximum allowed size 255' } }] });
    expect((r.bad[0].data.payload as { raw: { parameters: unknown[] } }).raw.parameters).toEqual([{ name: 'e', value: 'pv' }, { name: 'aid', value: 'a'.repeat(256) }]);
    expectValidBadRows(r.bad);
  });

  it('an unexpected exception becomes a generic error carrying the payload, never a throw', () => {
    const p = cp({ path: '/i', querystring: 'e=pv' });
    Object.defineProperty(p, 'headers', { get() { throw new Error('boom'); } });
    const r = enrichPayload(p, ctx);
    expect(types(r.bad)).toEqual(['generic_error']);
    expect(r.bad[0].data.failure).toMatchObject({ errors: ['Error: boom'] });
    expect(JSON.parse(r.bad[0].data.payload as string)).toMatchObject({ querystring: 'e=pv', headers: '[unreadable]', path: '/i' });
    expectValidBadRows(r.bad);
  });

  it('never throws on garbage', () => {
    for (const junk of [null, undefined, 42, 'x', {}, { schema: 7 }, { ...cp(), timestamp: NaN }]) {
      const r = enrichPayload(junk as unknown as CollectorPayload, ctx);
      expect(r.good).toEqual([]);
      expect(r.bad).toHaveLength(1);
    }
  });
});
