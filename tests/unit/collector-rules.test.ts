import { describe, expect, it } from 'vitest';
import { ANONYMOUS_NUID, cookieDomain, cookieFor, domainMatches, originHosts, partitionKeyFor, resolveIdentity } from '../../collector/identity';
import { collectorOptions, type CookieRules } from '../../collector/options';
import { normaliseContentType } from '../../collector/payload';
import { redirectTarget } from '../../collector/redirect';
import { checkBase64Fields, checkTp2Post, isBase64 } from '../../collector/validate';
import { configSchema } from '../../config/schema';

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const rules = (over: Partial<CookieRules> = {}): CookieRules => ({ ...collectorOptions(configSchema.parse({})).cookie, ...over });
const base = { spAnonymous: false, doNotTrack: false, ip: '203.0.113.9' };

describe('network user id', () => {
  it('takes the nuid parameter over the cookie, the cookie over a fresh UUIDv4', () => {
    expect(resolveIdentity({ ...base, nuidParam: 'from-param', cookieValue: 'from-cookie' })).toMatchObject({ nuid: 'from-param', fresh: false });
    expect(resolveIdentity({ ...base, cookieValue: 'from-cookie' })).toMatchObject({ nuid: 'from-cookie', fresh: false, hadCookie: true });
    const fresh = resolveIdentity(base);
    expect(fresh.nuid).toMatch(UUID4);
    expect(fresh.fresh).toBe(true);
    expect(resolveIdentity(base).nuid).not.toBe(fresh.nuid);
  });

  it('ignores values that could not be echoed in Set-Cookie as they are', () => {
    for (const bad of ['', 'a b', 'x"y', 'a;b', 'a,b', 'é', 'x'.repeat(129)]) {
      const id = resolveIdentity({ ...base, nuidParam: bad, cookieValue: bad });
      expect(id.fresh).toBe(true);
      expect(id.nuid).toMatch(UUID4);
    }
  });

  it('SP-Anonymous: zero nuid and unknown IP, whatever the request carries', () => {
    const id = resolveIdentity({ ...base, spAnonymous: true, nuidParam: 'p', cookieValue: 'c' });
    expect(id).toMatchObject({ nuid: ANONYMOUS_NUID, ip: 'unknown', anonymous: true, hadCookie: true });
    expect(partitionKeyFor(id, 'ip')).toMatch(UUID4); // no IP to key on
  });

  it('partition key: the client IP in ip mode, else random', () => {
    const id = resolveIdentity(base);
    expect(partitionKeyFor(id, 'ip')).toBe('203.0.113.9');
    expect(partitionKeyFor(id, 'random')).toMatch(UUID4);
    expect(resolveIdentity({ ...base, ip: undefined }).ip).toBe('unknown');
  });
});

describe('cookie domain (Snowplow rule)', () => {
  it('reads every host of a (possibly multi-valued) Origin, skipping null', () => {
    expect(originHosts('https://www.acme.com http://Shop.Example.org:8080 null')).toEqual(['www.acme.com', 'shop.example.org']);
    expect(originHosts(undefined)).toEqual([]);
    expect(originHosts('not a url')).toEqual([]);
  });

  it('matches a domain or its subdomains, not a mere suffix', () => {
    expect(domainMatches('acme.com', 'acme.com')).toBe(true);
    expect(domainMatches('www.acme.com', 'acme.com')).toBe(true);
    expect(domainMatches('notacme.com', 'acme.com')).toBe(false);
    expect(domainMatches('acme.com', 'client.acme.com')).toBe(false);
  });

  it('first matching configured domain, else the fallback, else none', () => {
    const domains = ['acme.com', 'client.example.org'];
    expect(cookieDomain('https://secure.client.example.org', domains, 'fallback.net')).toBe('client.example.org');
    expect(cookieDomain('https://www.acme.com', domains, 'fallback.net')).toBe('acme.com');
    expect(cookieDomain('https://www.example.org', domains, 'fallback.net')).toBe('fallback.net');
    expect(cookieDomain(undefined, domains, 'fallback.net')).toBe('fallback.net');
    expect(cookieDomain('https://www.acme.com', [], undefined)).toBeUndefined();
    expect(cookieDomain('https://www.acme.com', [], 'fallback.net')).toBe('fallback.net');
  });
});

describe('Set-Cookie', () => {
  const now = Date.UTC(2026, 0, 1);

  it('defaults as Snowplow: sp, 365 days, path /, Secure, HttpOnly, SameSite=None', () => {
    const c = cookieFor(resolveIdentity({ ...base, cookieValue: 'abc' }), undefined, rules(), now)!;
    expect(c).toEqual({
      name: 'sp', value: 'abc', domain: undefined, path: '/', expires: new Date(now + 365 * 86_400_000),
      maxAge: 365 * 86_400, secure: true, httpOnly: true, sameSite: 'none',
    });
  });

  it('follows the configured attributes and domain rule', () => {
    const c = cookieFor(resolveIdentity(base), 'https://www.acme.com', rules({ name: 'nuid', expirationMs: 86_400_000, secure: false, httpOnly: false, sameSite: 'Lax', domains: ['acme.com'] }), now)!;
    expect(c).toMatchObject({ name: 'nuid', domain: 'acme.com', maxAge: 86_400, secure: false, httpOnly: false, sameSite: 'lax' });
  });

  it('none under do-not-track or when cookies are disabled', () => {
    expect(cookieFor(resolveIdentity({ ...base, doNotTrack: true }), undefined, rules(), now)).toBeUndefined();
    expect(cookieFor(resolveIdentity(base), undefined, rules({ enabled: false }), now)).toBeUndefined();
  });

  it('SP-Anonymous expires an identifying cookie the browser holds, and sets none otherwise', () => {
    const expired = cookieFor(resolveIdentity({ ...base, spAnonymous: true, cookieValue: 'abc' }), undefined, rules(), now)!;
    expect(expired).toMatchObject({ name: 'sp', value: '', maxAge: 0, expires: new Date(0) });
    expect(cookieFor(resolveIdentity({ ...base, spAnonymous: true }), undefined, rules(), now)).toBeUndefined();
  });
});

describe('redirect allow-list', () => {
  const allow = { allowedHosts: new Set(['example.com', 'shop.example.com']) };

  it('allows only http(s) targets on listed hosts', () => {
    expect(redirectTarget('https://example.com/landing?x=1', allow, 'n')).toEqual({ ok: true, location: 'https://example.com/landing?x=1' });
    expect(redirectTarget('http://SHOP.example.com/', allow, 'n')).toEqual({ ok: true, location: 'http://shop.example.com/' });
    for (const bad of ['https://evil.com/', 'https://example.com.evil.com/', 'https://sub.example.com/', 'javascript:alert(1)', '//example.com/x', '/relative', '', undefined, ['https://example.com/']]) {
      expect(redirectTarget(bad, allow, 'n').ok).toBe(false);
    }
  });

  it('an empty allow-list refuses everything (no open redirect)', () => {
    expect(redirectTarget('https://example.com/', { allowedHosts: new Set() }, 'n')).toMatchObject({ ok: false, reason: expect.stringContaining('not allowed') });
  });

  it('the macro puts the nuid in the target', () => {
    expect(redirectTarget('https://example.com/?id=${SP_NUID}&b=${SP_NUID}', { ...allow, macro: '${SP_NUID}' }, 'abc')).toEqual({ ok: true, location: 'https://example.com/?id=abc&b=abc' });
    // The host check runs on the result, so a macro cannot smuggle a host in.
    expect(redirectTarget('https://${SP_NUID}/', { ...allow, macro: '${SP_NUID}' }, 'evil.com').ok).toBe(false);
  });
});

describe('request checks', () => {
  const body = (data: unknown, schema = 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4') => JSON.stringify({ schema, data });

  it('base64: standard and URL-safe alphabets, optional padding', () => {
    for (const ok of ['', 'eyJhIjoxfQ', 'eyJhIjoxfQ==', 'a-_b', 'ab+/']) expect(isBase64(ok)).toBe(true);
    for (const bad of ['***', 'abc$', 'a', 'abcde', 'ab=c', 'ab===']) expect(isBase64(bad)).toBe(false);
    expect(checkBase64Fields({ cx: 'eyJhIjoxfQ', ue_px: 'e30' }, 'q')).toEqual({ ok: true });
    expect(checkBase64Fields({ cx: 'not base64!' }, 'q')).toEqual({ ok: false, status: 400, message: 'q: cx is not valid base64' });
    expect(checkBase64Fields({ ue_px: ['a', 'b'] }, 'q')).toMatchObject({ ok: false, status: 400 });
  });

  it('tp2 POST: application/json with a payload_data body', () => {
    expect(checkTp2Post('application/json; charset=UTF-8', body([{ e: 'pv' }]), false)).toEqual({ ok: true });
    expect(checkTp2Post('text/plain', body([{ e: 'pv' }]), false)).toMatchObject({ ok: false, status: 415 });
    expect(checkTp2Post(undefined, body([{ e: 'pv' }]), false)).toMatchObject({ ok: false, status: 415 });
    expect(checkTp2Post('application/json', '{"schema":', false)).toMatchObject({ ok: false, status: 400, message: expect.stringContaining('not valid JSON') });
    expect(checkTp2Post('application/json', '[1]', false)).toMatchObject({ ok: false, status: 400 });
    expect(checkTp2Post('application/json', body([{ e: 'pv' }], 'iglu:com.acme/other/jsonschema/1-0-0'), false)).toMatchObject({ ok: false, status: 400 });
    expect(checkTp2Post('application/json', body([]), false)).toMatchObject({ ok: false, status: 400 });
    expect(checkTp2Post('application/json', body([1]), false)).toMatchObject({ ok: false, status: 400, message: 'event 0 must be a JSON object' });
    expect(checkTp2Post('application/json', body([{ e: 'ue' }, { e: 'ue', ue_px: '%%%' }]), false)).toEqual({ ok: false, status: 400, message: 'event 1: ue_px is not valid base64' });
    // A querystring-only POST (no body, no content type) is a valid tracker request.
    expect(checkTp2Post(undefined, undefined, true)).toEqual({ ok: true });
    expect(checkTp2Post(undefined, undefined, false)).toMatchObject({ ok: false, status: 400 });
  });

  it('normalises the content type as Snowplow records it', () => {
    expect(normaliseContentType('Application/JSON;charset=UTF-8')).toBe('application/json; charset=utf-8');
    expect(normaliseContentType('application/json')).toBe('application/json');
    expect(normaliseContentType(undefined)).toBeUndefined();
  });
});

describe('collector config', () => {
  it('defaults as Snowplow where Snowplow has one', () => {
    const c = configSchema.parse({}).collector;
    expect(c.cookie).toEqual({ enabled: true, name: 'sp', expirationDays: 365, domains: [], secure: true, httpOnly: true, sameSite: 'None' });
    expect(c.redirect).toMatchObject({ enabled: false, allowedHosts: [] });
    expect(c.doNotTrackCookie.enabled).toBe(false);
    expect(c.crossDomain).toEqual({ enabled: false, domains: ['*'], secure: true });
    expect(c.cors.maxAgeSeconds).toBe(3600);
    expect(c.sink).toMatchObject({ partitionKey: 'random', maxRecordBytes: 1_000_000 });
    expect(c.buffer).toMatchObject({ byteLimit: 3_145_728, recordLimit: 500 });
    expect(c.backoff).toEqual({ minMs: 2_000, maxMs: 600_000 });
  });

  it('reads lists and maps from environment strings, and rejects bad values', () => {
    const c = configSchema.parse({
      collector: {
        trustedProxies: '10.0.0.0/8, 127.0.0.1',
        cookie: { domains: 'acme.com,example.org' },
        paths: '{"/com.acme/track":"/com.snowplowanalytics.snowplow/tp2"}',
      },
    }).collector;
    expect(c.trustedProxies).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(c.cookie.domains).toEqual(['acme.com', 'example.org']);
    expect(c.paths).toEqual({ '/com.acme/track': '/com.snowplowanalytics.snowplow/tp2' });
    expect(() => configSchema.parse({ collector: { paths: { '/one-segment': '/r/tp2' } } })).toThrow(/vendor\/version/);
    expect(() => configSchema.parse({ collector: { paths: { '/com.acme/x': '/com.acme/elsewhere' } } })).toThrow();
    expect(() => configSchema.parse({ collector: { doNotTrackCookie: { enabled: true, name: 'dnt', value: '(' } } })).toThrow(/regular expression/);
    expect(() => configSchema.parse({ collector: { doNotTrackCookie: { enabled: true, value: 'x' } } })).toThrow(/required/);
    expect(() => configSchema.parse({ collector: { cookie: { sameSite: 'sometimes' } } })).toThrow();
  });
});
