// Runs a fuzz property with a seed and a case count, with the checks every case gets
// (prototypes untouched, heap under its ceiling, now and then retained memory measured), and
// returns what happened in a form both vitest and the long campaign report.
import fs from 'node:fs';
import fc from 'fast-check';
import { FuzzViolation, checkHeap, checkPrototypes, checkRetained, invariantsChecked } from './invariants';

export interface FuzzProperty<T = unknown, C = unknown> {
  name: string;
  /** Cases in `npm test` (FUZZ_RUNS overrides). */
  runs: number;
  arbitrary: fc.Arbitrary<T>;
  /** Resources shared by the cases (an app, an enricher); built once per run. */
  setup(): Promise<C>;
  check(input: T, ctx: C): Promise<void>;
  /** A rough size of the input, in bytes (for the retained-memory check). */
  inputBytes?(input: T): number;
  teardown?(ctx: C): Promise<void>;
}

export interface FuzzOutcome {
  name: string;
  seed: number;
  cases: number;
  invariants: number;
  ms: number;
  failed: boolean;
  /** The invariant class that broke (`no-throw:enrichPayload`, `bad-row-size`, …). */
  invariant?: string;
  path?: string;
  counterexample?: string;
  error?: string;
  /** fast-check's own report: seed, path, shrunk counterexample. */
  report?: string;
}

/** The seed of this run: FUZZ_SEED, else a random one (always printed, so a failure can be replayed). */
export function fuzzSeed(): number {
  const env = process.env.FUZZ_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got ${env}`);
    return n;
  }
  return (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
}

export function fuzzRuns(prop: { runs: number }): number {
  const env = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? env : prop.runs;
}

/** Cases run so far per property name, across runs (the campaign's progress line reads it). */
export const liveCases = new Map<string, number>();

const RETAIN_EVERY = 97; // a prime, so it does not line up with fast-check's size cycles
const HEAP_EVERY = 20;

export const describeValue = (v: unknown, max = 4_000): string => {
  const s = fc.stringify(v);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
};

export async function runFuzzProperty<T, C>(prop: FuzzProperty<T, C>, opts: { seed: number; numRuns: number; path?: string }): Promise<FuzzOutcome> {
  const started = Date.now();
  const invariantsBefore = invariantsChecked();
  const ctx = await prop.setup();
  let cases = 0;
  try {
    const property = fc.asyncProperty(prop.arbitrary, async (input) => {
      cases++;
      liveCases.set(prop.name, (liveCases.get(prop.name) ?? 0) + 1);
      const where = `${prop.name} case ${cases}`;
      if (cases % RETAIN_EVERY === 0) {
        await checkRetained(where, prop.inputBytes?.(input) ?? 0, () => prop.check(input, ctx));
      } else {
        await prop.check(input, ctx);
      }
      checkPrototypes(where);
      if (cases % HEAP_EVERY === 0) checkHeap(where);
    });
    const details = await fc.check(property, { seed: opts.seed, numRuns: opts.numRuns, path: opts.path, endOnFailure: false });
    const err = details.errorInstance as Error | undefined;
    const outcome: FuzzOutcome = {
      name: prop.name,
      seed: details.seed,
      cases: details.numRuns,
      invariants: invariantsChecked() - invariantsBefore,
      ms: Date.now() - started,
      failed: details.failed,
    };
    if (details.failed) {
      outcome.invariant = err instanceof FuzzViolation ? err.invariant : `unexpected:${err?.name ?? 'error'}`;
      outcome.path = details.counterexamplePath ?? undefined;
      outcome.counterexample = details.counterexample ? describeValue(details.counterexample[0]) : undefined;
      outcome.error = err ? String(err.message).slice(0, 2_000) : undefined;
      outcome.report = fc.defaultReportMessage(details);
      recordFinding(outcome);
    }
    return outcome;
  } finally {
    await prop.teardown?.(ctx);
  }
}

/** With FUZZ_FINDINGS set, each failure is appended there (the lead reads it while the suite runs). */
export function recordFinding(o: FuzzOutcome): void {
  const file = process.env.FUZZ_FINDINGS;
  if (!file) return;
  const text = [
    `\n### ${o.name}: ${o.invariant} (${new Date().toISOString()})`,
    `- reproduce: \`FUZZ_SEED=${o.seed} npx vitest run tests/fuzz/\` (fast-check path \`${o.path}\`)`,
    `- error: ${(o.error ?? '').split('\n')[0]}`,
    '- shrunk counterexample:',
    '```',
    (o.counterexample ?? '').slice(0, 3_000),
    '```',
    '',
  ].join('\n');
  fs.appendFileSync(file, text);
}

/** Throws fast-check's report (seed, path, counterexample) when the run failed: for vitest. */
export function assertOutcome(o: FuzzOutcome): void {
  if (!o.failed) return;
  throw new Error(`${o.name} broke ${o.invariant} (seed ${o.seed}, path ${o.path})\n${o.error}\n\n${o.report?.slice(0, 6_000)}`);
}
