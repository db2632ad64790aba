import type { Stack } from '../stack/stack';

// The faults the soak injects while traffic flows, each kind every `everyMs`, the kinds staggered
// by a third of that so two never coincide: the workers process SIGKILLed (the stack's
// supervisor starts it again), kinesalite stopped for a few seconds and started again (its data
// is on LevelDB under the data dir, so the streams survive), PostgreSQL stopped with a fast
// shutdown (SIGINT) and started again.

export const FAULT_KINDS = ['kill-workers', 'restart-kinesalite', 'restart-postgres'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  atMs: number;
  kind: FaultKind;
}

export interface InjectedFault extends PlannedFault {
  startedAt: string;
  tookMs: number;
  detail: string;
  error?: string;
}

/** Faults in [everyMs/3, durationMs - quietEndMs): the end of the run is left quiet so the last fault is ridden out while measured. */
export function planFaults(durationMs: number, everyMs: number, quietEndMs = 15_000): PlannedFault[] {
  if (!(everyMs > 0)) return [];
  const step = everyMs / FAULT_KINDS.length;
  const plan: PlannedFault[] = [];
  for (let i = 1; i * step < durationMs - quietEndMs; i++) plan.push({ atMs: i * step, kind: FAULT_KINDS[(i - 1) % FAULT_KINDS.length] });
  return plan;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function injectFault(stack: Stack, kind: FaultKind, outageMs: number): Promise<string> {
  const proc = (name: string) => {
    const p = stack.processes.get(name);
    if (!p) throw new Error(`the stack runs no ${name} process`);
    return p;
  };
  switch (kind) {
    case 'kill-workers': {
      const workers = proc('workers');
      const pid = workers.pid;
      workers.kill('SIGKILL');
      return `SIGKILL workers pid ${pid}; the stack's supervisor restarts it`;
    }
    case 'restart-kinesalite': {
      const kinesalite = proc('kinesalite');
      await kinesalite.stop();
      await sleep(outageMs);
      await kinesalite.start();
      return `kinesalite stopped for ${outageMs} ms, started again (pid ${kinesalite.pid})`;
    }
    case 'restart-postgres': {
      const postgres = proc('postgres');
      const t = Date.now();
      await postgres.stop();
      const down = Date.now() - t;
      await postgres.start();
      return `PostgreSQL fast shutdown (${down} ms), started again (pid ${postgres.pid})`;
    }
  }
}

/** Runs the plan against a clock starting at `startMs`, one fault at a time, logging each on `say`. */
export class FaultRunner {
  readonly injected: InjectedFault[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly stack: Stack,
    private readonly plan: PlannedFault[],
    private readonly outageMs: number,
    private readonly say: (line: string) => void,
  ) {}

  start(startMs: number): void {
    this.done = (async () => {
      for (const f of this.plan) {
        while (!this.stopped && Date.now() < startMs + f.atMs) await sleep(Math.min(500, startMs + f.atMs - Date.now()));
        if (this.stopped) return;
        const startedAt = new Date().toISOString();
        const t = Date.now();
        this.say(`${startedAt} fault: ${f.kind}…`);
        try {
          const detail = await injectFault(this.stack, f.kind, this.outageMs);
          this.injected.push({ ...f, startedAt, tookMs: Date.now() - t, detail });
          this.say(`${new Date().toISOString()} fault: ${f.kind} done in ${Date.now() - t} ms: ${detail}`);
        } catch (err) {
          this.injected.push({ ...f, startedAt, tookMs: Date.now() - t, detail: 'failed', error: (err as Error).message });
          this.say(`${new Date().toISOString()} fault: ${f.kind} FAILED: ${(err as Error).message}`);
        }
      }
    })();
  }

  /** Stops scheduling; waits for a fault in progress to finish (so nothing is left stopped). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}
