// Cookie extractor (cookie_extractor_config) and HTTP header extractor
// (http_header_extractor_config): request headers as org.ietf http_cookie / http_header contexts.
import type { DerivedContext } from './types';

export const HTTP_COOKIE = 'iglu:org.ietf/http_cookie/jsonschema/1-0-0';
export const HTTP_HEADER = 'iglu:org.ietf/http_header/jsonschema/1-0-0';

function splitHeader(h: string): [string, string] | null {
  const i = h.indexOf(':');
  return i < 0 ? null : [h.slice(0, i), h.slice(i + 1)];
}

/** `a=1; b="two"; c` → [[a, 1], [b, two], [c, null]] (RFC 6265 cookie pairs, quotes removed). */
export function parseCookies(value: string): [string, string | null][] {
  const out: [string, string | null][] = [];
  for (const raw of value.split(';')) {
    const p = raw.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) { out.push([p, null]); continue; }
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.push([p.slice(0, eq).trim(), v]);
  }
  return out;
}

export class CookieExtractorEnrichment {
  private readonly names: Set<string>;
  constructor(cookies: string[]) { this.names = new Set(cookies); }

  extract(headers: readonly string[]): DerivedContext[] {
    const out: DerivedContext[] = [];
    for (const h of headers) {
      const nv = splitHeader(h);
      if (!nv || nv[0].toLowerCase() !== 'cookie') continue;
      for (const [name, value] of parseCookies(nv[1])) {
        if (this.names.has(name)) out.push({ schema: HTTP_COOKIE, data: { name, value } });
      }
    }
    return out;
  }
}

/** Java's String.matches semantics (whole string), with a leading `(?i)` as the `i` flag. */
export function javaRegex(pattern: string): RegExp {
  const ci = pattern.startsWith('(?i)');
  return new RegExp(`^(?:${ci ? pattern.slice(4) : pattern})$`, ci ? 'i' : '');
}

export class HttpHeaderExtractorEnrichment {
  private readonly re: RegExp;
  constructor(headersPattern: string) { this.re = javaRegex(headersPattern); }

  extract(headers: readonly string[]): DerivedContext[] {
    const out: DerivedContext[] = [];
    for (const h of headers) {
      const nv = splitHeader(h);
      if (nv && this.re.test(nv[0])) out.push({ schema: HTTP_HEADER, data: { name: nv[0].trim(), value: nv[1].trim() } });
    }
    return out;
  }
}
