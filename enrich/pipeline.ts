// One raw event → an enriched event, in Snowplow's order: set-up and parameter mapping (tracker
// protocol violations), the event's own self-describing JSON (schema violations), the
// enrichments (enrichment failures), derived contexts, IP anonymisation, PII, atomic lengths.
import { randomUUID } from 'node:crypto';
import type { CollectorPayload } from '../codecs/collector-payload';
import { type EnrichedEvent, clearEnrichedEvent, formatTstamp, newEnrichedEvent } from '../codecs/enriched-tsv';
import type { EnrichmentFailure, SchemaViolation, TrackerProtocolViolation } from './bad-rows';
import type { RawEventParams } from './adapters/types';
import { anonymizeIp } from './enrichments/anon-ip';
import type { PiiTransformation } from './enrichments/pii';
import type { EnrichmentRegistry } from './enrichments/registry';
import { type DerivedContext, simpleFailure } from './enrichments/types';
import { atomicLengthFailures } from './event/atomic';
import { MAX_TSTAMP, MIN_TSTAMP, decodeUrlEncoded, extractIp, toTsvSafe, toTstamp } from './event/conversions';
import { type Entity, validateInputJsons } from './event/self-describing';
import { mapParameters } from './event/transform';
import { parseUri, queryMap } from './event/url';
import type { Validator } from './iglu';
import { parseSchemaUri } from './iglu/schema-key';

export const CONTEXTS_SCHEMA = 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1';

export interface PipelineEnv {
  validator: Validator;
  enrichments: EnrichmentRegistry;
  etlTstamp: number;
  etlTstampText: string;
  etlVersion: string;
}

export type EventOutcome =
  | { kind: 'good'; event: EnrichedEvent; pii: PiiTransformation | null }
  | { kind: 'tracker_protocol_violations'; violations: TrackerProtocolViolation[] }
  | { kind: 'schema_violations'; violations: SchemaViolation[]; partial: EnrichedEvent }
  | { kind: 'enrichment_failures'; failures: EnrichmentFailure[]; partial: EnrichedEvent }
  | { kind: 'pending'; schemaUris: string[] };

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** Snowplow's derived_tstamp: true_tstamp, else collector time corrected for device clock skew. */
export function derivedTstamp(collector: number, dtm?: number, stm?: number, ttm?: number): number {
  if (ttm !== undefined) return ttm;
  if (dtm !== undefined && stm !== undefined && dtm < stm) return collector - (stm - dtm);
  return collector;
}

// Validation outcome per derived context object: the ua_parser cache hands out shared objects.
const derivedChecked = new WeakMap<DerivedContext, ReturnType<Validator['check']>>();

function checkDerived(c: DerivedContext, validator: Validator): ReturnType<Validator['check']> | 'not-iglu' {
  const hit = derivedChecked.get(c);
  if (hit !== undefined) return hit;
  const key = parseSchemaUri(c.schema);
  if (typeof key === 'string') return 'not-iglu';
  const r = validator.check(key, c.data);
  if (r !== 'pending') derivedChecked.set(c, r);
  return r;
}

function schemaFields(e: EnrichedEvent, unstruct: Entity | undefined): void {
  switch (e.event) {
    case 'unstruct':
      if (unstruct) {
        const k = unstruct.key;
        e.event_vendor = k.vendor; e.event_name = k.name; e.event_format = k.format;
        e.event_version = `${k.version.model}-${k.version.revision}-${k.version.addition}`;
      }
      return;
    case 'struct':
      e.event_vendor = 'com.google.analytics'; e.event_name = 'event'; e.event_format = 'jsonschema'; e.event_version = '1-0-0';
      return;
    case undefined:
      return;
    default:
      // page_view, page_ping, transaction, transaction_item (and the legacy ad_impression).
      e.event_vendor = 'com.snowplowanalytics.snowplow'; e.event_name = e.event; e.event_format = 'jsonschema'; e.event_version = '1-0-0';
  }
}

/**
 * `reuse`: an event object to fill instead of allocating one, for callers that are done with the
 * outcome's event before the next call (the stream path, which only keeps the TSV line).
 */
export function enrichRawEvent(params: RawEventParams, payload: CollectorPayload, env: PipelineEnv, reuse?: EnrichedEvent): EventOutcome {
  const e = reuse ? clearEnrichedEvent(reuse) : newEnrichedEvent();
  let violations: TrackerProtocolViolation[] | undefined; // allocated only when needed

  // Set-up from the collector payload; tracker parameters may override each of these.
  e.v_collector = toTsvSafe(String(payload.collector ?? ''));
  e.v_etl = env.etlVersion;
  e.etl_tstamp = env.etlTstampText;
  if (nonEmpty(payload.networkUserId)) e.network_userid = toTsvSafe(payload.networkUserId);
  if (nonEmpty(payload.ipAddress)) { const ip = extractIp(payload.ipAddress); if (ip) e.user_ipaddress = ip; }
  if (nonEmpty(payload.userAgent)) {
    const ua = decodeUserAgent(payload.userAgent);
    if (ua.ok) { if (ua.value) e.useragent = ua.value; } else (violations ??= []).push({ field: 'useragent', value: payload.userAgent, expectation: ua.message });
  }
  const collector = payload.timestamp;
  if (collector >= MIN_TSTAMP && collector <= MAX_TSTAMP) e.collector_tstamp = formatTstamp(collector);
  else {
    const t = toTstamp(String(collector));
    (violations ??= []).push({ field: 'collector_tstamp', value: String(collector), expectation: t.ok ? 'not set' : t.message });
  }

  const mapped = mapParameters(params, e);
  if (mapped.violations) (violations ??= []).push(...mapped.violations);
  if (violations) return { kind: 'tracker_protocol_violations', violations };
  if (e.event_id === undefined) e.event_id = randomUUID(); // Snowplow generates a v4 UUID too

  // The event's own unstructured event and contexts.
  const inputs = validateInputJsons(mapped.unstruct, mapped.contexts, env.validator);
  if (inputs.pending.length) return { kind: 'pending', schemaUris: inputs.pending };
  if (inputs.violations.length) return { kind: 'schema_violations', violations: inputs.violations, partial: e };

  // Enrichments.
  const en = env.enrichments;
  const failures: EnrichmentFailure[] = [];
  const derived: DerivedContext[] = [];
  if (!e.v_collector) failures.push({ enrichment: null, message: { field: 'v_collector', value: null, expectation: 'should be set' } });

  // The page URL: the tracker's, else the collector's Referer header.
  let pageQuery: string | null = null;
  let pageUriSeen = false;
  const pageRaw = e.page_url ?? (nonEmpty(payload.refererUri) ? payload.refererUri : undefined);
  if (pageRaw !== undefined) {
    const p = parseUri(pageRaw);
    if (!p.ok) failures.push(simpleFailure(null, p.message));
    else {
      const u = p.parts;
      pageUriSeen = true;
      e.page_url = u.uri;
      setIf(e, 'page_urlscheme', u.scheme); setIf(e, 'page_urlhost', u.host); e.page_urlport = String(u.port);
      setIf(e, 'page_urlpath', u.path); setIf(e, 'page_urlquery', u.query); setIf(e, 'page_urlfragment', u.fragment);
      pageQuery = u.query;
    }
  }

  e.derived_tstamp = formatTstamp(derivedTstamp(collector, mapped.dtm, mapped.stm, mapped.ttm));

  if (en.uaParser && e.useragent !== undefined) derived.push(en.uaParser.enrichment.context(e.useragent));

  if (e.page_referrer !== undefined) {
    const r = parseUri(e.page_referrer);
    if (!r.ok) failures.push(simpleFailure(null, r.message));
    else {
      const u = r.parts;
      setIf(e, 'refr_urlscheme', u.scheme); setIf(e, 'refr_urlhost', u.host); e.refr_urlport = String(u.port);
      setIf(e, 'refr_urlpath', u.path); setIf(e, 'refr_urlquery', u.query); setIf(e, 'refr_urlfragment', u.fragment);
      if (en.refererParser) {
        const ref = en.refererParser.enrichment.forUri(u, e.page_urlhost ?? null);
        if (ref) {
          e.refr_medium = ref.medium;
          if (ref.source !== null) e.refr_source = ref.source;
          if (ref.term !== null) e.refr_term = ref.term;
        }
      }
    }
  }

  if (pageUriSeen) {
    if (en.campaignAttribution) {
      const c = en.campaignAttribution.enrichment.fromQuery(pageQuery);
      setIf(e, 'mkt_medium', c.medium); setIf(e, 'mkt_source', c.source); setIf(e, 'mkt_term', c.term);
      setIf(e, 'mkt_content', c.content); setIf(e, 'mkt_campaign', c.campaign);
      setIf(e, 'mkt_clickid', c.clickId); setIf(e, 'mkt_network', c.network);
    }
    // Cross-domain tracking: `_sp=domainUserId.timestamp` on the page URL.
    const sp = pageQuery !== null && pageQuery.includes('_sp=') ? queryMap(pageQuery).get('_sp') : undefined;
    if (sp) {
      const [duid, tstamp] = sp.split('.');
      if (duid) e.refr_domain_userid = toTsvSafe(duid);
      if (tstamp) {
        const t = toTstamp(tstamp);
        if (t.ok) e.refr_dvce_tstamp = formatTstamp(t.value);
        else failures.push({ enrichment: null, message: { field: 'sp_dtm', value: tstamp, expectation: t.message } });
      }
    }
  }

  if (en.eventFingerprint) e.event_fingerprint = en.eventFingerprint.enrichment.fingerprint(params);
  const headers = Array.isArray(payload.headers) ? payload.headers : [];
  if (en.cookieExtractor) derived.push(...en.cookieExtractor.enrichment.extract(headers));
  if (en.httpHeaderExtractor) derived.push(...en.httpHeaderExtractor.enrichment.extract(headers));
  schemaFields(e, inputs.unstruct);
  if (en.ipLookups) en.ipLookups.enrichment.apply(e);
  if (en.javascriptScript) {
    const r = en.javascriptScript.enrichment.process(e);
    if (r.ok) derived.push(...r.contexts); else failures.push(simpleFailure(en.javascriptScript.info, r.error));
  }
  if (failures.length) return { kind: 'enrichment_failures', failures, partial: e };

  // Derived contexts, valid against their schemas.
  if (derived.length) {
    for (const c of derived) {
      const r = checkDerived(c, env.validator);
      if (r === 'pending') return { kind: 'pending', schemaUris: [c.schema] };
      if (r === 'not-iglu') failures.push(simpleFailure(null, `derived context schema ${c.schema} is not a valid Iglu URI`));
      else if (r !== null) failures.push({ enrichment: null, message: { schemaKey: c.schema, error: r } });
    }
    if (failures.length) return { kind: 'enrichment_failures', failures, partial: e };
    e.derived_contexts = derivedContextsJson(derived);
  }

  if (en.anonIp) {
    const ip = anonymizeIp(e.user_ipaddress, en.anonIp.enrichment);
    if (ip !== undefined) e.user_ipaddress = ip;
  }
  const pii = en.piiPseudonymizer ? en.piiPseudonymizer.enrichment.transform(e) : null;

  const tooLong = atomicLengthFailures(e);
  if (tooLong.length) return { kind: 'enrichment_failures', failures: tooLong, partial: e };
  return { kind: 'good', event: e, pii: pii && en.piiPseudonymizer?.enrichment.emitEvent ? pii : null };
}

function setIf(e: EnrichedEvent, f: keyof EnrichedEvent, v: string | null): void {
  if (v !== null && v !== '') e[f] = v;
}

// Each distinct context object is serialised once (the ua_parser cache shares them).
const entityJson = new WeakMap<DerivedContext, string>();
const singleDerivedJson = new WeakMap<DerivedContext, string>();
function derivedContextsJson(derived: DerivedContext[]): string {
  if (derived.length === 1) {
    let j = singleDerivedJson.get(derived[0]);
    if (j === undefined) { j = `{"schema":"${CONTEXTS_SCHEMA}","data":[${JSON.stringify(derived[0])}]}`; singleDerivedJson.set(derived[0], j); }
    return j;
  }
  const parts = derived.map((c) => {
    let j = entityJson.get(c);
    if (j === undefined) { j = JSON.stringify(c); entityJson.set(c, j); }
    return j;
  });
  return `{"schema":"${CONTEXTS_SCHEMA}","data":[${parts.join(',')}]}`;
}

// The collector's user agent is the same for every event of a payload.
let lastUa = '';
let lastUaDecoded: ReturnType<typeof decodeUrlEncoded> = { ok: true, value: '' };
function decodeUserAgent(ua: string): ReturnType<typeof decodeUrlEncoded> {
  if (ua !== lastUa) { lastUaDecoded = decodeUrlEncoded(ua); lastUa = ua; }
  return lastUaDecoded;
}
