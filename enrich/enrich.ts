// Minimal enrich: CollectorPayload → enriched events (good) and bad rows.
// Maps the core tracker-protocol fields and validates them; enrichments (geo, UA, campaigns,
// fingerprint, …) come later. Contract: never throws, and every input event ends up either as
// a good event or in exactly one per-event bad row (payload-level failures give one bad row).
import { randomUUID } from 'node:crypto';
import type { CollectorPayload } from '../codecs/collector-payload';
import { type EnrichedEvent, type EnrichedField, formatTstamp } from '../codecs/enriched-tsv';
import {
  type BadRow, type BadRowCollectorPayload, type NVP, type TrackerProtocolViolation,
  adapterFailures, cpFormatViolation, genericError, processorFor, safeStringify,
  toBadRowCollectorPayload, trackerProtocolViolations,
} from './bad-rows';
import {
  type Api, type RawEventParams, type RawEventResult, type SchemaKey, asSelfDescribing, toRawEvents,
} from './tracker-protocol';

export interface EnrichContext { etlTstamp: number; etlVersion: string }
export interface EnrichResult { good: EnrichedEvent[]; bad: BadRow[] }

export const PLATFORMS = ['web', 'iot', 'app', 'mob', 'pc', 'cnsl', 'tv', 'srv', 'headset'] as const;

const EVENT_TYPES: Record<string, string> = {
  pv: 'page_view', pp: 'page_ping', se: 'struct', ue: 'unstruct',
  tr: 'transaction', ti: 'transaction_item', ad: 'ad_impression',
};

// Redshift-compatible timestamps: years 0000–9999 (Snowplow rejects anything else).
const MIN_TSTAMP = -62167219200000;
const MAX_TSTAMP = 253402300799999;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT_RE = /^[+-]?\d{1,10}$/;
const DOUBLE_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// Parameters copied as-is.
const PLAIN: ReadonlyArray<[string, EnrichedField]> = [
  ['aid', 'app_id'], ['tv', 'v_tracker'], ['tna', 'name_tracker'], ['uid', 'user_id'],
  ['duid', 'domain_userid'], ['fp', 'user_fingerprint'], ['page', 'page_title'], ['lang', 'br_lang'],
  ['cs', 'doc_charset'], ['cd', 'br_colordepth'], ['tz', 'os_timezone'],
  ['se_ca', 'se_category'], ['se_ac', 'se_action'], ['se_la', 'se_label'], ['se_pr', 'se_property'],
  ['tr_id', 'tr_orderid'], ['tr_af', 'tr_affiliation'], ['tr_ci', 'tr_city'], ['tr_st', 'tr_state'],
  ['tr_co', 'tr_country'], ['tr_cu', 'tr_currency'], ['ti_id', 'ti_orderid'], ['ti_sk', 'ti_sku'],
  ['ti_na', 'ti_name'], ['ti_nm', 'ti_name'], ['ti_ca', 'ti_category'], ['ti_cu', 'ti_currency'],
];
const INTS: ReadonlyArray<[string, EnrichedField]> = [
  ['vid', 'domain_sessionidx'], ['tid', 'txn_id'], ['ti_qu', 'ti_quantity'],
  ['pp_mix', 'pp_xoffset_min'], ['pp_max', 'pp_xoffset_max'], ['pp_miy', 'pp_yoffset_min'], ['pp_may', 'pp_yoffset_max'],
];
const DOUBLES: ReadonlyArray<[string, EnrichedField]> = [
  ['se_va', 'se_value'], ['tr_tt', 'tr_total'], ['tr_tx', 'tr_tax'], ['tr_sh', 'tr_shipping'], ['ti_pr', 'ti_price'],
];
const BOOLEANS: ReadonlyArray<[string, EnrichedField]> = [
  ['cookie', 'br_cookies'], ['f_pdf', 'br_features_pdf'], ['f_fla', 'br_features_flash'],
  ['f_java', 'br_features_java'], ['f_dir', 'br_features_director'], ['f_qt', 'br_features_quicktime'],
  ['f_realp', 'br_features_realplayer'], ['f_wma', 'br_features_windowsmedia'],
  ['f_gears', 'br_features_gears'], ['f_ag', 'br_features_silverlight'],
];
const DIMENSIONS: ReadonlyArray<[string, EnrichedField, EnrichedField]> = [
  ['res', 'dvce_screenwidth', 'dvce_screenheight'], ['vp', 'br_viewwidth', 'br_viewheight'],
  ['ds', 'doc_width', 'doc_height'],
];

const isInt32 = (s: string): boolean => INT_RE.test(s) && Math.abs(Number(s)) <= 2147483647;

/** Maps one raw event's parameters to an enriched event, collecting every violation. */
export function enrichEvent(
  params: RawEventParams, payload: CollectorPayload, ctx: EnrichContext,
): { ok: true; event: EnrichedEvent } | { ok: false; violations: TrackerProtocolViolation[] } {
  const e: EnrichedEvent = {};
  const violations: TrackerProtocolViolation[] = [];
  const bad = (field: string, value: string | null, expectation: string) => violations.push({ field, value, expectation });
  // Empty values are treated as absent: trackers often send `uid=` and the TSV has no null.
  const get = (k: string): string | undefined => (Object.hasOwn(params, k) && params[k] !== '' ? params[k] : undefined);

  const eventCode = get('e');
  if (eventCode === undefined) bad('e', null, 'event type is required');
  else if (!Object.hasOwn(EVENT_TYPES, eventCode)) bad('e', eventCode, `one of ${Object.keys(EVENT_TYPES).join(', ')}`);
  else e.event = EVENT_TYPES[eventCode];

  const platform = get('p');
  if (platform !== undefined) {
    if ((PLATFORMS as readonly string[]).includes(platform)) e.platform = platform;
    else bad('p', platform, `one of ${PLATFORMS.join(', ')}`);
  }

  const eid = get('eid');
  if (eid === undefined) e.event_id = randomUUID(); // Snowplow generates a v4 UUID too
  else if (UUID_RE.test(eid)) e.event_id = eid;
  else bad('eid', eid, 'a UUID');
  const sid = get('sid');
  if (sid !== undefined) {
    if (UUID_RE.test(sid)) e.domain_sessionid = sid;
    else bad('sid', sid, 'a UUID');
  }

  for (const [k, f] of PLAIN) { const v = get(k); if (v !== undefined) e[f] = v; }
  for (const [k, f] of INTS) {
    const v = get(k);
    if (v === undefined) continue;
    if (isInt32(v)) e[f] = String(Number(v)); else bad(k, v, 'a 32-bit integer');
  }
  for (const [k, f] of DOUBLES) {
    const v = get(k);
    if (v === undefined) continue;
    if (DOUBLE_RE.test(v) && Number.isFinite(Number(v))) e[f] = v; else bad(k, v, 'a number');
  }
  for (const [k, f] of BOOLEANS) {
    const v = get(k);
    if (v === undefined) continue;
    if (v === '1' || v === 'true') e[f] = '1';
    else if (v === '0' || v === 'false') e[f] = '0';
    else bad(k, v, 'one of 1, 0, true, false');
  }
  for (const [k, fw, fh] of DIMENSIONS) {
    const v = get(k);
    if (v === undefined) continue;
    const m = /^(\d+)x(\d+)$/.exec(v);
    if (m && isInt32(m[1]) && isInt32(m[2])) { e[fw] = String(Number(m[1])); e[fh] = String(Number(m[2])); } else bad(k, v, 'WIDTHxHEIGHT integers');
  }

  // Identity and context: tracker-supplied values win over what the collector saw.
  const nuid = get('tnuid') ?? get('nuid') ?? nonEmpty(payload.networkUserId);
  if (nuid !== undefined) e.network_userid = nuid;
  const ip = get('ip') ?? nonEmpty(payload.ipAddress);
  if (ip !== undefined) e.user_ipaddress = ip;
  const ua = get('ua') ?? nonEmpty(payload.userAgent);
  if (ua !== undefined) e.useragent = ua;

  // Like Snowplow, the page URL falls back to the request's Referer header.
  const url = get('url') ?? nonEmpty(payload.refererUri);
  if (url !== undefined) {
    const parts = urlParts(url);
    if (parts) {
      e.page_url = url;
      [e.page_urlscheme, e.page_urlhost, e.page_urlport, e.page_urlpath, e.page_urlquery, e.page_urlfragment] = parts;
    } else bad('url', url, 'a valid absolute URL');
  }
  const refr = get('refr');
  if (refr !== undefined) {
    const parts = urlParts(refr);
    if (parts) {
      e.page_referrer = refr;
      [e.refr_urlscheme, e.refr_urlhost, e.refr_urlport, e.refr_urlpath, e.refr_urlquery, e.refr_urlfragment] = parts;
    } else bad('refr', refr, 'a valid absolute URL');
  }

  // Timestamps.
  const collector = payload.timestamp;
  const tstamp = (k: string): number | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    const n = /^-?\d{1,15}$/.test(v) ? Number(v) : NaN;
    if (n >= MIN_TSTAMP && n <= MAX_TSTAMP) return n;
    bad(k, v, 'epoch milliseconds between years 0000 and 9999');
    return undefined;
  };
  const dtm = tstamp('dtm');
  const stm = tstamp('stm');
  const ttm = tstamp('ttm');
  if (!(collector >= MIN_TSTAMP && collector <= MAX_TSTAMP)) bad('collector_tstamp', String(collector), 'epoch milliseconds between years 0000 and 9999');

  // Self-describing JSON: contexts and the unstructured event.
  const contexts = selfDescribingParam(params, 'co', 'cx', 'contexts', violations);
  if (contexts) e.contexts = contexts.compact;
  const ue = selfDescribingParam(params, 'ue_pr', 'ue_px', 'unstruct_event', violations);
  if (ue) e.unstruct_event = ue.compact;

  if (e.event === 'unstruct') {
    if (ue) {
      const inner = ue.inner;
      [e.event_vendor, e.event_name, e.event_format, e.event_version] = [inner.vendor, inner.name, inner.format, inner.version];
    } else if (get('ue_pr') === undefined && get('ue_px') === undefined) {
      bad('ue_pr', null, 'an unstructured event (ue_pr or ue_px) is required when e=ue');
    }
  } else if (e.event === 'struct') {
    [e.event_vendor, e.event_name, e.event_format, e.event_version] = ['com.google.analytics', 'event', 'jsonschema', '1-0-0'];
  } else if (e.event !== undefined) {
    [e.event_vendor, e.event_name, e.event_format, e.event_version] = ['com.snowplowanalytics.snowplow', e.event, 'jsonschema', '1-0-0'];
  }

  if (violations.length > 0) return { ok: false, violations };

  e.collector_tstamp = formatTstamp(collector);
  e.etl_tstamp = formatTstamp(ctx.etlTstamp);
  if (dtm !== undefined) e.dvce_created_tstamp = formatTstamp(dtm);
  if (stm !== undefined) e.dvce_sent_tstamp = formatTstamp(stm);
  if (ttm !== undefined) e.true_tstamp = formatTstamp(ttm);
  e.derived_tstamp = formatTstamp(derivedTstamp(collector, dtm, stm, ttm));
  e.v_collector = String(payload.collector);
  e.v_etl = ctx.etlVersion;
  return { ok: true, event: e };
}

/**
 * Snowplow's rule: true_tstamp if sent; else correct the collector time for device clock skew,
 * collector - (sent - created), when created is before sent; else the collector time.
 */
export function derivedTstamp(collector: number, dtm?: number, stm?: number, ttm?: number): number {
  if (ttm !== undefined) return ttm;
  if (dtm !== undefined && stm !== undefined && dtm < stm) return collector - (stm - dtm);
  return collector;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

type UrlParts = [scheme: string, host: string, port: string | undefined, path: string, query: string | undefined, fragment: string | undefined];
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

function urlParts(raw: string): UrlParts | null {
  let u: URL;
  try { u = new URL(raw); } catch { return null; }
  const scheme = u.protocol.replace(/:$/, '');
  const port = u.port || DEFAULT_PORTS[scheme];
  const opt = (s: string) => (s === '' ? undefined : s);
  return [scheme, u.hostname, port, u.pathname, opt(u.search.replace(/^\?/, '')), opt(u.hash.replace(/^#/, ''))];
}

const B64_RE = /^[A-Za-z0-9\-_+/]*={0,2}$/;

/** Reads a plain/base64 self-describing parameter pair and validates the envelope. */
function selfDescribingParam(
  params: RawEventParams, plainKey: string, b64Key: string, expectedName: 'contexts' | 'unstruct_event',
  violations: TrackerProtocolViolation[],
): { compact: string; inner: SchemaKey } | null {
  // The base64 form wins when both are sent (it is the one trackers use by default).
  const useB64 = Object.hasOwn(params, b64Key) && params[b64Key] !== '';
  const field = useB64 ? b64Key : plainKey;
  if (!Object.hasOwn(params, field) || params[field] === '') return null;
  const raw = params[field];
  let text = raw;
  if (useB64) {
    const compact = raw.replace(/\s/g, '');
    if (!B64_RE.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) {
      violations.push({ field, value: raw, expectation: 'URL-safe base64-encoded JSON' });
      return null;
    }
    text = Buffer.from(compact, 'base64').toString('utf8');
  }
  let json: unknown;
  try { json = JSON.parse(text); } catch (err) {
    violations.push({ field, value: text, error: (err as Error).message });
    return null;
  }
  const sd = asSelfDescribing(json);
  if (!sd.ok) { violations.push({ json, error: sd.error }); return null; }
  const { key } = sd;
  if (key.vendor !== 'com.snowplowanalytics.snowplow' || key.name !== expectedName || key.format !== 'jsonschema' || !key.version.startsWith('1-0-')) {
    violations.push({ schemaKey: (json as { schema: string }).schema, schemaCriterion: `iglu:com.snowplowanalytics.snowplow/${expectedName}/jsonschema/1-0-*` });
    return null;
  }
  const items = expectedName === 'contexts' ? sd.data : [sd.data];
  if (!Array.isArray(items)) {
    violations.push({ field, value: JSON.stringify(json), expectation: 'contexts data must be an array of self-describing JSON' });
    return null;
  }
  // Every entry must itself be self-describing; the first one's key names an unstruct event.
  let inner: SchemaKey = { vendor: '', name: '', format: '', version: '' };
  for (const [i, item] of items.entries()) {
    const r = asSelfDescribing(item);
    if (!r.ok) { violations.push({ json: item, error: r.error }); return null; }
    if (i === 0) inner = r.key;
  }
  return { compact: JSON.stringify(json), inner };
}

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : safeStringify(err));

export function enrichPayload(payload: CollectorPayload, ctx: EnrichContext): EnrichResult {
  const processor = processorFor(ctx?.etlVersion);
  const at = typeof ctx?.etlTstamp === 'number' ? ctx.etlTstamp : Date.now();
  const good: EnrichedEvent[] = [];
  const bad: BadRow[] = [];
  let extracted: ReturnType<typeof toRawEvents>;
  try {
    extracted = toRawEvents(payload);
  } catch (err) {
    return { good, bad: [genericError(processor, at, safeStringify(payload), [errorText(err)])] };
  }
  try {
    switch (extracted.kind) {
      case 'format_violation':
        return { good, bad: [cpFormatViolation(processor, at, safeStringify(payload), extracted.message)] };
      case 'adapter_failures':
        return { good, bad: [adapterFailures(processor, at, toBadRowCollectorPayload(payload, extracted.api, extracted.querystring), extracted.messages)] };
      case 'tracker_protocol_violations':
        return { good, bad: [trackerProtocolViolations(processor, at, toBadRowCollectorPayload(payload, extracted.api, extracted.querystring), extracted.messages)] };
    }
  } catch (err) {
    return { good, bad: [genericError(processor, at, safeStringify(payload), [errorText(err)])] };
  }
  const { api, querystring, bodySchema } = extracted;
  for (const raw of extracted.events) {
    let recoverable: BadRowCollectorPayload | null = null;
    try {
      recoverable = eventPayload(payload, api, querystring, bodySchema, raw);
      if (!raw.ok) { bad.push(trackerProtocolViolations(processor, at, recoverable, raw.violations)); continue; }
      const r = enrichEvent(raw.params, payload, ctx);
      if (r.ok) good.push(r.event);
      else bad.push(trackerProtocolViolations(processor, at, recoverable, r.violations));
    } catch (err) {
      bad.push(genericError(processor, at, safeStringify(recoverable ?? payload), [errorText(err)]));
    }
  }
  return { good, bad };
}

/** A per-event bad row carries the payload narrowed to that one event, so replaying it cannot duplicate its neighbours. */
function eventPayload(cp: CollectorPayload, api: Api, querystring: NVP[], bodySchema: string | null, raw: RawEventResult): BadRowCollectorPayload {
  const body = bodySchema === null ? undefined : JSON.stringify({ schema: bodySchema, data: [raw.source] });
  return toBadRowCollectorPayload(cp, api, querystring, body);
}
