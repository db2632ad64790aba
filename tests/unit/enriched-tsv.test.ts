import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import sdk from 'snowplow-analytics-sdk';
import {
  ENRICHED_FIELDS, type EnrichedEvent, formatTstamp, isTstamp, newEnrichedEvent, parseEnrichedTsv, parseTstamp, toEnrichedTsv,
  toEnrichedTsvTrusted,
} from '../../codecs/enriched-tsv';

// The SDK is a webpack CommonJS bundle: only the default import works from ESM.
const { transform } = sdk;

const contexts = JSON.stringify({
  schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0',
  data: [
    { schema: 'iglu:com.acme/user_profile/jsonschema/1-0-0', data: { tier: 'gold' } },
    { schema: 'iglu:com.acme/user_profile/jsonschema/1-0-0', data: { tier: 'silver' } },
    { schema: 'iglu:org.w3/PerformanceTiming/jsonschema/1-0-0', data: { loadEventEnd: 5 } },
  ],
});
const unstruct = JSON.stringify({
  schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0',
  data: { schema: 'iglu:com.acme/link_click/jsonschema/1-0-1', data: { targetUrl: 'https://x.test' } },
});

const sample: EnrichedEvent = {
  app_id: 'shop', platform: 'web', etl_tstamp: '2024-03-01 12:00:01.234',
  collector_tstamp: '2024-03-01 12:00:00.000', dvce_created_tstamp: '2024-03-01 11:59:59.500',
  event: 'unstruct', event_id: 'c6ef3124-b53a-4b13-a233-0088f79dcbcb', name_tracker: 'sp',
  v_tracker: 'js-3.0.0', v_collector: 'ssc-3.4.0-kinesis', v_etl: 'sluice-enrich-0.1.0',
  user_ipaddress: '10.0.0.1', domain_userid: 'du1', domain_sessionidx: '3',
  network_userid: 'ecdff4d0-9175-40ac-a8bb-325c49733607', page_url: 'https://shop.test/p?q=1',
  page_urlport: '443', contexts, unstruct_event: unstruct, br_cookies: '1', br_viewwidth: '1024',
  dvce_sent_tstamp: '2024-03-01 11:59:59.900', domain_sessionid: '2b15e5c8-d3b1-11e4-b9d6-1681e6b88ec1',
  derived_tstamp: '2024-03-01 11:59:59.600', event_vendor: 'com.acme', event_name: 'link_click',
  event_format: 'jsonschema', event_version: '1-0-1', true_tstamp: '2024-03-01 11:59:59.000',
};

describe('ENRICHED_FIELDS', () => {
  it('has Snowplow\'s 131 fields in order', () => {
    expect(ENRICHED_FIELDS).toHaveLength(131);
    expect(new Set(ENRICHED_FIELDS).size).toBe(131);
    // 1-based positions from the canonical event model
    const at = (n: number) => ENRICHED_FIELDS[n - 1];
    expect(at(1)).toBe('app_id');
    expect(at(4)).toBe('collector_tstamp');
    expect(at(7)).toBe('event_id');
    expect(at(30)).toBe('page_url');
    expect(at(53)).toBe('contexts');
    expect(at(59)).toBe('unstruct_event');
    expect(at(78)).toBe('useragent');
    expect(at(120)).toBe('dvce_sent_tstamp');
    expect(at(122)).toBe('refr_dvce_tstamp');
    expect(at(123)).toBe('derived_contexts');
    expect(at(125)).toBe('derived_tstamp');
    expect(at(130)).toBe('event_fingerprint');
    expect(at(131)).toBe('true_tstamp');
  });
});

describe('toEnrichedTsv / parseEnrichedTsv', () => {
  it('writes 131 columns with missing values empty', () => {
    const line = toEnrichedTsv({ app_id: 'a', true_tstamp: '2024-01-01 00:00:00.000' });
    const cols = line.split('\t');
    expect(cols).toHaveLength(131);
    expect(cols[0]).toBe('a');
    expect(cols[130]).toBe('2024-01-01 00:00:00.000');
    expect(cols.slice(1, 130).every((c) => c === '')).toBe(true);
    expect(toEnrichedTsv({}).split('\t')).toHaveLength(131);
  });

  it('replaces tabs, newlines and CRs so a line is one record', () => {
    const line = toEnrichedTsv({ page_title: 'a\tb\nc\r\nd', app_id: 'x\ty' });
    expect(line).not.toMatch(/[\n\r]/);
    expect(line.split('\t')).toHaveLength(131);
    const back = parseEnrichedTsv(line);
    expect(back.page_title).toBe('a b c  d');
    expect(back.app_id).toBe('x y');
  });

  it('round-trips', () => {
    const line = toEnrichedTsv(sample);
    expect(parseEnrichedTsv(line)).toEqual(sample);
    expect(toEnrichedTsv(parseEnrichedTsv(line))).toBe(line);
    expect(parseEnrichedTsv(line + '\n')).toEqual(sample);
  });

  it('rejects a wrong field count with a clear error', () => {
    expect(() => parseEnrichedTsv('a\tb\tc')).toThrow(/3 fields, expected 131/);
    expect(() => parseEnrichedTsv(toEnrichedTsv(sample) + '\textra')).toThrow(/132 fields, expected 131/);
  });
});

describe('formatTstamp / parseTstamp', () => {
  it('formats UTC with milliseconds', () => {
    expect(formatTstamp(0)).toBe('1970-01-01 00:00:00.000');
    expect(formatTstamp(Date.UTC(2024, 1, 29, 23, 5, 9, 7))).toBe('2024-02-29 23:05:09.007');
  });
  it('round-trips and validates', () => {
    for (const ms of [0, 1, 1709294400123, 253402300799999, -1000]) expect(parseTstamp(formatTstamp(ms))).toBe(ms);
    expect(parseTstamp('2024-03-01 12:00:00')).toBe(Date.UTC(2024, 2, 1, 12));
    expect(parseTstamp('2024-03-01T12:00:00.5Z')).toBe(Date.UTC(2024, 2, 1, 12, 0, 0, 500));
    expect(() => parseTstamp('2024-02-30 00:00:00.000')).toThrow();
    expect(() => parseTstamp('yesterday')).toThrow(/invalid timestamp/);
    expect(() => formatTstamp(Number.NaN)).toThrow(RangeError);
    expect(() => formatTstamp(253402300800000)).toThrow(RangeError);
  });
});

// parseTstamp as it was written with a regex and Date, the reference for the character scanner.
const REFERENCE_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$/;
function referenceParse(s: string): number | 'format' | 'range' {
  const m = REFERENCE_RE.exec(s);
  if (!m) return 'format';
  const [, y, mo, d, h, mi, sec, frac] = m;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(sec), frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0);
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return 'range';
  return date.getTime();
}
const outcome = (s: string): number | 'format' | 'range' => {
  try {
    return parseTstamp(s);
  } catch (err) {
    return /out-of-range/.test((err as Error).message) ? 'range' : 'format';
  }
};

describe('parseTstamp against the regex and Date reference', () => {
  // Near-timestamps: each field drawn from valid, edge and broken values, with the separators,
  // the fraction and the zone varied, so most texts sit near the accepted shape's edges.
  const digits = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`));
  const field = (n: number, extra: string[]) => fc.oneof(digits(n), fc.constantFrom(...extra));
  const near = fc.tuple(
    field(4, ['0000', '0001', '1900', '2000', '2024', '2100', '9999', '999', '12345', 'abcd', '٢٠٢٤']),
    fc.constantFrom('-', '/', ''),
    field(2, ['00', '01', '02', '12', '13', '1', '001']),
    fc.constantFrom('-'),
    field(2, ['00', '01', '28', '29', '30', '31', '32']),
    fc.constantFrom(' ', 'T', 't', '  ', ''),
    field(2, ['00', '23', '24']),
    fc.constantFrom(':', '.'),
    field(2, ['00', '59', '60']),
    fc.constantFrom(':'),
    field(2, ['00', '59', '60', '99']),
    fc.constantFrom('', '.', '.0', '.5', '.123', '.123456789', '.1234567890', '.12a', ',123'),
    fc.constantFrom('', 'Z', 'z', 'ZZ', ' ', '+00:00'),
  ).map((parts) => parts.join(''));

  it('gives the same instant, or the same kind of error, on 20,000 near-timestamps', () => {
    fc.assert(fc.property(near, (s) => {
      expect(outcome(s)).toEqual(referenceParse(s));
      expect(isTstamp(s)).toBe(typeof referenceParse(s) === 'number');
    }), { numRuns: 20_000 });
  });

  it('agrees on every instant formatTstamp writes, years 0 to 9999', () => {
    fc.assert(fc.property(fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }), (ms) => {
      const s = formatTstamp(ms);
      expect(parseTstamp(s)).toBe(ms);
      expect(referenceParse(s)).toBe(ms);
    }), { numRuns: 5_000 });
  });

  it('refuses what is not a string or has other characters around it', () => {
    for (const s of ['', ' 2024-03-01 12:00:00', '2024-03-01 12:00:00 ', '2024-03-01 12:00:00\n', '2024-03-01', undefined as unknown as string]) {
      expect(isTstamp(s)).toBe(false);
    }
  });
});

describe('snowplow-analytics-sdk compatibility', () => {
  it('parses our lines and yields the expected values', () => {
    const out = transform(toEnrichedTsv(sample)) as unknown as Record<string, unknown>;
    expect(out.app_id).toBe('shop');
    expect(out.platform).toBe('web');
    expect(out.event_id).toBe(sample.event_id);
    expect(out.collector_tstamp).toBe('2024-03-01T12:00:00.000Z');
    expect(out.true_tstamp).toBe('2024-03-01T11:59:59.000Z');
    expect(out.domain_sessionidx).toBe(3);
    expect(out.page_urlport).toBe(443);
    expect(out.br_cookies).toBe(true);
    expect(out.br_viewwidth).toBe(1024);
    expect(out.contexts_com_acme_user_profile_1).toEqual([{ tier: 'gold' }, { tier: 'silver' }]);
    expect(out.contexts_org_w3_performance_timing_1).toEqual([{ loadEventEnd: 5 }]);
    expect(out.unstruct_event_com_acme_link_click_1).toEqual({ targetUrl: 'https://x.test' });
    expect(out.event_name).toBe('link_click');
  });

  it('parses a minimal line', () => {
    const out = transform(toEnrichedTsv({ event: 'page_view' })) as unknown as Record<string, unknown>;
    expect(out).toEqual({ event: 'page_view' });
  });
});

describe('the fast paths', () => {
  it('the trusted writer gives the same line as the checked one for safe values', () => {
    expect(toEnrichedTsvTrusted(sample)).toBe(toEnrichedTsv(sample));
    expect(toEnrichedTsvTrusted({ ...newEnrichedEvent(), ...sample })).toBe(toEnrichedTsv(sample));
  });

  it('the checked writer still makes a stray tab or line break safe', () => {
    const line = toEnrichedTsv({ ...sample, page_title: 'a\tb\nc\rd' });
    expect(line.split('\t')).toHaveLength(131);
    expect(parseEnrichedTsv(line).page_title).toBe('a b c d');
  });

  it('an event from newEnrichedEvent has every field, all undefined, and one shape', () => {
    const e = newEnrichedEvent();
    expect(Object.keys(e)).toEqual([...ENRICHED_FIELDS]);
    expect(Object.values(e).every((v) => v === undefined)).toBe(true);
    expect(newEnrichedEvent()).not.toBe(e);
  });

  it('formatTstamp reuses the seconds part without mixing up neighbouring values', () => {
    const t = Date.UTC(2024, 2, 1, 12, 0, 0);
    const seq = [t, t + 7, t + 999, t + 1000, t - 1, t + 86_400_000 + 42, -1, 0, 1.9];
    expect(seq.map(formatTstamp)).toEqual(seq.map((ms) => new Date(Math.floor(ms)).toISOString().replace('T', ' ').slice(0, 23)));
  });
});
