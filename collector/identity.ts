import { randomUUID } from 'node:crypto';
import type { CookieRules } from './options';

// Pure identity rules, as Snowplow's stream collector applies them: the network user id (nuid),
// the client IP, the SP-Anonymous header, the do-not-track cookie and the `sp` cookie's domain.

export const ANONYMOUS_NUID = '00000000-0000-0000-0000-000000000000';
export const UNKNOWN_IP = 'unknown';

// RFC 6265 cookie-octets, bounded to the width of atomic.events.network_userid: such a value can
// be echoed in Set-Cookie as is. Anything else is ignored and a fresh id minted.
const NUID_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,128}$/;

export interface IdentityInput {
  /** The `nuid` query parameter. */
  nuidParam?: string;
  /** The value of the configured identity cookie on the request. */
  cookieValue?: string;
  /** Whether the request carries an SP-Anonymous header. */
  spAnonymous: boolean;
  /** The client IP (already resolved through trusted proxies); undefined when unknown. */
  ip?: string;
  /** Whether the request carries a cookie matching the do-not-track rule. */
  doNotTrack: boolean;
}

export interface Identity {
  nuid: string;
  /** True when no id came with the request (a fresh UUIDv4). */
  fresh: boolean;
  ip: string;
  anonymous: boolean;
  doNotTrack: boolean;
  /** The request carried the identity cookie (so an anonymous request expires it). */
  hadCookie: boolean;
}

export function resolveIdentity(input: IdentityInput): Identity {
  const hadCookie = input.cookieValue !== undefined;
  if (input.spAnonymous) {
    return { nuid: ANONYMOUS_NUID, fresh: false, ip: UNKNOWN_IP, anonymous: true, doNotTrack: input.doNotTrack, hadCookie };
  }
  // The nuid parameter first, then the cookie: the first one that can be echoed as it is.
  const given =
    input.nuidParam !== undefined && NUID_VALUE.test(input.nuidParam)
      ? input.nuidParam
      : input.cookieValue !== undefined && NUID_VALUE.test(input.cookieValue)
        ? input.cookieValue
        : undefined;
  return {
    nuid: given ?? randomUUID(),
    fresh: given === undefined,
    ip: input.ip || UNKNOWN_IP,
    anonymous: false,
    doNotTrack: input.doNotTrack,
    hadCookie,
  };
}

/** Random (spreads load over shards) or the client IP (one client's records on one shard). */
export function partitionKeyFor(identity: Identity, mode: 'random' | 'ip'): string {
  return mode === 'ip' && identity.ip !== UNKNOWN_IP ? identity.ip : randomUUID();
}

/** Host names in an Origin header (which may list several, space-separated); `null` origins skipped. */
export function originHosts(origin: string | undefined): string[] {
  if (!origin) return [];
  const hosts: string[] = [];
  for (const item of origin.split(' ')) {
    if (!item || item === 'null') continue;
    try {
      hosts.push(new URL(item).hostname.toLowerCase());
    } catch {
      // not an origin: ignored, as Snowplow does
    }
  }
  return hosts;
}

/** The Origin host equals the domain or is one of its subdomains (not a mere suffix). */
export function domainMatches(host: string, domain: string): boolean {
  const d = domain.toLowerCase().replace(/^\./, '');
  return host === d || host.endsWith(`.${d}`);
}

/**
 * Snowplow's rule: the first configured domain that an Origin host matches; else the fallback
 * domain; else none (the cookie then belongs to the collector's own host).
 */
export function cookieDomain(origin: string | undefined, domains: string[], fallbackDomain?: string): string | undefined {
  if (domains.length > 0) {
    const hosts = originHosts(origin);
    const match = domains.find((d) => hosts.some((h) => domainMatches(h, d)));
    if (match) return match;
  }
  return fallbackDomain;
}

export interface CookieToSet {
  name: string;
  value: string;
  domain?: string;
  path: '/';
  expires: Date;
  maxAge: number;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'none' | 'lax' | 'strict';
}

/**
 * The Set-Cookie the response carries, if any: none under do-not-track or with cookies disabled;
 * for SP-Anonymous an expired cookie (clearing an identifying one the browser still holds);
 * otherwise the nuid for `expiration` from now.
 */
export function cookieFor(identity: Identity, origin: string | undefined, rules: CookieRules, now: number): CookieToSet | undefined {
  if (identity.doNotTrack || !rules.enabled) return undefined;
  if (identity.anonymous && !identity.hadCookie) return undefined;
  const expire = identity.anonymous;
  return {
    name: rules.name,
    value: expire ? '' : identity.nuid,
    domain: cookieDomain(origin, rules.domains, rules.fallbackDomain),
    path: '/',
    expires: new Date(expire ? 0 : now + rules.expirationMs),
    maxAge: expire ? 0 : Math.floor(rules.expirationMs / 1000),
    secure: rules.secure,
    httpOnly: rules.httpOnly,
    sameSite: rules.sameSite.toLowerCase() as CookieToSet['sameSite'],
  };
}
