// Self-describing bad rows in Snowplow's format (snowplow-badrows 2.x, schemas in iglu-central under
// com.snowplowanalytics.snowplow.badrows). Shapes follow those schemas so Snowplow's recovery
// tooling and our own can read them; every row keeps enough of the input to replay it.
import { overBytes, truncateUtf8 } from '../codecs/bounded-json';
import type { CollectorPayload } from '../codecs/collector-payload';
import { isUuid } from '../codecs/uuid';

export const BAD_ROW_VENDOR = 'com.snowplowanalytics.snowplow.badrows';

export const BAD_ROW_SCHEMAS = {
  collector_payload_format_violation: `iglu:${BAD_ROW_VENDOR}/collector_payload_format_violation/jsonschema/1-0-0`,
  adapter_failures: `iglu:${BAD_ROW_VENDOR}/adapter_failures/jsonschema/1-0-0`,
  tracker_protocol_violations: `iglu:${BAD_ROW_VENDOR}/tracker_protocol_violations/jsonschema/1-0-1`,
  schema_violations: `iglu:${BAD_ROW_VENDOR}/schema_violations/jsonschema/2-0-1`,
  enrichment_failures: `iglu:${BAD_ROW_VENDOR}/enrichment_failures/jsonschema/2-0-1`,
  size_violation: `iglu:${BAD_ROW_VENDOR}/size_violation/jsonschema/1-0-0`,
  generic_error: `iglu:${BAD_ROW_VENDOR}/generic_error/jsonschema/1-0-0`,
} as const;

export type BadRowType = keyof typeof BAD_ROW_SCHEMAS;

export const PROCESSOR_ARTIFACT = 'sluice-enrich';

export interface Processor { artifact: string; version: string }

/** A query-string parameter; value is null for a bare `name` without `=`. */
export interface NVP { name: string; value: string | null }

// ---- failure messages (FailureDetails in snowplow-badrows) ----
export interface InputData { field: string; value: string | null; expectation: string }
export interface NotJson { field: string; value: string | null; error: string }
export type ParseError = 'INVALID_SCHEMAVER' | 'INVALID_IGLUURI' | 'INVALID_DATA_PAYLOAD' | 'INVALID_SCHEMA';
export interface NotIglu { json: unknown; error: ParseError }
export interface CriterionMismatch { schemaKey: string; schemaCriterion: string }
export interface SchemaMapping { actual: string | null; expectedMapping: Record<string, string>; expectation: string }
export interface IgluError { schemaKey: string; error: unknown }

export type TrackerProtocolViolation = InputData | NotJson | NotIglu | CriterionMismatch | IgluError;
export type AdapterFailure = InputData | NotJson | NotIglu | SchemaMapping;
export type CPFormatViolationMessage =
  | { payloadField: string; value: string | null; expectation: string }
  | { error: string };
export type SchemaViolation = NotJson | NotIglu | CriterionMismatch | IgluError;
export interface EnrichmentFailure {
  enrichment: { schemaKey: string; identifier: string } | null;
  message: InputData | { error: string } | IgluError;
}

// ---- payloads (Payload in snowplow-badrows) ----
/** Snowplow's `Payload.CollectorPayload`: the decoded collector payload, replayable by recovery. */
/** The request context both payload shapes carry. */
interface RequestContext {
  vendor: string;
  version: string;
  contentType: string | null;
  encoding: string;
  hostname: string | null;
  timestamp: string | null;
  ipAddress: string | null;
  useragent: string | null;
  refererUri: string | null;
  headers: string[];
}

export interface BadRowCollectorPayload extends RequestContext {
  querystring: NVP[];
  body: string | null;
  collector: string;
  networkUserId: string | null;
}

/** Snowplow's `Payload.RawEvent`: one event's parameters plus the collector context. */
export interface RawEventPayload extends RequestContext {
  parameters: NVP[];
  loaderName: string;
  userId: string | null;
}

export interface EnrichmentPayload { enriched: Record<string, string | number | null>; raw: RawEventPayload }

interface Data<F, P> { processor: Processor; failure: F; payload: P }
interface Row<T extends BadRowType, F, P> { schema: (typeof BAD_ROW_SCHEMAS)[T]; data: Data<F, P> }

export type BadRow =
  | Row<'collector_payload_format_violation', { timestamp: string; loader: string; message: CPFormatViolationMessage }, string>
  | Row<'adapter_failures', { timestamp: string; vendor: string; version: string; messages: AdapterFailure[] }, BadRowCollectorPayload>
  | Row<'tracker_protocol_violations', { timestamp: string; vendor: string; version: string; messages: TrackerProtocolViolation[] }, BadRowCollectorPayload>
  | Row<'schema_violations', { timestamp: string; messages: SchemaViolation[] }, EnrichmentPayload>
  | Row<'enrichment_failures', { timestamp: string; messages: EnrichmentFailure[] }, EnrichmentPayload>
  | Row<'size_violation', { timestamp: string; maximumAllowedSizeBytes: number; actualSizeBytes: number; expectation: string }, string>
  | Row<'generic_error', { timestamp: string; errors: string[] }, string>;

/** `iglu:…badrows/adapter_failures/jsonschema/1-0-0` → `adapter_failures`. */
export function badRowType(row: { schema: string }): BadRowType {
  const name = /^iglu:com\.snowplowanalytics\.snowplow\.badrows\/([^/]+)\/jsonschema\/[0-9]+-[0-9]+-[0-9]+$/.exec(row.schema)?.[1];
  if (!name || !(name in BAD_ROW_SCHEMAS)) throw new Error(`not a known bad row schema: ${row.schema}`);
  return name as BadRowType;
}

/** The badrows schemas require a processor version matching `^\d+\.\d+\.\d+.*`. */
export function processorFor(etlVersion: string): Processor {
  const v = /\d+\.\d+\.\d+\S*/.exec(String(etlVersion ?? ''))?.[0];
  return { artifact: PROCESSOR_ARTIFACT, version: v ?? '0.0.0' };
}

/** ISO-8601 instant, or null when the input is not a representable time. */
export function isoInstant(ms: unknown): string | null {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  // RFC 3339 date-times (the badrows schemas' format) have four-digit years.
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 0 || d.getUTCFullYear() > 9999 ? null : d.toISOString();
}

const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Snowplow's bad-row form of a collector payload. `body` can be narrowed to one event. */
export function toBadRowCollectorPayload(
  cp: CollectorPayload,
  api: { vendor: string; version: string },
  querystring: NVP[],
  body: string | null = strOrNull(cp.body),
): BadRowCollectorPayload {
  const nuid = strOrNull(cp.networkUserId);
  return {
    vendor: api.vendor,
    version: api.version,
    querystring,
    contentType: strOrNull(cp.contentType),
    body,
    collector: String(cp.collector ?? ''),
    encoding: String(cp.encoding ?? ''),
    hostname: strOrNull(cp.hostname),
    timestamp: isoInstant(cp.timestamp),
    ipAddress: strOrNull(cp.ipAddress),
    useragent: strOrNull(cp.userAgent),
    refererUri: strOrNull(cp.refererUri),
    headers: Array.isArray(cp.headers) ? cp.headers.filter((h) => typeof h === 'string') : [],
    // The schema types this as a UUID; anything else cannot be carried in this field.
    networkUserId: nuid && isUuid(nuid) ? nuid : null,
  };
}

/** Snowplow's `RawEvent` payload for enrichment-stage bad rows. */
export function toRawEventPayload(cp: BadRowCollectorPayload, parameters: NVP[], loaderName = 'thrift'): RawEventPayload {
  return {
    vendor: cp.vendor, version: cp.version, parameters, contentType: cp.contentType, loaderName,
    encoding: cp.encoding, hostname: cp.hostname, timestamp: cp.timestamp, ipAddress: cp.ipAddress,
    useragent: cp.useragent, refererUri: cp.refererUri, headers: cp.headers, userId: cp.networkUserId,
  };
}

/** JSON.stringify that never throws (cycles, BigInt, throwing getters): for payloads of last-resort bad rows. */
export function safeStringify(v: unknown): string {
  const replacer = (_k: string, x: unknown) => (typeof x === 'bigint' ? x.toString() : x);
  try {
    return JSON.stringify(v, replacer) ?? String(v);
  } catch {
    // Keep whatever properties can still be read, so the row stays recoverable.
    if (v !== null && typeof v === 'object') {
      const readable: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        try { JSON.stringify((readable[k] = (v as Record<string, unknown>)[k]), replacer); } catch { readable[k] = '[unreadable]'; }
      }
      try { return JSON.stringify(readable, replacer); } catch { /* fall through */ }
    }
    try { return String(v); } catch { return '[unserialisable payload]'; }
  }
}

const ts = (at: number): string => isoInstant(at) ?? new Date().toISOString();

/**
 * Every bad row Sluice writes is at most this many UTF-8 bytes serialised: under Kinesis's 1 MiB
 * record cap with room for the partition key, and what `sluice.bad_rows` and the bad files hold.
 */
export const MAX_BAD_ROW_BYTES = 1_000_000;

function processorOf(row: unknown): Processor {
  const p = (row as { data?: { processor?: unknown } } | null)?.data?.processor as Partial<Processor> | undefined;
  return p && typeof p.artifact === 'string' && typeof p.version === 'string' ? { artifact: p.artifact.slice(0, 256), version: p.version.slice(0, 256) } : processorFor('');
}

function failureTime(row: unknown): number {
  const t = (row as { data?: { failure?: { timestamp?: unknown } } } | null)?.data?.failure?.timestamp;
  const ms = typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : Date.now();
}

/** The row's payload (what recovery replays) when it serialises on its own, else what of the row can be read. */
function readablePayload(row: BadRow): string {
  try {
    const p: unknown = (row as { data?: { payload?: unknown } }).data?.payload;
    const text = typeof p === 'string' ? p : JSON.stringify(p);
    if (typeof text === 'string') return text;
  } catch {
    // fall through
  }
  return safeStringify(row);
}

/**
 * A bad row as the JSON line every sink writes: never throws, never over `maxBytes`. A row too
 * big becomes a size_violation whose payload is the row's own JSON cut to a tenth of the limit
 * (as Snowplow's sinks do); a row that cannot be serialised at all (a cycle, a value nested past
 * what JSON.stringify can walk) becomes a generic_error carrying what of it can still be read.
 */
export function badRowJson(row: BadRow, maxBytes = MAX_BAD_ROW_BYTES): string {
  let text: string | undefined;
  let error: string | undefined;
  try {
    text = JSON.stringify(row);
  } catch (err) {
    error = err instanceof Error ? `${err.name}: ${err.message}` : 'unserialisable';
  }
  if (text !== undefined && overBytes(text, maxBytes) === null) return text;
  const keep = Math.floor(maxBytes / 10);
  const fallback = text !== undefined
    ? sizeViolation(processorOf(row), failureTime(row), truncateUtf8(text, keep), maxBytes, Buffer.byteLength(text, 'utf8'),
      `bad row of type ${typeof row?.schema === 'string' ? row.schema.slice(0, 200) : 'unknown'} exceeded the maximum allowed size as number of bytes`)
    : genericError(processorOf(row), failureTime(row), truncateUtf8(readablePayload(row), keep), [`the bad row could not be serialised (${error})`]);
  return JSON.stringify(fallback);
}

// ---- builders ----
export function cpFormatViolation(processor: Processor, at: number, payload: string, message: CPFormatViolationMessage, loader = 'thrift'): BadRow {
  return { schema: BAD_ROW_SCHEMAS.collector_payload_format_violation, data: { processor, failure: { timestamp: ts(at), loader, message }, payload } };
}

export function adapterFailures(processor: Processor, at: number, payload: BadRowCollectorPayload, messages: AdapterFailure[]): BadRow {
  return {
    schema: BAD_ROW_SCHEMAS.adapter_failures,
    data: { processor, failure: { timestamp: ts(at), vendor: payload.vendor, version: payload.version, messages }, payload },
  };
}

export function trackerProtocolViolations(processor: Processor, at: number, payload: BadRowCollectorPayload, messages: TrackerProtocolViolation[]): BadRow {
  return {
    schema: BAD_ROW_SCHEMAS.tracker_protocol_violations,
    data: { processor, failure: { timestamp: ts(at), vendor: payload.vendor, version: payload.version, messages }, payload },
  };
}

export function schemaViolations(processor: Processor, at: number, payload: EnrichmentPayload, messages: SchemaViolation[]): BadRow {
  return { schema: BAD_ROW_SCHEMAS.schema_violations, data: { processor, failure: { timestamp: ts(at), messages }, payload } };
}

export function enrichmentFailures(processor: Processor, at: number, payload: EnrichmentPayload, messages: EnrichmentFailure[]): BadRow {
  return { schema: BAD_ROW_SCHEMAS.enrichment_failures, data: { processor, failure: { timestamp: ts(at), messages }, payload } };
}

/** `payload` is the record truncated to what fits (Snowplow keeps a prefix). */
export function sizeViolation(processor: Processor, at: number, payload: string, maximumAllowedSizeBytes: number, actualSizeBytes: number, expectation: string): BadRow {
  return {
    schema: BAD_ROW_SCHEMAS.size_violation,
    data: { processor, failure: { timestamp: ts(at), maximumAllowedSizeBytes, actualSizeBytes, expectation }, payload },
  };
}

export function genericError(processor: Processor, at: number, payload: string, errors: string[]): BadRow {
  return {
    schema: BAD_ROW_SCHEMAS.generic_error,
    data: { processor, failure: { timestamp: ts(at), errors: errors.length ? errors : ['unknown error'] }, payload },
  };
}
