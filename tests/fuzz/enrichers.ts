// The enrichers the fuzz runs payloads through: protocol only, the shipped configuration, and a
// full one with every enrichment Sluice has switched on (config files written as an operator
// writes them, MaxMind-format databases built by the test helper).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, createEnricher } from '../../enrich/default-enricher';
import { type Enricher, protocolOnlyEnricher } from '../../enrich/enrich';
import { buildMmdb } from '../helpers/mmdb';
import { SP } from './tracker-arbitraries';
import { enrichmentConfig as cfg, piiConfig } from '../helpers/enrichment-configs';

export type EnricherKind = 'protocol' | 'shipped' | 'full';


// Reads fields, returns a context, and changes a field: the script path end to end.
const SCRIPT = `function process(event) {
  var ua = event.getUseragent() || '';
  if (ua.indexOf('throw-me') >= 0) throw new Error('asked to');
  event.setApp_id((event.getApp_id() || '').slice(0, 200));
  return [{ schema: 'iglu:${SP}/web_page/jsonschema/1-0-0', data: { id: '0a8bfd3b-0a25-4c5e-8a14-c7c84e63bc7b' } }];
}`;

function fullEnricher(): { enricher: Enricher; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-fuzz-enrich-'));
  fs.writeFileSync(path.join(dir, 'GeoIP2-City.mmdb'), buildMmdb({
    '81.2.69.0/24': { country: { iso_code: 'GB' }, city: { names: { en: 'London' } }, location: { latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' } },
    '2001:db8::/32': { country: { iso_code: 'US' }, location: { latitude: 37.751, longitude: -97.822 } },
  }, { databaseType: 'GeoIP2-City' }));
  fs.writeFileSync(path.join(dir, 'GeoIP2-ISP.mmdb'), buildMmdb({ '81.2.69.0/24': { isp: 'Andrews & Arnold Ltd', organization: 'STONEHOUSE', autonomous_system_number: 20712 } }, { databaseType: 'GeoIP2-ISP' }));
  const uri = `file://${dir}/`;
  const configs: Record<string, unknown> = {
    ip: cfg(`${SP}/ip_lookups/jsonschema/2-0-0`, { vendor: SP, name: 'ip_lookups', parameters: { geo: { database: 'GeoIP2-City.mmdb', uri }, isp: { database: 'GeoIP2-ISP.mmdb', uri } } }),
    anon: cfg(`${SP}/anon_ip/jsonschema/1-0-1`, { vendor: SP, name: 'anon_ip', parameters: { anonOctets: 2, anonSegments: 3 } }),
    ua: cfg(`${SP}/ua_parser_config/jsonschema/1-0-1`, { vendor: SP, name: 'ua_parser_config', parameters: {} }),
    referer: cfg(`${SP}/referer_parser/jsonschema/2-0-0`, { vendor: SP, name: 'referer_parser', parameters: { internalDomains: ['shop.example.com'], database: 'referers.json', uri: `file://${path.join(PROJECT_ROOT, 'enrich/data')}/` } }),
    campaign: JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'config/enrichments/campaign_attribution.json'), 'utf8')),
    fingerprint: JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'config/enrichments/event_fingerprint_config.json'), 'utf8')),
    cookies: cfg(`${SP}/cookie_extractor_config/jsonschema/1-0-0`, { vendor: SP, name: 'cookie_extractor_config', parameters: { cookies: ['sp', '_ga', '__proto__'] } }),
    headers: cfg(`${SP}.enrichments/http_header_extractor_config/jsonschema/1-0-0`, { vendor: `${SP}.enrichments`, name: 'http_header_extractor_config', parameters: { headersPattern: '.*' } }),
    pii: piiConfig(),
    js: cfg(`${SP}/javascript_script_config/jsonschema/1-0-0`, { vendor: SP, name: 'javascript_script_config', parameters: { script: Buffer.from(SCRIPT).toString('base64') } }),
  };
  const conf = path.join(dir, 'enrichments');
  fs.mkdirSync(conf);
  for (const [name, json] of Object.entries(configs)) fs.writeFileSync(path.join(conf, `${name}.json`), JSON.stringify(json));
  return { enricher: createEnricher({ enrichmentsDir: conf }), dir };
}

export interface Enrichers {
  of(kind: EnricherKind): Enricher;
  close(): void;
}

export function buildEnrichers(): Enrichers {
  const full = fullEnricher();
  const shipped = createEnricher();
  return {
    of: (kind) => (kind === 'protocol' ? protocolOnlyEnricher() : kind === 'shipped' ? shipped : full.enricher),
    close: () => fs.rmSync(full.dir, { recursive: true, force: true }),
  };
}
