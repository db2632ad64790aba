import fs from 'node:fs';

// What the soak watches while it runs: the resident memory of the collector and workers processes
// (from /proc, following a process to its new PID after a restart) and the speed layer's lag from
// the workers' metrics; and the statistics the report draws from them.

export interface RssSample {
  atMs: number;
  pid: number;
  mb: number;
}

/** VmRSS of a process in MB; undefined when it is gone (or not Linux). */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export class RssSampler {
  readonly samples = new Map<string, RssSample[]>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly pidOf: (name: string) => number | undefined, readonly names: string[]) {
    for (const n of names) this.samples.set(n, []);
  }

  sample(): void {
    const atMs = Date.now();
    for (const name of this.names) {
      const pid = this.pidOf(name);
      const mb = pid === undefined ? undefined : rssMb(pid);
      if (pid !== undefined && mb !== undefined) this.samples.get(name)!.push({ atMs, pid, mb });
    }
  }

  latest(name: string): RssSample | undefined {
    return this.samples.get(name)?.at(-1);
  }

  start(everyMs: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export interface LagSample {
  atMs: number;
  /** The largest lag of any shard consumer (ms). */
  maxMs: number;
  /** The largest lag per processor, e.g. `enrich` → 120. */
  byProcessor: Map<string, number>;
}

/** Every shard consumer's `sluice_speed_millis_behind_latest`, largest per processor; undefined while the workers do not answer. */
export async function readLag(workersUrl: string): Promise<LagSample | undefined> {
  const text = await fetch(`${workersUrl}/metrics`, { signal: AbortSignal.timeout(3_000) })
    .then((r) => (r.ok ? r.text() : undefined))
    .catch(() => undefined);
  if (text === undefined) return undefined;
  const byProcessor = new Map<string, number>();
  for (const m of text.matchAll(/^sluice_speed_millis_behind_latest\{[^}]*processor="([^"]*)"[^}]*\} ([0-9.e+]+)/gm)) {
    byProcessor.set(m[1], Math.max(byProcessor.get(m[1]) ?? 0, Number(m[2])));
  }
  if (byProcessor.size === 0) return undefined;
  return { atMs: Date.now(), maxMs: Math.max(...byProcessor.values()), byProcessor };
}

export class LagSampler {
  readonly samples: LagSample[] = [];
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(private readonly workersUrl: string) {}

  start(everyMs: number): void {
    this.timer = setInterval(async () => {
      if (this.busy) return;
      this.busy = true;
      const s = await readLag(this.workersUrl);
      if (s) this.samples.push(s);
      this.busy = false;
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Least-squares growth of RSS in MB/min over samples in [fromMs, toMs], one slope shared by
 * every PID the process had (each PID its own intercept: a restarted process starts small, which
 * is not a trend), leaving out each PID's first `warmupMs` (module loading, caches filling).
 * NaN when fewer than three samples remain.
 */
export function rssSlopeMbPerMin(samples: RssSample[], fromMs: number, toMs: number, warmupMs: number): { slope: number; used: number } {
  const firstSeen = new Map<number, number>();
  for (const s of samples) if (!firstSeen.has(s.pid)) firstSeen.set(s.pid, s.atMs);
  const groups = new Map<number, RssSample[]>();
  for (const s of samples) {
    if (s.atMs < fromMs || s.atMs > toMs || s.atMs - firstSeen.get(s.pid)! < warmupMs) continue;
    groups.set(s.pid, [...(groups.get(s.pid) ?? []), s]);
  }
  let sxy = 0;
  let sxx = 0;
  let used = 0;
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const tMean = g.reduce((a, s) => a + s.atMs, 0) / g.length;
    const yMean = g.reduce((a, s) => a + s.mb, 0) / g.length;
    for (const s of g) {
      const dt = (s.atMs - tMean) / 60_000;
      sxy += dt * (s.mb - yMean);
      sxx += dt * dt;
    }
    used += g.length;
  }
  return { slope: used >= 3 && sxx > 0 ? sxy / sxx : NaN, used };
}

/** The sample nearest to `atMs`. */
export function nearest<T extends { atMs: number }>(samples: T[], atMs: number): T | undefined {
  let best: T | undefined;
  for (const s of samples) if (!best || Math.abs(s.atMs - atMs) < Math.abs(best.atMs - atMs)) best = s;
  return best;
}
