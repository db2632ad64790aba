// Referer parsing (referer_parser): medium, source and search term of the referrer, from the
// referer-parser database (Snowplow's referers JSON) and the configured internal domains, with
// the lookup order of Snowplow's scala-referer-parser. Lookups are cached per host and path.
import fs from 'node:fs';
import { MEMO_MAX_KEY_LENGTH } from '../cache';
import { toTsvSafe } from '../event/conversions';
import type { UriParts } from '../event/url';

export type Medium = 'unknown' | 'search' | 'internal' | 'social' | 'email' | 'paid' | 'chatbot';
export interface Referer { medium: Medium; source: string | null; term: string | null }
interface Lookup { medium: Medium; source: string; parameters: string[] }

type RefererDb = Record<string, Record<string, { domains: string[]; parameters?: string[] }>>;

const MEDIA = new Set(['unknown', 'search', 'internal', 'social', 'email', 'paid', 'chatbot']);
const VALID_SCHEMES = new Set(['http', 'https', 'android-app']);

export function loadRefererDb(file: string): Map<string, Lookup> {
  const db = JSON.parse(fs.readFileSync(file, 'utf8')) as RefererDb;
  const out = new Map<string, Lookup>();
  for (const [medium, sources] of Object.entries(db)) {
    if (!MEDIA.has(medium)) throw new Error(`referer database ${file}: unknown medium ${medium}`);
    for (const [source, entry] of Object.entries(sources)) {
      for (const domain of entry.domains ?? []) out.set(domain, { medium: medium as Medium, source, parameters: entry.parameters ?? [] });
    }
  }
  return out;
}

/** www.google.com → www.google.com, google.com, com */
function hostsToTry(host: string): string[] {
  const parts = host.split('.');
  return parts.map((_, i) => parts.slice(i).join('.'));
}

/** /images/1/2 → /images/1/2, /images, '' */
function pathsToTry(path: string): string[] {
  const first = path.split('/').find((p) => p !== '');
  return first === undefined ? [''] : [path, `/${first}`, ''];
}

function decodeLenient(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}

export class RefererParserEnrichment {
  private readonly internal: Set<string>;
  private readonly cache = new Map<string, Lookup | null>();
  private readonly byUri = new WeakMap<UriParts, Map<string, Referer | null>>();

  constructor(private readonly db: Map<string, Lookup>, internalDomains: string[], private readonly cacheSize = 10_000) {
    this.internal = new Set(internalDomains.map((d) => d.trim()));
  }

  private lookup(host: string, path: string): Lookup | null {
    const key = `${host}\u0000${path}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let found: Lookup | null = null;
    outer: for (const p of pathsToTry(path)) {
      for (const h of hostsToTry(host)) {
        const l = this.db.get(h + p);
        if (l) { found = l; break outer; }
      }
    }
    if (key.length > MEMO_MAX_KEY_LENGTH) return found; // bounded in entries, not bytes: long keys are not kept
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, found);
    return found;
  }

  /** The referer of a parsed referrer URL seen from a page host (cached per URL and host). */
  forUri(u: UriParts, pageHost: string | null): Referer | null {
    // Parsed URLs are shared objects (parseUri caches them), so they key the cache directly.
    let byHost = this.byUri.get(u);
    if (byHost === undefined) { byHost = new Map(); this.byUri.set(u, byHost); }
    const host = pageHost ?? '';
    const hit = byHost.get(host);
    if (hit !== undefined) return hit;
    const opaque = u.scheme !== null && !/^[^:]+:\/\//.test(u.uri);
    const r = this.parse(u.scheme, u.host, opaque ? null : (u.path ?? ''), u.query, pageHost);
    if (byHost.size < 100) byHost.set(host, r);
    return r;
  }

  /**
   * The referer of a parsed referrer URI (scheme, host, decoded path, raw query), or null when
   * the URI is not one the parser considers (not http(s)/android-app, or without a host).
   */
  parse(scheme: string | null, host: string | null, path: string | null, rawQuery: string | null, pageHost: string | null): Referer | null {
    if (scheme === null || !VALID_SCHEMES.has(scheme) || host === null || path === null) return null;
    if ((pageHost !== null && pageHost === host) || this.internal.has(host)) return { medium: 'internal', source: null, term: null };
    const l = this.lookup(host, decodeLenient(path));
    if (!l) return { medium: 'unknown', source: null, term: null };
    if (l.medium === 'unknown' || l.medium === 'internal') return { medium: l.medium, source: null, term: null };
    if (l.medium !== 'search') return { medium: l.medium, source: l.source, term: null };
    let term: string | null = null;
    if (rawQuery) {
      for (const pair of rawQuery.split('&')) {
        const eq = pair.indexOf('=');
        const name = decodeLenient(eq > 0 ? pair.slice(0, eq) : pair);
        if (l.parameters.includes(name)) { term = eq > 0 ? decodeLenient(pair.slice(eq + 1)) : ''; break; }
      }
    }
    const safeTerm = term === null ? null : toTsvSafe(term);
    return { medium: 'search', source: l.source, term: safeTerm === '' ? null : safeTerm };
  }
}
