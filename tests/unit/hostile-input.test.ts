import { describe, expect, it } from 'vitest';
import { DEFAULT_JSON_LIMITS, jsonDepth, parseJsonBounded, truncateUtf8 } from '../../codecs/bounded-json';
import type { CollectorPayload } from '../../codecs/collector-payload';
import { MAX_BAD_ROW_BYTES, type BadRow, badRowJson, badRowType, genericError, processorFor } from '../../enrich/bad-rows';
import { enrichPayload, protocolOnlyEnricher } from '../../enrich/enrich';
import { MAX_PLAIN_DECIMAL_CHARS, plainDecimal, toDoubleLike } from '../../enrich/event/conversions';
import { parseSchemaUri } from '../../enrich/iglu';
import { describeBadRow } from '../../speed/bad-rows-sink';
import { checkTp2Post } from '../../collector/validate';
import { renderValue } from '../../batch/shred-values';

// Regression tests for each class of hostile input of issue #16: deep nesting, hostile numbers,
// prototype keys, bad rows that could not be serialised. The fuzz suite (tests/fuzz/) covers
// the same ground at random; these pin the cases down.

const base = protocolOnlyEnricher();
const ctx = { etlTstamp: Date.UTC(2026, 11, 1, 12, 0, 5), etlVersion: 'sluice-enrich-0.1.0', enricher: base };
const SP = 'iglu:com.snowplowanalytics.snowplow';
const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const b64 = (s: string) => Buffer.from(s).toString('base64url');
const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

function cp(over: Partial<CollectorPayload> = {}): CollectorPayload {
  return {
    schema: `${SP}/CollectorPayload/thrift/1-0-0`, ipAddress: '203.0.113.9', timestamp: Date.UTC(2026, 11, 1, 12), encoding: 'UTF-8',
    collector: 'sluice-collector-0.1.0', userAgent: 'Mozilla/5.0', headers: ['Host: c.test'], hostname: 'c.test', ...over,
  };
}
const post = (body: string) => cp({ path: TP2, contentType: 'application/json', body });
const tp2Body = (events: unknown[]) => JSON.stringify({ schema: `${SP}/payload_data/jsonschema/1-0-4`, data: events });
const get = (params: Record<string, string>) => cp({ path: '/i', querystring: new URLSearchParams(params).toString() });
const ev = (o: Record<string, string>) => ({ e: 'pv', p: 'web', tv: 'js-3.17.0', url: 'https://a.test/', ...o });

/**
 * Every bad row serialises within the bound, as a known badrows type. (Not checked: the badrows
 * schemas' maxLength on payload fields, e.g. 512 characters per querystring value. The payload is
 * kept whole within the row's bound so that the event can be replayed.)
 */
function expectSoundBadRows(bad: BadRow[]): void {
  for (const row of bad) {
    const text = badRowJson(row);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_BAD_ROW_BYTES);
    const written = JSON.parse(text) as BadRow;
    expect(typeof parseSchemaUri(written.schema)).toBe('object');
    expect(badRowType(written)).toBeTruthy();
  }
}

describe('parseJsonBounded', () => {
  const limits = { maxDepth: 5, maxBytes: 100 };

  it('parses documents at the depth and size limits, refuses one level or one byte over', () => {
    expect(parseJsonBounded(deepArray(5), limits)).toEqual({ ok: true, value: [[[[[]]]]] });
    expect(parseJsonBounded(deepArray(6), limits)).toEqual({ ok: false, error: 'JSON nested deeper than the 5-level limit' });
    expect(parseJsonBounded(`"${'x'.repeat(98)}"`, limits).ok).toBe(true);
    expect(parseJsonBounded(`"${'x'.repeat(99)}"`, limits)).toEqual({ ok: false, error: 'JSON of 101 bytes is over the 100-byte limit' });
    // Bytes, not characters: 34 three-byte characters are 102 bytes.
    expect(parseJsonBounded(`"${'€'.repeat(34)}"`, limits).ok).toBe(false);
  });

  it('counts depth outside strings only, escapes included', () => {
    expect(jsonDepth('{"a":"[[[[[[[[","b":"\\"[[[[[[","c":[1]}')).toBe(2);
    expect(jsonDepth('"\\\\"')).toBe(0);
    expect(jsonDepth(deepObject(3000), 100)).toBe(101); // stops as soon as it is over
    expect(parseJsonBounded('{"a":"[[[[[[[[[[[[[[[["}', limits).ok).toBe(true);
  });

  it('refuses __proto__ keys and constructor.prototype, plain or escaped; keeps other uses of those words', () => {
    for (const text of ['{"__proto__":{"polluted":1}}', '{"a":[{"\\u005f_proto__":{}}]}', '{"constructor":{"prototype":{"polluted":1}}}']) {
      expect(parseJsonBounded(text)).toEqual({ ok: false, error: 'JSON holds a forbidden __proto__ or constructor.prototype key' });
    }
    expect(parseJsonBounded('{"constructor":"a builder","prototype":"v2","text":"__proto__"}')).toEqual({
      ok: true, value: { constructor: 'a builder', prototype: 'v2', text: '__proto__' },
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports invalid JSON and non-strings without throwing', () => {
    expect(parseJsonBounded('{"a":').ok).toBe(false);
    expect(parseJsonBounded(undefined as unknown as string).ok).toBe(false);
    expect(DEFAULT_JSON_LIMITS).toEqual({ maxDepth: 100, maxBytes: 1_048_576 });
  });

  it('truncates on a UTF-8 character boundary', () => {
    expect(truncateUtf8('a€€', 5)).toBe('a€');
    expect(Buffer.byteLength(truncateUtf8('€'.repeat(1000), 100))).toBeLessThanOrEqual(100);
  });
});

describe('deep nesting becomes a bad row, never a throw', () => {
  const cases: [string, CollectorPayload][] = [
    ['a tp2 body nested 5,000 deep', post(deepArray(5000))],
    ['an event field nested 5,000 deep', post(tp2Body([{ ...ev({}), x: JSON.parse(deepArray(150)) }]).replace(deepArray(150), deepArray(5000)))],
    ['ue_pr nested 5,000 deep', get(ev({ e: 'ue', ue_pr: `{"schema":"${SP}/unstruct_event/jsonschema/1-0-0","data":${deepObject(5000)}}` }))],
    ['cx (base64) nested 5,000 deep', get(ev({ cx: b64(`{"schema":"${SP}/contexts/jsonschema/1-0-1","data":${deepArray(5000)}}`) }))],
    ['an Iglu webhook body nested 5,000 deep', cp({ path: '/com.snowplowanalytics.iglu/v1', contentType: 'application/json', body: deepObject(5000) })],
    ['a redirect co nested 5,000 deep', cp({ path: '/r/tp2', querystring: `u=${encodeURIComponent('https://t.test/')}&co=${encodeURIComponent(deepArray(5000))}` })],
  ];
  for (const [name, payload] of cases) {
    it(name, () => {
      const r = enrichPayload(payload, ctx);
      expect(r.good).toEqual([]);
      expect(r.bad).toHaveLength(1);
      expect(['tracker_protocol_violations', 'adapter_failures']).toContain(badRowType(r.bad[0]));
      expect(JSON.stringify(r.bad[0])).toMatch(/nested deeper than the 100-level limit/);
      expectSoundBadRows(r.bad);
    });
  }

  it('still enriches JSON nested just within the limit', () => {
    // The contexts wrapper and one entity take 4 levels: 95 more is 99 in all.
    const data = JSON.parse(deepObject(95));
    const cx = b64(JSON.stringify({ schema: `${SP}/contexts/jsonschema/1-0-1`, data: [{ schema: 'iglu:com.acme/deep/jsonschema/1-0-0', data }] }));
    const r = enrichPayload(get(ev({ cx })), ctx);
    // The schema is unknown to the local registry: a schema violation, but found by validation, not by a depth error.
    expect(JSON.stringify(r.bad)).not.toMatch(/nested deeper/);
    expect(r.good.length + r.bad.length).toBe(1);
  });

  it('refuses a deep tp2 body at the collector with a 400 verdict', () => {
    expect(checkTp2Post('application/json', deepArray(5000), false)).toMatchObject({ ok: false, status: 400 });
  });
});

describe('hostile numbers', () => {
  it('never expands an exponent: out-of-range decimals are tracker protocol violations', () => {
    for (const v of ['1e99999999', '1e-99999999', '-1E400', '1e309']) {
      const r = enrichPayload(get(ev({ e: 'se', se_ca: 'c', se_ac: 'a', se_va: v })), ctx);
      expect(r.good, v).toEqual([]);
      expect(types(r.bad), v).toEqual(['tracker_protocol_violations']);
      // The bad row holds the 11-byte value, not a 100 MB expansion of it.
      expect(badRowJson(r.bad[0]).length, v).toBeLessThan(5_000);
    }
    expect(toDoubleLike('1e309')).toEqual({ ok: false, message: 'Cannot be converted to Double-like: out of the range of a double' });
  });

  it('keeps every value a double can hold, spelled plainly', () => {
    expect(toDoubleLike('1.5e2')).toEqual({ ok: true, value: '150' });
    expect(toDoubleLike('1e308')).toEqual({ ok: true, value: `1${'0'.repeat(308)}` });
    expect(toDoubleLike('4.9e-324').ok).toBe(true);
    expect(toDoubleLike('0e500')).toEqual({ ok: true, value: '0' });
    expect(plainDecimal('1e399')).toBe(`1${'0'.repeat(399)}`);
    expect(plainDecimal(`1e${MAX_PLAIN_DECIMAL_CHARS}`)).toBeNull();
    expect(plainDecimal('9'.repeat(MAX_PLAIN_DECIMAL_CHARS + 1))).toBeNull();
    const r = enrichPayload(get(ev({ e: 'tr', tr_id: 'o1', tr_tt: '12.50', tr_tx: '1e2' })), ctx);
    expect(r.good[0]).toMatchObject({ tr_total: '12.50', tr_tax: '100' });
  });

  it('a JSON number no warehouse integer can hold is a value error in shred, not a failed COPY', () => {
    const stats = { truncated: 0 };
    expect(() => renderValue('n', { kind: 'bigint' } as never, 2 ** 63, stats)).toThrow(/BIGINT/);
    expect(() => renderValue('n', { kind: 'bigint' } as never, 1e300, stats)).toThrow(/BIGINT/);
    // The largest double under 2^63 prints as its shortest spelling, which BIGINT reads back exactly.
    expect(renderValue('n', { kind: 'bigint' } as never, 2 ** 63 - 1024, stats)).toBe('9223372036854775000');
    expect(BigInt('9223372036854775000') < 2n ** 63n).toBe(true);
  });
});

const types = (bad: BadRow[]) => bad.map((b) => badRowType(b));

describe('prototype keys never alter objects', () => {
  it('a tp2 event or a context with __proto__ is a bad row, and no prototype changes', () => {
    const inEvent = enrichPayload(post(`{"schema":"${SP}/payload_data/jsonschema/1-0-4","data":[{"e":"pv","p":"web","tv":"js","__proto__":{"polluted":"yes"}}]}`), ctx);
    const inContext = enrichPayload(get(ev({ co: `{"schema":"${SP}/contexts/jsonschema/1-0-1","data":[{"constructor":{"prototype":{"polluted":"yes"}}}]}` })), ctx);
    for (const r of [inEvent, inContext]) {
      expect(r.good).toEqual([]);
      expect(types(r.bad)).toEqual(['tracker_protocol_violations']);
      expectSoundBadRows(r.bad);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('a querystring parameter named __proto__ changes no object', () => {
    const r = enrichPayload(cp({ path: '/i', querystring: 'e=pv&p=web&tv=js&__proto__=x&constructor=y&prototype=z' }), ctx);
    expect(r.good).toHaveLength(1);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('a form webhook field named __proto__ alters nothing and the event is a bad row that keeps it', () => {
    const r = enrichPayload(cp({
      path: '/com.snowplowanalytics.iglu/v1', querystring: `schema=${encodeURIComponent('iglu:com.acme/form/jsonschema/1-0-0')}`,
      contentType: 'application/x-www-form-urlencoded', body: '__proto__=kept&name=n',
    }), ctx);
    // The form becomes the event's JSON, which holds a __proto__ key: refused like any other.
    expect(r.good).toEqual([]);
    expect(types(r.bad)).toEqual(['tracker_protocol_violations']);
    expect(r.bad[0].data.payload).toMatchObject({ body: '__proto__=kept&name=n' });
    expect(({} as Record<string, unknown>).kept).toBeUndefined();
  });
});

describe('bad rows always serialise within their bound', () => {
  const processor = processorFor('sluice-enrich-0.1.0');
  const at = Date.UTC(2026, 11, 1);

  it('a row holding a cycle becomes a generic_error that keeps the payload', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const row = genericError(processor, at, 'the payload', []);
    (row.data.failure as { errors: unknown[] }).errors.push(cyclic);
    const out = JSON.parse(badRowJson(row));
    expect(out.schema).toMatch(/generic_error/);
    expect(out.data.payload).toBe('the payload');
    expect(out.data.failure.errors[0]).toMatch(/could not be serialised \(TypeError: Converting circular structure/);
  });

  it('a row holding a value nested past what JSON.stringify can walk becomes a generic_error', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const row = genericError(processor, at, 'p', []);
    (row.data.failure as { errors: unknown[] }).errors.push(deep);
    expect(() => JSON.stringify(row)).toThrow(RangeError);
    const text = badRowJson(row);
    expect(JSON.parse(text).data.failure.errors[0]).toMatch(/RangeError/);
    expectSoundBadRows([JSON.parse(text)]);
  });

  it('a row over the bound becomes a size_violation carrying a tenth of the limit', () => {
    const row = genericError(processor, at, 'x'.repeat(3_000_000), ['too big']);
    const text = badRowJson(row);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_BAD_ROW_BYTES);
    const out = JSON.parse(text);
    expect(out.schema).toMatch(/size_violation/);
    expect(out.data.failure).toMatchObject({ maximumAllowedSizeBytes: MAX_BAD_ROW_BYTES, actualSizeBytes: Buffer.byteLength(JSON.stringify(row)) });
    expect(out.data.payload.length).toBe(MAX_BAD_ROW_BYTES / 10);
    expectSoundBadRows([out]);
  });

  it('the bad-rows sink reads any record, deep or not JSON, without throwing', () => {
    for (const data of [deepArray(100_000), '{"schema":1,"data":{"failure":7}}', 'not json', '[]', 'null']) {
      const d = describeBadRow({ data: Buffer.from(data), arrivalMs: at });
      expect(typeof d.summary).toBe('string');
      expect(() => JSON.stringify(d.row)).not.toThrow();
    }
    expect(describeBadRow({ data: Buffer.from(deepArray(100_000)), arrivalMs: at }).type).toBe('unparsable');
  });
});
