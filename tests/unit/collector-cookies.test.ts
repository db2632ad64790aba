import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCookie, SetCookieTemplate } from '../../collector/cookies';
import { cookieFor, type Identity } from '../../collector/identity';
import type { CookieRules } from '../../collector/options';

// The collector's cookie reading and Set-Cookie writing must give exactly what the `cookie`
// package (the one @fastify/cookie calls) gives: parseCookie(header)[name], and
// stringifySetCookie of what identity.ts' cookieFor says, values passed through as they are.

type CookieModule = {
  parseCookie(header: string): Record<string, string | undefined>;
  stringifySetCookie(c: Record<string, unknown>, o: { encode?: (v: string) => string }): string;
};
let cookie: CookieModule;
const asIs = (v: string) => v;
const reference = (name: string, value: string, { encode, ...attributes }: Record<string, unknown>) =>
  cookie.stringifySetCookie({ name, value, ...attributes }, { encode: encode as (v: string) => string });

beforeAll(async () => {
  cookie = (await import('cookie')) as unknown as CookieModule;
});

const header = fc.oneof(
  fc.array(
    fc.oneof(
      fc.tuple(fc.constantFrom('sp', 'dnt', ' sp', 'sp ', 'SP', 'other', '', 's p'), fc.constantFrom('=', ' = ', '=='), fc.string({ maxLength: 12 })).map(([k, eq, v]) => `${k}${eq}${v}`),
      fc.constantFrom('sp', ';', ' ', '\t', 'sp=%41%42', 'sp=%E0%A4%A', 'sp="quoted"', '=x', 'a=1=2'),
    ),
    { maxLength: 6 },
  ).chain((parts) => fc.constantFrom('; ', ';', ' ;').map((sep) => parts.join(sep))),
  fc.string({ maxLength: 40 }),
);

describe('readCookie', () => {
  it('reads a cookie as parseCookie does (property)', () => {
    fc.assert(
      fc.property(header, fc.constantFrom('sp', 'dnt', 'other'), (h, name) => {
        expect(readCookie(h, name)).toBe(cookie.parseCookie(h)[name]);
      }),
      { numRuns: 20_000 },
    );
  });
});

const rulesArb: fc.Arbitrary<CookieRules> = fc.record({
  enabled: fc.constant(true),
  name: fc.constantFrom('sp', 'sluice_id', '_sp_id'),
  expirationMs: fc.oneof(fc.constantFrom(365 * 86_400_000, 30 * 86_400_000, 1, 999, 0), fc.integer({ min: 0, max: 5_000 * 86_400_000 })),
  domains: fc.array(fc.constantFrom('acme.com', '.acme.org', 'shop.example.com'), { maxLength: 2 }),
  fallbackDomain: fc.option(fc.constantFrom('fallback.net', '.example.org'), { nil: undefined }),
  secure: fc.boolean(),
  httpOnly: fc.boolean(),
  sameSite: fc.constantFrom('None' as const, 'Lax' as const, 'Strict' as const),
});
const identityArb: fc.Arbitrary<Identity> = fc.record({
  nuid: fc.oneof(fc.uuid(), fc.constant('00000000-0000-0000-0000-000000000000'), fc.stringMatching(/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,40}$/)),
  fresh: fc.boolean(),
  ip: fc.constant('127.0.0.1'),
  anonymous: fc.boolean(),
  doNotTrack: fc.constant(false),
  hadCookie: fc.constant(true),
});

describe('SetCookieTemplate', () => {
  it("writes @fastify/cookie's Set-Cookie for what cookieFor says (property)", () => {
    fc.assert(
      fc.property(rulesArb, identityArb, fc.constantFrom(undefined, 'https://www.acme.com', 'https://x.acme.org', 'null'), fc.integer({ min: 0, max: 4_000_000_000_000 }), (rules, identity, origin, now) => {
        const c = cookieFor(identity, origin, rules, now)!;
        const { name, value, ...attributes } = c;
        const expected = reference(name, value, { ...attributes, encode: asIs });
        const template = new SetCookieTemplate(rules, reference);
        const got = identity.anonymous ? template.expired(c.domain) : template.set(identity.nuid, c.domain, now);
        expect(got).toBe(expected);
        // The Expires text is remembered by the second: a later call in the same second agrees too.
        if (!identity.anonymous) expect(template.set(identity.nuid, c.domain, now - (now % 1000) + 999)).toBe(reference(name, value, { ...attributes, expires: new Date(now - (now % 1000) + 999 + rules.expirationMs), encode: asIs }));
      }),
      { numRuns: 2_000 },
    );
  });

  it('fails as the reference does on a setting it refuses, only when a cookie is written', () => {
    const rules: CookieRules = { enabled: true, name: 'sp', expirationMs: 1_000, domains: ['bad domain'], secure: true, httpOnly: true, sameSite: 'None' };
    const template = new SetCookieTemplate(rules, reference);
    expect(template.set('x', undefined, 0)).toBe(reference('sp', 'x', { maxAge: 1, path: '/', expires: new Date(1_000), httpOnly: true, secure: true, sameSite: 'none', encode: asIs }));
    expect(() => template.set('x', 'bad domain', 0)).toThrow(/cookie domain is invalid/);
    const badName = new SetCookieTemplate({ ...rules, name: 'a;b' }, reference);
    expect(() => badName.set('x', undefined, 0)).toThrow(/cookie name is invalid/);
    expect(() => badName.expired(undefined)).toThrow(/cookie name is invalid/);
    const farFuture = new SetCookieTemplate({ ...rules, expirationMs: 9_000 * 365 * 86_400_000 }, reference);
    expect(() => farFuture.set('x', undefined, Date.now())).toThrow(/cookie expires is invalid/);
  });
});
