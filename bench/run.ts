import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeCollectorPayload, encodeCollectorPayload, type CollectorPayload } from '../codecs/collector-payload';
import { readLzop, writeLzop } from '../codecs/lzop';
import { frameRecords } from '../codecs/record-framing';
import { enrichRecords } from '../speed/stream-enrich';
import { toCollectorPayload } from '../collector/payload';

// `npm run bench`: throughput of the pure hot paths, each measured side by side in this one run
// with a ceiling doing the least comparable work. Progress on stderr, the table on stdout.

interface Row {
  name: string;
  unit: string;
  perSecond: number;
  baseline?: string;
}

const results: Row[] = [];

function measure(name: string, unit: string, unitsPerCall: number, fn: () => unknown, minMs = 1_500): number {
  process.stderr.write(`  measuring ${name}…\n`);
  for (let i = 0; i < 20; i++) fn(); // warm up
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < minMs) {
    fn();
    calls++;
  }
  const perSecond = (calls * unitsPerCall) / ((performance.now() - started) / 1000);
  results.push({ name, unit, perSecond });
  return perSecond;
}

async function measureAsync(name: string, unit: string, unitsPerCall: number, fn: () => Promise<unknown>, minMs = 1_500): Promise<number> {
  process.stderr.write(`  measuring ${name}…\n`);
  for (let i = 0; i < 5; i++) await fn();
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < minMs) {
    await fn();
    calls++;
  }
  const perSecond = (calls * unitsPerCall) / ((performance.now() - started) / 1000);
  results.push({ name, unit, perSecond });
  return perSecond;
}

function tp2Payload(events: number, i: number): CollectorPayload {
  const data = Array.from({ length: events }, (_, k) => ({
    e: k % 2 ? 'pv' : 'ue',
    eid: `6c1c4ddd-3f05-4bbd-9b6c-${String(i * 100 + k).padStart(12, '0')}`,
    p: 'web',
    tv: 'js-4.0.0',
    aid: 'bench',
    url: `https://shop.example.com/p/${k}?utm_source=news&utm_medium=email`,
    refr: 'https://www.google.com/search?q=shoes',
    dtm: String(1_790_000_000_000 + k),
    stm: String(1_790_000_000_100 + k),
    res: '1920x1080',
    cx: Buffer.from(JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0', data: [{ schema: 'iglu:com.acme/ctx/jsonschema/1-0-0', data: { a: k } }] })).toString('base64url'),
    ...(k % 2 ? {} : { ue_px: Buffer.from(JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema: 'iglu:com.acme/click/jsonschema/1-0-0', data: { id: k } } })).toString('base64url') }),
  }));
  const body = JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data });
  return toCollectorPayload(
    {
      ipAddress: '203.0.113.7',
      timestamp: 1_790_000_000_500,
      path: '/com.snowplowanalytics.snowplow/tp2',
      body,
      contentType: 'application/json; charset=UTF-8',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      hostname: 'collector.example.com',
      networkUserId: 'ecdff4d0-9175-40ac-a8bb-325c49733607',
      headers: [['Host', 'collector.example.com'], ['Content-Type', 'application/json; charset=UTF-8']],
    },
    'sluice-collector-0.1.0-kinesis',
  );
}

async function main(): Promise<void> {
  process.stderr.write('sluice bench: pure hot paths, one run, side by side\n');
  const payloads = Array.from({ length: 100 }, (_, i) => tp2Payload(10, i));
  const encoded = payloads.map(encodeCollectorPayload);
  const json = payloads.map((p) => JSON.stringify(p));

  const thrift = measure('thrift encode+decode CollectorPayload', 'records/s', payloads.length, () => {
    for (const p of payloads) decodeCollectorPayload(encodeCollectorPayload(p));
  });
  const jsonCodec = measure('ceiling: JSON stringify+parse of the same payloads', 'records/s', payloads.length, () => {
    for (const s of json) JSON.parse(JSON.stringify(JSON.parse(s)));
  });
  results[results.length - 2].baseline = `${((thrift / jsonCodec) * 100).toFixed(0)}% of JSON`;

  const records = encoded.map((data, i) => ({ data, sequenceNumber: String(i), partitionKey: 'k', arrivalMs: 0 }));
  const enrich = measure('enrich tp2 (10 events/payload, decode+enrich+TSV)', 'events/s', payloads.length * 10, () => {
    enrichRecords(records, 1_790_000_001_000);
  });
  const jsonBodies = payloads.map((p) => p.body!);
  const jsonCeiling = measure('ceiling: JSON.parse+stringify of the bodies', 'events/s', payloads.length * 10, () => {
    for (const b of jsonBodies) JSON.stringify(JSON.parse(b));
  });
  results[results.length - 2].baseline = `${((enrich / jsonCeiling) * 100).toFixed(0)}% of ceiling`;

  const file = frameRecords(Array.from({ length: 20 }, () => encoded).flat());
  const mb = file.length / 1e6;
  const lzop = await measureAsync('lzop write+read a raw file', 'MB/s', mb, async () => readLzop(writeLzop(file)));
  const gzip = measure('reference: gzip level 1 write+read', 'MB/s', mb, () => gunzipSync(gzipSync(file, { level: 1 })));
  results[results.length - 2].baseline = `${(lzop / gzip).toFixed(2)}× gzip-1`;

  const width = Math.max(...results.map((r) => r.name.length));
  process.stdout.write(`\n${'benchmark'.padEnd(width)}  ${'throughput'.padStart(14)}  unit        vs\n`);
  for (const r of results) {
    process.stdout.write(`${r.name.padEnd(width)}  ${Math.round(r.perSecond).toLocaleString('en-US').padStart(14)}  ${r.unit.padEnd(10)}  ${r.baseline ?? ''}\n`);
  }
}

await main();
