// /com.snowplowanalytics.iglu/v1: Snowplow's Iglu webhook adapter. A self-describing event given
// by `schema` on the querystring (data from the other parameters, a JSON body or a form body), or
// a self-describing JSON body.
import { parseJsonBounded } from '../../codecs/bounded-json';
import type { AdapterFailure } from '../bad-rows';
import { parseSchemaUri, parseSelfDescribing, schemaUri } from '../iglu/schema-key';
import { parseQuerystring } from './querystring';
import { UNSTRUCT_EVENT_SCHEMA } from './redirect';
import type { RawEventParams, RawEventResult } from './types';

const TRACKER_VERSION = 'com.snowplowanalytics.iglu-v1';
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded'];
// Parameters of the querystring that also reach the event as tracker-protocol fields.
const ACCEPTED_QUERY_PARAMETERS = ['nuid', 'aid', 'cv', 'eid', 'ttm', 'url'];

export type IgluWebhookResult = { ok: true; events: RawEventResult[] } | { ok: false; messages: AdapterFailure[] };

const fail = (messages: AdapterFailure[]): IgluWebhookResult => ({ ok: false, messages });

function unstructParams(params: RawEventParams, schema: string, data: unknown, platform: string): RawEventResult {
  const out: RawEventParams = {
    tv: TRACKER_VERSION, e: 'ue', p: params.p ?? platform,
    ue_pr: JSON.stringify({ schema: UNSTRUCT_EVENT_SCHEMA, data: { schema, data } }),
  };
  for (const k of ACCEPTED_QUERY_PARAMETERS) if (params[k] !== undefined) out[k] = params[k];
  return { ok: true, params: out, source: undefined };
}

export function igluWebhookEvents(params: RawEventParams, body: string | null, contentType: string | null): IgluWebhookResult {
  const schemaParam = params.schema;
  if (body !== null && contentType === null) return fail([{ field: 'contentType', value: null, expectation: `expected one of ${CONTENT_TYPES.join(', ')}` }]);
  if (schemaParam === undefined) {
    if (body === null) return fail([{ field: 'schema', value: null, expectation: 'empty `schema` field' }, { field: 'body', value: null, expectation: 'empty body' }]);
    if (contentType !== CONTENT_TYPES[0] && contentType !== CONTENT_TYPES[1]) {
      return fail([{ field: 'contentType', value: contentType, expectation: `expected one of ${CONTENT_TYPES.slice(0, 2).join(', ')}` }]);
    }
    const parsed = parseJsonBounded(body);
    if (!parsed.ok) return fail([{ field: 'body', value: body, error: `invalid json: ${parsed.error}` }]);
    const json = parsed.value;
    const sd = parseSelfDescribing(json);
    if (!sd.ok) return fail([{ json, error: sd.error }]);
    return { ok: true, events: [unstructParams(params, sd.uri, sd.data, 'app')] };
  }
  const key = parseSchemaUri(schemaParam);
  if (typeof key === 'string') return fail([{ field: 'schema', value: schemaParam, expectation: key }]);
  const schema = schemaUri(key);
  const rest: RawEventParams = { ...params };
  delete rest.schema;
  if (body === null) return { ok: true, events: [unstructParams(rest, schema, rest, 'app')] };
  if (contentType === CONTENT_TYPES[0] || contentType === CONTENT_TYPES[1]) {
    const parsed = parseJsonBounded(body);
    if (!parsed.ok) return fail([{ field: 'body', value: body, error: `invalid json: ${parsed.error}` }]);
    const json = parsed.value;
    if (Array.isArray(json)) {
      if (json.length === 0) return fail([{ field: 'body', value: body, expectation: 'empty array of events' }]);
      return { ok: true, events: json.map((e) => unstructParams(rest, schema, e, 'app')) };
    }
    if (json === null || typeof json !== 'object' || Object.keys(json).length === 0) {
      return fail([{ field: 'body', value: body, expectation: 'has no key-value pairs' }]);
    }
    return { ok: true, events: [unstructParams(rest, schema, json, 'app')] };
  }
  if (contentType === CONTENT_TYPES[2]) {
    const form = parseQuerystring(body);
    if (!form.ok) return fail([{ field: 'body', value: body, expectation: form.error }]);
    // No prototype: a form field named `__proto__` is a field like any other.
    const data: Record<string, string | null> = Object.create(null);
    for (const { name, value } of form.nvps) data[name] = value;
    return { ok: true, events: [unstructParams(rest, schema, data, 'srv')] };
  }
  return fail([{ field: 'contentType', value: contentType, expectation: `expected one of ${CONTENT_TYPES.join(', ')}` }]);
}

