// Enrichment configuration: one self-describing JSON file per enrichment (Snowplow's schemas),
// validated against its Iglu schema, each switched on or off by its `enabled` flag.
import { parseJsonOrThrow } from '../../codecs/bounded-json';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Validator } from '../iglu';
import { type SchemaKey, parseSelfDescribing, schemaUri } from '../iglu/schema-key';
import { type AnonIpConfig } from './anon-ip';
import { type CampaignConfig, CampaignAttributionEnrichment } from './campaign';
import { CookieExtractorEnrichment, HttpHeaderExtractorEnrichment } from './extractors';
import { EventFingerprintEnrichment } from './fingerprint';
import { IpLookupsEnrichment } from './ip-lookups';
import { type JavascriptLimits, JavascriptEnrichment } from './javascript';
import { type PiiConfig, PiiPseudonymizerEnrichment } from './pii';
import { RefererParserEnrichment, loadRefererDb } from './referer-parser';
import type { EnrichmentInfo } from './types';
import { UaParserEnrichment } from './ua-parser';

export class EnrichmentConfigError extends Error {
  override name = 'EnrichmentConfigError';
}

type With<T> = { enrichment: T; info: EnrichmentInfo };

/** The enabled enrichments; an absent entry is switched off. */
export interface EnrichmentRegistry {
  anonIp?: With<AnonIpConfig>;
  uaParser?: With<UaParserEnrichment>;
  refererParser?: With<RefererParserEnrichment>;
  campaignAttribution?: With<CampaignAttributionEnrichment>;
  eventFingerprint?: With<EventFingerprintEnrichment>;
  cookieExtractor?: With<CookieExtractorEnrichment>;
  httpHeaderExtractor?: With<HttpHeaderExtractorEnrichment>;
  piiPseudonymizer?: With<PiiPseudonymizerEnrichment>;
  javascriptScript?: With<JavascriptEnrichment>;
  ipLookups?: With<IpLookupsEnrichment>;
}

export interface EnrichmentConfigOptions {
  validator: Validator;
  /** Relative `file:` URIs of databases resolve against this folder (the config file's). */
  baseDir: string;
  jsTimeoutMs?: number;
  /** Memory and output bounds of the JavaScript enrichment (enrich.js* config keys). */
  jsLimits?: Partial<Omit<JavascriptLimits, 'timeoutMs'>>;
}

/**
 * A database location as `parameters.uri` + `parameters.database`. Only `file:` URIs are read
 * (Sluice downloads nothing at run time); a relative `file:` path resolves against baseDir.
 */
export function resolveDatabase(uri: string, database: string, baseDir: string): string {
  if (!uri.startsWith('file:')) {
    throw new EnrichmentConfigError(`database ${database}: only file: URIs are read (got ${uri}); put the file on disk and point uri at its folder`);
  }
  const dir = uri.startsWith('file://') ? fileURLToPath(uri.endsWith('/') ? uri : `${uri}/`) : path.resolve(baseDir, uri.slice('file:'.length));
  const file = path.join(dir, database);
  if (!fs.existsSync(file)) throw new EnrichmentConfigError(`database ${file} does not exist`);
  return file;
}

type Params = Record<string, unknown>;

const SUPPORTED: Record<string, { model: number; build: (p: Params, data: Params, o: EnrichmentConfigOptions, info: EnrichmentInfo) => Partial<EnrichmentRegistry> }> = {
  'com.snowplowanalytics.snowplow/anon_ip': {
    model: 1,
    build: (p, _d, _o, info) => ({ anonIp: { info, enrichment: { anonOctets: p.anonOctets as number, anonSegments: (p.anonSegments as number | undefined) ?? (p.anonOctets as number) } } }),
  },
  'com.snowplowanalytics.snowplow/ua_parser_config': {
    model: 1,
    build: (p, _d, _o, info) => {
      if (p && (p.uri !== undefined || p.regexFileUri !== undefined)) throw new EnrichmentConfigError('ua_parser_config: custom regex files are not supported (Sluice parses with ua-parser-js)');
      return { uaParser: { info, enrichment: new UaParserEnrichment() } };
    },
  },
  'com.snowplowanalytics.snowplow/referer_parser': {
    model: 2,
    build: (p, _d, o, info) => ({
      refererParser: {
        info,
        enrichment: new RefererParserEnrichment(loadRefererDb(resolveDatabase(p.uri as string, p.database as string, o.baseDir)), p.internalDomains as string[]),
      },
    }),
  },
  'com.snowplowanalytics.snowplow/campaign_attribution': {
    model: 1,
    build: (p, _d, _o, info) => ({ campaignAttribution: { info, enrichment: new CampaignAttributionEnrichment(p.fields as CampaignConfig) } }),
  },
  'com.snowplowanalytics.snowplow/event_fingerprint_config': {
    model: 1,
    build: (p, _d, _o, info) => ({ eventFingerprint: { info, enrichment: new EventFingerprintEnrichment(p.hashAlgorithm as string, p.excludeParameters as string[]) } }),
  },
  'com.snowplowanalytics.snowplow/cookie_extractor_config': {
    model: 1,
    build: (p, _d, _o, info) => ({ cookieExtractor: { info, enrichment: new CookieExtractorEnrichment(p.cookies as string[]) } }),
  },
  'com.snowplowanalytics.snowplow.enrichments/http_header_extractor_config': {
    model: 1,
    build: (p, _d, _o, info) => ({ httpHeaderExtractor: { info, enrichment: new HttpHeaderExtractorEnrichment(p.headersPattern as string) } }),
  },
  'com.snowplowanalytics.snowplow.enrichments/pii_enrichment_config': {
    model: 2,
    build: (p, d, _o, info) => ({
      piiPseudonymizer: { info, enrichment: new PiiPseudonymizerEnrichment({ ...(p as unknown as PiiConfig), emitEvent: d.emitEvent === true }) },
    }),
  },
  'com.snowplowanalytics.snowplow/javascript_script_config': {
    model: 1,
    build: (p, _d, o, info) => ({
      javascriptScript: { info, enrichment: new JavascriptEnrichment(Buffer.from(p.script as string, 'base64').toString('utf8'), { ...o.jsLimits, timeoutMs: o.jsTimeoutMs }) },
    }),
  },
  'com.snowplowanalytics.snowplow/ip_lookups': {
    model: 2,
    build: (p, _d, o, info) => {
      const file = (k: string) => {
        const db = p[k] as { database: string; uri: string } | undefined;
        return db ? resolveDatabase(db.uri, db.database, o.baseDir) : undefined;
      };
      return { ipLookups: { info, enrichment: new IpLookupsEnrichment({ geo: file('geo'), isp: file('isp'), domain: file('domain'), connectionType: file('connectionType') }) } };
    },
  },
};

const IDENTIFIERS: Record<string, string> = {
  anon_ip: 'anon-ip', ua_parser_config: 'ua-parser', referer_parser: 'referer-parser', campaign_attribution: 'campaign-attribution',
  event_fingerprint_config: 'event-fingerprint', cookie_extractor_config: 'cookie-extractor',
  http_header_extractor_config: 'http-header-extractor', pii_enrichment_config: 'pii-pseudonymizer',
  javascript_script_config: 'Javascript enrichment', ip_lookups: 'ip-lookups',
};

/** Builds the registry from self-describing enrichment configs (`source` names each in errors). */
export function buildEnrichments(configs: { source: string; json: unknown }[], opts: EnrichmentConfigOptions): EnrichmentRegistry {
  const registry: EnrichmentRegistry = {};
  for (const { source, json } of configs) {
    const sd = parseSelfDescribing(json);
    if (!sd.ok) throw new EnrichmentConfigError(`${source}: not self-describing JSON (${sd.error})`);
    const key: SchemaKey = sd.key;
    const spec = SUPPORTED[`${key.vendor}/${key.name}`];
    if (!spec || spec.model !== key.version.model) throw new EnrichmentConfigError(`${source}: ${sd.uri} is not a supported enrichment`);
    const problem = opts.validator.check(key, sd.data);
    if (problem === 'pending') throw new EnrichmentConfigError(`${source}: schema ${sd.uri} is not in the local registry`);
    if (problem) throw new EnrichmentConfigError(`${source}: invalid against ${sd.uri}: ${JSON.stringify(problem)}`);
    const data = sd.data as Params;
    if (data.enabled !== true) continue;
    const info: EnrichmentInfo = { schemaKey: schemaUri(key), identifier: IDENTIFIERS[key.name] ?? key.name };
    try {
      Object.assign(registry, spec.build((data.parameters ?? {}) as Params, data, opts, info));
    } catch (err) {
      throw err instanceof EnrichmentConfigError ? new EnrichmentConfigError(`${source}: ${err.message}`) : new EnrichmentConfigError(`${source}: ${(err as Error).message}`);
    }
  }
  return registry;
}

/** Reads every `*.json` in a folder (sorted by name) as enrichment configs. */
export function loadEnrichments(dir: string, opts: Omit<EnrichmentConfigOptions, 'baseDir'>): EnrichmentRegistry {
  if (!fs.existsSync(dir)) throw new EnrichmentConfigError(`enrichments folder ${dir} does not exist`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const configs = files.map((f) => {
    const source = path.join(dir, f);
    try {
      return { source, json: parseJsonOrThrow(fs.readFileSync(source, 'utf8'), 'invalid JSON') };
    } catch (err) {
      throw new EnrichmentConfigError(`${source}: ${(err as Error).message}`);
    }
  });
  return buildEnrichments(configs, { ...opts, baseDir: dir });
}
