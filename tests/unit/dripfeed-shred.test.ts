import { describe, expect, it } from 'vitest';
import { type EnrichedEvent, formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { cachedModels, refuseSchemas, shredRecords } from '../../speed/dripfeed-shred';
import { parseSchemaUri } from '../../warehouse/iglu';
import { planLoad, planLoadPlacing } from '../../warehouse/migration';
import { shredModel } from '../../warehouse/shred-model';

// The dripfeed's pure half: a micro-batch of enriched records → events, bad rows and natural
// duplicates (every record accounted for); the planner placing what it can.

const SELF = 'http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#';
const CLICK = 'iglu:com.acme/click/jsonschema/1-0-0';
const SCHEMAS: Record<string, object> = {
  [CLICK]: { $schema: SELF, self: { vendor: 'com.acme', name: 'click', format: 'jsonschema', version: '1-0-0' }, type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
};
const T0 = Date.UTC(2026, 10, 3, 9, 0, 0);
const id = (n: number) => `aaaaaaaa-0000-4000-8000-${String(n).padStart(12, '0')}`;

function record(seq: number, e: Partial<EnrichedEvent>) {
  const base: EnrichedEvent = { app_id: 'u', platform: 'web', collector_tstamp: formatTstamp(T0 + seq), event: 'page_view', event_id: id(seq), v_collector: 'c', v_etl: 'e', event_fingerprint: `fp${seq}` };
  return { sequenceNumber: String(1000 + seq), arrivalMs: T0 + seq, partitionKey: 'p', data: Buffer.from(toEnrichedTsv({ ...base, ...e })) };
}
const click = (n: unknown, uri = CLICK) => JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema: uri, data: { n } } });

describe('shredRecords', () => {
  it('accounts for every record: events with their rows, bad rows, natural duplicates', async () => {
    const models = cachedModels(async (uri) => SCHEMAS[uri]);
    const records = [
      record(1, {}),
      record(2, { event: 'unstruct', unstruct_event: click(5) }),
      record(3, { event_id: 'not-a-uuid' }),
      record(4, { event: 'unstruct', unstruct_event: click('five') }), // wrong type: loader_iglu_error
      record(5, { event: 'unstruct', unstruct_event: click(1, 'iglu:com.acme/missing/jsonschema/1-0-0') }),
      { ...record(1, {}), sequenceNumber: '1006' }, // the same event again (same fingerprint)
      { ...record(1, { event_fingerprint: 'other' }), sequenceNumber: '1007' }, // same id, other content: synthetic duplicate
      { sequenceNumber: '1008', arrivalMs: T0, partitionKey: 'p', data: Buffer.from('just\ttabs') },
    ];
    const shred = await shredRecords(records, models);
    expect(shred.events.length + shred.bad.length + shred.duplicates).toBe(records.length);
    expect(shred.duplicates).toBe(1);
    const bySeq = new Map(shred.events.map((e) => [e.sequenceNumber, e.event]));
    expect([...bySeq.keys()].sort()).toEqual(['1001', '1002', '1007']);
    expect(bySeq.get('1002')!.rows.map(([uri]) => uri)).toEqual([CLICK]);
    expect([...shred.models.keys()].sort()).toEqual([CLICK, 'iglu:com.snowplowanalytics.snowplow/duplicate/jsonschema/1-0-0']);
    const synthetic = bySeq.get('1007')!;
    expect(synthetic.eventId).not.toBe(id(1));
    expect(synthetic.keys).toEqual([`${synthetic.eventId}\t${formatTstamp(T0 + 1)}`, `${id(1)}\t${formatTstamp(T0 + 1)}`]);
    const badTypes = shred.bad.map((b) => `${b.sequenceNumber}:${(JSON.parse(b.row) as { schema: string }).schema.split('/')[1]}`);
    expect(badTypes.sort()).toEqual(['1003:loader_parsing_error', '1004:loader_iglu_error', '1005:loader_iglu_error', '1008:loader_parsing_error']);
  });

  it('asks the registry again for a schema it did not have, after a minute', async () => {
    let now = T0;
    const registry: Record<string, object> = {};
    let asked = 0;
    const models = cachedModels(async (uri) => (asked++, registry[uri]), () => now);
    const one = [record(1, { event: 'unstruct', unstruct_event: click(1) })];
    expect((await shredRecords(one, models)).bad).toHaveLength(1);
    registry[CLICK] = SCHEMAS[CLICK];
    expect((await shredRecords(one, models)).bad).toHaveLength(1);
    now += 61_000;
    expect((await shredRecords(one, models)).events).toHaveLength(1);
    expect(asked).toBe(2);
  });

  it('refuseSchemas turns the events of refused schemas into loader_iglu_error bad rows', async () => {
    const shred = await shredRecords([record(1, {}), record(2, { event: 'unstruct', unstruct_event: click(2) })], cachedModels(async (uri) => SCHEMAS[uri]));
    const kept = refuseSchemas(shred, new Map([[CLICK, 'no room']]));
    expect(kept.map((e) => e.sequenceNumber)).toEqual(['1001']);
    expect(shred.bad).toHaveLength(1);
    expect(shred.bad[0].row).toContain('the warehouse cannot take this schema: no room');
    expect(shred.models.has(CLICK)).toBe(false);
  });
});

describe('planLoadPlacing', () => {
  const model = (uri: string) => shredModel(parseSchemaUri(uri), { ...SCHEMAS[CLICK], self: { ...(SCHEMAS[CLICK] as { self: object }).self, ...parseSchemaUri(uri), version: uri.split('/').pop() } });
  it('plans what it can place and names what it cannot', () => {
    const placed = model(CLICK);
    const blocked = shredModel(parseSchemaUri('iglu:com.acme/blocked/jsonschema/1-0-0'), { $schema: SELF, self: { vendor: 'com.acme', name: 'blocked', format: 'jsonschema', version: '1-0-0' }, type: 'object', properties: {} });
    const foreign = new Map([['com_acme_blocked_1', { name: 'com_acme_blocked_1', columns: [] }]]);
    const alternative = [...planLoad('postgres', foreign, [blocked]).targets.values()][0];
    foreign.set(alternative, { name: alternative, columns: [] });
    expect(() => planLoad('postgres', foreign, [placed, blocked])).toThrow(/belong to other schemas/);
    const { plan, refused } = planLoadPlacing('postgres', foreign, [blocked, placed]);
    expect([...refused.keys()]).toEqual(['iglu:com.acme/blocked/jsonschema/1-0-0']);
    expect([...plan.targets]).toEqual([[CLICK, 'com_acme_click_1']]);
    expect(planLoadPlacing('postgres', new Map(), [placed]).refused.size).toBe(0);
  });
});
