import fs from 'node:fs';

// Where the CPU goes during a benchmark: every process on the machine sampled from /proc twice a
// second, its CPU time grouped by what it is (PostgreSQL, the Sluice worker, s3rver, …). A step's
// core-seconds are the sum of the samples taken while it ran. Linux only; elsewhere it reports
// nothing. Processes that exit between two samples lose at most their last half second.

const TICKS_PER_SECOND = 100; // USER_HZ: the unit of /proc/<pid>/stat times on Linux

export type CpuGroup = 'postgres' | 'sluice worker' | 's3rver' | 'temporal' | 'kinesalite' | 'bench' | 'other';
export const CPU_GROUPS: readonly CpuGroup[] = ['postgres', 'sluice worker', 's3rver', 'temporal', 'kinesalite', 'bench', 'other'];

interface Sample {
  atMs: number;
  /** CPU seconds used since the previous sample, per group. */
  seconds: Map<CpuGroup, number>;
}

function groupOf(pid: number, comm: string, cmdline: string): CpuGroup {
  if (pid === process.pid) return 'bench';
  if (comm === 'postgres') return 'postgres';
  if (comm === 'temporal') return 'temporal';
  if (cmdline.includes('s3rver')) return 's3rver';
  if (cmdline.includes('kinesalite')) return 'kinesalite';
  if (cmdline.includes('workers/')) return 'sluice worker';
  return 'other';
}

/** utime + stime of one process in seconds, and its command name; undefined once it is gone. */
function readProcess(pid: number): { comm: string; seconds: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    return { comm, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

export interface CpuSampler {
  /** Core-seconds per group between two epoch-ms times. */
  between(fromMs: number, toMs: number): Map<CpuGroup, number>;
  stop(): void;
}

export function sampleCpu(intervalMs = 500): CpuSampler {
  const samples: Sample[] = [];
  const last = new Map<number, { group: CpuGroup; seconds: number }>();
  const cmdlines = new Map<number, string>();
  const tick = () => {
    let pids: number[];
    try {
      pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
    } catch {
      return; // not Linux: nothing to report
    }
    const seconds = new Map<CpuGroup, number>();
    const alive = new Set<number>();
    for (const pid of pids) {
      const p = readProcess(pid);
      if (!p) continue;
      alive.add(pid);
      let cmdline = cmdlines.get(pid);
      if (cmdline === undefined) {
        try {
          cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        } catch {
          cmdline = '';
        }
        cmdlines.set(pid, cmdline);
      }
      const before = last.get(pid);
      const group = before?.group ?? groupOf(pid, p.comm, cmdline);
      // A process first seen now counts from zero only if it started after sampling began.
      if (before) seconds.set(group, (seconds.get(group) ?? 0) + p.seconds - before.seconds);
      else if (samples.length) seconds.set(group, (seconds.get(group) ?? 0) + p.seconds);
      last.set(pid, { group, seconds: p.seconds });
    }
    for (const pid of last.keys()) if (!alive.has(pid)) (last.delete(pid), cmdlines.delete(pid));
    samples.push({ atMs: Date.now(), seconds });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    between(fromMs, toMs) {
      const out = new Map<CpuGroup, number>();
      for (const s of samples) {
        if (s.atMs <= fromMs || s.atMs > toMs) continue;
        for (const [g, n] of s.seconds) out.set(g, (out.get(g) ?? 0) + n);
      }
      return out;
    },
    stop: () => clearInterval(timer),
  };
}
