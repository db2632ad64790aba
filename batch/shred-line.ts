import { createHash } from 'node:crypto';
import { ENRICHED_FIELD_COUNT, ENRICHED_FIELDS, parseEnrichedTsv, parseTstamp } from '../codecs/enriched-tsv';
import { isUuid } from '../codecs/uuid';
import { describeError, isRecordError } from '../speed/poison';
import { parseSchemaUri } from '../warehouse/iglu';
import type { ShredModel } from '../warehouse/shred-model';
import { DUPLICATE_SCHEMA_URI } from './dedupe';
import { atomicRowFromFields, atomicRowFromLine, copySafeLine, fieldEnds } from './shred-atomic';
import { igluBadRow, type IgluFailure, parsingBadRow } from './shred-bad-rows';
import { entitiesOf, type Entity } from './shred-event';
import { type RenderStats, shreddedRow, ValueError } from './shred-values';

// One enriched line → its atomic.events row, its shredded rows and its identity, or its bad row.
// The batch's shred-reduce and the speed layer's warehouse dripfeed run the same code, so an event
// loads into the same rows whichever path loads it (docs/warehouse.md, "Dripfeed and batch").

export const EVENT_ID = ENRICHED_FIELDS.indexOf('event_id');
const FINGERPRINT = ENRICHED_FIELDS.indexOf('event_fingerprint');
export const COLLECTOR_TSTAMP = ENRICHED_FIELDS.indexOf('collector_tstamp');
export const ENTITY_FIELDS = (['contexts', 'unstruct_event', 'derived_contexts'] as const).map((f) => ENRICHED_FIELDS.indexOf(f));

// Fields read from a line without splitting all of it (ascending positions, as pickFields needs).
const KEY_FIELDS = [COLLECTOR_TSTAMP, EVENT_ID, FINGERPRINT];
const keyScratch: string[] = [];
const ENDS = new Int32Array(ENRICHED_FIELD_COUNT);

/**
 * Copies the fields at `positions` (ascending) of a tab-separated line into `out`, in that order,
 * and returns the line's field count. A line split whole costs one string per field (~130);
 * routing and de-duplication read three or four of them.
 */
export function pickFields(line: string, positions: readonly number[], out: string[]): number {
  out.length = 0;
  let want = 0;
  let field = 0;
  for (let start = 0; ; field++) {
    const tab = line.indexOf('\t', start);
    if (want < positions.length && positions[want] === field) {
      out.push(line.slice(start, tab < 0 ? line.length : tab));
      want++;
    }
    if (tab < 0) return field + 1;
    start = tab + 1;
  }
}

/** What a first pass reads of a line, without splitting all of it. */
export interface LineKeys {
  fieldCount: number;
  eventId: string;
  collectorTstamp: string;
  fingerprint: string;
}

export function lineKeys(line: string): LineKeys {
  const fieldCount = pickFields(line, KEY_FIELDS, keyScratch);
  const [collectorTstamp = '', eventId = '', fingerprint = ''] = keyScratch;
  return { fieldCount, eventId, collectorTstamp, fingerprint };
}

/** A reprocess replays whole files; only the window's events are replaced (malformed times are not in it). */
function inWindow(collectorTstamp: string, window: { from: number; to: number }): boolean {
  try {
    const t = parseTstamp(collectorTstamp);
    return t >= window.from && t < window.to;
  } catch {
    return false;
  }
}

/** A line's de-duplication candidate, the bad row of a line that cannot be one, or 'outside' the window. */
export type LineCandidate = { bad: string } | { eventId: string; fingerprint: string; collectorTstamp: string } | 'outside';

export function lineCandidate(line: string, window?: { from: number; to: number }): LineCandidate {
  const { fieldCount, eventId, collectorTstamp, fingerprint } = lineKeys(line);
  if (fieldCount !== ENRICHED_FIELD_COUNT) return { bad: parsingBadRow(line, { type: 'FieldNumberMismatch', fieldCount }) };
  if (window && !inWindow(collectorTstamp, window)) return 'outside';
  if (!isUuid(eventId)) {
    return { bad: parsingBadRow(line, { type: 'RowDecodingError', errors: [{ type: 'InvalidValue', key: 'event_id', value: eventId, message: 'not a UUID' }] }) };
  }
  // A line without a fingerprint is de-duplicated on its whole content.
  return { eventId, collectorTstamp, fingerprint: fingerprint || `line:${createHash('sha1').update(line).digest('hex')}` };
}

export type ModelOrFailure = { model: ShredModel } | { failure: IgluFailure };
/** The table model of an entity's schema (cached by the caller), or why there is none. */
export type ModelFor = (e: Entity) => Promise<ModelOrFailure>;

export interface ShreddedEvent {
  /** The atomic.events row (COPY text format). */
  atomic: string;
  /** The event's identities for "the batch wins": `event_id \t collector_tstamp`, and the original id's for a synthetic duplicate. */
  keys: string[];
  /** Its shredded rows, by schema version URI. */
  rows: [string, string][];
  eventId: string;
  collectorTstamp: string;
  tstampMs: number;
}

export type ShreddedLine = { event: ShreddedEvent } | { bad: string; unhandled?: string };

/**
 * Shreds one de-duplicated line. What the line's content makes throw becomes its bad row
 * (`unhandled` says why); the object store or a schema lookup failing is not the line's and throws.
 */
export async function shredLine(line: string, eventId: string, originalEventId: string | undefined, modelFor: ModelFor, stats: RenderStats): Promise<ShreddedLine> {
  try {
    // What the line's fields give is read before the first await below: ENDS is shared scratch.
    const whole = fieldEnds(line, ENDS) === ENRICHED_FIELD_COUNT;
    const fields = whole ? undefined : line.split('\t');
    const field = (i: number) => (whole ? line.slice(i === 0 ? 0 : ENDS[i - 1] + 1, ENDS[i]) : fields![i]);
    const row = whole ? atomicRowFromLine(line, ENDS, eventId, stats) : atomicRowFromFields(fields!, eventId, copySafeLine(line), stats);
    if ('errors' in row) return { bad: parsingBadRow(line, { type: 'RowDecodingError', errors: row.errors }) };
    const [contexts, unstruct, derived] = ENTITY_FIELDS.map(field);
    const { entities, problems } = entitiesOf({ contexts, unstruct_event: unstruct, derived_contexts: derived });
    if (originalEventId) {
      entities.push({ field: 'derived_contexts', uri: DUPLICATE_SCHEMA_URI, key: parseSchemaUri(DUPLICATE_SCHEMA_URI), data: { originalEventId } });
    }
    const collectorTstamp = field(COLLECTOR_TSTAMP);
    const failures: IgluFailure[] = problems.map((p) => ({ schemaKey: p.uri ?? p.field, message: p.message }));
    const rows: [string, string][] = [];
    for (const e of entities) {
      const m = await modelFor(e);
      if ('failure' in m) {
        failures.push(m.failure);
        continue;
      }
      try {
        rows.push([e.uri, shreddedRow(m.model, eventId, collectorTstamp, e.data, stats)]);
      } catch (err) {
        if (!(err instanceof ValueError)) throw err;
        failures.push({ schemaKey: e.uri, value: err.value ?? null, expected: `${err.column}: ${err.expected}` });
      }
    }
    if (failures.length) {
      const parsed = parseEnrichedTsv(line);
      return { bad: igluBadRow(eventId === parsed.event_id ? parsed : { ...parsed, event_id: eventId }, failures) };
    }
    const tstampMs = parseTstamp(collectorTstamp);
    const keys = [`${eventId}\t${collectorTstamp}`];
    if (originalEventId && originalEventId !== eventId) keys.push(`${originalEventId}\t${collectorTstamp}`);
    return { event: { atomic: row.row, keys, rows, eventId, collectorTstamp, tstampMs } };
  } catch (err) {
    if (!isRecordError(err)) throw err;
    const message = describeError(err);
    return { bad: parsingBadRow(line, { type: 'RowDecodingError', errors: [{ type: 'UnhandledRowDecodingError', message }] }), unhandled: message };
  }
}
