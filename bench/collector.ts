import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeKinesisClient } from '../adapters/aws-clients';
import { ensureStream } from '../adapters/kinesis';
import { loadConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { ManagedProcess, httpReady } from '../stack/processes';
import { kinesaliteSpec, projectRoot } from '../stack/standins';
import type { LoadResult, LoadSpec } from './load-generator';

// `npx tsx bench/collector.ts`: the collector (a real process, its sink writing to kinesalite)
// against a bare Fastify route that answers 200 (the ceiling), measured side by side in one run
// by a load generator in its own process. Progress on stderr, a markdown table on stdout.
//
// Rows: peak requests/s with p50/p99 latency for `GET /i` and for `POST tp2` with 10 events per
// request (closed loop); p50/p99 at half of the collector's peak rate (open loop); the collector
// process's peak RSS. Targets (issue #3): GET /i ≥ 60% of the bare throughput, p99 < 20 ms at
// half the peak rate, RSS < 250 MB.

const require = createRequire(import.meta.url);
const run = promisify(execFile);
const say = (msg: string) => process.stderr.write(`[bench:collector] ${msg}\n`);

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 2_000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 8_000);
const TP2 = '/com.snowplowanalytics.snowplow/tp2';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

// What the JavaScript tracker sends: one page view per GET, ten events per POST.
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const context = (i: number) =>
  b64({
    schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0',
    data: [{ schema: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', data: { id: `0c3b8c7d-2a1e-4f6b-9c8d-${String(i).padStart(12, '0')}` } }],
  });

function event(i: number): Record<string, string> {
  const now = String(1_790_000_000_000 + i);
  return {
    e: 'pv', url: `https://shop.example.com/products/${i}?utm_source=news`, page: `Product ${i}`, refr: 'https://www.google.com/',
    tv: 'js-4.10.1', tna: 'sp', aid: 'bench', p: 'web', tz: 'Europe/London', lang: 'en-GB', cs: 'UTF-8',
    res: '1920x1080', cd: '24', cookie: '1', eid: randomUUID(), dtm: now, stm: now, vp: '1280x720', ds: '1280x3000',
    vid: '1', sid: randomUUID(), duid: '5d79770b-015b-4af8-8c91-b2ed6faf4b1e', cx: context(i),
  };
}

function getRequest(i: number): Buffer {
  const qs = new URLSearchParams(event(i)).toString();
  return Buffer.from(
    `GET /i?${qs} HTTP/1.1\r\nHost: collector.example.com\r\nUser-Agent: ${UA}\r\nAccept: image/avif,image/webp,*/*\r\n` +
      `Referer: https://shop.example.com/products/${i}\r\nAccept-Language: en-GB,en;q=0.9\r\n` +
      `Cookie: sp=ecdff4d0-9175-40ac-a8bb-325c49733607\r\nConnection: keep-alive\r\n\r\n`,
  );
}

function postRequest(i: number): Buffer {
  const body = JSON.stringify({
    schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4',
    data: Array.from({ length: 10 }, (_, k) => event(i * 10 + k)),
  });
  return Buffer.from(
    `POST ${TP2} HTTP/1.1\r\nHost: collector.example.com\r\nUser-Agent: ${UA}\r\nContent-Type: application/json; charset=UTF-8\r\n` +
      `Origin: https://shop.example.com\r\nReferer: https://shop.example.com/\r\nCookie: sp=ecdff4d0-9175-40ac-a8bb-325c49733607\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n${body}`,
  );
}

let specDir = '';

interface Row extends LoadResult {
  /** The open-loop rate, if any. */
  rate?: number;
  /** CPU per request answered (µs) of the server under test and of kinesalite, warm-up included. */
  serverCpuUs: number;
  kinesaliteCpuUs: number;
  /**
   * Requests/s the collector sustains end to end: the accepted rate, scaled down by the share of
   * the accepted records that reached kinesalite during the run (a closed loop can accept faster
   * than the sink writes for a while, the buffer taking up the difference).
   */
  sustainedPerSecond: number;
}

/** Peak memory figures of the collector (from its /metrics) while `work` runs. */
async function sampleMemory<T>(metricsUrl: string | undefined, work: Promise<T>): Promise<{ result: T; peaks: Record<string, number> }> {
  const peaks: Record<string, number> = {};
  let done = false;
  const sampler = (async () => {
    while (metricsUrl && !done) {
      const text = await (await fetch(metricsUrl)).text().catch(() => '');
      for (const [label, name, unit] of [
        ['rss MB', 'process_resident_memory_bytes', 1e6],
        ['heap MB', 'nodejs_heap_size_total_bytes', 1e6],
        ['external MB', 'nodejs_external_memory_bytes', 1e6],
        ['buffered MB', 'sluice_collector_buffer_bytes', 1e6],
        ['event-loop delay p99 ms', 'nodejs_eventloop_lag_p99_seconds', 1e-3],
        ['event-loop delay max ms', 'nodejs_eventloop_lag_max_seconds', 1e-3],
      ] as const) {
        const v = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
        peaks[label] = Math.max(peaks[label] ?? 0, v / unit);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const result = await work;
  done = true;
  await sampler;
  return { result, peaks };
}

async function load(server: () => number | undefined, kinesalite: () => number | undefined, port: number, requests: Buffer[], rate?: number, metricsUrl?: string): Promise<Row> {
  const before = [cpuSeconds(server()), cpuSeconds(kinesalite())];
  const writtenBefore = metricsUrl ? await metricValue(metricsUrl, 'sluice_collector_sink_records_total{stream="good"}') : 0;
  const { result, peaks } = await sampleMemory(metricsUrl, runLoad(port, requests, rate));
  const written = metricsUrl ? (await metricValue(metricsUrl, 'sluice_collector_sink_records_total{stream="good"}')) - writtenBefore : result.totalRequests;
  const sustainedPerSecond = result.perSecond * Math.min(1, written / Math.max(1, result.totalRequests));
  if (metricsUrl) say(`  collector peaks: ${Object.entries(peaks).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
  const per = (after: number, b: number) => ((after - b) * 1e6) / Math.max(1, result.totalRequests);
  const row = { ...result, rate, sustainedPerSecond, serverCpuUs: per(cpuSeconds(server()), before[0]), kinesaliteCpuUs: per(cpuSeconds(kinesalite()), before[1]) };
  say(
    `  ${Math.round(row.perSecond)}/s (sustained ${Math.round(sustainedPerSecond)}/s), p50 ${row.p50Ms.toFixed(2)} ms, p99 ${row.p99Ms.toFixed(2)} ms; CPU per request: server ${row.serverCpuUs.toFixed(0)} µs, ` +
      `kinesalite ${row.kinesaliteCpuUs.toFixed(0)} µs, load generator ${row.cpuPerRequestUs.toFixed(0)} µs`,
  );
  return row;
}

async function runLoad(port: number, requests: Buffer[], rate?: number): Promise<LoadResult> {
  const spec: LoadSpec = {
    host: '127.0.0.1',
    port,
    requests: requests.map((r) => r.toString('base64')),
    connections: CONNECTIONS,
    warmupMs: WARMUP_MS,
    durationMs: DURATION_MS,
    rate,
  };
  // The spec (requests included) goes through a file: it can exceed one argument's size limit.
  const specFile = path.join(specDir, `load-${Date.now()}.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const { stdout } = await run(process.execPath, ['--import', require.resolve('tsx'), path.join(projectRoot, 'bench', 'load-generator.ts'), specFile], {
    maxBuffer: 1 << 20,
  });
  const result = JSON.parse(stdout) as LoadResult;
  const non200 = Object.entries(result.statuses).filter(([s]) => s !== '200');
  if (non200.length > 0 || result.errors > 0) say(`  non-200 answers: ${JSON.stringify(result.statuses)}, socket errors ${result.errors}`);
  return result;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** Peak resident set of a process, in MB (10^6 bytes), from /proc (VmHWM, in KiB). */
function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return (kib * 1024) / 1e6;
}

async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-'));
  specDir = dataDir;
  const [kinesisPort, collectorPort, barePort] = await freePorts(3);
  const env: Record<string, string> = {
    SLUICE_DATA_DIR: dataDir,
    SLUICE_LOG__LEVEL: 'warn',
    SLUICE_KINESIS__PORT: String(kinesisPort),
    SLUICE_KINESIS__ENDPOINT: `http://127.0.0.1:${kinesisPort}`,
    SLUICE_COLLECTOR__PORT: String(collectorPort),
  };
  const config = loadConfig(env, dataDir);
  const log = makeLogger('bench', 'warn');
  const logs = path.join(dataDir, 'logs');
  const tsx = require.resolve('tsx');
  const kinesalite = new ManagedProcess(kinesaliteSpec(config), logs, log);
  const bare = new ManagedProcess(
    { name: 'bare', command: process.execPath, args: ['--import', tsx, path.join(projectRoot, 'bench', 'bare-server.ts'), String(barePort)], ready: httpReady(`http://127.0.0.1:${barePort}/health`) },
    logs,
    log,
  );
  const collector = new ManagedProcess(
    {
      name: 'collector',
      command: process.execPath,
      // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the collector there (for profiling, not for the table).
      args: [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : []), '--import', tsx, path.join(projectRoot, 'collector', 'main.ts')],
      env,
      cwd: dataDir,
      ready: httpReady(`http://127.0.0.1:${collectorPort}/health`),
    },
    logs,
    log,
  );
  try {
    say(`starting kinesalite, the collector and the bare Fastify server (data in ${dataDir})`);
    await kinesalite.start();
    const client = makeKinesisClient(config);
    await ensureStream(client, config.kinesis.streams.raw, config.kinesis.shards);
    await ensureStream(client, config.kinesis.streams.bad, 1);
    client.destroy();
    await Promise.all([bare.start(), collector.start()]);
    const col = () => collector.pid;
    const kin = () => kinesalite.pid;
    const bar = () => bare.pid;

    const gets = Array.from({ length: 64 }, (_, i) => getRequest(i));
    const posts = Array.from({ length: 16 }, (_, i) => postRequest(i));
    say(`${CONNECTIONS} connections, ${WARMUP_MS} ms warm-up, ${DURATION_MS} ms measured per row; GET ${gets[0].length} B, POST ${posts[0].length} B`);

    // Each collector row starts with an empty sink buffer, so no row pays for the previous one's backlog.
    const metricsUrl = `http://127.0.0.1:${collectorPort}/metrics`;
    const drained = async () => {
      const deadline = Date.now() + 120_000;
      while ((await metricValue(metricsUrl, 'sluice_collector_buffer_records')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    };
    const collectorRow = async (requests: Buffer[], rate?: number) => {
      await drained();
      return load(col, kin, collectorPort, requests, rate, metricsUrl);
    };

    say('bare Fastify GET /i (closed loop)…');
    const bareGet = await load(bar, kin, barePort, gets);
    say('collector GET /i (closed loop)…');
    const colGet = await collectorRow(gets);
    say('bare Fastify POST tp2 (closed loop)…');
    const barePost = await load(bar, kin, barePort, posts);
    say('collector POST tp2, 10 events (closed loop)…');
    const colPost = await collectorRow(posts);
    const halfGet = Math.round(colGet.sustainedPerSecond / 2);
    const halfPost = Math.round(colPost.sustainedPerSecond / 2);
    say(`collector GET /i at ${halfGet}/s (open loop)…`);
    const colGetHalf = await collectorRow(gets, halfGet);
    say(`collector POST tp2 at ${halfPost}/s (open loop)…`);
    const colPostHalf = await collectorRow(posts, halfPost);

    // Everything acknowledged must reach kinesalite: wait for the buffer to drain, then compare.
    await drained();
    const accepted = (await metricValue(metricsUrl, 'sluice_collector_requests_total{route="/i",status="200"}')) +
      (await metricValue(metricsUrl, 'sluice_collector_requests_total{route="/:vendor/:version",status="200"}'));
    const written = await metricValue(metricsUrl, 'sluice_collector_sink_records_total{stream="good"}');
    const rss = peakRssMb(collector.pid!);

    const n = (x: number) => Math.round(x).toLocaleString('en-US');
    const row = (name: string, r: Row, vs: string, sink = true) =>
      `| ${name} | ${n(r.perSecond)}${sink && r.rate === undefined && r.sustainedPerSecond < r.perSecond * 0.99 ? ` (${n(r.sustainedPerSecond)} sustained)` : ''} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.serverCpuUs.toFixed(0)} | ${sink ? r.kinesaliteCpuUs.toFixed(0) : '–'} | ${r.cpuPerRequestUs.toFixed(0)} | ${vs} |`;
    const met = (ok: boolean) => (ok ? 'met' : '**not met**');
    const getRatio = colGet.perSecond / bareGet.perSecond;
    const postRatio = colPost.perSecond / barePost.perSecond;
    const total = (r: Row, sink: boolean) => r.serverCpuUs + (sink ? r.kinesaliteCpuUs : 0) + r.cpuPerRequestUs;
    const lines = [
      `Collector benchmark, ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} cores, Node ${process.version}, ${CONNECTIONS} keep-alive connections, ${DURATION_MS / 1000} s measured per row.`,
      'The collector is a real process whose sink writes to kinesalite; the load generator is a third process.',
      '"Sustained" is the rate whose records kinesalite also took in the same time; half-peak rows run at half of it.',
      '',
      '| scenario | requests/s | p50 ms | p99 ms | server CPU µs/req | kinesalite CPU µs/req | load generator CPU µs/req | vs |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      row('bare Fastify `GET /i` (ceiling)', bareGet, 'ceiling', false),
      row('collector `GET /i`', colGet, `${Math.round(getRatio * 100)}% of bare (target ≥ 60%: ${met(getRatio >= 0.6)})`),
      row('bare Fastify `POST tp2` (ceiling)', barePost, 'ceiling', false),
      row('collector `POST tp2`, 10 events/request', colPost, `${Math.round(postRatio * 100)}% of bare`),
      row(`collector \`GET /i\` at half its peak (${n(halfGet)}/s)`, colGetHalf, `p99 < 20 ms: ${met(colGetHalf.p99Ms < 20)}`),
      row(`collector \`POST tp2\` at half its peak (${n(halfPost)}/s)`, colPostHalf, `p99 < 20 ms: ${met(colPostHalf.p99Ms < 20)}`),
      `| collector peak RSS | ${rss.toFixed(0)} MB | | | | | | < 250 MB: ${met(rss < 250)} |`,
      '',
      `CPU per request, all processes: bare GET ${total(bareGet, false).toFixed(0)} µs, collector GET ${total(colGet, true).toFixed(0)} µs ` +
        `(collector ${colGet.serverCpuUs.toFixed(0)} + kinesalite ${colGet.kinesaliteCpuUs.toFixed(0)} + load generator ${colGet.cpuPerRequestUs.toFixed(0)}), ` +
        `on ${os.cpus().length} cores shared by all three.`,
      `Sink: ${n(written)} records written to kinesalite for ${n(accepted)} requests answered 200 (warm-ups included)${written === accepted ? ': none lost' : ': **MISMATCH**'}.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await collector.stop();
    await bare.stop();
    await kinesalite.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
