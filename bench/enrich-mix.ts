// The enrich benchmark's input: a realistic mix of tp2 payloads (10 events each) from a few
// browsers: page views with campaign parameters and a search-engine referrer, and self-describing
// link clicks carrying two contexts (web_page, client_session), as the JavaScript tracker sends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COLLECTOR_PAYLOAD_SCHEMA, type CollectorPayload } from '../codecs/collector-payload';

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36',
];
const REFERRERS = [
  'https://www.google.com/search?q=red+running+shoes&hl=en',
  'https://www.bing.com/search?q=trail+shoes',
  'https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example.com%2F',
  'https://news.example.org/article/42',
];
const uuid = (n: number) => `6c1c4ddd-3f05-4bbd-9b6c-${String(n).padStart(12, '0')}`;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

export function enrichMixPayload(i: number): CollectorPayload {
  const t = 1_790_000_000_000 + i * 1000;
  const data = Array.from({ length: 10 }, (_, k) => {
    const n = i * 10 + k;
    const common = {
      eid: uuid(n), p: 'web', tv: 'js-3.17.0', tna: 'sp', aid: 'shop', uid: `user-${n % 97}`,
      duid: `d${(n % 89).toString(16).padStart(15, '0')}`, vid: String(1 + (n % 7)), sid: uuid(900_000 + (n % 50)),
      dtm: String(t + k), stm: String(t + 200), res: '1920x1080', vp: '1280x720', ds: '1280x3000', cd: '24',
      cs: 'UTF-8', lang: 'en-GB', tz: 'Europe/London', cookie: '1', f_pdf: '1', f_java: '0',
      url: `https://shop.example.com/p/${n % 40}?utm_source=newsletter&utm_medium=email&utm_campaign=spring${n % 3}`,
      page: `Product ${n % 40}`, refr: REFERRERS[n % REFERRERS.length],
    };
    if (k % 2 === 0) return { ...common, e: 'pv' };
    return {
      ...common, e: 'ue',
      ue_px: b64({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema: 'iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1', data: { targetUrl: `https://shop.example.com/c/${n % 12}`, elementId: 'nav', elementClasses: ['menu', 'top'] } } }),
      cx: b64({
        schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0',
        data: [
          { schema: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', data: { id: uuid(500_000 + n) } },
          { schema: 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2', data: { userId: uuid(700_000 + (n % 97)), sessionId: uuid(900_000 + (n % 50)), sessionIndex: 1 + (n % 7), storageMechanism: 'COOKIE_1', previousSessionId: null } },
        ],
      }),
    };
  });
  const ua = UAS[i % UAS.length];
  return {
    schema: COLLECTOR_PAYLOAD_SCHEMA, ipAddress: `203.0.113.${i % 250}`, timestamp: t + 500, encoding: 'UTF-8',
    collector: 'sluice-collector-0.1.0-kinesis', userAgent: ua, path: '/com.snowplowanalytics.snowplow/tp2',
    refererUri: 'https://shop.example.com/', contentType: 'application/json; charset=UTF-8', hostname: 'collector.example.com',
    networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
    headers: ['Host: collector.example.com', `User-Agent: ${ua}`, 'Content-Type: application/json; charset=UTF-8'],
    body: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data }),
  };
}

/** The shipped config with the benchmark's set switched on: UA parser, referer parser, campaigns. */
export function mkEnrichmentsDir(): string {
  const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../config/enrichments');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-enrichments-'));
  const on = new Set(['ua_parser_config.json', 'referer_parser.json', 'campaign_attribution.json']);
  for (const f of fs.readdirSync(src)) {
    const cfg = JSON.parse(fs.readFileSync(path.join(src, f), 'utf8'));
    cfg.data.enabled = on.has(f);
    if (cfg.data.parameters?.uri?.startsWith('file:')) cfg.data.parameters.uri = `file://${path.resolve(src, cfg.data.parameters.uri.slice(5))}/`;
    fs.writeFileSync(path.join(dir, f), JSON.stringify(cfg));
  }
  return dir;
}
