import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { projectRoot } from '../stack/standins';
import { SCENARIOS, runLoad, type ScenarioName } from './collector-scenarios';
import { collectorStack } from './collector-stack';

// `npx tsx bench/collector-profile.ts <get|post|redirect> [rate] [--bare]`: where the collector's
// own CPU goes (or, with --bare, the bare Fastify route's). Starts kinesalite and the collector
// as bench/collector.ts does, drives one scenario (closed loop, or open loop at `rate`/s), and
// samples the server's CPU over the measured window only (warm-up excluded):
//
// - with Linux `perf` (the default when it is installed): on-CPU samples of every thread of the
//   process, kernel included, JavaScript frames named through `--perf-basic-prof`. Each sample is
//   charged to the nearest JavaScript frame on its stack (natives and syscalls below it included),
//   and grouped by what that code is: Node's HTTP and socket code, Fastify, the collector's own
//   modules, the Kinesis client, GC and JIT threads, … This is the profile docs/collector.md sums up.
// - otherwise (or BENCH_PROFILE=v8): a V8 CPU profile (`--cpu-prof`), self time by group. It is
//   wall-clock sampling of the main thread (a thread waiting for a core, or in a syscall, still
//   collects samples) and spans the whole run, start-up included: good for JavaScript, poor for
//   the kernel's share.
//
// Prints markdown: µs per request by group, then the top functions. BENCH_PROFILE_TOP=n sets how
// many; BENCH_PROFILE_KEEP=<dir> keeps the raw profile there.

const say = (msg: string) => process.stderr.write(`[bench:collector-profile] ${msg}\n`);

// First match wins: the URL of a frame → the group it belongs to.
const GROUPS: [string, RegExp][] = [
  ['Kinesis client (@aws-sdk, @smithy)', /node_modules\/(@aws-sdk|@smithy|@aws-crypto|tslib)\//],
  ['pino logging', /node_modules\/(pino|@pinojs|sonic-boom|thread-stream|fast-redact)\//],
  ['prom-client metrics', /node_modules\/prom-client\//],
  ['cookie library', /node_modules\/(@fastify\/cookie|cookie|cookie-signature)\//],
  ['Fastify (routing, hooks, reply, body parsing)', /node_modules\/(fastify|find-my-way|avvio|fast-querystring|@fastify|fast-json-stringify|safe-regex2|toad-cache|fast-decode-uri-component|proxy-addr|forwarded|ipaddr\.js|fast-uri|secure-json-parse|content-type|abstract-logging)\//],
  ['thrift library', /node_modules\/thrift\//],
  ['collector: identity, cookie', /collector\/(identity|cookies|plugins\/identity)/],
  ['collector: record encoder (codecs/collector-payload)', /codecs\/collector-payload/],
  ['collector: checks (validate, bounded JSON)', /collector\/validate|codecs\/bounded-json/],
  ['collector: sink, arena, PutRecords body', /collector\/(sink|ingest|split|kinesis-writer|kinesis-put|record-arena)/],
  ['collector: track, query, payload, routes, CORS, metrics', /collector\//],
  ['Node http (parser callbacks, request/response objects)', /^node:_http|^node:http/],
  ['Node net/stream (socket reads and writes, incl. the syscalls)', /^node:net|^node:internal\/(streams|stream_base_commons|net)|^node:stream/],
  ['Node timers, nextTick, events', /^node:internal\/(timers|process|async_hooks)|^node:events|^node:timers/],
  ['Node crypto (SigV4 hashing, UUIDs)', /^node:internal\/crypto|^node:crypto/],
  ['Node buffer, url, other builtins', /^node:/],
];

interface Tally {
  groups: Map<string, number>;
  functions: Map<string, number>;
  kernel: Map<string, number>;
  total: number;
}

const GC = /Scaveng|MarkCompact|Sweeper|ConcurrentMarking|Heap::|MarkingVisitor|GCTracer|IncrementalMarking|ArrayBufferSweeper|Evacuat|MemoryAllocator/;
const COMPILE = /compiler::|Compile|Maglev|Turbofan|OptimizingCompile/;

function classify(frames: { sym: string; dso: string }[], mainThread: boolean): { group: string; fn: string } {
  const syms = frames.map((f) => f.sym);
  if (!mainThread) {
    const all = syms.join(' ');
    return { group: GC.test(all) ? 'GC (helper threads)' : COMPILE.test(all) ? 'JIT compiler (helper threads)' : 'other threads (libuv pool, …)', fn: syms[0] ?? '?' };
  }
  const js = frames.findIndex((f) => f.sym.startsWith('JS:'));
  const below = js < 0 ? syms : syms.slice(0, js);
  if (below.some((s) => GC.test(s))) return { group: 'GC (main thread)', fn: 'garbage collection' };
  if (below.some((s) => COMPILE.test(s))) return { group: 'JIT compiler (main thread)', fn: 'compilation' };
  if (js < 0) {
    const all = syms.join(' ');
    const group = /llhttp|Parser::Execute/.test(all)
      ? 'native: HTTP parsing (llhttp)'
      : /uv__read|OnStreamRead|uv__stream_io/.test(all)
        ? 'native: socket reads (libuv)'
        : /epoll|uv__io_poll/.test(all)
          ? 'native: event loop (epoll, wake-ups)'
          : 'native: other';
    return { group, fn: syms[0] ?? '?' };
  }
  const name = frames[js].sym.replace(/^JS:[*^+~]?/, '');
  const url = /\s(\S+?)(?::\d+:\d+)?$/.exec(name)?.[1] ?? '';
  const group = GROUPS.find(([, re]) => re.test(url))?.[0] ?? 'other JavaScript';
  return { group, fn: name.replace(`${projectRoot}/node_modules/`, '').replace(`file://${projectRoot}/`, '').replace(`${projectRoot}/`, '') };
}

/** Reads `perf script` output: one block per sample (header line, then one frame per line). */
async function tallyPerf(script: NodeJS.ReadableStream, pid: number): Promise<Tally> {
  const tally: Tally = { groups: new Map(), functions: new Map(), kernel: new Map(), total: 0 };
  let header: { tid: number } | undefined;
  let frames: { sym: string; dso: string }[] = [];
  const flush = () => {
    if (!header) return;
    const { group, fn } = classify(frames, header.tid === pid);
    tally.total++;
    tally.groups.set(group, (tally.groups.get(group) ?? 0) + 1);
    tally.functions.set(fn, (tally.functions.get(fn) ?? 0) + 1);
    if (frames[0]?.dso === '[kernel.kallsyms]') tally.kernel.set(group, (tally.kernel.get(group) ?? 0) + 1);
  };
  for await (const line of readline.createInterface({ input: script })) {
    if (!line.startsWith('\t') && line.trim()) {
      flush();
      const m = /^\S+\s+(\d+)(?:\/(\d+))?\s/.exec(line);
      header = { tid: Number(m?.[2] ?? m?.[1] ?? 0) };
      frames = [];
    } else if (line.trim()) {
      const m = /^\s*[0-9a-f]+ (.*) \((.*)\)$/.exec(line);
      if (m) frames.push({ sym: m[1].replace(/\+0x[0-9a-f]+$/, ''), dso: m[2] });
    }
  }
  flush();
  return tally;
}

function report(tally: Tally, usPerSample: number, requests: number, note: string): string {
  const per = (n: number) => ((n * usPerSample) / Math.max(1, requests)).toFixed(1);
  const share = (n: number) => `${((100 * n) / Math.max(1, tally.total)).toFixed(1)}%`;
  const top = Number(process.env.BENCH_PROFILE_TOP ?? 30);
  return [
    `${note}: ${per(tally.total)} µs of CPU per request in all (${tally.total.toLocaleString('en-US')} samples, ${requests.toLocaleString('en-US')} requests).`,
    '',
    '| where (nearest JavaScript frame) | µs/request | of which in the kernel | share |',
    '| --- | ---: | ---: | ---: |',
    ...[...tally.groups].sort((a, b) => b[1] - a[1]).map(([g, n]) => `| ${g} | ${per(n)} | ${tally.kernel.has(g) ? per(tally.kernel.get(g)!) : ''} | ${share(n)} |`),
    '',
    '| top functions (inclusive of the natives and syscalls they call) | µs/request |',
    '| --- | ---: |',
    ...[...tally.functions].sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, n]) => `| \`${f.slice(0, 120)}\` | ${per(n)} |`),
  ].join('\n');
}

interface V8Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

function tallyV8(profile: V8Profile): { tally: Tally; usTotal: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const tally: Tally = { groups: new Map(), functions: new Map(), kernel: new Map(), total: 0 };
  for (let i = 0; i < profile.samples.length; i++) {
    const { callFrame: cf } = byId.get(profile.samples[i])!;
    const us = profile.timeDeltas[i] ?? 0;
    if (cf.functionName === '(idle)') continue;
    const group = cf.functionName === '(garbage collector)' ? 'GC (main thread)' : cf.functionName === '(program)' ? 'native: other' : cf.url === '' ? 'native builtins' : (GROUPS.find(([, re]) => re.test(cf.url))?.[0] ?? 'other JavaScript');
    const fn = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*node_modules\//, '').replace(`file://${projectRoot}/`, '')}:${cf.lineNumber + 1}`;
    tally.total += us;
    tally.groups.set(group, (tally.groups.get(group) ?? 0) + us);
    tally.functions.set(fn, (tally.functions.get(fn) ?? 0) + us);
  }
  return { tally, usTotal: tally.total };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const bareMode = args.includes('--bare');
  const [name = 'get', rateArg] = args.filter((a) => !a.startsWith('--'));
  const scenario = name as ScenarioName;
  if (!SCENARIOS[scenario]) throw new Error(`scenario must be one of ${Object.keys(SCENARIOS).join(', ')}`);
  const rate = rateArg ? Number(rateArg) : undefined;
  const usePerf = process.env.BENCH_PROFILE !== 'v8' && spawnSync('perf', ['--version']).status === 0;
  const stack = await collectorStack();
  const { dataDir, collectorPort, barePort } = stack;
  const profDir = path.join(dataDir, 'prof');
  const profFlags = usePerf ? ['--perf-basic-prof'] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval', '200'];
  const server = bareMode ? stack.bare(profFlags) : stack.collector(profFlags);
  const perfData = path.join(dataDir, 'perf.data');
  let perf: ReturnType<typeof spawn> | undefined;
  try {
    await stack.startKinesalite();
    await server.start();
    const pid = server.pid!;
    say(`${bareMode ? 'bare Fastify' : 'collector'} ${SCENARIOS[scenario].label}${rate ? ` at ${rate}/s` : ' (closed loop)'}, ${usePerf ? 'perf' : 'V8 CPU profile'}…`);
    const FREQUENCY = 2_000;
    let perfExit: Promise<unknown> = Promise.resolve();
    const result = await runLoad(
      bareMode ? barePort : collectorPort,
      SCENARIOS[scenario].requests(),
      { connections: Number(process.env.BENCH_CONNECTIONS ?? 32), warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 3_000), durationMs: Number(process.env.BENCH_DURATION_MS ?? 8_000), rate, dir: dataDir },
      say,
      [pid],
      {
        measuring: () => {
          if (!usePerf) return;
          perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-g', '-o', perfData, '-p', String(pid)], { stdio: 'ignore' });
          perfExit = new Promise((r) => perf!.on('exit', r));
        },
        measured: () => perf?.kill('SIGINT'),
      },
    );
    await perfExit;
    const cpuUs = ((result.seconds.get(pid) ?? 0) * 1e6) / Math.max(1, result.requests);
    say(`${Math.round(result.perSecond)}/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms; process CPU ${cpuUs.toFixed(1)} µs/request in the window (from /proc)`);
    const what = `${bareMode ? 'Bare Fastify' : 'Collector'} ${SCENARIOS[scenario].label}${rate ? ` at ${rate}/s` : ', closed loop'}`;
    if (usePerf) {
      if (process.env.BENCH_PROFILE_KEEP) {
        fs.mkdirSync(process.env.BENCH_PROFILE_KEEP, { recursive: true });
        fs.copyFileSync(perfData, path.join(process.env.BENCH_PROFILE_KEEP, `${bareMode ? 'bare' : 'collector'}-${scenario}-${Date.now()}.perf.data`));
      }
      const script = spawn('perf', ['script', '-i', perfData], { stdio: ['ignore', 'pipe', 'ignore'] });
      const tally = await tallyPerf(script.stdout, pid);
      // Samples while perf ran (the measured window, give or take its start-up): 1/FREQUENCY s each.
      process.stdout.write(`${report(tally, 1e6 / FREQUENCY, result.requests, `${what} (perf, measured window; perf's own overhead adds a little)`)}\n`);
      await server.stop();
    } else {
      await server.stop();
      const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('no CPU profile written');
      if (process.env.BENCH_PROFILE_KEEP) {
        fs.mkdirSync(process.env.BENCH_PROFILE_KEEP, { recursive: true });
        fs.copyFileSync(path.join(profDir, file), path.join(process.env.BENCH_PROFILE_KEEP, `${bareMode ? 'bare' : 'collector'}-${scenario}-${Date.now()}.cpuprofile`));
      }
      const { tally } = tallyV8(JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')) as V8Profile);
      // The V8 profile spans start-up and warm-up too: per-request figures divide by every request answered.
      process.stdout.write(`${report(tally, 1, result.totalRequests, `${what} (V8 CPU profile, main thread, whole run)`)}\n`);
    }
  } finally {
    perf?.kill('SIGINT');
    await stack.close();
  }
}

await main();
