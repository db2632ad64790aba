import fs from 'node:fs';
import net from 'node:net';

// A small HTTP/1.1 load generator, run as its own process by bench/collector.ts so that the
// server under test does not share its event loop. Raw sockets with keep-alive and prebuilt
// request bytes keep its own cost per request low.
//
// Closed loop (no `rate`): every connection sends its next request as soon as the previous
// answer is in; the result is the peak throughput. Open loop (`rate` requests/s): requests are
// scheduled at a fixed rate and latency is measured from the scheduled time, so a stalled
// server shows up in the percentiles (no coordinated omission).
//
// Input: the path of a JSON file holding a LoadSpec. Output: one JSON line on stdout (LoadResult).

export interface LoadSpec {
  host: string;
  port: number;
  /** Raw requests (base64 of the bytes), used round robin. */
  requests: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
  rate?: number;
}

export interface LoadResult {
  /** Requests answered in the measured window. */
  requests: number;
  /** Requests answered in all, warm-up included. */
  totalRequests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  errors: number;
  /** CPU the load generator itself used while measuring, per request answered (µs). */
  cpuPerRequestUs: number;
}

interface Conn {
  socket: net.Socket;
  buf: Buffer;
  busy: boolean;
  startedAt: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function run(spec: LoadSpec): Promise<LoadResult> {
  const requests = spec.requests.map((r) => Buffer.from(r, 'base64'));
  let next = 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let measuring = false;
  let stopped = false;
  const backlog: number[] = []; // scheduled start times waiting for a free connection (open loop)
  const idle: Conn[] = [];

  const send = (c: Conn, scheduledAt: number) => {
    c.busy = true;
    c.startedAt = scheduledAt;
    c.socket.write(requests[next++ % requests.length]);
  };

  let total = 0;
  const done = (c: Conn, status: number) => {
    total++;
    const ms = performance.now() - c.startedAt;
    if (measuring) {
      latencies.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    c.busy = false;
    if (stopped) return;
    if (spec.rate === undefined) send(c, performance.now());
    else if (backlog.length > 0) send(c, backlog.shift()!);
    else idle.push(c);
  };

  // Parses as many complete responses as the buffer holds (Content-Length framed).
  const onData = (c: Conn, chunk: Buffer) => {
    c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
    for (;;) {
      const end = c.buf.indexOf(HEADER_END);
      if (end < 0) return;
      const head = c.buf.subarray(0, end).toString('latin1');
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const bodyLen = m ? Number(m[1]) : 0;
      const frame = end + 4 + bodyLen;
      if (c.buf.length < frame) return;
      c.buf = c.buf.subarray(frame);
      done(c, status);
    }
  };

  const conns: Conn[] = await Promise.all(
    Array.from(
      { length: spec.connections },
      () =>
        new Promise<Conn>((resolve, reject) => {
          const socket = net.connect({ host: spec.host, port: spec.port, noDelay: true });
          const c: Conn = { socket, buf: Buffer.alloc(0), busy: false, startedAt: 0 };
          socket.on('data', (chunk) => onData(c, chunk));
          socket.on('error', () => {
            errors++;
          });
          socket.once('connect', () => resolve(c));
          socket.once('error', reject);
        }),
    ),
  );

  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  if (spec.rate === undefined) {
    for (const c of conns) send(c, performance.now());
  } else {
    idle.push(...conns);
    const interval = 1000 / spec.rate;
    let issued = 0;
    // A 1 ms tick issues every request whose scheduled time has come.
    timer = setInterval(() => {
      const now = performance.now();
      const due = Math.floor((now - started) / interval);
      while (issued < due) {
        const at = started + issued * interval;
        issued++;
        const c = idle.pop();
        if (c) send(c, at);
        else backlog.push(at);
      }
    }, 1);
  }

  await new Promise((r) => setTimeout(r, spec.warmupMs));
  // The parent reads the servers' CPU time at these two marks, so their figures cover exactly the
  // measured window (not the warm-up, when the JIT compiles).
  process.stderr.write('@measuring\n');
  measuring = true;
  const measureStart = performance.now();
  const cpuStart = process.cpuUsage();
  await new Promise((r) => setTimeout(r, spec.durationMs));
  measuring = false;
  process.stderr.write('@measured\n');
  const cpu = process.cpuUsage(cpuStart);
  const elapsed = performance.now() - measureStart;
  stopped = true;
  if (timer) clearInterval(timer);
  for (const c of conns) c.socket.destroy();

  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    totalRequests: total,
    // Throughput counts answers that accepted the request (200, or 302 for a redirect), not refusals.
    perSecond: ((statuses[200] ?? 0) + (statuses[302] ?? 0)) / (elapsed / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : 0,
    statuses,
    errors,
    cpuPerRequestUs: latencies.length ? (cpu.user + cpu.system) / latencies.length : 0,
  };
}

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as LoadSpec;
run(spec).then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`load generator failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
