// Property: whatever arrives, enrich never throws, and good events + bad rows account for every
// input event (a payload-level failure is one bad row for all of them); every good line is a
// 131-field TSV line the SDK reads, and every bad row is valid against its badrows schema.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import sdk from 'snowplow-analytics-sdk';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { createEnricher } from '../../enrich/default-enricher';
import { enrichPayload } from '../../enrich/enrich';
import { parseSchemaUri } from '../../enrich/iglu';

const { transform } = sdk;
const enricher = createEnricher(); // the shipped configuration: UA, referer, campaign, fingerprint
const ctx = { etlTstamp: 1_709_294_010_000, etlVersion: 'sluice-enrich-0.1.0', enricher };
const SP = 'com.snowplowanalytics.snowplow';

const short = fc.string({ maxLength: 40 });
const paramName = fc.constantFrom('e', 'p', 'tv', 'aid', 'eid', 'uid', 'vid', 'sid', 'dtm', 'stm', 'ttm', 'url', 'refr', 'res', 'vp', 'cookie', 'se_ca', 'se_va', 'tr_tt', 'ti_qu', 'pp_mix', 'co', 'cx', 'ue_pr', 'ue_px', 'ip', 'ua', 'tnuid', 'f_pdf', 'lang', 'zz');
const value = fc.oneof(
  short,
  fc.constantFrom('pv', 'pp', 'se', 'ue', 'tr', 'ti', 'ad', 'web', 'mob', '1', '0', '1920x1080', '-1', '2147483648', '1709294000000', '9e999'),
  fc.uuid(),
  fc.webUrl(),
  fc.constant(JSON.stringify({ schema: `iglu:${SP}/unstruct_event/jsonschema/1-0-0`, data: { schema: `iglu:${SP}/link_click/jsonschema/1-0-1`, data: { targetUrl: 'https://t' } } })),
  fc.constant(Buffer.from(JSON.stringify({ schema: `iglu:${SP}/contexts/jsonschema/1-0-0`, data: [{ schema: `iglu:${SP}/web_page/jsonschema/1-0-0`, data: { id: 'nope' } }] })).toString('base64url')),
);
const event = fc.tuple(fc.integer({ min: 0, max: 9 }), fc.dictionary(paramName, value, { maxKeys: 12 })).map(([n, e]) => (n < 7 ? { e: 'pv', p: 'web', tv: 't', ...e } : e));
const anyJson = fc.jsonValue({ maxDepth: 3 });

const payloadArb = fc.record({
  path: fc.constantFrom(`/${SP}/tp2`, '/i', '/ice.png', '/r/tp2', '/com.snowplowanalytics.iglu/v1', '/com.acme/v1', '/x/y/z', ''),
  events: fc.array(fc.oneof({ weight: 8, arbitrary: event }, { weight: 1, arbitrary: anyJson }), { minLength: 0, maxLength: 6 }),
  envelope: fc.constantFrom('payload_data', 'other', 'none'),
  qs: fc.option(fc.dictionary(paramName, value, { maxKeys: 4 }), { nil: undefined }),
  truncateAt: fc.option(fc.nat(), { nil: undefined }),
  contentType: fc.constantFrom('application/json', 'application/json; charset=UTF-8', 'text/plain', undefined),
  ip: fc.oneof(fc.ipV4(), fc.ipV6(), short),
  ua: fc.option(short, { nil: undefined }),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constantFrom(Number.NaN, -1e15, 1e16)),
});

const asQuerystring = (e: unknown): string => (e && typeof e === 'object' && !Array.isArray(e)
  ? new URLSearchParams(Object.entries(e).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString()
  : '');

type PayloadInput = typeof payloadArb extends fc.Arbitrary<infer T> ? T : never;

function toPayload(a: PayloadInput): { payload: CollectorPayload; events: number } {
  const body = a.envelope === 'none' ? JSON.stringify(a.events) : JSON.stringify({ schema: a.envelope === 'payload_data' ? `iglu:${SP}/payload_data/jsonschema/1-0-4` : 'iglu:com.acme/x/jsonschema/1-0-0', data: a.events });
  const cut = a.truncateAt === undefined ? body : body.slice(0, a.truncateAt % (body.length + 1));
  const get = a.path !== `/${SP}/tp2` || a.events.length === 0;
  const payload: CollectorPayload = {
    schema: `iglu:${SP}/CollectorPayload/thrift/1-0-0`, ipAddress: a.ip, timestamp: a.timestamp, encoding: 'UTF-8',
    collector: 'c-1', path: a.path, userAgent: a.ua,
    querystring: a.qs ? new URLSearchParams(a.qs).toString() : get ? asQuerystring(a.events[0]) : undefined,
    body: get ? undefined : cut, contentType: get ? undefined : a.contentType,
  };
  // How many events went in: the items of a well-formed POST body, else the one request.
  const events = !get && cut === body && a.envelope === 'payload_data' && a.events.length > 0 ? a.events.length : 1;
  return { payload, events };
}

describe('enrich is total', () => {
  it('accounts for every input event and never throws (random and truncated payloads)', () => {
    fc.assert(fc.property(payloadArb, (a) => {
      const { payload, events } = toPayload(a);
      const r = enrichPayload(payload, ctx);
      expect(r.pending).toBeUndefined();
      const accounted = r.good.length + r.bad.length;
      // Either one bad row for the whole payload, or exactly one outcome per event.
      expect(accounted === events || (r.good.length === 0 && r.bad.length === 1)).toBe(true);
      expect(r.lines).toHaveLength(r.good.length);
      for (const line of r.lines) {
        expect(line.split('\t')).toHaveLength(131);
        expect(line).not.toMatch(/[\n\r]/);
        expect(() => transform(line)).not.toThrow();
      }
      for (const row of r.bad) {
        const key = parseSchemaUri(row.schema);
        expect(typeof key).toBe('object');
        if (typeof key === 'string') continue;
        const problem = enricher.iglu.validator.check(key, row.data);
        // Only oversized values (which the bad row keeps whole for recovery) may break a maxLength.
        if (problem !== null && problem !== 'pending' && 'dataReports' in problem) {
          expect(problem.dataReports.every((d) => d.keyword === 'maxLength'), JSON.stringify(problem)).toBe(true);
        }
      }
    }), { numRuns: 600, seed: 20241121 });
  });

  it('GET events with arbitrary parameters: one outcome each', () => {
    fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 60 }), { maxKeys: 15 }), (params) => {
      const p: CollectorPayload = { schema: `iglu:${SP}/CollectorPayload/thrift/1-0-0`, ipAddress: '1.2.3.4', timestamp: 1_709_294_000_000, encoding: 'UTF-8', collector: 'c', path: '/i', querystring: new URLSearchParams({ e: 'pv', ...params }).toString() };
      const r = enrichPayload(p, ctx);
      expect(r.good.length + r.bad.length).toBe(1);
    }), { numRuns: 400, seed: 7 });
  });
});
