import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLLECTOR_PAYLOAD_SCHEMA, decodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { splitToRecords } from '../../collector/split';
import { BAD_ROW_SCHEMAS } from '../../enrich/bad-rows';

const PAYLOAD_DATA = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4';
const processor = { artifact: 'sluice-collector', version: '0.1.0' };
const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);

function post(events: unknown[], extra: Partial<CollectorPayload> = {}): CollectorPayload {
  return {
    schema: COLLECTOR_PAYLOAD_SCHEMA,
    ipAddress: '203.0.113.7',
    timestamp: NOW,
    encoding: 'UTF-8',
    collector: 'sluice-collector-0.1.0-kinesis',
    path: '/com.snowplowanalytics.snowplow/tp2',
    querystring: '',
    body: JSON.stringify({ schema: PAYLOAD_DATA, data: events }),
    headers: ['Host: c.example.com', 'application/json'],
    contentType: 'application/json',
    hostname: 'c.example.com',
    networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
    ...extra,
  };
}
const event = (i: number, size: number) => ({ e: 'pv', eid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, url: `https://example.com/${'x'.repeat(size)}` });
const eventsOf = (records: Buffer[]) => records.flatMap((r) => (JSON.parse(decodeCollectorPayload(r).body!) as { data: { eid: string }[] }).data);

describe('splitToRecords', () => {
  it('keeps a payload that fits as one record', () => {
    const cp = post([event(1, 10)]);
    const { good, bad } = splitToRecords(cp, 10_000, processor, NOW);
    expect(bad).toEqual([]);
    expect(good).toHaveLength(1);
    expect(decodeCollectorPayload(good[0])).toEqual(cp);
  });

  it('splits an oversized POST on its data array, every event kept once, in order, each record within the limit', () => {
    const events = Array.from({ length: 40 }, (_, i) => event(i, 200 + (i % 7) * 50));
    const cp = post(events);
    const max = 2_000;
    const { good, bad } = splitToRecords(cp, max, processor, NOW);
    expect(bad).toEqual([]);
    expect(good.length).toBeGreaterThan(1);
    for (const r of good) expect(r.length).toBeLessThanOrEqual(max);
    expect(eventsOf(good)).toEqual(events);
    // Every other field is the request's own.
    for (const r of good) {
      const { body, ...rest } = decodeCollectorPayload(r);
      const { body: _b, ...want } = cp;
      expect(rest).toEqual(want);
      expect(JSON.parse(body!).schema).toBe(PAYLOAD_DATA);
    }
  });

  it('packs greedily: no two neighbouring records would have fitted in one', () => {
    const events = Array.from({ length: 30 }, (_, i) => event(i, 100 + i * 13));
    const max = 1_500;
    const { good } = splitToRecords(post(events), max, processor, NOW);
    const sizes = good.map((r) => r.length);
    const empty = splitToRecords(post([]), 1e9, processor, NOW).good[0].length;
    for (let i = 1; i < sizes.length; i++) {
      // Both records' events in one: sizes minus one empty envelope, plus a comma.
      expect(sizes[i - 1] + sizes[i] - empty + 1).toBeGreaterThan(max);
    }
  });

  it('turns an event too big on its own into a size_violation bad row, keeping the others', () => {
    const events = [event(1, 50), event(2, 5_000), event(3, 50)];
    const { good, bad } = splitToRecords(post(events), 2_000, processor, NOW);
    expect(eventsOf(good).map((e) => e.eid)).toEqual([events[0].eid, events[2].eid]);
    expect(bad).toHaveLength(1);
    const row = bad[0] as { schema: string; data: { processor: unknown; failure: Record<string, unknown>; payload: string } };
    expect(row.schema).toBe(BAD_ROW_SCHEMAS.size_violation);
    expect(row.data.processor).toEqual(processor);
    expect(row.data.failure).toEqual({
      timestamp: new Date(NOW).toISOString(),
      maximumAllowedSizeBytes: 2_000,
      actualSizeBytes: Buffer.byteLength(JSON.stringify(events[1])),
      expectation: 'oversized collector payload: this POST request split is still too large',
    });
    // Snowplow keeps a prefix of a tenth of the limit.
    expect(row.data.payload.length).toBe(200);
    expect(row.data.payload).toContain('"ipAddress":"203.0.113.7"');
  });

  it('a payload that cannot be split becomes one bad row: GET, non-JSON, no data array, headers alone too big', () => {
    const cases: [CollectorPayload, string][] = [
      [{ ...post([]), body: undefined, querystring: `e=pv&url=${'x'.repeat(3_000)}` }, 'GET requests cannot be split'],
      [{ ...post([]), body: `not json ${'x'.repeat(3_000)}` }, 'not json'],
      [{ ...post([]), body: JSON.stringify({ schema: PAYLOAD_DATA, data: { e: 'x'.repeat(3_000) } }) }, 'do not contain a data array'],
      [{ ...post([]), body: JSON.stringify(['x'.repeat(3_000)]) }, 'not self-describing'],
      [post([event(1, 10)], { headers: ['X: ' + 'h'.repeat(3_000)] }), 'event without "data" field is still too big'],
    ];
    for (const [cp, why] of cases) {
      const { good, bad } = splitToRecords(cp, 2_000, processor, NOW);
      expect(good).toEqual([]);
      expect(bad).toHaveLength(1);
      const failure = (bad[0] as { data: { failure: { expectation: string; actualSizeBytes: number } } }).data.failure;
      expect(failure.expectation).toContain(why);
      expect(failure.actualSizeBytes).toBeGreaterThan(2_000);
    }
  });

  it('never loses an event: each lands in exactly one good record or one bad row (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3_000 }), { maxLength: 40 }), fc.integer({ min: 1_200, max: 6_000 }), (sizes, max) => {
        const events = sizes.map((s, i) => event(i, s));
        const { good, bad } = splitToRecords(post(events), max, processor, NOW);
        for (const r of good) expect(r.length).toBeLessThanOrEqual(max);
        const kept = eventsOf(good).map((e) => e.eid);
        const fitsWhole = good.length === 1 && bad.length === 0;
        if (!fitsWhole) expect(kept.length + bad.length).toBe(events.length);
        expect(new Set(kept).size).toBe(kept.length);
        expect(kept).toEqual(events.map((e) => e.eid).filter((eid) => kept.includes(eid)));
      }),
      { numRuns: 200 },
    );
  });
});
