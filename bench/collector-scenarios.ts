import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load-generator';

// What bench/collector.ts and bench/collector-profile.ts share: the requests a tracker sends (one
// page view per GET, ten events per tp2 POST, a click redirect), free ports, the load generator
// run in its own process, and CPU time read from /proc.

const require = createRequire(import.meta.url);
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const TP2 = '/com.snowplowanalytics.snowplow/tp2';
export const REDIRECT_HOST = 'shop.example.com';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

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

export function getRequest(i: number): Buffer {
  const qs = new URLSearchParams(event(i)).toString();
  return Buffer.from(
    `GET /i?${qs} HTTP/1.1\r\nHost: collector.example.com\r\nUser-Agent: ${UA}\r\nAccept: image/avif,image/webp,*/*\r\n` +
      `Referer: https://shop.example.com/products/${i}\r\nAccept-Language: en-GB,en;q=0.9\r\n` +
      `Cookie: sp=ecdff4d0-9175-40ac-a8bb-325c49733607\r\nConnection: keep-alive\r\n\r\n`,
  );
}

export function postRequest(i: number): Buffer {
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

/** A link click: a structured event in the querystring, `u` the target (on an allowed host). */
export function redirectRequest(i: number): Buffer {
  const qs = new URLSearchParams({
    e: 'se', se_ca: 'link', se_ac: 'click', se_la: `product-${i}`, tv: 'js-4.10.1', aid: 'bench', p: 'web', eid: randomUUID(),
    dtm: String(1_790_000_000_000 + i), u: `https://${REDIRECT_HOST}/products/${i}?utm_source=email&utm_medium=newsletter`,
  }).toString();
  return Buffer.from(
    `GET /r/tp2?${qs} HTTP/1.1\r\nHost: collector.example.com\r\nUser-Agent: ${UA}\r\nAccept: text/html,*/*\r\n` +
      `Accept-Language: en-GB,en;q=0.9\r\nCookie: sp=ecdff4d0-9175-40ac-a8bb-325c49733607\r\nConnection: keep-alive\r\n\r\n`,
  );
}

export type ScenarioName = 'get' | 'post' | 'redirect';
export const SCENARIOS: Record<ScenarioName, { label: string; requests: () => Buffer[] }> = {
  get: { label: '`GET /i`', requests: () => Array.from({ length: 64 }, (_, i) => getRequest(i)) },
  post: { label: '`POST tp2`, 10 events', requests: () => Array.from({ length: 16 }, (_, i) => postRequest(i)) },
  redirect: { label: '`GET /r/tp2` (redirect)', requests: () => Array.from({ length: 64 }, (_, i) => redirectRequest(i)) },
};

/** The collector's environment on top of the bench's own: redirects on, to the bench's target host. */
export const COLLECTOR_BENCH_ENV = {
  SLUICE_COLLECTOR__REDIRECT__ENABLED: 'true',
  SLUICE_COLLECTOR__REDIRECT__ALLOWED_HOSTS: REDIRECT_HOST,
};

export interface LoadOptions {
  connections: number;
  warmupMs: number;
  durationMs: number;
  rate?: number;
  /** Where the spec file goes. */
  dir: string;
}

/** CPU time of some processes, read when the load generator starts and stops measuring. */
export interface WindowCpu {
  /** CPU seconds per pid used in the measured window. */
  seconds: Map<number, number>;
}

/**
 * Runs the load generator in its own process and returns its result, with the CPU seconds each
 * of `pids` used in its measured window (warm-up excluded), read from /proc at its marks.
 */
export async function runLoad(
  port: number,
  requests: Buffer[],
  o: LoadOptions,
  say: (msg: string) => void,
  pids: number[] = [],
  marks: { measuring?: () => void; measured?: () => void } = {},
): Promise<LoadResult & WindowCpu> {
  const spec: LoadSpec = {
    host: '127.0.0.1',
    port,
    requests: requests.map((r) => r.toString('base64')),
    connections: o.connections,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    rate: o.rate,
  };
  // The spec (requests included) goes through a file: it can exceed one argument's size limit.
  const specFile = path.join(o.dir, `load-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const child = spawn(process.execPath, ['--import', require.resolve('tsx'), path.join(projectRoot, 'bench', 'load-generator.ts'), specFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const start = new Map<number, number>();
  const seconds = new Map<number, number>();
  let started = false;
  let ended = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    // Marks are read as soon as they arrive: a few ms late at most.
    if (stderr.includes('@measuring\n') && !started) {
      started = true;
      for (const pid of pids) start.set(pid, cpuSeconds(pid));
      marks.measuring?.();
    }
    if (stderr.includes('@measured\n') && !ended) {
      ended = true;
      for (const pid of pids) seconds.set(pid, cpuSeconds(pid) - (start.get(pid) ?? 0));
      marks.measured?.();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`load generator failed (${code}): ${stderr.replace(/@measur\w+\n/g, '').trim()}`);
  const result = JSON.parse(stdout) as LoadResult;
  const unexpected = Object.entries(result.statuses).filter(([s]) => s !== '200' && s !== '302');
  if (unexpected.length > 0 || result.errors > 0) say(`  unexpected answers: ${JSON.stringify(result.statuses)}, socket errors ${result.errors}`);
  return { ...result, seconds };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** Peak resident set of a process, in MB (10^6 bytes), from /proc (VmHWM, in KiB). */
export function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return (kib * 1024) / 1e6;
}

export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}
