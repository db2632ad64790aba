// User-agent parsing (ua_parser_config) with ua-parser-js, emitted as Snowplow's derived context
// iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0. Parses are cached.
import { MEMO_MAX_KEY_LENGTH } from '../cache';
import { UAParser } from 'ua-parser-js';
import type { DerivedContext } from './types';

export const UA_PARSER_CONTEXT = 'iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0';

export interface UaParserContext {
  useragentFamily: string; useragentMajor: string | null; useragentMinor: string | null; useragentPatch: string | null;
  useragentVersion: string; osFamily: string; osMajor: string | null; osMinor: string | null; osPatch: string | null;
  osPatchMinor: string | null; osVersion: string; deviceFamily: string;
}

const part = (parts: string[], i: number): string | null => (parts[i] !== undefined && parts[i] !== '' ? parts[i] : null);

// Like uap's clients: family, then " major", ".minor", ".patch" for the parts that exist.
function versionString(family: string, parts: (string | null)[]): string {
  let s = family;
  parts.forEach((p, i) => { if (p !== null) s += (i === 0 ? ' ' : '.') + p; });
  return s;
}

export function uaParserContext(ua: string): UaParserContext {
  const r = UAParser(ua);
  const bv = (r.browser.version ?? '').split('.');
  const ov = (r.os.version ?? '').split(/[._]/);
  const family = r.browser.name ?? 'Other';
  const osFamily = r.os.name ?? 'Other';
  const [uMaj, uMin, uPat] = [part(bv, 0), part(bv, 1), part(bv, 2)];
  const [oMaj, oMin, oPat, oPatMin] = [part(ov, 0), part(ov, 1), part(ov, 2), part(ov, 3)];
  return {
    useragentFamily: family, useragentMajor: uMaj, useragentMinor: uMin, useragentPatch: uPat,
    useragentVersion: versionString(family, [uMaj, uMin, uPat]),
    osFamily, osMajor: oMaj, osMinor: oMin, osPatch: oPat, osPatchMinor: oPatMin,
    osVersion: versionString(osFamily, [oMaj, oMin, oPat, oPatMin]),
    deviceFamily: r.device.model ?? 'Other',
  };
}

export class UaParserEnrichment {
  private readonly cache = new Map<string, DerivedContext>();
  constructor(private readonly cacheSize = 5000) {}

  /** The derived context for a user agent (one shared object per distinct user agent). */
  context(ua: string): DerivedContext {
    let hit = this.cache.get(ua);
    if (hit) return hit;
    hit = { schema: UA_PARSER_CONTEXT, data: uaParserContext(ua) };
    if (ua.length > MEMO_MAX_KEY_LENGTH) return hit; // not kept: the memo is bounded in entries, not bytes
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(ua, hit);
    return hit;
  }
}
