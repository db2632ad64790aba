// Snowplow enriched event TSV: 131 tab-separated fields, one event per line.
// Field order is fixed by Snowplow (see /work/shared/SNOWPLOW-FORMATS.md); loaders and the
// analytics SDKs address fields by position, so this list must never be reordered.

export const ENRICHED_FIELDS = [
  'app_id', 'platform', 'etl_tstamp', 'collector_tstamp', 'dvce_created_tstamp', 'event', 'event_id',
  'txn_id', 'name_tracker', 'v_tracker', 'v_collector', 'v_etl', 'user_id', 'user_ipaddress',
  'user_fingerprint', 'domain_userid', 'domain_sessionidx', 'network_userid', 'geo_country',
  'geo_region', 'geo_city', 'geo_zipcode', 'geo_latitude', 'geo_longitude', 'geo_region_name',
  'ip_isp', 'ip_organization', 'ip_domain', 'ip_netspeed', 'page_url', 'page_title',
  'page_referrer', 'page_urlscheme', 'page_urlhost', 'page_urlport', 'page_urlpath',
  'page_urlquery', 'page_urlfragment', 'refr_urlscheme', 'refr_urlhost', 'refr_urlport',
  'refr_urlpath', 'refr_urlquery', 'refr_urlfragment', 'refr_medium', 'refr_source', 'refr_term',
  'mkt_medium', 'mkt_source', 'mkt_term', 'mkt_content', 'mkt_campaign', 'contexts',
  'se_category', 'se_action', 'se_label', 'se_property', 'se_value', 'unstruct_event',
  'tr_orderid', 'tr_affiliation', 'tr_total', 'tr_tax', 'tr_shipping', 'tr_city', 'tr_state',
  'tr_country', 'ti_orderid', 'ti_sku', 'ti_name', 'ti_category', 'ti_price', 'ti_quantity',
  'pp_xoffset_min', 'pp_xoffset_max', 'pp_yoffset_min', 'pp_yoffset_max', 'useragent', 'br_name',
  'br_family', 'br_version', 'br_type', 'br_renderengine', 'br_lang', 'br_features_pdf',
  'br_features_flash', 'br_features_java', 'br_features_director', 'br_features_quicktime',
  'br_features_realplayer', 'br_features_windowsmedia', 'br_features_gears',
  'br_features_silverlight', 'br_cookies', 'br_colordepth', 'br_viewwidth', 'br_viewheight',
  'os_name', 'os_family', 'os_manufacturer', 'os_timezone', 'dvce_type', 'dvce_ismobile',
  'dvce_screenwidth', 'dvce_screenheight', 'doc_charset', 'doc_width', 'doc_height',
  'tr_currency', 'tr_total_base', 'tr_tax_base', 'tr_shipping_base', 'ti_currency',
  'ti_price_base', 'base_currency', 'geo_timezone', 'mkt_clickid', 'mkt_network', 'etl_tags',
  'dvce_sent_tstamp', 'refr_domain_userid', 'refr_dvce_tstamp', 'derived_contexts',
  'domain_sessionid', 'derived_tstamp', 'event_vendor', 'event_name', 'event_format',
  'event_version', 'event_fingerprint', 'true_tstamp',
] as const;

export type EnrichedField = (typeof ENRICHED_FIELDS)[number];

/** An enriched event; values are already formatted as they appear in the TSV. */
export type EnrichedEvent = Partial<Record<EnrichedField, string>>;

export const ENRICHED_FIELD_COUNT = ENRICHED_FIELDS.length; // 131

// A tab or line break inside a value would split the record, so they become spaces.
const UNSAFE = /[\t\n\r]/g;
const LINE_BREAK = /[\n\r]/;

function toEnrichedTsvChecked(e: EnrichedEvent): string {
  const out = new Array<string>(ENRICHED_FIELD_COUNT);
  for (let i = 0; i < ENRICHED_FIELD_COUNT; i++) {
    const v = e[ENRICHED_FIELDS[i]];
    out[i] = v == null ? '' : String(v).replace(UNSAFE, ' ');
  }
  return out.join('\t');
}

// The hot path: one concatenation with the 131 property names inlined (generated once from the
// constant field list), then a single scan of the whole line; only a line that turns out to
// hold a stray tab or line break takes the field-by-field path.
const concatFields = new Function('e', `return ${ENRICHED_FIELDS.map((f) => `(e.${f} ?? '')`).join(" + '\\t' + ")};`) as (e: EnrichedEvent) => string;

/**
 * For a producer that guarantees TSV-safe values (enrich sanitises every value it writes): the
 * concatenation alone. Anything else must use toEnrichedTsv.
 */
// Built element by element so the array is PACKED (join has a faster path for those than for HOLEY).
const scratch: string[] = Array.from({ length: ENRICHED_FIELD_COUNT }, () => '');
const fillFields = new Function('e', 'a', ENRICHED_FIELDS.map((f, i) => `a[${i}] = e.${f} ?? '';`).join('\n')) as (e: EnrichedEvent, a: string[]) => void;

export function toEnrichedTsvTrusted(e: EnrichedEvent): string {
  // join() writes one flat string: no tree of partial concatenations left for the collector.
  fillFields(e, scratch);
  return scratch.join('\t');
}

export function toEnrichedTsv(e: EnrichedEvent): string {
  const line = concatFields(e);
  let tabs = 0;
  for (let i = line.indexOf('\t'); i >= 0; i = line.indexOf('\t', i + 1)) tabs++;
  return tabs === ENRICHED_FIELD_COUNT - 1 && !LINE_BREAK.test(line) ? line : toEnrichedTsvChecked(e);
}

// A constructor assigning every field (generated from the constant list) allocates all events with
// one shape and their fields in-object, several times faster than a 131-property literal.
const EnrichedEventShape = new Function(`return function EnrichedEvent() { ${ENRICHED_FIELDS.map((f) => `this.${f} = undefined;`).join(' ')} };`)() as new () => EnrichedEvent;

/** An empty event with every field present (undefined): one object shape for all events. */
export const newEnrichedEvent = (): EnrichedEvent => new EnrichedEventShape();

/** Empties an event made by newEnrichedEvent, for reuse. */
export const clearEnrichedEvent = new Function('e', `${ENRICHED_FIELDS.map((f) => `e.${f} = undefined;`).join(' ')} return e;`) as (e: EnrichedEvent) => EnrichedEvent;

/** Parses one TSV line (a trailing newline is tolerated). Empty fields are omitted. */
export function parseEnrichedTsv(line: string): EnrichedEvent {
  const trimmed = line.endsWith('\r\n') ? line.slice(0, -2) : line.endsWith('\n') ? line.slice(0, -1) : line;
  const values = trimmed.split('\t');
  if (values.length !== ENRICHED_FIELD_COUNT) {
    throw new Error(
      `enriched TSV line has ${values.length} fields, expected ${ENRICHED_FIELD_COUNT}`,
    );
  }
  const e: EnrichedEvent = {};
  for (let i = 0; i < ENRICHED_FIELD_COUNT; i++) {
    if (values[i] !== '') e[ENRICHED_FIELDS[i]] = values[i];
  }
  return e;
}

// Events of a batch share their seconds: the `yyyy-MM-dd HH:mm:ss` part is reused.
let lastSecond = NaN;
let lastPrefix = '';

/** Epoch ms → `yyyy-MM-dd HH:mm:ss.SSS` (UTC), the format Redshift and the SDKs expect. */
export function formatTstamp(ms: number): string {
  if (!Number.isInteger(ms) && Number.isFinite(ms)) ms = Math.floor(ms);
  const second = Math.floor(ms / 1000);
  if (second === lastSecond) {
    const frac = ms - second * 1000;
    return `${lastPrefix}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
  }
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(ms) || Number.isNaN(d.getTime()) || year < 0 || year > 9999) {
    throw new RangeError(`timestamp ${ms} cannot be formatted as yyyy-MM-dd HH:mm:ss.SSS`);
  }
  // toISOString is `yyyy-MM-ddTHH:mm:ss.SSSZ` for years 0..9999.
  const iso = d.toISOString();
  lastSecond = second;
  lastPrefix = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  return `${lastPrefix}${iso.slice(19, 23)}`;
}

// A timestamp's text is read by character codes: it is checked on every timestamp column of
// every event the shred step writes, and a regex match with seven captures allocated each time.
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** What scanTstamp returns for a text whose fields are well formed but out of range (2024-02-30). */
const OUT_OF_RANGE = -Infinity;

/** `len` ASCII digits of `s` from `at` as a number, or -1. */
function digitsAt(s: string, at: number, len: number): number {
  let n = 0;
  for (let i = at; i < at + len; i++) {
    const c = s.charCodeAt(i) - 48; // NaN past the end: fails the test
    if (!(c >= 0 && c <= 9)) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

/**
 * `yyyy-MM-dd HH:mm:ss[.f…]` (also with `T` and a trailing `Z`; 1 to 9 fraction digits, the
 * first three kept) as epoch ms; NaN when the text has another shape, OUT_OF_RANGE when a field
 * is out of range.
 */
function scanTstamp(s: string): number {
  if (typeof s !== 'string') return NaN;
  const n = s.length;
  if (n < 19 || n > 30) return NaN;
  const sep = s.charCodeAt(10);
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || (sep !== 32 && sep !== 84) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return NaN;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  const h = digitsAt(s, 11, 2);
  const mi = digitsAt(s, 14, 2);
  const sec = digitsAt(s, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return NaN;
  let at = 19;
  let ms = 0;
  if (at < n && s.charCodeAt(at) === 46) {
    const from = ++at;
    while (at < n && digitsAt(s, at, 1) >= 0) at++;
    if (at === from || at - from > 9) return NaN;
    for (let i = from; i < from + 3; i++) ms = ms * 10 + (i < at ? s.charCodeAt(i) - 48 : 0);
  }
  if (at < n && s.charCodeAt(at) === 90) at++;
  if (at !== n) return NaN;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  if (mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]) || h > 23 || mi > 59 || sec > 59) return OUT_OF_RANGE;
  return daysFromCivil(y, mo, d) * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms;
}

/** Whether parseTstamp reads `s` (without building anything). */
export function isTstamp(s: string): boolean {
  return scanTstamp(s) > OUT_OF_RANGE; // NaN compares false too
}

/** Inverse of formatTstamp; also accepts the ISO `T`/`Z` variant and 0–9 fraction digits. */
export function parseTstamp(s: string): number {
  const t = scanTstamp(s);
  if (t === OUT_OF_RANGE) throw new Error(`invalid timestamp '${s}': out-of-range component`);
  if (Number.isNaN(t)) throw new RangeError(`invalid timestamp '${s}', expected yyyy-MM-dd HH:mm:ss.SSS`);
  return t;
}
