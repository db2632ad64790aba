import { loadConfig } from '../config';
import { runPrefix } from '../batch/layout';
import { bucketsForRawBytes, enrichTasks, groupRawFiles, runShred, writeEnrichedLayout } from '../batch/shred-run';
import { inProcessEngine } from '../tests/helpers/in-process-engine';
import { memoryStore } from '../tests/helpers/memory-store';
import { makeSchemaLookup } from '../workers/wiring';
import { writeRawFiles } from './raw-files';

// `npx tsx bench/batch-jobs.ts [events] [rounds]` (default 200,000 and 3): the batch's two jobs,
// enrich and shred-reduce, run in this process over the same raw files in an in-memory store, with
// no engine threads, S3 or PostgreSQL around them: the job code's own CPU, for comparing two
// versions of it side by side (bench/batch.ts measures the whole run). Each round enriches the
// raw files into a fresh run (the tasks the enrich activity builds, and the layout it writes),
// then runs the shred step as the shred activity does (runShred: schema freeze, shred-reduce of
// every bucket), both on an engine that runs the tasks in this thread; each step's CPU is this
// process's (user + system, GC threads included). Progress on stderr, the table on stdout.

const events = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
const say = (s: string) => process.stderr.write(`${s}\n`);
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
};

async function main(): Promise<void> {
  const config = loadConfig();
  const store = memoryStore();
  const engine = inProcessEngine(store);
  const lookup = makeSchemaLookup(config);
  const t0 = Date.UTC(2026, 11, 1, 10, 0, 0);
  say(`batch jobs: ${events.toLocaleString('en-US')} events of bench/raw-files.ts, ${rounds} rounds, in-process, in-memory store`);
  const raw = await writeRawFiles(store, { stream: 'sluice-raw', appId: 'bench-jobs', events, eventsPerFile: 20_000, fromMs: t0, toMs: t0 + 3_600_000 });
  const sized = await store.listSized('raw/in/');
  const groups = groupRawFiles(sized);
  const buckets = bucketsForRawBytes(sized.reduce((n, o) => n + o.size, 0));
  say(`  ${raw.files} raw files in ${groups.length} enrich tasks, ${buckets} buckets`);

  const rows: { round: number; enrich: number; shred: number }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const runId = `bench-jobs-${round}`;
    const etlTstamp = t0 + 7_200_000;
    const tasks = enrichTasks(runId, sized, buckets, etlTstamp);
    const enrichStart = process.cpuUsage();
    const enriched = await engine.run('enrich', tasks, () => undefined);
    const enrich = cpuSeconds(enrichStart);
    const schemas = [...new Set(enriched.flatMap((r) => r.schemas ?? []))].sort();
    await writeEnrichedLayout(store, runPrefix.enriched(runId), { buckets, schemas });
    const shredStart = process.cpuUsage();
    const shredded = await runShred({ store, engine, lookup }, { runId, inputPrefix: runPrefix.enriched(runId), buckets, etlTstamp });
    const shred = cpuSeconds(shredStart);
    if (shredded.good !== events) throw new Error(`round ${round}: shred wrote ${shredded.good} atomic rows, expected ${events}`);
    rows.push({ round, enrich, shred });
    say(`  round ${round}: enrich ${enrich.toFixed(2)} cpu-s, shred ${shred.toFixed(2)} cpu-s`);
    // The next round starts from the raw files alone.
    await store.deleteMany([...store.objects.keys()].filter((k) => !k.startsWith('raw/in/')));
  }

  const per = (cpu: number) => `${((cpu / events) * 1e6).toFixed(1)} µs`;
  console.log(`\nBatch jobs in-process, ${events.toLocaleString('en-US')} events (${raw.files} raw files, ${groups.length} enrich tasks, ${buckets} buckets), Node ${process.version}:\n`);
  console.log('| round | enrich cpu-s | per event | shred (freeze + shred-reduce) cpu-s | per event | both |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.round} | ${r.enrich.toFixed(2)} | ${per(r.enrich)} | ${r.shred.toFixed(2)} | ${per(r.shred)} | ${(r.enrich + r.shred).toFixed(2)} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
