// Fuzz properties of enrich's entry points: enrichPayload / enrichPayloads on real and mutated
// CollectorPayloads, and enrichRecords (speed/stream-enrich.ts) on Thrift records that were
// flipped, cut, spliced, or are random bytes. Invariants: never throws, every event accounted
// for, every good line a 131-field TSV line within the size bound, every bad row within its bound.
import fc from 'fast-check';
import { ENRICHED_FIELD_COUNT } from '../../codecs/enriched-tsv';
import { decodeCollectorPayload, encodeCollectorPayload } from '../../codecs/collector-payload';
import { type EnrichResult, enrichPayload, enrichPayloads } from '../../enrich/enrich';
import { enrichRecords, ETL_VERSION } from '../../speed/stream-enrich';
import { type EnricherKind, type Enrichers, buildEnrichers } from './enrichers';
import { byteMutation, mutateBytes } from './hostile-arbitraries';
import { type FuzzPayload, anyPayload, payloadBytes, realPayload } from './payload-arbitraries';
import { checkAccounting, checkBadRow, expectedEvents, must, noThrow, short } from './invariants';
import type { FuzzProperty } from './runner';

const ETL = 1_709_294_010_000;
const enricherKind = fc.constantFrom<EnricherKind>('protocol', 'shipped', 'full');

/** The checks of one payload's result: lines well-formed, bad rows bounded, events accounted for. */
export function checkResult(where: string, fp: FuzzPayload, r: EnrichResult, keptEvents: boolean, maxLine: number): void {
  for (const line of r.lines) {
    must(line.split('\t').length === ENRICHED_FIELD_COUNT, 'tsv-fields', () => `${where}: a good line has ${line.split('\t').length} fields`);
    must(!/[\n\r]/.test(line), 'tsv-one-line', () => `${where}: a good line holds a line break`);
    must(Buffer.byteLength(line) <= maxLine, 'tsv-size', () => `${where}: a good line of ${Buffer.byteLength(line)} bytes > ${maxLine}`);
  }
  for (const row of r.bad) checkBadRow(row, where);
  const { payloadLevel, perEvent } = checkAccounting(where, expectedEvents(fp.payload), r, keptEvents);
  if (fp.real) {
    // A real tracker's request is valid: one good event per event sent, no bad row.
    must(!payloadLevel || fp.events === 1, 'real-payload-failed-whole', () => `${where}: a real ${fp.events}-event request failed whole: ${short(r.bad[0], 800)}`);
    must(r.bad.length === 0 && perEvent === fp.events, 'real-event-bad', () => `${where}: a real request gave ${r.bad.length} bad row(s): ${short(r.bad[0], 1_500)}`);
  }
}

export const enrichPayloadProperty: FuzzProperty<{ kind: EnricherKind; fp: FuzzPayload }, Enrichers> = {
  name: 'enrich: enrichPayload on real and mutated payloads',
  runs: 900,
  arbitrary: fc.record({ kind: enricherKind, fp: anyPayload }),
  async setup() { return buildEnrichers(); },
  async teardown(e) { e.close(); },
  inputBytes: ({ fp }) => payloadBytes(fp.payload),
  async check({ kind, fp }, enrichers) {
    const enricher = enrichers.of(kind);
    const r = await noThrow('enrichPayload', () => enrichPayload(fp.payload, { etlTstamp: ETL, etlVersion: ETL_VERSION, enricher }));
    checkResult(`enrichPayload[${kind}]`, fp, r, true, enricher.maxEnrichedBytes);
  },
};

export const enrichPayloadsProperty: FuzzProperty<{ kind: EnricherKind; fps: FuzzPayload[] }, Enrichers> = {
  name: 'enrich: enrichPayloads on batches, stream path (keepEvents: false)',
  runs: 150,
  arbitrary: fc.record({ kind: enricherKind, fps: fc.array(anyPayload, { minLength: 1, maxLength: 6 }) }),
  async setup() { return buildEnrichers(); },
  async teardown(e) { e.close(); },
  inputBytes: ({ fps }) => fps.reduce((n, fp) => n + payloadBytes(fp.payload), 0),
  async check({ kind, fps }, enrichers) {
    const enricher = enrichers.of(kind);
    const results = await noThrow('enrichPayloads', () => enrichPayloads(fps.map((f) => f.payload), { etlTstamp: ETL, etlVersion: ETL_VERSION, enricher, keepEvents: false }));
    must(results.length === fps.length, 'accounting-results', () => `enrichPayloads gave ${results.length} results for ${fps.length} payloads`);
    results.forEach((r, i) => {
      must(r.good.length === 0, 'keep-events-false', () => `enrichPayloads kept ${r.good.length} event objects with keepEvents: false`);
      checkResult(`enrichPayloads[${kind}] #${i}`, fps[i], r, false, enricher.maxEnrichedBytes);
    });
  },
};

/** A raw record: a real or mutated payload's Thrift bytes, damaged or not, or bytes from nowhere. */
const rawRecord = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.oneof(realPayload, anyPayload), fc.array(byteMutation, { maxLength: 4 })).map(([fp, ms]) => ({ fp, data: safeEncode(fp, ms) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => ({ fp: undefined, data: Buffer.from(b) })) },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(0), Buffer.from([0]), Buffer.from([0x0b, 0x00, 0x64, 0x7f, 0xff, 0xff, 0xff]), Buffer.from([0x0f, 0x01, 0x5e, 0x0b, 0x7f, 0xff, 0xff, 0xff])).map((data) => ({ fp: undefined, data })) },
);

function safeEncode(fp: FuzzPayload, ms: Parameters<typeof mutateBytes>[1]): Buffer {
  try {
    return mutateBytes(encodeCollectorPayload(fp.payload), ms);
  } catch {
    return mutateBytes(Buffer.from(JSON.stringify(fp.payload)), ms); // a payload Thrift cannot hold (a float timestamp)
  }
}

export const enrichRecordsProperty: FuzzProperty<{ kind: EnricherKind; records: { fp?: FuzzPayload; data: Buffer }[] }, Enrichers> = {
  name: 'speed: enrichRecords on flipped, cut, spliced and random Thrift records',
  runs: 300,
  arbitrary: fc.record({ kind: fc.constantFrom<EnricherKind>('protocol', 'shipped'), records: fc.array(rawRecord, { minLength: 1, maxLength: 8 }) }),
  async setup() { return buildEnrichers(); },
  async teardown(e) { e.close(); },
  inputBytes: ({ records }) => records.reduce((n, r) => n + r.data.length, 0),
  async check({ kind, records }, enrichers) {
    const enricher = enrichers.of(kind);
    const stream = records.map((r, i) => ({ data: r.data, sequenceNumber: String(i), partitionKey: 'k', arrivalMs: ETL }));
    const out = await noThrow('enrichRecords', () => enrichRecords(stream, ETL, enricher));
    for (const row of out.bad) checkBadRow(row, 'enrichRecords');
    // The stream path's totals are the records' own: one bad row per undecodable record, else the payload's outcomes.
    let lines = 0;
    let bad = 0;
    for (const r of records) {
      let decoded;
      try { decoded = decodeCollectorPayload(r.data); } catch { bad++; continue; }
      const one = enrichPayload(decoded, { etlTstamp: ETL, etlVersion: ETL_VERSION, enricher });
      checkAccounting('enrichRecords (per record)', expectedEvents(decoded), one, true);
      lines += one.lines.length;
      bad += one.bad.length;
    }
    must(out.good.length === lines && out.bad.length === bad, 'accounting-records', () =>
      `enrichRecords gave ${out.good.length} lines + ${out.bad.length} bad rows; its records one by one give ${lines} + ${bad}`);
  },
};
