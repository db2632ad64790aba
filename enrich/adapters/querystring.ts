// application/x-www-form-urlencoded parsing as Snowplow's adapters see querystrings.
import type { NVP } from '../bad-rows';
import type { RawEventParams } from './types';

/** Parses a raw querystring; a malformed %-escape is an error, not mojibake. */
export function parseQuerystring(qs: string | undefined): { ok: true; nvps: NVP[] } | { ok: false; error: string } {
  if (typeof qs !== 'string' || qs === '') return { ok: true, nvps: [] };
  const nvps: NVP[] = [];
  for (const part of (qs.charCodeAt(0) === 63 ? qs.slice(1) : qs).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? null : part.slice(eq + 1);
    try {
      nvps.push({ name: formDecode(rawName), value: rawValue === null ? null : formDecode(rawValue) });
    } catch (err) {
      // Kept short: it becomes an `expectation`, which the badrows schemas cap at 256 characters.
      return { ok: false, error: `could not decode querystring parameter [${part.slice(0, 100)}]: ${(err as Error).message}`.slice(0, 256) };
    }
  }
  return { ok: true, nvps };
}

/** `+` is a space, then %-decoding (throws URIError on a malformed escape). */
export function formDecode(s: string): string {
  const spaced = s.indexOf('+') >= 0 ? s.replace(/\+/g, ' ') : s;
  return spaced.indexOf('%') >= 0 ? decodeURIComponent(spaced) : spaced;
}

/** Later duplicates win; a bare name (no `=`) carries no value. */
export function nvpsToParams(nvps: NVP[]): RawEventParams {
  const params: RawEventParams = {};
  for (const { name, value } of nvps) if (value !== null) params[name] = value;
  return params;
}

export const paramsToNvps = (params: RawEventParams): NVP[] => Object.keys(params).map((name) => ({ name, value: params[name] }));
