import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeCollectorPayload, encodeCollectorPayload, type CollectorPayload } from '../codecs/collector-payload';
import { readLzop, writeLzop } from '../codecs/lzop';
import { frameRecords } from '../codecs/record-framing';
import { enrichRecords } from '../speed/stream-enrich';
import { createEnricher } from '../enrich/default-enricher';
import { enrichMixPayload, mkEnrichmentsDir } from './enrich-mix';
import { toCollectorPayload } from '../collector/payload';
import { readSummary, reportSummary, summaryTable } from './summary';

/** The whole-stack benchmarks `npm run bench` runs after the pure hot paths, in this order. */
const STACK_BENCHES = ['collector', 'batch', 'latency', 'dripfeed'] as const;

// `npm run bench`: throughput of the pure hot paths, each measured side by side in this one run
// with a ceiling doing the least comparable work; then the whole-stack benchmarks (collector,
// batch, latency, dripfeed), each printing its own tables; then their headline figures in one
// table. Progress on stderr, the tables on stdout. `tsx bench/run.ts <name>` runs one of them
// alone (thrift, enrich, lzop, collector, batch, latency, dripfeed).

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

type Side = [name: string, unit: string, unitsPerCall: number, fn: () => unknown];

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/**
 * Two measurements taken in alternating slices (`rounds` × `sliceMs` each), so load hits both
 * alike; rates are per CPU-second of this process (per core), which a busy machine skews less than
 * wall time.
 */
async function measureInterleaved(a: Side, b: Side, rounds = 12, sliceMs = 250): Promise<[number, number]> {
  process.stderr.write(`  measuring ${a[0]} / ${b[0]} (interleaved)…\n`);
  const units = [0, 0];
  const ms = [0, 0];
  for (const side of [a, b]) for (let i = 0; i < 5; i++) await side[3](); // warm up
  for (let r = 0; r < rounds; r++) {
    for (const [i, side] of [a, b].entries()) {
      const started = performance.now();
      const cpu = cpuMs();
      while (performance.now() - started < sliceMs) { await side[3](); units[i] += side[2]; }
      ms[i] += cpuMs() - cpu;
    }
  }
  const rates = [units[0] / (ms[0] / 1000), units[1] / (ms[1] / 1000)] as [number, number];
  results.push({ name: a[0], unit: a[1], perSecond: rates[0] }, { name: b[0], unit: b[1], perSecond: rates[1] });
  return rates;
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
  const only = process.argv[2];
  const payloads = Array.from({ length: 100 }, (_, i) => tp2Payload(10, i));
  const encoded = payloads.map(encodeCollectorPayload);
  const json = payloads.map((p) => JSON.stringify(p));

  if (only === undefined || only === 'thrift') {
    const thrift = measure('thrift encode+decode CollectorPayload', 'records/s', payloads.length, () => {
      for (const p of payloads) decodeCollectorPayload(encodeCollectorPayload(p));
    });
    const jsonCodec = measure('ceiling: JSON stringify+parse of the same payloads', 'records/s', payloads.length, () => {
      for (const s of json) JSON.parse(JSON.stringify(JSON.parse(s)));
    });
    results[results.length - 2].baseline = `${((thrift / jsonCodec) * 100).toFixed(0)}% of JSON`;
  }

  if (only === undefined || only === 'enrich') await enrichBench();

  if (only === undefined || only === 'lzop') {
    const file = frameRecords(Array.from({ length: 20 }, () => encoded).flat());
    const mb = file.length / 1e6;
    const lzop = await measureAsync('lzop write+read a raw file', 'MB/s', mb, async () => readLzop(writeLzop(file)));
    const gzip = measure('reference: gzip level 1 write+read', 'MB/s', mb, () => gunzipSync(gzipSync(file, { level: 1 })));
    results[results.length - 2].baseline = `${(lzop / gzip).toFixed(2)}× gzip-1`;
  }

  if (results.length) {
    const width = Math.max(...results.map((r) => r.name.length));
    process.stdout.write(`\n${'benchmark'.padEnd(width)}  ${'throughput'.padStart(14)}  unit        vs\n`);
    for (const r of results) {
      process.stdout.write(`${r.name.padEnd(width)}  ${Math.round(r.perSecond).toLocaleString('en-US').padStart(14)}  ${r.unit.padEnd(10)}  ${r.baseline ?? ''}\n`);
    }
  }
  // The whole-stack benchmarks, each in a process of its own (a stack must not share this event
  // loop, and each starts its own on fresh ports), one after the other so none shares the cores
  // with another: about 18 minutes in all. BENCH_SKIP_STACK=1 leaves them out.
  const stackBenches = STACK_BENCHES.filter((b) => (only === undefined && process.env.BENCH_SKIP_STACK !== '1') || only === b);
  const summaryFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-')), 'summary.jsonl');
  const enrichRow = results.find((r) => r.name.startsWith('enrich:'));
  if (enrichRow?.baseline) reportSummary('enrich', [{ measure: 'decode + enrich + TSV, share of its JSON parse+stringify ceiling', measured: enrichRow.baseline.replace(' of ceiling', ''), target: '≥ 40% (aim)' }], summaryFile);
  for (const [i, bench] of stackBenches.entries()) {
    process.stderr.write(`  running bench/${bench}.ts (${i + 1} of ${stackBenches.length}, the whole local stack)…\n`);
    process.stdout.write('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(`./${bench}.ts`, import.meta.url))], {
      stdio: 'inherit', env: { ...process.env, BENCH_SUMMARY_FILE: summaryFile },
    });
    if (child.status !== 0) throw new Error(`bench/${bench}.ts failed (exit ${child.status ?? child.signal})`);
  }
  const summary = readSummary(summaryFile);
  fs.rmSync(path.dirname(summaryFile), { recursive: true, force: true });
  if (stackBenches.length) {
    process.stdout.write(`\n**Side by side, this run** (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} cores):\n\n${summaryTable(summary)}\n`);
  }
}

/**
 * Enrich on a realistic mix (bench/enrich-mix.ts, with the UA, referer and campaign enrichments
 * on) next to its ceiling: only JSON.parse + JSON.stringify of the same bodies.
 */
async function enrichBench(): Promise<void> {
  const mix = Array.from({ length: 100 }, (_, i) => enrichMixPayload(i));
  const mixRecords = mix.map((p, i) => ({ data: encodeCollectorPayload(p), sequenceNumber: String(i), partitionKey: 'k', arrivalMs: 0 }));
  const mixEvents = mix.reduce((n, p) => n + (JSON.parse(p.body!).data as unknown[]).length, 0);
  const enricher = createEnricher({ enrichmentsDir: mkEnrichmentsDir() });
  const check = await enrichRecords(mixRecords, 1_790_000_001_000, enricher);
  if (check.bad.length || check.good.length !== mixEvents) {
    throw new Error(`bench mix must enrich cleanly: ${check.good.length} good of ${mixEvents}, bad: ${JSON.stringify(check.bad[0])?.slice(0, 500)}`);
  }
  const mixBodies = mix.map((p) => p.body!);
  // Interleaved in short slices so both sides see the same machine load.
  const [enrich, ceiling] = await measureInterleaved(
    ['enrich: decode + enrich + TSV (realistic mix)', 'events/cpu-s', mixEvents, () => enrichRecords(mixRecords, 1_790_000_001_000, enricher)],
    ['ceiling: JSON.parse + JSON.stringify of the same bodies', 'events/cpu-s', mixEvents, () => { for (const b of mixBodies) JSON.stringify(JSON.parse(b)); }],
  );
  results[results.length - 2].baseline = `${((enrich / ceiling) * 100).toFixed(0)}% of ceiling`;
}

await main();
