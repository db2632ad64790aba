// Tracker-protocol parameters → enriched fields: Snowplow's Transform maps (first pass, then
// `tnuid`), with each parameter's conversion and error message. An empty value counts as absent.
import { parseJsonBounded } from '../../codecs/bounded-json';
import { type EnrichedEvent, type EnrichedField, formatTstamp } from '../../codecs/enriched-tsv';
import type { TrackerProtocolViolation } from '../bad-rows';
import type { RawEventParams } from '../adapters/types';
import {
  type Converted, extractIp, toBooleanLike, toDimensions, toDoubleLike, toInteger, toTsvSafe, toTstamp, toTxnId, toUuid,
} from './conversions';

export const PLATFORMS = ['web', 'iot', 'app', 'mob', 'pc', 'cnsl', 'tv', 'srv', 'headset'] as const;
const PLATFORM_SET = new Set<string>(PLATFORMS);

export const EVENT_TYPES: Readonly<Record<string, string>> = {
  se: 'struct', ev: 'struct', ue: 'unstruct', ad: 'ad_impression', tr: 'transaction',
  ti: 'transaction_item', pv: 'page_view', pp: 'page_ping',
};

type Kind = 'tsv' | 'ip' | 'platform' | 'event' | 'txn' | 'int' | 'uuid' | 'tstamp' | 'bool' | 'dims' | 'double' | 'json' | 'b64json';
type Spec = readonly [param: string, kind: Kind, field: EnrichedField, field2?: EnrichedField];

// Where two parameters feed one field the later entry wins: cx over co, ue_px over ue_pr,
// se_* over the legacy ev_*, ti_nm over ti_na, and tnuid (the second pass) over nuid.
const SPECS: readonly Spec[] = [
  ['e', 'event', 'event'], ['ip', 'ip', 'user_ipaddress'], ['aid', 'tsv', 'app_id'], ['p', 'platform', 'platform'],
  ['tid', 'txn', 'txn_id'], ['uid', 'tsv', 'user_id'], ['duid', 'tsv', 'domain_userid'], ['nuid', 'tsv', 'network_userid'],
  ['ua', 'tsv', 'useragent'], ['fp', 'tsv', 'user_fingerprint'], ['vid', 'int', 'domain_sessionidx'],
  ['sid', 'uuid', 'domain_sessionid'], ['dtm', 'tstamp', 'dvce_created_tstamp'], ['ttm', 'tstamp', 'true_tstamp'],
  ['stm', 'tstamp', 'dvce_sent_tstamp'], ['tna', 'tsv', 'name_tracker'], ['tv', 'tsv', 'v_tracker'],
  ['cv', 'tsv', 'v_collector'], ['lang', 'tsv', 'br_lang'],
  ['f_pdf', 'bool', 'br_features_pdf'], ['f_fla', 'bool', 'br_features_flash'], ['f_java', 'bool', 'br_features_java'],
  ['f_dir', 'bool', 'br_features_director'], ['f_qt', 'bool', 'br_features_quicktime'],
  ['f_realp', 'bool', 'br_features_realplayer'], ['f_wma', 'bool', 'br_features_windowsmedia'],
  ['f_gears', 'bool', 'br_features_gears'], ['f_ag', 'bool', 'br_features_silverlight'], ['cookie', 'bool', 'br_cookies'],
  ['res', 'dims', 'dvce_screenwidth', 'dvce_screenheight'], ['cd', 'tsv', 'br_colordepth'], ['tz', 'tsv', 'os_timezone'],
  ['refr', 'tsv', 'page_referrer'], ['url', 'tsv', 'page_url'], ['page', 'tsv', 'page_title'], ['cs', 'tsv', 'doc_charset'],
  ['ds', 'dims', 'doc_width', 'doc_height'], ['vp', 'dims', 'br_viewwidth', 'br_viewheight'], ['eid', 'uuid', 'event_id'],
  ['co', 'json', 'contexts'], ['cx', 'b64json', 'contexts'],
  ['ev_ca', 'tsv', 'se_category'], ['ev_ac', 'tsv', 'se_action'], ['ev_la', 'tsv', 'se_label'], ['ev_pr', 'tsv', 'se_property'],
  ['ev_va', 'double', 'se_value'],
  ['se_ca', 'tsv', 'se_category'], ['se_ac', 'tsv', 'se_action'], ['se_la', 'tsv', 'se_label'], ['se_pr', 'tsv', 'se_property'],
  ['se_va', 'double', 'se_value'],
  ['ue_pr', 'json', 'unstruct_event'], ['ue_px', 'b64json', 'unstruct_event'],
  ['tr_id', 'tsv', 'tr_orderid'], ['tr_af', 'tsv', 'tr_affiliation'], ['tr_tt', 'double', 'tr_total'], ['tr_tx', 'double', 'tr_tax'],
  ['tr_sh', 'double', 'tr_shipping'], ['tr_ci', 'tsv', 'tr_city'], ['tr_st', 'tsv', 'tr_state'], ['tr_co', 'tsv', 'tr_country'],
  ['ti_id', 'tsv', 'ti_orderid'], ['ti_sk', 'tsv', 'ti_sku'], ['ti_na', 'tsv', 'ti_name'], ['ti_nm', 'tsv', 'ti_name'],
  ['ti_ca', 'tsv', 'ti_category'], ['ti_pr', 'double', 'ti_price'], ['ti_qu', 'int', 'ti_quantity'],
  ['pp_mix', 'int', 'pp_xoffset_min'], ['pp_max', 'int', 'pp_xoffset_max'], ['pp_miy', 'int', 'pp_yoffset_min'],
  ['pp_may', 'int', 'pp_yoffset_max'], ['tr_cu', 'tsv', 'tr_currency'], ['ti_cu', 'tsv', 'ti_currency'],
  ['tnuid', 'tsv', 'network_userid'],
];

/** A JSON parameter as parsed (for validation) and as written to the TSV (compact). */
export interface JsonParam { text: string; json: unknown }

export interface Mapped {
  /** Present only when a parameter was invalid. */
  violations?: TrackerProtocolViolation[];
  contexts?: JsonParam;
  unstruct?: JsonParam;
  dtm?: number;
  stm?: number;
  ttm?: number;
}

// JSON without any whitespace is already compact: keep its text (and its number spellings).
const HAS_SPACE = /\s/;
function jsonParam(text: string): Converted<JsonParam> {
  const parsed = parseJsonBounded(text);
  if (!parsed.ok) return { ok: false, message: `invalid json: ${parsed.error}` };
  const json = parsed.value;
  return { ok: true, value: { json, text: HAS_SPACE.test(text) ? JSON.stringify(json) : text } };
}

// The mapping is generated once from SPECS: a straight run of named reads and writes (this is the
// hottest code of enrich, and named property access on the fixed-shape event is what V8 does best).
// Entries apply in SPECS order, so the later of two parameters feeding one field wins.
// A parameter that loses to another one feeding the same field, when that one is present.
const BEATEN_BY: Readonly<Record<string, string>> = {
  co: 'cx', ue_pr: 'ue_px', ev_ca: 'se_ca', ev_ac: 'se_ac', ev_la: 'se_la', ev_pr: 'se_pr', ev_va: 'se_va',
  ti_na: 'ti_nm', nuid: 'tnuid',
};

// Each kind's converter, handed to the generated code by name.
const CONVERTERS: Record<Exclude<Kind, 'tsv'>, (v: string) => Converted<unknown>> = {
  ip: (v) => ({ ok: true, value: extractIp(v) }),
  platform: (v) => (PLATFORM_SET.has(v) ? { ok: true, value: v } : { ok: false, message: 'not recognized as a tracking platform' }),
  event: (v) => (Object.hasOwn(EVENT_TYPES, v) ? { ok: true, value: EVENT_TYPES[v] } : { ok: false, message: 'not recognized as an event type' }),
  txn: toTxnId, int: toInteger, uuid: toUuid, tstamp: toTstamp, bool: toBooleanLike, dims: toDimensions, double: toDoubleLike,
  json: jsonParam, b64json: (v) => jsonParam(Buffer.from(v, 'base64').toString('utf8')),
};
// One pass over the parameters present, dispatching on the name; where two parameters feed one
// field (cx and co, ue_px and ue_pr, se_* and ev_*, ti_nm and ti_na, tnuid and nuid) the first of
// each pair gives way when the second is present.
const generatedMapper = new Function('c', 'tsv', 'formatTstamp', `return function map(params, e, out) {
  let r;
  for (const k in params) {
    const v = params[k];
    if (typeof v !== 'string' || v === '') continue;
    switch (k) {
${SPECS.map(([param, kind, field, field2]) => {
    const winner = BEATEN_BY[param];
    const yieldTo = winner ? `if (typeof params.${winner} === 'string' && params.${winner} !== '') break; ` : '';
    if (kind === 'tsv') return `      case ${JSON.stringify(param)}: { ${yieldTo}const s = tsv(v); if (s !== '') e.${field} = s; break; }`;
    const onOk = kind === 'dims' ? `{ e.${field} = r.value[0]; e.${field2} = r.value[1]; }`
      : kind === 'tstamp' ? `{ out.${param} = r.value; e.${field} = formatTstamp(r.value); }`
      : kind === 'json' || kind === 'b64json' ? `{ out.${field === 'contexts' ? 'contexts' : 'unstruct'} = r.value; e.${field} = r.value.text; }`
      : `{ if (r.value !== '') e.${field} = r.value; }`;
    return `      case ${JSON.stringify(param)}: ${yieldTo}r = c.${kind}(v); if (r.ok) ${onOk} else (out.violations ??= []).push({ field: ${JSON.stringify(param)}, value: v, expectation: r.message }); break;`;
  }).join('\n')}
    }
  }
};`)(CONVERTERS, toTsvSafe, formatTstamp) as (params: RawEventParams, e: EnrichedEvent, out: Mapped) => void;

/** Maps every known parameter onto `e`, collecting a violation per bad value. */
export function mapParameters(params: RawEventParams, e: EnrichedEvent): Mapped {
  const out: Mapped = {};
  generatedMapper(params, e, out);
  return out;
}
