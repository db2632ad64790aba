import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { anonymizeIp } from '../../enrich/enrichments/anon-ip';
import { CampaignAttributionEnrichment } from '../../enrich/enrichments/campaign';
import { CookieExtractorEnrichment, HttpHeaderExtractorEnrichment } from '../../enrich/enrichments/extractors';
import { EventFingerprintEnrichment } from '../../enrich/enrichments/fingerprint';
import { RefererParserEnrichment, loadRefererDb } from '../../enrich/enrichments/referer-parser';
import { UaParserEnrichment, uaParserContext } from '../../enrich/enrichments/ua-parser';
import { parseUri } from '../../enrich/event/url';
import { protocolOnlyEnricher } from '../../enrich/enrich';
import { parseSchemaUri } from '../../enrich/iglu';
import { PROJECT_ROOT } from '../../enrich/default-enricher';

describe('anon_ip (Snowplow\'s AnonIpEnrichmentSpec table)', () => {
  const cases: [string | undefined, number, number, string | undefined][] = [
    ['0.23.0.20', 1, 1, '0.23.0.x'], ['168.192.102.4', 2, 2, '168.192.x.x'], ['54.242.102.43', 3, 3, '54.x.x.x'],
    ['94.15.213.171', 4, 4, 'x.x.x.x'], ['777.2', 1, 1, '777.2'], ['777.2.23', 4, 4, 'x.x.x'],
    ['999.123.777.2', 3, 3, '999.x.x.x'], ['999.aaa.bbb.c', 3, 3, '999.x.x.x'], ['hello;goodbye', 3, 3, 'hello;goodbye'],
    [undefined, 2, 2, undefined], ['', 4, 4, 'x'],
    ['4b0c:0:0:0:880c:99a8:4b0:4411', 1, 1, '4b0c:0:0:0:880c:99a8:4b0:x'], ['4b0c::880c:99a8:4b0:4411', 2, 2, '4b0c:0:0:0:880c:99a8:x:x'],
    ['2605:2700:0:3:0:0:4713:93e3', 3, 3, '2605:2700:0:3:0:x:x:x'], ['2605:2700:0:3::4713:93e3', 4, 4, '2605:2700:0:3:x:x:x:x'],
    ['2605:2700:0:3::4713:93e3', 4, 5, '2605:2700:0:x:x:x:x:x'], ['2605:2700:0:3::4713:93e3', 4, 6, '2605:2700:x:x:x:x:x:x'],
    ['2605:2700:0:3::4713:93e3', 4, 7, '2605:x:x:x:x:x:x:x'], ['2605:2700:0:3::4713:93e3', 4, 8, 'x:x:x:x:x:x:x:x'],
    ['2605:2700::4713:93e3', 4, 8, 'x:x:x:x:x:x:x:x'], ['2700::4713', 4, 8, 'x:x:x:x:x:x:x:x'],
    ['2700:zzzz::gggg', 4, 6, '2700:zzzz:x:x:x:x:x:x'], ['f334::40cb:152.16.24.142', 4, 2, 'f334:0:0:0:0:40cb:x:x'],
    ['f334::40cb:152.16.24.142', 4, 4, 'f334:0:0:0:x:x:x:x'], ['::192.168.0.1', 4, 1, '0:0:0:0:0:0:c0a8:x'],
    ['::FFFF:152.16.24.123', 2, 4, '::FFFF:152.16.x.x'], ['::FFFF:152.16.24.123', 4, 4, '::FFFF:x.x.x.x'],
  ];
  it.each(cases)('%s (%i octets, %i segments) → %s', (ip, anonOctets, anonSegments, expected) => {
    expect(anonymizeIp(ip, { anonOctets, anonSegments })).toBe(expected);
  });
});

describe('campaign_attribution (Snowplow\'s CampaignAttributionEnrichmentSpec)', () => {
  const q = (pairs: [string, string][]) => new Map(pairs);
  const google = q([['utm_source', 'GoogleSearch'], ['utm_medium', 'cpc'], ['utm_term', 'native american tarot deck'], ['utm_content', '39254295088'], ['utm_campaign', 'uk-tarot--native-american']]);
  const heterogeneous = q([['utm_source', 'GoogleSearch'], ['source', 'bad_source'], ['utm_medium', 'cpc'], ['legacy_term', 'bad_term'], ['utm_term', 'native american tarot deck'], ['legacy_campaign', 'bad_campaign'], ['cid', 'uk-tarot--native-american']]);
  const none = { medium: null, source: null, term: null, content: null, campaign: null };
  const standard = { mktMedium: ['utm_medium', 'medium'], mktSource: ['utm_source', 'source'], mktTerm: ['utm_term', 'legacy_term'], mktContent: ['utm_content'], mktCampaign: ['utm_campaign', 'cid', 'legacy_campaign'] };

  it('no configured fields: nothing', () => {
    expect(new CampaignAttributionEnrichment({ mktMedium: [], mktSource: [], mktTerm: [], mktContent: [], mktCampaign: [] }).extract(google))
      .toEqual({ ...none, clickId: null, network: null });
  });
  it('Google-style settings', () => {
    expect(new CampaignAttributionEnrichment({ mktMedium: ['utm_medium'], mktSource: ['utm_source'], mktTerm: ['utm_term'], mktContent: ['utm_content'], mktCampaign: ['utm_campaign'] }).extract(google))
      .toEqual({ medium: 'cpc', source: 'GoogleSearch', term: 'native american tarot deck', content: '39254295088', campaign: 'uk-tarot--native-american', clickId: null, network: null });
  });
  it('Omniture settings', () => {
    expect(new CampaignAttributionEnrichment({ mktMedium: [], mktSource: [], mktTerm: [], mktContent: [], mktCampaign: ['cid'] }).extract(q([['cid', 'uk-tarot--native-american']])).campaign)
      .toBe('uk-tarot--native-american');
  });
  it('the order of precedence', () => {
    expect(new CampaignAttributionEnrichment(standard).extract(heterogeneous))
      .toEqual({ medium: 'cpc', source: 'GoogleSearch', term: 'native american tarot deck', content: null, campaign: 'uk-tarot--native-american', clickId: null, network: null });
  });
  it('click ids name their network (built-in and configured)', () => {
    const clicked = new Map([...heterogeneous, ['msclkid', '500']]);
    expect(new CampaignAttributionEnrichment(standard).extract(clicked)).toMatchObject({ clickId: '500', network: 'Microsoft' });
    expect(new CampaignAttributionEnrichment({ ...standard, mktClickId: { fbclid: 'Facebook' } }).extract(q([['fbclid', 'f1']]))).toMatchObject({ clickId: 'f1', network: 'Facebook' });
  });
  it('reads a raw page querystring, decoding it', () => {
    expect(new CampaignAttributionEnrichment(standard).fromQuery('utm_term=red+shoes%21&utm_source=a&utm_source=b')).toMatchObject({ term: 'red shoes!', source: 'b' });
  });
});

describe('event_fingerprint (Snowplow\'s EventFingerprintEnrichmentSpec)', () => {
  const standard = new EventFingerprintEnrichment('MD5', ['stm', 'eid']);
  it('combines the sorted fields, each as name U+001F value U+001F', () => {
    const fp = new EventFingerprintEnrichment('MD5', ['stm']);
    expect(fp.input({ stm: '1000000000000', e: 'se', se_ac: 'buy' })).toBe('e\u001fse\u001fse_ac\u001fbuy\u001f');
    expect(fp.input({ stm: '1000000000000', e: 'se', se_ac: 'buy' }).length).toBe(15); // Snowplow's e1
    // MD5 (DigestUtils.md5Hex) of exactly that string.
    expect(standard.fingerprint({ e: 'se', se_ac: 'buy' })).toBe('6829c2021516783f1ef03a9e9736ac77');
  });
  it('does not depend on the order of fields (e2)', () => {
    expect(standard.fingerprint({ e: 'se', se_ac: 'action', se_ca: 'category', se_pr: 'property' }))
      .toBe(standard.fingerprint({ se_ca: 'category', se_ac: 'action', se_pr: 'property', e: 'se' }));
  });
  it('does not depend on excluded fields (e3)', () => {
    expect(standard.fingerprint({ stm: '1000000000000', eid: '123e4567-e89b-12d3-a456-426655440000', e: 'se', se_ac: 'buy' }))
      .toBe(standard.fingerprint({ stm: '9999999999999', e: 'se', se_ac: 'buy' }));
  });
  it('differs when fields overlap differently (e4)', () => {
    expect(standard.fingerprint({ prefix: 'suffix' })).not.toBe(standard.fingerprint({ prefi: 'xsuffix' }));
  });
  it.each([['SHA1', 40], ['SHA256', 64], ['SHA384', 96], ['SHA512', 128], ['MD5', 32]])('%s gives %i hex characters', (algo, len) => {
    expect(new EventFingerprintEnrichment(algo as string, ['stm']).fingerprint({ e: 'se', se_ac: 'action' })).toMatch(new RegExp(`^[0-9a-f]{${len}}$`));
  });
  it('rejects an unknown algorithm', () => {
    expect(() => new EventFingerprintEnrichment('CRC32', [])).toThrow('[CRC32] is not a supported event fingerprint generation algorithm');
  });

  it('hashes the sorted parameters whatever their order, for parameter lists it has seen before or not', () => {
    // The sorted names of recent parameter lists are reused: the same set in another order, a
    // longer or shorter list, or names past the memo's size must all give the plain algorithm's input.
    const plain = (p: Record<string, string>) => Object.keys(p).sort().filter((k) => k !== 'stm' && k !== 'eid').map((k) => `${k}\u001f${p[k]}\u001f`).join('');
    const lists: Record<string, string>[] = [
      { e: 'pv', eid: 'x', url: 'u', aid: 'a' }, { aid: 'a', url: 'u', e: 'pv', eid: 'x' }, { e: 'pv', url: 'u' }, {},
      { e: 'pv', eid: 'x', url: 'u', aid: 'a', '0': 'zero' }, { ['k'.repeat(5_000)]: 'long', e: 'se' },
      ...Array.from({ length: 12 }, (_, i) => ({ [`p${i}`]: String(i), e: 'pv', stm: '1' })),
    ];
    for (let round = 0; round < 3; round++) {
      for (const p of lists) {
        expect(standard.input(p)).toBe(plain(p));
        const q = { ...p, url: `${p.url ?? ''}${round}` };
        expect(standard.fingerprint(q)).toBe(standard.fingerprint(Object.fromEntries(Object.entries(q).reverse())));
      }
    }
  });
});

describe('referer_parser (Snowplow\'s RefererParserEnrichmentSpec, with the shipped database)', () => {
  const db = loadRefererDb(path.join(PROJECT_ROOT, 'enrich/data/referers.json'));
  const parser = new RefererParserEnrichment(db, ['www.internaldomain.com']);
  const pageHost = 'www.snowplowanalytics.com';
  const at = (url: string) => {
    const p = parseUri(url);
    if (!p.ok) throw new Error(p.message);
    return parser.forUri(p.parts, pageHost);
  };
  it.each([
    ['http://www.google.com/search?q=gateway+oracle+cards+denise+linn&hl=en&client=safari', { medium: 'search', source: 'Google', term: 'gateway oracle cards denise linn' }],
    ['http://www.facebook.com/l.php?u=http%3A%2F%2Fwww.psychicbazaar.com&h=yAQHZtXxS&s=1', { medium: 'social', source: 'Facebook', term: null }],
    ['http://36ohk6dgmcd1n-c.c.yom.mail.yahoo.net/om/api/1.0/openmail.app.invoke/36ohk6dgmcd1n/11/1.0.35/us/en-US/view.html/0', { medium: 'email', source: 'Yahoo! Mail', term: null }],
    ['https://www.snowplowanalytics.com/account/profile', { medium: 'internal', source: null, term: null }],
    ['https://www.internaldomain.com/path', { medium: 'internal', source: null, term: null }],
    ['http://www.spyfu.com/domain.aspx?d=3897225171967988459', { medium: 'unknown', source: null, term: null }],
    ['https://www.bing.com/images/search?q=cats', { medium: 'search', source: 'Bing Images', term: 'cats' }],
    ['https://www.googleadservices.com/pagead/aclk', { medium: 'paid', source: 'Google', term: null }],
  ])('%s', (url, expected) => {
    expect(at(url)).toEqual(expected);
  });
  it('replaces tabs and drops newlines in search terms', () => {
    expect(at('http://www.google.com/search?q=%0Agateway%09oracle%09cards%09denise%09linn&hl=en&client=safari')?.term).toBe('gateway    oracle    cards    denise    linn');
  });
  it('ignores URIs that are not http(s) or have no host', () => {
    expect(at('mailto:someone@example.com')).toBeNull();
    expect(at('ftp://files.example.com/x')).toBeNull();
  });
});

describe('ua_parser_config (ua-parser-js → ua_parser_context 1-0-0)', () => {
  const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36';
  const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1';
  it('fills the context as uap\'s families and versions', () => {
    expect(uaParserContext(chrome)).toEqual({
      useragentFamily: 'Chrome', useragentMajor: '120', useragentMinor: '0', useragentPatch: '6099', useragentVersion: 'Chrome 120.0.6099',
      osFamily: 'Windows', osMajor: '10', osMinor: null, osPatch: null, osPatchMinor: null, osVersion: 'Windows 10', deviceFamily: 'Other',
    });
    expect(uaParserContext(iphone)).toMatchObject({ useragentFamily: 'Mobile Safari', osFamily: 'iOS', osMajor: '17', osMinor: '1', osPatch: '2', osVersion: 'iOS 17.1.2', deviceFamily: 'iPhone' });
    expect(uaParserContext('curl/8')).toMatchObject({ useragentFamily: 'Other', useragentVersion: 'Other', osFamily: 'Other', deviceFamily: 'Other' });
  });
  it('every context is valid against the shipped schema and is cached per user agent', () => {
    const ua = new UaParserEnrichment();
    const v = protocolOnlyEnricher().iglu.validator;
    for (const s of [chrome, iphone, '', 'x'.repeat(500)]) {
      const c = ua.context(s);
      const key = parseSchemaUri(c.schema);
      if (typeof key === 'string') throw new Error(key);
      expect(v.check(key, c.data)).toBeNull();
      expect(ua.context(s)).toBe(c);
    }
  });
});

describe('cookie_extractor_config and http_header_extractor_config', () => {
  const headers = ['Host: c.test', 'Cookie: sp=abc; other=1; q="quoted"; flag', 'Accept-Language: en-GB', 'X-Forwarded-For: 1.2.3.4', 'application/json'];
  it('extracts the configured cookies as org.ietf http_cookie contexts', () => {
    expect(new CookieExtractorEnrichment(['sp', 'q', 'flag', 'missing']).extract(headers)).toEqual([
      { schema: 'iglu:org.ietf/http_cookie/jsonschema/1-0-0', data: { name: 'sp', value: 'abc' } },
      { schema: 'iglu:org.ietf/http_cookie/jsonschema/1-0-0', data: { name: 'q', value: 'quoted' } },
      { schema: 'iglu:org.ietf/http_cookie/jsonschema/1-0-0', data: { name: 'flag', value: null } },
    ]);
  });
  it('extracts headers whose whole name matches the pattern (Java regex, (?i) honoured)', () => {
    expect(new HttpHeaderExtractorEnrichment('(?i)accept-language|host').extract(headers)).toEqual([
      { schema: 'iglu:org.ietf/http_header/jsonschema/1-0-0', data: { name: 'Host', value: 'c.test' } },
      { schema: 'iglu:org.ietf/http_header/jsonschema/1-0-0', data: { name: 'Accept-Language', value: 'en-GB' } },
    ]);
    expect(new HttpHeaderExtractorEnrichment('Host').extract(['X-Host: y', 'Host: z']).map((c) => (c.data as { value: string }).value)).toEqual(['z']);
  });
});
