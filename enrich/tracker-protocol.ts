// Snowplow tracker protocol adapters: a CollectorPayload → raw events (parameter maps).
// Mirrors the checks of Snowplow enrich's loader (path/querystring → format violations) and its
// Tp1/Tp2 adapters (payload-level failures), but reports broken items of a POST body per event,
// so one bad event in a batch does not take its neighbours down with it.
import type { CollectorPayload } from '../codecs/collector-payload';
import type {
  AdapterFailure, CPFormatViolationMessage, NVP, TrackerProtocolViolation,
} from './bad-rows';

export const SNOWPLOW_VENDOR = 'com.snowplowanalytics.snowplow';
export const COLLECTOR_PAYLOAD_SCHEMA_PREFIX = `iglu:${SNOWPLOW_VENDOR}/CollectorPayload/thrift/1-`;
export const PAYLOAD_DATA_CRITERION = `iglu:${SNOWPLOW_VENDOR}/payload_data/jsonschema/1-0-*`;

export interface Api { vendor: string; version: string }
export type RawEventParams = Record<string, string>;

/** One event of the payload. `source` is the body item as sent (undefined for GET). */
export type RawEventResult =
  | { ok: true; params: RawEventParams; source: unknown }
  | { ok: false; violations: TrackerProtocolViolation[]; source: unknown };

export type ExtractResult =
  | { kind: 'format_violation'; message: CPFormatViolationMessage }
  | { kind: 'adapter_failures'; api: Api; querystring: NVP[]; messages: AdapterFailure[] }
  | { kind: 'tracker_protocol_violations'; api: Api; querystring: NVP[]; messages: TrackerProtocolViolation[] }
  | { kind: 'events'; api: Api; querystring: NVP[]; bodySchema: string | null; events: RawEventResult[] };

const API_PATH_RE = /^\/?([^/]+)\/([^/]+)\/?$/;

/** `/i` and `/ice.png` are tracker protocol v1 pixels; otherwise `/{vendor}/{version}`. */
export function parseApiPath(path: string | undefined): Api | null {
  if (typeof path !== 'string') return null;
  if (path === '/i' || path === '/ice.png' || path === 'i' || path === 'ice.png') {
    return { vendor: SNOWPLOW_VENDOR, version: 'tp1' };
  }
  const m = API_PATH_RE.exec(path);
  return m ? { vendor: m[1], version: m[2] } : null;
}

/** application/x-www-form-urlencoded parsing; malformed %-escapes are an error, not mojibake. */
export function parseQuerystring(qs: string | undefined): { ok: true; nvps: NVP[] } | { ok: false; error: string } {
  if (typeof qs !== 'string' || qs === '') return { ok: true, nvps: [] };
  const nvps: NVP[] = [];
  for (const part of qs.replace(/^\?/, '').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? null : part.slice(eq + 1);
    try {
      const name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      const value = rawValue === null ? null : decodeURIComponent(rawValue.replace(/\+/g, ' '));
      nvps.push({ name, value });
    } catch (err) {
      // Kept short: it becomes an `expectation`, which the badrows schema caps at 256 characters.
      return { ok: false, error: `could not decode querystring parameter [${part.slice(0, 100)}]: ${(err as Error).message}`.slice(0, 256) };
    }
  }
  return { ok: true, nvps };
}

/** Later duplicates win; a bare name (no value) carries nothing. */
export function nvpsToParams(nvps: NVP[]): RawEventParams {
  const params: RawEventParams = {};
  for (const { name, value } of nvps) if (value !== null) params[name] = value;
  return params;
}

// Media type must be application/json; any charset parameter is tolerated.
const JSON_CONTENT_TYPE_RE = /^\s*application\/json\s*(;\s*charset\s*=\s*"?[A-Za-z0-9._:-]+"?\s*)?$/i;
export function isJsonContentType(ct: string): boolean {
  return JSON_CONTENT_TYPE_RE.test(ct);
}

const IGLU_URI_RE = /^iglu:([a-zA-Z0-9\-_.]+)\/([a-zA-Z0-9\-_]+)\/([a-zA-Z0-9\-_]+)\/([^/]+)$/;
const SCHEMAVER_RE = /^[0-9]+-[0-9]+-[0-9]+$/;

export interface SchemaKey { vendor: string; name: string; format: string; version: string }

/** Parses an Iglu URI, returning the ParseError Snowplow would report when it is invalid. */
export function parseIgluUri(uri: unknown): SchemaKey | 'INVALID_IGLUURI' | 'INVALID_SCHEMAVER' {
  if (typeof uri !== 'string') return 'INVALID_IGLUURI';
  const m = IGLU_URI_RE.exec(uri);
  if (!m) return 'INVALID_IGLUURI';
  if (!SCHEMAVER_RE.test(m[4])) return 'INVALID_SCHEMAVER';
  return { vendor: m[1], name: m[2], format: m[3], version: m[4] };
}

/** Checks `{schema, data}` shape; returns the schema key or a NotIglu-style error. */
export function asSelfDescribing(json: unknown):
  { ok: true; key: SchemaKey; data: unknown } | { ok: false; error: 'INVALID_IGLUURI' | 'INVALID_SCHEMAVER' | 'INVALID_DATA_PAYLOAD' } {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, error: 'INVALID_DATA_PAYLOAD' };
  const o = json as Record<string, unknown>;
  if (!('schema' in o)) return { ok: false, error: 'INVALID_IGLUURI' };
  if (!('data' in o)) return { ok: false, error: 'INVALID_DATA_PAYLOAD' };
  const key = parseIgluUri(o.schema);
  return typeof key === 'string' ? { ok: false, error: key } : { ok: true, key, data: o.data };
}

// Tracker values are strings; numbers and booleans are coerced (lenient trackers send them),
// null/objects/arrays are rejected as Snowplow's Tp2 adapter does.
function toParams(item: unknown): RawEventResult {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return { ok: false, source: item, violations: [{ field: 'body', value: safeJson(item), expectation: 'event must be a JSON object' }] };
  }
  const params: RawEventParams = {};
  const violations: TrackerProtocolViolation[] = [];
  for (const [k, v] of Object.entries(item as Record<string, unknown>)) {
    if (typeof v === 'string') params[k] = v;
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') params[k] = String(v);
    // The badrows schemas cap `field` at 64 characters.
    else if (v === null) violations.push({ field: k.slice(0, 64), value: null, expectation: 'value cannot be null' });
    else violations.push({ field: k.slice(0, 64), value: safeJson(v), expectation: 'value is not a string' });
  }
  return violations.length ? { ok: false, source: item, violations } : { ok: true, params, source: item };
}

function safeJson(v: unknown): string | null {
  try { return JSON.stringify(v) ?? null; } catch { return null; }
}

const present = (s: unknown): s is string => typeof s === 'string' && s !== '';

export function toRawEvents(payload: CollectorPayload): ExtractResult {
  if (typeof payload.schema !== 'string' || !payload.schema.startsWith(COLLECTOR_PAYLOAD_SCHEMA_PREFIX)) {
    return { kind: 'format_violation', message: { payloadField: 'schema', value: typeof payload.schema === 'string' ? payload.schema : null, expectation: `must start with ${COLLECTOR_PAYLOAD_SCHEMA_PREFIX}` } };
  }
  if (typeof payload.timestamp !== 'number' || !Number.isFinite(payload.timestamp)) {
    return { kind: 'format_violation', message: { payloadField: 'timestamp', value: safeJson(payload.timestamp), expectation: 'epoch milliseconds' } };
  }
  const api = parseApiPath(payload.path);
  if (!api) {
    return { kind: 'format_violation', message: { payloadField: 'path', value: typeof payload.path === 'string' ? payload.path : null, expectation: 'path does not match (/)vendor/version(/) nor is a legacy /i(ce.png) request' } };
  }
  const qs = parseQuerystring(payload.querystring);
  if (!qs.ok) {
    return { kind: 'format_violation', message: { payloadField: 'querystring', value: payload.querystring ?? null, expectation: qs.error } };
  }
  const querystring = qs.nvps;
  const qsParams = nvpsToParams(querystring);
  const hasQs = Object.keys(qsParams).length > 0;

  if (api.vendor === SNOWPLOW_VENDOR && api.version === 'tp1') {
    if (!hasQs) {
      return { kind: 'adapter_failures', api, querystring, messages: [{ field: 'querystring', value: null, expectation: 'empty querystring: not a valid tracker protocol event' }] };
    }
    return { kind: 'events', api, querystring, bodySchema: null, events: [{ ok: true, params: qsParams, source: undefined }] };
  }
  if (api.vendor !== SNOWPLOW_VENDOR || api.version !== 'tp2') {
    return { kind: 'adapter_failures', api, querystring, messages: [{ field: 'vendor/version', value: `${api.vendor}/${api.version}`, expectation: 'vendor/version combination is not supported' }] };
  }

  // Tp2: the same (body, contentType) decision table as Snowplow's Tp2Adapter.
  const tpv = (messages: TrackerProtocolViolation[]): ExtractResult => ({ kind: 'tracker_protocol_violations', api, querystring, messages });
  const body = present(payload.body) ? payload.body : null;
  const ct = present(payload.contentType) ? payload.contentType : null;
  const expected = 'expected application/json, optionally with a charset parameter';
  if (body === null && !hasQs && ct === null) {
    return tpv([
      { field: 'body', value: null, expectation: 'empty body: not a valid tracker protocol event' },
      { field: 'querystring', value: null, expectation: 'empty querystring: not a valid tracker protocol event' },
    ]);
  }
  if (ct !== null && !isJsonContentType(ct)) return tpv([{ field: 'contentType', value: ct, expectation: expected }]);
  if (body !== null && ct === null) return tpv([{ field: 'contentType', value: null, expectation: expected }]);
  if (body === null && ct !== null) return tpv([{ field: 'body', value: null, expectation: 'empty body: not a valid tracker protocol event' }]);
  if (body === null) return { kind: 'events', api, querystring, bodySchema: null, events: [{ ok: true, params: qsParams, source: undefined }] };

  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return tpv([{ field: 'body', value: body, error: (err as Error).message }]);
  }
  const sd = asSelfDescribing(json);
  if (!sd.ok) return tpv([{ json, error: sd.error }]);
  const { key } = sd;
  if (key.vendor !== SNOWPLOW_VENDOR || key.name !== 'payload_data' || key.format !== 'jsonschema' || !key.version.startsWith('1-0-')) {
    return tpv([{ schemaKey: (json as { schema: string }).schema, schemaCriterion: PAYLOAD_DATA_CRITERION }]);
  }
  if (!Array.isArray(sd.data)) return tpv([{ field: 'body', value: safeJson(json), expectation: 'json is not an array' }]);
  if (sd.data.length === 0) return tpv([{ field: 'body', value: safeJson(json), expectation: 'empty list of events' }]);

  const events = sd.data.map((item): RawEventResult => {
    const r = toParams(item);
    // Querystring parameters are merged into every event and win.
    return r.ok ? { ok: true, params: { ...r.params, ...qsParams }, source: item } : r;
  });
  return { kind: 'events', api, querystring, bodySchema: (json as { schema: string }).schema, events };
}
