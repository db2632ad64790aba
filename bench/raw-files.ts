import { randomUUID } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards } from '../adapters/kinesis';
import type { ObjectStore } from '../adapters/object-store';
import { COLLECTOR_PAYLOAD_SCHEMA, encodeCollectorPayload, type CollectorPayload } from '../codecs/collector-payload';
import { writeLzop } from '../codecs/lzop';
import { frameRecords } from '../codecs/record-framing';
import { progressKey, readSinkProgress } from '../speed/file-sink';
import { RAW_FORMAT, rawFileKey } from '../speed/raw-sink';

// Raw input for the batch layer without the collector and the speed layer: lzop files written
// straight into raw/in/ as the raw S3 sink writes them (its naming, framing and lzop), holding
// Thrift CollectorPayloads with tp2 bodies of 10 events. bench/batch.ts and the batch-layer
// e2e test's fault runs use it.

const EVENTS_PER_PAYLOAD = 10;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const hex12 = (n: number) => n.toString(16).padStart(12, '0');

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
];
const REFERRERS = ['https://www.google.com/search?q=red+running+shoes', 'https://www.bing.com/search?q=trail+shoes', 'https://news.example.org/article/42', ''];

/**
 * One tp2 POST of 10 events from one browser, as the JavaScript tracker sends them: page views
 * with campaign parameters and a referrer, page pings, structured events, and link clicks
 * (self-describing); page views and link clicks carry a web_page context, link clicks a
 * client_session context too.
 */
export function benchPayload(appId: string, payloadIndex: number, collectorMs: number, users = 20_000): CollectorPayload {
  const user = (payloadIndex * 7919) % users;
  const session = user * 8 + (payloadIndex % 3);
  const duid = `d${hex12(user)}`;
  const sid = `5e551000-0000-4000-8000-${hex12(session)}`;
  const pageId = randomUUID();
  const ua = UAS[user % UAS.length];
  const data = Array.from({ length: EVENTS_PER_PAYLOAD }, (_, k) => {
    const page = (payloadIndex + k) % 50;
    const common: Record<string, string> = {
      eid: randomUUID(), p: 'web', tv: 'js-3.17.0', tna: 'sp', aid: appId, uid: `user-${user}`, duid, sid,
      vid: String(1 + (payloadIndex % 3)), dtm: String(collectorMs - 400 + k * 10), stm: String(collectorMs - 50),
      res: '1920x1080', vp: '1280x720', ds: '1280x3000', cd: '24', cs: 'UTF-8', lang: 'en-GB', tz: 'Europe/London', cookie: '1',
      url: `https://shop.example.com/p/${page}?utm_source=newsletter&utm_medium=email&utm_campaign=spring${page % 3}`,
      page: `Product ${page}`,
    };
    const refr = REFERRERS[payloadIndex % REFERRERS.length];
    if (refr) common.refr = refr;
    const webPage = { schema: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', data: { id: pageId } };
    const contexts = (extra: unknown[] = []) => b64({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0', data: [webPage, ...extra] });
    switch (k % 5) {
      case 0:
        return { ...common, e: 'pv', cx: contexts() };
      case 1:
        return { ...common, e: 'pp', pp_mix: '0', pp_max: String(k * 10), pp_miy: '0', pp_may: String(k * 120) };
      case 2:
      case 3:
        return { ...common, e: 'se', se_ca: 'shop', se_ac: 'add-to-basket', se_la: `sku-${page}`, se_va: String(k + 0.5) };
      default:
        return {
          ...common, e: 'ue',
          ue_px: b64({
            schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0',
            data: { schema: 'iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1', data: { targetUrl: `https://shop.example.com/c/${page % 12}`, elementId: 'nav', elementClasses: ['menu', 'top'] } },
          }),
          cx: contexts([{
            schema: 'iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2',
            data: { userId: `0c5e0000-0000-4000-8000-${hex12(user)}`, sessionId: sid, sessionIndex: 1 + (payloadIndex % 3), storageMechanism: 'COOKIE_1', previousSessionId: null },
          }]),
        };
    }
  });
  return {
    schema: COLLECTOR_PAYLOAD_SCHEMA,
    ipAddress: `198.51.100.${user % 250}`,
    timestamp: collectorMs,
    encoding: 'UTF-8',
    collector: 'sluice-collector-0.1.0-kinesis',
    userAgent: ua,
    refererUri: 'https://shop.example.com/',
    path: '/com.snowplowanalytics.snowplow/tp2',
    querystring: '',
    body: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data }),
    headers: ['Host: collector.example.com', `User-Agent: ${ua}`, 'Content-Type: application/json; charset=UTF-8', 'application/json; charset=UTF-8'],
    contentType: 'application/json; charset=UTF-8',
    hostname: 'collector.example.com',
    networkUserId: `ecdff4d0-9175-40ac-a8bb-${hex12(user)}`,
  };
}

export interface RawFilesSpec {
  stream: string;
  appId: string;
  events: number;
  /** Events per file (rounded to whole payloads of 10). */
  eventsPerFile: number;
  /** Collector times spread evenly over [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  onProgress?: (eventsWritten: number) => void;
}

/**
 * Writes raw lzop files into raw/in/ as the raw sink would (its naming, framing and lzop), under a
 * shard id of their own (`shardId-direct-<appId>`) so no key can meet one the real sink writes.
 */
export async function writeRawFiles(store: ObjectStore, spec: RawFilesSpec): Promise<{ files: number; events: number; keys: string[] }> {
  const payloads = Math.ceil(spec.events / EVENTS_PER_PAYLOAD);
  const perFile = Math.max(1, Math.round(spec.eventsPerFile / EVENTS_PER_PAYLOAD));
  const shardId = `shardId-direct-${spec.appId.replace(/[^A-Za-z0-9]/g, '')}`;
  const keys: string[] = [];
  const step = (spec.toMs - spec.fromMs) / payloads;
  let written = 0;
  const pending: Promise<void>[] = [];
  for (let first = 0; first < payloads; first += perFile) {
    const records: Buffer[] = [];
    let firstMs = 0;
    let lastMs = 0;
    for (let p = first; p < Math.min(payloads, first + perFile); p++) {
      const t = Math.floor(spec.fromMs + p * step);
      if (p === first) firstMs = t;
      lastMs = t;
      records.push(encodeCollectorPayload(benchPayload(spec.appId, p, t)));
    }
    const key = rawFileKey(spec.stream, shardId, String(first + 1), firstMs);
    keys.push(key);
    pending.push(store.put(key, writeLzop(frameRecords(records), { mtimeMs: lastMs }), RAW_FORMAT.contentType));
    written += records.length * EVENTS_PER_PAYLOAD;
    spec.onProgress?.(written);
    // A few uploads in flight while the next file is built.
    if (pending.length >= 4) await pending.shift();
  }
  await Promise.all(pending);
  return { files: keys.length, events: payloads * EVENTS_PER_PAYLOAD, keys };
}

/**
 * Moves every open raw shard's progress marker to at least `throughMs` (keeping its sequence
 * number), so the watermark may pass files written straight into raw/in/.
 */
export async function advanceRawMarkers(store: ObjectStore, kinesis: KinesisClient, stream: string, throughMs: number): Promise<void> {
  const shards = (await listShards(kinesis, stream)).filter((s) => !s.endingSequenceNumber).map((s) => s.shardId);
  const markers = await readSinkProgress(store, RAW_FORMAT.area, stream, shards);
  for (const [i, shardId] of shards.entries()) {
    const m = markers[i];
    if (m && m.completeThroughMs >= throughMs) continue;
    await store.put(progressKey(RAW_FORMAT.area, stream, shardId), JSON.stringify({ shardId, lastSequenceNumber: m?.lastSequenceNumber, completeThroughMs: throughMs }), 'application/json');
  }
}
