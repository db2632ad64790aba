// The long fuzz campaign: `npm run fuzz -- --minutes 10 [--seed N] [--only text]`. Runs every
// property in rounds, each round with a new seed, until the time is up; prints a progress line on
// stderr every few seconds and, at the end, a table of cases, invariant checks and failures
// (with the seed and path that replay each one). Exits 1 on any failure. Ctrl-C stops after the
// current run (a second Ctrl-C quits at once).
import { ALL_PROPERTIES } from './properties';
import { type FuzzOutcome, liveCases, runFuzzProperty } from './runner';

function args(argv: string[]): { minutes: number; seed: number; only?: string } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const minutes = Number(get('minutes') ?? 10);
  const seed = get('seed') !== undefined ? Number(get('seed')) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  if (!(minutes > 0) || !Number.isInteger(seed)) throw new Error('usage: campaign.ts --minutes N [--seed INTEGER] [--only TEXT]');
  return { minutes, seed, only: get('only') };
}

interface Row { cases: number; invariants: number; failures: FuzzOutcome[] }

async function main(): Promise<number> {
  const { minutes, seed, only } = args(process.argv.slice(2));
  const props = ALL_PROPERTIES.filter((p) => !only || p.name.includes(only));
  const deadline = Date.now() + minutes * 60_000;
  const rows = new Map(props.map((p) => [p.name, { cases: 0, invariants: 0, failures: [] } as Row]));
  const started = Date.now();
  console.error(`fuzz campaign: ${props.length} properties, ${minutes} min, first seed ${seed}`);
  const progress = setInterval(() => {
    const total = [...liveCases.values()].reduce((a, b) => a + b, 0);
    const failures = [...rows.values()].reduce((n, r) => n + r.failures.length, 0);
    const per = props.map((p) => `${p.name.split(':')[0]}/${p.name.split(' ').slice(1, 2)}=${liveCases.get(p.name) ?? 0}`).join(' ');
    console.error(`[${Math.round((Date.now() - started) / 1000)}s] ${total} cases (shrinking included), ${failures} failures | ${per}`);
  }, 5_000);
  // Ctrl-C (or SIGTERM) ends the campaign after the current run, so its stand-ins are torn down.
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    console.error('stopping after the current run (again to quit now)');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let round = 0;
  try {
    while (Date.now() < deadline && !stopping) {
      for (const p of props) {
        if (Date.now() >= deadline || stopping) break;
        const s = (seed + round * 7_919 + props.indexOf(p)) | 0;
        // A third of a property's npm-test count per round: short runs, many seeds.
        const outcome = await runFuzzProperty(p, { seed: s, numRuns: Math.max(10, Math.ceil(p.runs / 3)) });
        const row = rows.get(p.name)!;
        row.cases += outcome.cases;
        row.invariants += outcome.invariants;
        if (outcome.failed) {
          row.failures.push(outcome);
          console.error(`FAILED ${p.name}: ${outcome.invariant} (seed ${outcome.seed}, path ${outcome.path})\n  ${String(outcome.error).split('\n')[0].slice(0, 400)}`);
        }
      }
      round++;
    }
  } finally {
    clearInterval(progress);
  }
  const table = [...rows].map(([name, r]) => ({
    property: name, cases: r.cases, 'invariants checked': r.invariants,
    failures: r.failures.length ? r.failures.map((f) => `${f.invariant} (seed ${f.seed}, path ${f.path})`).join('; ') : 0,
  }));
  const total = table.reduce((n, r) => n + r.cases, 0);
  const held = table.reduce((n, r) => n + r['invariants checked'], 0);
  console.log(`\nfuzz campaign: ${round} round(s), ${total} cases, ${held} invariant checks held, ${Math.round((Date.now() - started) / 1000)} s`);
  console.table(table);
  const failed = [...rows.values()].some((r) => r.failures.length > 0);
  console.log(failed ? 'FAILURES: replay one with FUZZ_SEED=<seed> on its test file, or --seed here' : 'all invariants held');
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(1); });
