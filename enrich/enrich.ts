// Enrich: CollectorPayload → enriched events (good) and bad rows, a pure function of (payloads,
// enrichment config, schemas). Contract: never throws, and every input event ends up either as a
// good event or in exactly one bad row (a payload-level failure gives one bad row for all of its
// events; a per-event bad row carries the payload narrowed to that event).
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { CollectorPayload } from '../codecs/collector-payload';
import { type EnrichedEvent, formatTstamp, newEnrichedEvent, toEnrichedTsvTrusted } from '../codecs/enriched-tsv';
import {
  type BadRow, type BadRowCollectorPayload, type NVP, type Processor,
  adapterFailures, cpFormatViolation, enrichmentFailures, genericError, processorFor, safeStringify, schemaViolations,
  sizeViolation, toBadRowCollectorPayload, toRawEventPayload, trackerProtocolViolations,
} from './bad-rows';
import { type Api, type RawEventResult, extractRawEvents, paramsToNvps } from './adapters';
import { UNSTRUCT_EVENT_SCHEMA } from './adapters/redirect';
import type { EnrichmentRegistry } from './enrichments/registry';
import { PII_TRANSFORMATION, type PiiTransformation } from './enrichments/pii';
import { partialEvent } from './event/atomic';
import { toTsvSafe } from './event/conversions';
import { type Iglu, createIglu } from './iglu';
import { parseSchemaUri } from './iglu/schema-key';
import { enrichRawEvent } from './pipeline';

export { derivedTstamp } from './pipeline';
export { PLATFORMS, EVENT_TYPES } from './event/transform';

/** Kinesis caps a record at 1 MiB: a longer enriched line becomes a size_violation bad row. */
export const DEFAULT_MAX_ENRICHED_BYTES = 1_000_000;

export interface Enricher {
  iglu: Iglu;
  enrichments: EnrichmentRegistry;
  maxEnrichedBytes: number;
}

export interface EnrichContext {
  etlTstamp: number;
  etlVersion: string;
  /** Schemas, resolver and enrichments; default: the local registry and no enrichments. */
  enricher?: Enricher;
  /** false: return only the TSV lines, not the event objects (the stream path needs no more). */
  keepEvents?: boolean;
}

export interface EnrichResult {
  /** The good events (empty when the context says keepEvents: false). */
  good: EnrichedEvent[];
  /** The TSV line of each good event, in the same order. */
  lines: string[];
  bad: BadRow[];
  /** Schema URIs only a remote registry can answer: enrichPayloads() fetches them and runs again. */
  pending?: string[];
}

let baseEnricher: Enricher | undefined;
/** The local registry in schemas/ and no enrichments. */
export function protocolOnlyEnricher(): Enricher {
  baseEnricher ??= { iglu: createIglu({ schemasDir: fileURLToPath(new URL('../schemas/', import.meta.url)) }), enrichments: {}, maxEnrichedBytes: DEFAULT_MAX_ENRICHED_BYTES };
  return baseEnricher;
}

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : safeStringify(err));

/** A per-event bad row carries the payload narrowed to that one event, so replaying it cannot duplicate its neighbours. */
function eventPayload(cp: CollectorPayload, api: Api, querystring: NVP[], bodySchema: string | null, raw: RawEventResult): BadRowCollectorPayload {
  const body = bodySchema === null ? undefined : JSON.stringify({ schema: bodySchema, data: [raw.source] });
  return toBadRowCollectorPayload(cp, api, querystring, body);
}

function piiEvent(parent: EnrichedEvent, pii: PiiTransformation, etlText: string): EnrichedEvent {
  const e: EnrichedEvent = {
    platform: 'srv', etl_tstamp: parent.etl_tstamp, collector_tstamp: parent.collector_tstamp, event: 'pii_transformation',
    event_id: randomUUID(), v_collector: parent.v_collector, v_etl: parent.v_etl,
    unstruct_event: JSON.stringify({ schema: UNSTRUCT_EVENT_SCHEMA, data: { schema: PII_TRANSFORMATION, data: pii } }),
    contexts: JSON.stringify({
      schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0',
      data: [{ schema: 'iglu:com.snowplowanalytics.snowplow/parent_event/jsonschema/1-0-0', data: { parentEventId: parent.event_id } }],
    }),
    derived_tstamp: etlText, true_tstamp: etlText,
    event_vendor: 'com.snowplowanalytics.snowplow', event_name: 'pii_transformation', event_format: 'jsonschema', event_version: '1-0-0',
  };
  if (parent.app_id !== undefined) e.app_id = parent.app_id;
  return e;
}

function pushGood(out: EnrichResult, e: EnrichedEvent, processor: Processor, at: number, max: number, keep: boolean): void {
  // Every value the pipeline writes is TSV-safe (sanitised or generated), so no second scan.
  const line = toEnrichedTsvTrusted(e);
  // UTF-16 length × 3 bounds the UTF-8 size: only long lines need counting.
  const bytes = line.length * 3 > max ? Buffer.byteLength(line) : 0;
  if (bytes > max) {
    out.bad.push(sizeViolation(processor, at, line.slice(0, Math.floor(max / 10)), max, bytes,
      'event passed enrichment but exceeded the maximum allowed size as number of bytes'));
    return;
  }
  if (keep) out.good.push(e);
  out.lines.push(line);
}

// A batch shares one ETL time: format it once.
let lastEtl = NaN;
let lastEtlText = '';
function etlText(at: number): string {
  if (at !== lastEtl) { lastEtlText = formatTstamp(at); lastEtl = at; }
  return lastEtlText;
}

/** Enriches one payload synchronously. With a remote registry configured, see `pending`. */
export function enrichPayload(payload: CollectorPayload, ctx: EnrichContext): EnrichResult {
  const processor = processorFor(ctx?.etlVersion);
  const at = typeof ctx?.etlTstamp === 'number' && Number.isFinite(ctx.etlTstamp) ? ctx.etlTstamp : Date.now();
  const out: EnrichResult = { good: [], lines: [], bad: [] };
  let enricher: Enricher;
  let extracted: ReturnType<typeof extractRawEvents>;
  try {
    enricher = ctx?.enricher ?? protocolOnlyEnricher();
    extracted = extractRawEvents(payload, enricher.iglu.validator);
    switch (extracted.kind) {
      case 'pending': return { ...out, pending: extracted.schemaUris };
      case 'format_violation':
        out.bad.push(cpFormatViolation(processor, at, safeStringify(payload), extracted.message)); return out;
      case 'adapter_failures':
        out.bad.push(adapterFailures(processor, at, toBadRowCollectorPayload(payload, extracted.api, extracted.querystring), extracted.messages)); return out;
      case 'tracker_protocol_violations':
        out.bad.push(trackerProtocolViolations(processor, at, toBadRowCollectorPayload(payload, extracted.api, extracted.querystring), extracted.messages)); return out;
    }
  } catch (err) {
    return { good: [], lines: [], bad: [genericError(processor, at, safeStringify(payload), [errorText(err)])] };
  }
  const { api, querystring, bodySchema } = extracted;
  const env = {
    validator: enricher.iglu.validator, enrichments: enricher.enrichments,
    etlTstamp: at, etlTstampText: etlText(at), etlVersion: toTsvSafe(String(ctx?.etlVersion ?? '')),
  };
  const pending: string[] = [];
  const keep = ctx.keepEvents !== false;
  let scratch: EnrichedEvent | undefined;
  for (const raw of extracted.events) {
    let recoverable: BadRowCollectorPayload | null = null;
    try {
      if (!raw.ok) {
        out.bad.push(trackerProtocolViolations(processor, at, eventPayload(payload, api, querystring, bodySchema, raw), raw.violations));
        continue;
      }
      // Without keepEvents the event is written out (or copied into a bad row) before the next one.
      const r = enrichRawEvent(raw.params, payload, env, keep ? undefined : (scratch ??= newEnrichedEvent()));
      switch (r.kind) {
        case 'good':
          pushGood(out, r.event, processor, at, enricher.maxEnrichedBytes, keep);
          if (r.pii) pushGood(out, piiEvent(r.event, r.pii, env.etlTstampText), processor, at, enricher.maxEnrichedBytes, keep);
          break;
        case 'pending':
          pending.push(...r.schemaUris);
          break;
        case 'tracker_protocol_violations':
          recoverable = eventPayload(payload, api, querystring, bodySchema, raw);
          out.bad.push(trackerProtocolViolations(processor, at, recoverable, r.violations));
          break;
        case 'schema_violations':
        case 'enrichment_failures': {
          recoverable = eventPayload(payload, api, querystring, bodySchema, raw);
          const p = { enriched: partialEvent(r.partial), raw: toRawEventPayload(recoverable, paramsToNvps(raw.params)) };
          out.bad.push(r.kind === 'schema_violations'
            ? schemaViolations(processor, at, p, r.violations)
            : enrichmentFailures(processor, at, p, r.failures));
          break;
        }
      }
    } catch (err) {
      recoverable ??= (() => { try { return eventPayload(payload, api, querystring, bodySchema, raw); } catch { return null; } })();
      out.bad.push(genericError(processor, at, safeStringify(recoverable ?? payload), [errorText(err)]));
    }
  }
  // A payload is all-or-nothing with respect to remote lookups: it is run again once they are in.
  return pending.length ? { good: [], lines: [], bad: [], pending: [...new Set(pending)] } : out;
}

/**
 * Enriches payloads: a synchronous pass, then the payloads that needed schemas from a remote
 * registry run again once those are fetched (a schema no registry has becomes a bad row).
 */
export async function enrichPayloads(payloads: CollectorPayload[], ctx: EnrichContext): Promise<EnrichResult[]> {
  const results = payloads.map((p) => enrichPayload(p, ctx));
  for (let round = 0; round < 3; round++) {
    const waiting = results.map((r, i) => (r.pending ? i : -1)).filter((i) => i >= 0);
    if (waiting.length === 0) return results;
    const resolver = (ctx.enricher ?? protocolOnlyEnricher()).iglu.resolver;
    const keys = waiting.flatMap((i) => results[i].pending!).map(parseKey);
    await resolver.prefetch(keys.filter((k): k is NonNullable<typeof k> => k !== null));
    for (const i of waiting) results[i] = enrichPayload(payloads[i], ctx);
  }
  // Still pending after fetching (a registry that keeps changing its mind): report, never drop.
  const processor = processorFor(ctx.etlVersion);
  return results.map((r, i) => (r.pending
    ? { good: [], lines: [], bad: [genericError(processor, ctx.etlTstamp, safeStringify(payloads[i]), [`schemas could not be resolved: ${r.pending.join(', ')}`])] }
    : r));
}

function parseKey(uri: string) {
  const k = parseSchemaUri(uri);
  return typeof k === 'string' ? null : k;
}
