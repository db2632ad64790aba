// CollectorPayload → raw events: the loader's format checks, then the adapter the path selects
// (tp1 pixel, tp2, the /r/tp2 redirect, the Iglu webhook), as Snowplow's AdapterRegistry does.
import type { CollectorPayload } from '../../codecs/collector-payload';
import type { Validator } from '../iglu';
import { igluWebhookEvents } from './iglu-webhook';
import { nvpsToParams, parseQuerystring } from './querystring';
import { redirectEvent } from './redirect';
import { tp2Events } from './tp2';
import { type Api, type ExtractResult, SNOWPLOW_VENDOR } from './types';

export * from './types';
export { parseQuerystring, nvpsToParams, paramsToNvps, formDecode } from './querystring';
export { isTp2ContentType } from './tp2';

export const COLLECTOR_PAYLOAD_SCHEMA_PREFIX = `iglu:${SNOWPLOW_VENDOR}/CollectorPayload/thrift/1-`;
const API_PATH_RE = /^\/?([^/]+)\/([^/]+)\/?$/;

/** `/i` and `/ice.png` are tracker protocol v1 pixels; otherwise `/{vendor}/{version}`. */
export function parseApiPath(path: string | undefined): Api | null {
  if (typeof path !== 'string') return null;
  if (path === '/i' || path === '/ice.png' || path === 'i' || path === 'ice.png') return { vendor: SNOWPLOW_VENDOR, version: 'tp1' };
  const m = API_PATH_RE.exec(path);
  return m ? { vendor: m[1], version: m[2] } : null;
}

const safeJson = (v: unknown): string | null => { try { return JSON.stringify(v) ?? null; } catch { return null; } };
const present = (s: unknown): s is string => typeof s === 'string' && s !== '';

export function extractRawEvents(payload: CollectorPayload, validator: Validator): ExtractResult {
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
  if (!qs.ok) return { kind: 'format_violation', message: { payloadField: 'querystring', value: payload.querystring ?? null, expectation: qs.error } };
  const querystring = qs.nvps;
  const params = nvpsToParams(querystring);
  const body = present(payload.body) ? payload.body : null;
  const contentType = present(payload.contentType) ? payload.contentType : null;

  if (api.vendor === SNOWPLOW_VENDOR && api.version === 'tp1') {
    if (Object.keys(params).length === 0) {
      return { kind: 'tracker_protocol_violations', api, querystring, messages: [{ field: 'querystring', value: null, expectation: 'empty querystring: not a valid tracker protocol event' }] };
    }
    return { kind: 'events', api, querystring, bodySchema: null, events: [{ ok: true, params, source: undefined }] };
  }
  if (api.vendor === SNOWPLOW_VENDOR && api.version === 'tp2') {
    const r = tp2Events(body, contentType, params, validator);
    if (r.kind === 'pending') return r;
    if (r.kind === 'violations') return { kind: 'tracker_protocol_violations', api, querystring, messages: r.messages };
    return { kind: 'events', api, querystring, bodySchema: r.bodySchema, events: r.events };
  }
  if (api.vendor === 'r' && api.version === 'tp2') {
    const r = redirectEvent(params);
    if (!r.ok) return { kind: 'tracker_protocol_violations', api, querystring, messages: r.messages };
    return { kind: 'events', api, querystring, bodySchema: null, events: [r.event] };
  }
  if (api.vendor === 'com.snowplowanalytics.iglu' && api.version === 'v1') {
    const r = igluWebhookEvents(params, body, contentType);
    if (!r.ok) return { kind: 'adapter_failures', api, querystring, messages: r.messages };
    return { kind: 'events', api, querystring, bodySchema: null, events: r.events };
  }
  return { kind: 'adapter_failures', api, querystring, messages: [{ field: 'vendor/version', value: `${api.vendor}/${api.version}`, expectation: 'vendor/version combination is not supported' }] };
}
