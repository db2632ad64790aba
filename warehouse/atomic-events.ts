import { ENRICHED_FIELDS } from '../codecs/enriched-tsv';
import { quoteIdent } from './sql';

// atomic.events: Snowplow's column list (the enriched TSV fields minus the three JSON columns,
// which are shredded into their own tables) plus load_tstamp, as RDB loader 4+ does.

const SHREDDED_ONLY = new Set(['contexts', 'unstruct_event', 'derived_contexts']);

export const ATOMIC_COLUMNS: readonly string[] = ENRICHED_FIELDS.filter((f) => !SHREDDED_ONLY.has(f));

const ts = 'timestamp';
const bool = 'boolean';
const int = 'integer';
const dbl = 'double precision';
const money = 'decimal(18,2)';
const v = (n: number) => `varchar(${n})`;

// Types and lengths as in Snowplow's atomic-def.sql; anything not listed is varchar(255).
const COLUMN_TYPES: Record<string, string> = {
  app_id: v(255), platform: v(255), etl_tstamp: ts, collector_tstamp: `${ts} not null`, dvce_created_tstamp: ts,
  event: v(128), event_id: 'char(36) not null', txn_id: int, name_tracker: v(128), v_tracker: v(100),
  v_collector: `${v(100)} not null`, v_etl: `${v(100)} not null`, user_id: v(255), user_ipaddress: v(128),
  user_fingerprint: v(128), domain_userid: v(128), domain_sessionidx: int, network_userid: v(128),
  geo_country: 'char(2)', geo_region: 'char(3)', geo_city: v(75), geo_zipcode: v(15), geo_latitude: dbl,
  geo_longitude: dbl, geo_region_name: v(100), ip_isp: v(100), ip_organization: v(128), ip_domain: v(128),
  ip_netspeed: v(100), page_url: v(4096), page_title: v(2000), page_referrer: v(4096), page_urlscheme: v(16),
  page_urlhost: v(255), page_urlport: int, page_urlpath: v(3000), page_urlquery: v(6000), page_urlfragment: v(3000),
  refr_urlscheme: v(16), refr_urlhost: v(255), refr_urlport: int, refr_urlpath: v(6000), refr_urlquery: v(6000),
  refr_urlfragment: v(3000), refr_medium: v(25), refr_source: v(50), refr_term: v(255), mkt_medium: v(255),
  mkt_source: v(255), mkt_term: v(255), mkt_content: v(500), mkt_campaign: v(255), se_category: v(1000),
  se_action: v(1000), se_label: v(4096), se_property: v(1000), se_value: dbl, tr_orderid: v(255),
  tr_affiliation: v(255), tr_total: money, tr_tax: money, tr_shipping: money, tr_city: v(255), tr_state: v(255),
  tr_country: v(255), ti_orderid: v(255), ti_sku: v(255), ti_name: v(255), ti_category: v(255), ti_price: money,
  ti_quantity: int, pp_xoffset_min: int, pp_xoffset_max: int, pp_yoffset_min: int, pp_yoffset_max: int,
  useragent: v(1000), br_name: v(50), br_family: v(50), br_version: v(50), br_type: v(50), br_renderengine: v(50),
  br_lang: v(255), br_features_pdf: bool, br_features_flash: bool, br_features_java: bool,
  br_features_director: bool, br_features_quicktime: bool, br_features_realplayer: bool,
  br_features_windowsmedia: bool, br_features_gears: bool, br_features_silverlight: bool, br_cookies: bool,
  br_colordepth: v(12), br_viewwidth: int, br_viewheight: int, os_name: v(50), os_family: v(50),
  os_manufacturer: v(50), os_timezone: v(255), dvce_type: v(50), dvce_ismobile: bool, dvce_screenwidth: int,
  dvce_screenheight: int, doc_charset: v(128), doc_width: int, doc_height: int, tr_currency: 'char(3)',
  tr_total_base: money, tr_tax_base: money, tr_shipping_base: money, ti_currency: 'char(3)', ti_price_base: money,
  base_currency: 'char(3)', geo_timezone: v(64), mkt_clickid: v(128), mkt_network: v(64), etl_tags: v(500),
  dvce_sent_tstamp: ts, refr_domain_userid: v(128), refr_dvce_tstamp: ts, domain_sessionid: v(128),
  derived_tstamp: ts, event_vendor: v(1000), event_name: v(1000), event_format: v(128), event_version: v(128),
  event_fingerprint: v(128), true_tstamp: ts,
};

export function atomicColumnType(column: string): string {
  return COLUMN_TYPES[column] ?? v(255);
}

/** PostgreSQL DDL for the atomic schema and events table (idempotent). */
export function atomicEventsDdlPostgres(schema = 'atomic'): string[] {
  const s = quoteIdent(schema);
  const cols = ATOMIC_COLUMNS.map((c) => `  ${quoteIdent(c)} ${atomicColumnType(c)}`);
  cols.push(`  ${quoteIdent('load_tstamp')} timestamp default (now() at time zone 'utc')`);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE TABLE IF NOT EXISTS ${s}.${quoteIdent('events')} (\n${cols.join(',\n')}\n)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent('events_collector_tstamp_idx')} ON ${s}.${quoteIdent('events')} (${quoteIdent('collector_tstamp')})`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent('events_event_id_idx')} ON ${s}.${quoteIdent('events')} (${quoteIdent('event_id')})`,
  ];
}
