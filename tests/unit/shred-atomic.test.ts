import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENRICHED_FIELD_COUNT, ENRICHED_FIELDS } from '../../codecs/enriched-tsv';
import { atomicRowFromFields, atomicRowFromLine, copySafeLine, fieldEnds } from '../../batch/shred-atomic';
import type { RenderStats } from '../../batch/shred-values';
import { ATOMIC_COLUMNS, atomicColumnType } from '../../warehouse/atomic-events';

// atomicRowFromLine builds a line's atomic.events row from slices of the line when every value
// fits its column as it is, and falls back to atomicRowFromFields otherwise: both must give the
// same row, the same errors and the same truncation count for any line.

const ID = '3c1e0f9a-8b7d-4e6f-9a0b-1c2d3e4f5a6b';
const OTHER_ID = '00000000-0000-5000-8000-000000000001';
const at = (name: string) => ENRICHED_FIELDS.indexOf(name as (typeof ENRICHED_FIELDS)[number]);

/** A plausible enriched line: a page view with timestamps, numbers and an entity or two. */
function baseFields(): string[] {
  const f = new Array<string>(ENRICHED_FIELD_COUNT).fill('');
  const set = (name: string, v: string) => (f[at(name)] = v);
  set('app_id', 'shop');
  set('platform', 'web');
  set('etl_tstamp', '2026-12-04 03:00:00.000');
  set('collector_tstamp', '2026-12-04 02:59:58.123');
  set('dvce_created_tstamp', '2026-12-04 02:59:57.001');
  set('event', 'page_view');
  set('event_id', ID);
  set('txn_id', '42');
  set('v_tracker', 'js-3.0.0');
  set('v_collector', 'sluice-0.1.0');
  set('v_etl', 'sluice-enrich-0.1.0');
  set('page_url', 'https://shop.example/a?b=c');
  set('page_title', 'Ünïcödé 😀 title');
  set('br_cookies', '1');
  set('tr_total', '12.50');
  set('event_fingerprint', 'abc123');
  set('contexts', '{"schema":"iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1","data":[]}');
  set('derived_tstamp', '2026-12-04 02:59:58.122');
  return f;
}

// Values chosen to hit every branch: empty, too long for short columns, characters COPY needs
// escaped or replaced, a lone surrogate, and values each typed column refuses.
const odd = fc.constantFrom(
  '', 'x', 'é'.repeat(300), 'a'.repeat(5000), 'back\\slash', 'cr\rhere', 'nul\u0000here', 'lone\ud800surrogate',
  'not-a-time', '2026-02-30 00:00:00', '2026-12-04T03:00:00Z', '2026-12-04 03:00:00.123456789', '99999999999', '-12', '1.5e3', 'NaN',
  'true', 'maybe', '12345678901234567890.5', ID, '😀', 'GBR', 'GB',
);

const scenario = fc.record({
  edits: fc.array(fc.tuple(fc.integer({ min: 0, max: ENRICHED_FIELD_COUNT - 1 }), odd), { maxLength: 6 }),
  eventId: fc.constantFrom(ID, OTHER_ID, 'not-a-uuid'),
});

function both(line: string, eventId: string) {
  const fastStats: RenderStats = { truncated: 0 };
  const slowStats: RenderStats = { truncated: 0 };
  const ends = new Int32Array(ENRICHED_FIELD_COUNT);
  expect(fieldEnds(line, ends)).toBe(ENRICHED_FIELD_COUNT);
  const fast = atomicRowFromLine(line, ends, eventId, fastStats);
  const slow = atomicRowFromFields(line.split('\t'), eventId, copySafeLine(line), slowStats);
  return { fast, slow, fastStats, slowStats };
}

describe('atomicRowFromLine', () => {
  it('gives what atomicRowFromFields gives, for any line', () => {
    fc.assert(
      fc.property(scenario, ({ edits, eventId }) => {
        const f = baseFields();
        for (const [i, v] of edits) f[i] = v;
        const { fast, slow, fastStats, slowStats } = both(f.join('\t'), eventId);
        expect(fast).toEqual(slow);
        expect(fastStats).toEqual(slowStats);
      }),
      { numRuns: 2000, seed: 19 },
    );
  });

  it('an ordinary line is its row without the entity fields, with a new id put in place', () => {
    const f = baseFields();
    const line = f.join('\t');
    const { fast } = both(line, ID);
    const expected = ATOMIC_COLUMNS.map((c) => f[at(c)]).join('\t');
    expect(fast).toEqual({ row: expected });
    expect(both(line, OTHER_ID).fast).toEqual({ row: expected.replace(ID, OTHER_ID) });
    // A value over its column's width takes the other path, and is cut there.
    expect(atomicColumnType('geo_country')).toBe('char(2)');
    f[at('geo_country')] = 'GBR';
    const cut = both(f.join('\t'), ID);
    expect(cut.fast).toEqual(cut.slow);
    expect(cut.fastStats.truncated).toBe(1);
  });

  it('fieldEnds counts fields and stops past its scratch', () => {
    const ends = new Int32Array(3);
    expect(fieldEnds('a\tbc\t', ends)).toBe(3);
    expect([...ends]).toEqual([1, 4, 5]);
    expect(fieldEnds('x', ends)).toBe(1);
    expect(fieldEnds('a\tb\tc\td\te', ends)).toBe(4);
  });
});
