// URL splitting as Snowplow's ConversionUtils does it with java.net.URI: spaces become %20, the raw
// (undecoded) path, query and fragment are kept, and a missing port is 443 for https, else 80.
// Characters java.net.URI rejects are percent-encoded, as Snowplow's lenient fallback parser does.
import { formDecode } from '../adapters/querystring';
import { BoundedCache } from '../cache';
import { toTsvSafe } from './conversions';

export interface UriParts {
  /** The URI as Snowplow writes it back to page_url (spaces and illegal characters encoded). */
  uri: string;
  scheme: string | null;
  host: string | null;
  port: number;
  path: string | null;
  query: string | null;
  fragment: string | null;
}

const URI_RE = /^(?:([^:/?#]+):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#([\s\S]*))?$/;
const SCHEME_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*$/;
// eslint-disable-next-line no-control-regex
const NEEDS_CLEANING = /[ "<>\\^`{|}\u0000-\u001f\u007f]|%(?![0-9A-Fa-f]{2})/;
// eslint-disable-next-line no-control-regex
const ILLEGAL_G = /["<>\\^`{|}\u0000-\u001f\u007f]/g;

function clean(raw: string): string {
  if (!NEEDS_CLEANING.test(raw)) return raw;
  return raw
    .replace(/%(?![0-9A-Fa-f]{2})/g, '%25')
    .replace(/ /g, '%20')
    .replace(ILLEGAL_G, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

const emptyToNull = (s: string | undefined | null): string | null => {
  if (s === undefined || s === null) return null;
  const safe = toTsvSafe(s);
  return safe === '' ? null : safe;
};

export type ParsedUri = { ok: true; parts: UriParts } | { ok: false; message: string };

const parsed = new BoundedCache<string, ParsedUri>(10_000);

/** CU.stringToUri + CU.explodeUri (results are shared: treat them as read-only). */
export function parseUri(raw: string): ParsedUri {
  return parsed.through(raw, () => parseUriUncached(raw));
}

function parseUriUncached(raw: string): ParsedUri {
  const uri = clean(raw);
  const m = URI_RE.exec(uri);
  const failed = (why: string): ParsedUri => ({ ok: false, message: `Provided URI [${raw}] could not be parsed: ${why}` });
  if (!m) return failed('not a URI');
  const [, scheme, authority, path, query, fragment] = m;
  if (scheme !== undefined && !SCHEME_RE.test(scheme)) return failed(`illegal character in scheme name [${scheme}]`);
  let host: string | null = null;
  let port = -1;
  if (authority !== undefined) {
    let hostPort = authority.slice(authority.lastIndexOf('@') + 1);
    if (hostPort.startsWith('[')) {
      const end = hostPort.indexOf(']');
      if (end < 0) return failed('unterminated IPv6 address');
      host = hostPort.slice(0, end + 1);
      hostPort = hostPort.slice(end + 1);
      if (hostPort !== '' && !hostPort.startsWith(':')) return failed('illegal character after IPv6 address');
      hostPort = hostPort === '' ? '' : `x${hostPort}`;
    }
    const colon = hostPort.lastIndexOf(':');
    const portText = colon < 0 ? '' : hostPort.slice(colon + 1);
    if (host === null) host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    if (portText !== '') {
      if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return failed(`illegal port [${portText}]`);
      port = Number(portText);
    }
    if (host === '') host = null;
  }
  // An opaque URI (`mailto:x`) has no path or query in java.net.URI.
  const opaque = scheme !== undefined && authority === undefined && !path.startsWith('/');
  return {
    ok: true,
    parts: {
      uri,
      scheme: scheme ?? null,
      host,
      port: port === -1 ? (scheme === 'https' ? 443 : 80) : port,
      path: opaque ? null : emptyToNull(path),
      query: opaque ? null : emptyToNull(query),
      fragment: emptyToNull(fragment),
    },
  };
}

/** The page URL's querystring as a map (later duplicates win; a bare name maps to ''). */
export function queryMap(query: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (!query) return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.set(lenientDecode(eq < 0 ? part : part.slice(0, eq)), eq < 0 ? '' : lenientDecode(part.slice(eq + 1)));
  }
  return out;
}

function lenientDecode(s: string): string {
  try { return formDecode(s); } catch { return s; }
}
