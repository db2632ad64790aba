import type { StreamRecord } from '../adapters/kinesis';
import { dedupe } from '../batch/dedupe';
import { igluBadRow, notFound } from '../batch/shred-bad-rows';
import { lineCandidate, shredLine, type ModelFor, type ModelOrFailure, type ShreddedEvent } from '../batch/shred-line';
import type { RenderStats } from '../batch/shred-values';
import { parseEnrichedTsv } from '../codecs/enriched-tsv';
import { BUILTIN_SCHEMAS } from '../warehouse/builtin-schemas';
import { assertSelfMatches, type SchemaLookup } from '../warehouse/iglu';
import { shredModel, type ShredModel } from '../warehouse/shred-model';

// The dripfeed's half of shredding: a micro-batch of enriched records → the rows of each event
// and the bad rows of the rest, through the same per-line code as the batch's shred-reduce
// (batch/shred-line.ts). Every record ends as an event, a bad row or a natural duplicate.

export interface DripEvent {
  sequenceNumber: string;
  arrivalMs: number;
  /** The enriched line (for a bad row, should the warehouse refuse one of its schemas). */
  line: string;
  event: ShreddedEvent;
}

export interface DripBadRow {
  sequenceNumber: string;
  arrivalMs: number;
  /** The bad row's JSON (loader_parsing_error / loader_iglu_error). */
  row: string;
}

export interface DripShred {
  events: DripEvent[];
  bad: DripBadRow[];
  /** The table model of every schema version the events' rows use. */
  models: Map<string, ShredModel>;
  /** Natural duplicates within the micro-batch (the first copy is kept). */
  duplicates: number;
  truncated: number;
}

// A schema the registry does not have (yet) is asked for again after this long.
const MISSING_SCHEMA_RETRY_MS = 60_000;

export type CachedModels = ModelFor & { models: Map<string, ShredModel> };

/** Table models from the Iglu lookup, cached per schema version (a missing schema: for a minute). */
export function cachedModels(lookup: SchemaLookup, now = Date.now): CachedModels {
  const models = new Map<string, ShredModel>();
  const cache = new Map<string, { at: number; value: Promise<ModelOrFailure>; missing: boolean }>();
  const load = async (uri: string, key: Parameters<ModelFor>[0]['key']): Promise<ModelOrFailure> => {
    // The lookup failing (registry down) throws: the micro-batch is retried, nothing is a bad row.
    const schema = (await lookup(uri)) ?? BUILTIN_SCHEMAS[uri];
    if (!schema) return { failure: notFound(uri, now()) };
    try {
      assertSelfMatches(key, schema);
      const model = shredModel(key, schema);
      models.set(uri, model);
      return { model };
    } catch (err) {
      return { failure: { schemaKey: uri, message: (err as Error).message } };
    }
  };
  const modelFor: ModelFor = (e) => {
    const hit = cache.get(e.uri);
    if (hit && !(hit.missing && now() - hit.at > MISSING_SCHEMA_RETRY_MS)) return hit.value;
    const entry = { at: now(), value: load(e.uri, e.key), missing: false };
    entry.value.then((m) => void (entry.missing = 'failure' in m), () => cache.delete(e.uri));
    cache.set(e.uri, entry);
    return entry.value;
  };
  return Object.assign(modelFor, { models });
}

/** Shreds one micro-batch (records in shard order, so "the first" duplicate is the same on a retry). */
export async function shredRecords(records: readonly StreamRecord[], modelFor: CachedModels): Promise<DripShred> {
  const bad: DripBadRow[] = [];
  const candidates: { eventId: string; fingerprint: string; item: { line: string; record: StreamRecord } }[] = [];
  for (const record of records) {
    const line = record.data.toString('utf8').replace(/\n$/, '');
    const c = lineCandidate(line);
    if (c === 'outside') continue; // no window here: never
    if ('bad' in c) bad.push({ sequenceNumber: record.sequenceNumber, arrivalMs: record.arrivalMs, row: c.bad });
    else candidates.push({ eventId: c.eventId, fingerprint: c.fingerprint, item: { line, record } });
  }
  const { kept, natural } = dedupe(candidates);
  const stats: RenderStats = { truncated: 0 };
  const events: DripEvent[] = [];
  const models = new Map<string, ShredModel>();
  for (const { item, eventId, originalEventId } of kept) {
    const where = { sequenceNumber: item.record.sequenceNumber, arrivalMs: item.record.arrivalMs };
    const shredded = await shredLine(item.line, eventId, originalEventId, modelFor, stats);
    if ('bad' in shredded) {
      bad.push({ ...where, row: shredded.bad });
      continue;
    }
    for (const [uri] of shredded.event.rows) models.set(uri, modelFor.models.get(uri)!);
    events.push({ ...where, line: item.line, event: shredded.event });
  }
  return { events, bad, models, duplicates: natural, truncated: stats.truncated };
}

/** The events' shredded rows, grouped by schema version URI (one COPY each). */
export function rowsByType(events: readonly DripEvent[]): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (const e of events) {
    for (const [uri, row] of e.event.rows) {
      let rows = byType.get(uri);
      if (!rows) byType.set(uri, (rows = []));
      rows.push(row);
    }
  }
  return byType;
}

/** Bad rows as the bad-rows sink stores them (keyed by where they were read). */
export const badRowInputs = (bad: readonly DripBadRow[]) => bad.map((b) => ({ sequenceNumber: b.sequenceNumber, arrivalMs: b.arrivalMs, data: Buffer.from(b.row) }));

/**
 * Moves the events whose rows use a schema the warehouse refused (the planner could not place
 * it) to bad rows, as loader_iglu_error with the planner's reason; returns the events left.
 */
export function refuseSchemas(shred: DripShred, refused: ReadonlyMap<string, string>): DripEvent[] {
  if (refused.size === 0) return shred.events;
  const kept: DripEvent[] = [];
  for (const e of shred.events) {
    const failures = e.event.rows.filter(([uri]) => refused.has(uri)).map(([uri]) => ({ schemaKey: uri, message: `the warehouse cannot take this schema: ${refused.get(uri)}` }));
    if (failures.length === 0) {
      kept.push(e);
      continue;
    }
    const parsed = parseEnrichedTsv(e.line);
    shred.bad.push({ sequenceNumber: e.sequenceNumber, arrivalMs: e.arrivalMs, row: igluBadRow({ ...parsed, event_id: e.event.eventId }, failures) });
  }
  for (const uri of refused.keys()) shred.models.delete(uri);
  return kept;
}
