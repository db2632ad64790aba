import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { readCookie, SetCookieTemplate } from '../cookies';
import { cookieDomain, resolveIdentity, type Identity } from '../identity';
import type { CollectorOptions } from '../options';
import { trackerParams, type TrackerParams } from '../query';
import { shared } from './shared';

// Identity plugin: gives every request its `identity` (nuid, IP, SP-Anonymous, do-not-track;
// computed once, on first use) and its `trackerParams` (the few querystring parameters the
// collector reads), and replies `setIdentityCookie`. Only the cookies the rules name are read
// from the Cookie header, and the Set-Cookie value comes from a template fixed at start
// (collector/cookies.ts): the same text @fastify/cookie's serializer writes, which is the
// reference the template is checked against.

declare module 'fastify' {
  interface FastifyRequest {
    readonly identity: Identity;
    readonly trackerParams: TrackerParams;
  }
  interface FastifyReply {
    /** The Set-Cookie value the answer carries for this identity, if any. */
    identityCookie(identity: Identity): string | undefined;
    setIdentityCookie(identity: Identity): FastifyReply;
  }
}

const kIdentity = Symbol('sluice.identity');
const kParams = Symbol('sluice.trackerParams');

type Cached = FastifyRequest & { [kIdentity]: Identity | null; [kParams]: TrackerParams | null };

/** The `cookie` package's Set-Cookie serializer, as @fastify/cookie calls it (its reference). */
async function referenceSerializer(): Promise<(name: string, value: string, options: Record<string, unknown>) => string> {
  const fromPlugin = createRequire(createRequire(import.meta.url).resolve('@fastify/cookie'));
  const cookie = (await import(pathToFileURL(fromPlugin.resolve('cookie')).href)) as {
    stringifySetCookie(c: Record<string, unknown>, o: { encode?: (v: string) => string }): string;
  };
  return (name, value, { encode, ...attributes }) => cookie.stringifySetCookie({ name, value, ...attributes }, { encode: encode as (v: string) => string });
}

/** The querystring of a request URL, without the `?` ("" when there is none). */
export function querystringOf(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(q + 1) : '';
}

export const identityPlugin: FastifyPluginAsync<{ opts: CollectorOptions }> = shared(async (app, { opts }) => {
  const rules = opts.cookie;
  const dnt = opts.doNotTrack;
  const template = new SetCookieTemplate(rules, await referenceSerializer());
  // Origin → cookie domain: the rule needs URL parsing, and browsers send few distinct origins.
  const domains = new Map<string | undefined, string | undefined>();
  const domainFor = (origin: string | undefined): string | undefined => {
    if (rules.domains.length === 0) return rules.fallbackDomain;
    if (domains.has(origin)) return domains.get(origin);
    const domain = cookieDomain(origin, rules.domains, rules.fallbackDomain);
    if (domains.size >= 1024) domains.clear();
    domains.set(origin, domain);
    return domain;
  };

  app.decorateRequest(kIdentity, null);
  app.decorateRequest(kParams, null);
  app.decorateRequest('trackerParams', {
    getter(this: FastifyRequest): TrackerParams {
      const self = this as Cached;
      return (self[kParams] ??= trackerParams(querystringOf(this.url)));
    },
  });
  app.decorateRequest('identity', {
    getter(this: FastifyRequest): Identity {
      const self = this as Cached;
      if (self[kIdentity] === null) {
        const { nuid } = this.trackerParams;
        const header = this.headers.cookie;
        const dntValue = dnt && header ? readCookie(header, dnt.name) : undefined;
        self[kIdentity] = resolveIdentity({
          nuidParam: typeof nuid === 'string' ? nuid : undefined,
          cookieValue: header ? readCookie(header, rules.name) : undefined,
          spAnonymous: this.headers['sp-anonymous'] !== undefined,
          ip: this.ip,
          doNotTrack: dnt !== undefined && dntValue !== undefined && dnt.value.test(dntValue),
        });
      }
      return self[kIdentity];
    },
  });

  // cookieFor (identity.ts) spelled out for the hot path: no cookie under do-not-track or with
  // cookies off; for SP-Anonymous the cookie expired, only if the browser sent one.
  app.decorateReply('identityCookie', function (this: FastifyReply, identity: Identity): string | undefined {
    if (identity.doNotTrack || !rules.enabled) return undefined;
    if (identity.anonymous && !identity.hadCookie) return undefined;
    const domain = domainFor(this.request.headers.origin);
    return identity.anonymous ? template.expired(domain) : template.set(identity.nuid, domain, Date.now());
  });
  app.decorateReply('setIdentityCookie', function (this: FastifyReply, identity: Identity): FastifyReply {
    const cookie = this.identityCookie(identity);
    return cookie === undefined ? this : this.header('set-cookie', cookie);
  });
});
