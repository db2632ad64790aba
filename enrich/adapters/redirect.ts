// GET /r/tp2: Snowplow's RedirectAdapter. The `u` target becomes a uri_redirect entity: the event
// itself when the request carries no `e`, else an extra context of that event.
import { parseJsonBounded } from '../../codecs/bounded-json';
import type { TrackerProtocolViolation } from '../bad-rows';
import type { RawEventParams, RawEventResult } from './types';

export const URI_REDIRECT_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/uri_redirect/jsonschema/1-0-0';
export const UNSTRUCT_EVENT_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0';
export const CONTEXTS_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1';

export type RedirectResult = { ok: true; event: RawEventResult } | { ok: false; messages: TrackerProtocolViolation[] };

export function redirectEvent(params: RawEventParams): RedirectResult {
  const names = Object.keys(params);
  if (names.length === 0) {
    return { ok: false, messages: [{ field: 'querystring', value: null, expectation: 'empty querystring: not a valid URI redirect' }] };
  }
  const u = params.u;
  if (u === undefined) {
    const qs = names.map((k) => `${k}=${params[k]}`).join('&');
    return { ok: false, messages: [{ field: 'querystring', value: qs, expectation: 'missing `u` parameter: not a valid URI redirect' }] };
  }
  const redirect = { schema: URI_REDIRECT_SCHEMA, data: { uri: u } };
  const out: RawEventParams = { ...params };
  delete out.u;
  if (params.e !== undefined) {
    // Already an event: the redirect joins its contexts (cx wins over co, as in Snowplow).
    if (params.cx !== undefined) {
      const merged = prependContext(Buffer.from(params.cx, 'base64').toString('utf8'), redirect);
      if (!merged.ok) return { ok: false, messages: [{ field: 'co|cx', value: params.cx, error: merged.error }] };
      out.cx = Buffer.from(merged.json).toString('base64url');
    } else if (params.co !== undefined && params.co !== '') {
      const merged = prependContext(params.co, redirect);
      if (!merged.ok) return { ok: false, messages: [{ field: 'co|cx', value: params.co, error: merged.error }] };
      out.co = merged.json;
    } else {
      out.co = JSON.stringify({ schema: CONTEXTS_SCHEMA, data: [redirect] });
    }
  } else {
    out.e = 'ue';
    out.ue_pr = JSON.stringify({ schema: UNSTRUCT_EVENT_SCHEMA, data: redirect });
  }
  out.tv = 'r-tp2';
  out.p = params.p ?? 'web';
  return { ok: true, event: { ok: true, params: out, source: undefined } };
}

function prependContext(existing: string, ctx: unknown): { ok: true; json: string } | { ok: false; error: string } {
  const parsed = parseJsonBounded(existing);
  if (!parsed.ok) return { ok: false, error: `invalid json: ${parsed.error}` };
  const json = parsed.value;
  const o = json as { data?: unknown };
  if (o && typeof o === 'object' && Array.isArray(o.data)) o.data = [ctx, ...o.data];
  return { ok: true, json: JSON.stringify(json) };
}
