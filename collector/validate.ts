// Pure checks that turn malformed tracker requests into a clear 4xx at the door, rather than a
// raw record that can only ever become a bad row. They mirror the first checks of Snowplow's
// Tp2Adapter (content type, JSON, payload_data envelope) and the base64 fields of the protocol.

import { parseJsonDepthBounded } from '../codecs/bounded-json';

export type Verdict = { ok: true } | { ok: false; status: 400 | 415; message: string };

const OK: Verdict = { ok: true };
const bad = (status: 400 | 415, message: string): Verdict => ({ ok: false, status, message });

const JSON_TYPE = /^application\/json\s*(;|$)/i;
const PAYLOAD_DATA = /^iglu:com\.snowplowanalytics\.snowplow\/payload_data\/jsonschema\/1-0-\d+$/;
// Standard or URL-safe alphabet, optional padding; a length of 4n+1 can never be valid.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const BASE64_FIELDS = ['cx', 'ue_px'] as const;

export function isBase64(value: string): boolean {
  if (!BASE64.test(value)) return false;
  // The length without the trailing padding (the pattern allows at most two `=`, at the end).
  let end = value.length;
  while (end > 0 && value.charCodeAt(end - 1) === 61) end--;
  return end % 4 !== 1;
}

/** The base64-encoded tracker fields (`cx` contexts, `ue_px` self-describing event) of one event. */
export function checkBase64Fields(params: { readonly cx?: unknown; readonly ue_px?: unknown }, where: string): Verdict {
  for (const field of BASE64_FIELDS) {
    const v = params[field];
    if (v === undefined) continue;
    if (typeof v !== 'string') return bad(400, `${where}: ${field} must be a string`);
    if (!isBase64(v)) return bad(400, `${where}: ${field} is not valid base64`);
  }
  return OK;
}

/**
 * A tp2 POST: `application/json` (any charset), a JSON body, a payload_data envelope with a
 * non-empty `data` array of event objects whose base64 fields decode. An empty body with no
 * content type is a querystring-only request, as trackers may send.
 */
export function checkTp2Post(contentType: string | undefined, body: string | undefined, hasQuerystring: boolean): Verdict {
  if (!body) {
    if (!contentType && hasQuerystring) return OK;
    return bad(400, 'empty body: a tracker protocol POST carries a payload_data JSON body');
  }
  if (!contentType || !JSON_TYPE.test(contentType)) {
    return bad(415, `content type ${contentType ? `"${contentType}"` : '(none)'} is not supported: expected application/json`);
  }
  // The body limit bounds the size already; the depth bound keeps the checks below (and every
  // later reader of this body) off deep recursion.
  const parsed = parseJsonDepthBounded(body);
  if (!parsed.ok) return bad(400, `body is not valid JSON: ${parsed.error}`);
  const json = parsed.value;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad(400, 'body must be a self-describing JSON object');
  const { schema, data } = json as { schema?: unknown; data?: unknown };
  if (typeof schema !== 'string' || !PAYLOAD_DATA.test(schema)) {
    return bad(400, 'body schema must be iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-*');
  }
  if (!Array.isArray(data) || data.length === 0) return bad(400, 'body data must be a non-empty array of events');
  for (let i = 0; i < data.length; i++) {
    const event: unknown = data[i];
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return bad(400, `event ${i} must be a JSON object`);
    const verdict = checkBase64Fields(event as Record<string, unknown>, `event ${i}`);
    if (!verdict.ok) return verdict;
  }
  return OK;
}
