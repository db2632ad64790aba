// Tracker protocol v2 (POST /com.snowplowanalytics.snowplow/tp2, and GET with a querystring):
// Snowplow's Tp2Adapter decision table, with the body validated against payload_data one event at
// a time so that one bad event does not take its neighbours down with it.
import { parseJsonBounded } from '../../codecs/bounded-json';
import type { TrackerProtocolViolation } from '../bad-rows';
import type { Validator } from '../iglu';
import { criterion, criterionString, matchesCriterion, parseSelfDescribing } from '../iglu/schema-key';
import type { RawEventParams, RawEventResult } from './types';

export const PAYLOAD_DATA = criterion('com.snowplowanalytics.snowplow', 'payload_data', 'jsonschema', 1, 0);
export const TP2_CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json; charset=UTF-8'];
const EXPECTED_CT = `expected one of ${TP2_CONTENT_TYPES.join(', ')}`;
// Snowplow's three spellings, tolerant of spacing and charset case.
const JSON_CT_RE = /^\s*application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export const isTp2ContentType = (ct: string): boolean => JSON_CT_RE.test(ct);

export type Tp2Result =
  | { kind: 'violations'; messages: TrackerProtocolViolation[] }
  | { kind: 'events'; bodySchema: string | null; events: RawEventResult[] }
  | { kind: 'pending'; schemaUris: string[] };

const safeJson = (v: unknown): string | null => { try { return JSON.stringify(v) ?? null; } catch { return null; } };

export function tp2Events(body: string | null, contentType: string | null, qs: RawEventParams, validator: Validator): Tp2Result {
  const hasQs = Object.keys(qs).length > 0;
  const bad = (messages: TrackerProtocolViolation[]): Tp2Result => ({ kind: 'violations', messages });
  if (body === null && !hasQs) {
    return bad([
      { field: 'body', value: null, expectation: 'empty body: not a valid tracker protocol event' },
      { field: 'querystring', value: null, expectation: 'empty querystring: not a valid tracker protocol event' },
    ]);
  }
  if (contentType !== null && !isTp2ContentType(contentType)) return bad([{ field: 'contentType', value: contentType, expectation: EXPECTED_CT }]);
  if (body !== null && contentType === null) return bad([{ field: 'contentType', value: null, expectation: EXPECTED_CT }]);
  if (body === null && contentType !== null) return bad([{ field: 'body', value: null, expectation: 'empty body: not a valid track protocol event' }]);
  if (body === null) return { kind: 'events', bodySchema: null, events: [{ ok: true, params: qs, source: undefined }] };

  const parsed = parseJsonBounded(body);
  if (!parsed.ok) return bad([{ field: 'body', value: body, error: `invalid json: ${parsed.error}` }]);
  const json = parsed.value;
  const sd = parseSelfDescribing(json);
  if (!sd.ok) return bad([{ json, error: sd.error }]);
  if (!matchesCriterion(PAYLOAD_DATA, sd.key)) return bad([{ schemaKey: sd.uri, schemaCriterion: criterionString(PAYLOAD_DATA) }]);
  if (!Array.isArray(sd.data)) return bad([{ field: 'body', value: safeJson(json), expectation: 'json is not an array' }]);
  if (sd.data.length === 0) return bad([{ field: 'body', value: safeJson(json), expectation: 'empty list of events' }]);

  // The whole body is validated in one pass; only a body with problems is gone through event by
  // event, to find which events they belong to.
  const whole = validator.check(sd.key, sd.data, sd.uri);
  if (whole === 'pending') return { kind: 'pending', schemaUris: [sd.uri] };
  if (whole !== null && (whole.error === 'ResolutionError' || 'schemaIssues' in whole)) {
    // A schema that cannot be resolved fails every event alike: one payload-level row.
    return bad([{ schemaKey: sd.uri, error: whole }]);
  }
  const events: RawEventResult[] = [];
  for (let i = 0; i < sd.data.length; i++) {
    const item = sd.data[i];
    const problem = whole === null ? null : validator.check(sd.key, [item], sd.uri);
    if (problem !== null && problem !== 'pending' && 'dataReports' in problem) {
      const dataReports = problem.dataReports.map((r) => ({
        ...r,
        path: r.path?.replace(/^\$\[0\]/, `$[${i}]`) ?? null,
        message: r.message.replace(/^\$\[0\]/, `$[${i}]`),
      }));
      events.push({ ok: false, source: item, violations: [{ schemaKey: sd.uri, error: { error: 'ValidationError', dataReports } }] });
      continue;
    }
    events.push(toParams(item, qs));
  }
  return { kind: 'events', bodySchema: sd.uri, events };
}

// Snowplow's toParameter: every value must be a string (older payload_data versions allow more
// than 1-0-4 does). Querystring parameters are merged into every event and win.
function toParams(item: unknown, qs: RawEventParams): RawEventResult {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return { ok: false, source: item, violations: [{ field: 'body', value: safeJson(item), expectation: 'event must be a JSON object' }] };
  }
  let violations: TrackerProtocolViolation[] | undefined;
  const o = item as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (typeof v !== 'string') (violations ??= []).push(v === null
      ? { field: k.slice(0, 64), value: null, expectation: 'value cannot be null' }
      : { field: k.slice(0, 64), value: safeJson(v), expectation: 'value is not a string' });
  }
  if (violations) return { ok: false, source: item, violations };
  // The parsed item is used as is unless querystring parameters must be merged in.
  let params = o as RawEventParams;
  for (const k in qs) { if (params === o) params = { ...params }; params[k] = qs[k]; }
  return { ok: true, params, source: item };
}
