import { loadConfig } from '../config';
import { jobs } from '../batch/jobs';
import { enrichedBucketPrefix } from '../batch/layout';
import { bucketsForRawBytes, groupRawFiles, snapshotSchemas } from '../batch/shred-run';
import { DUPLICATE_SCHEMA_URI } from '../batch/dedupe';
import { getEnricher } from '../enrich/default-enricher';
import type { TaskInput, TaskResult } from '../engine/job-types';
import { memoryStore } from '../tests/helpers/memory-store';
import { writeRawFiles } from './raw-files';

// `npx tsx bench/batch-jobs.ts [events] [rounds]` (default 200,000 and 3): the batch's two jobs,
// enrich and shred-reduce, run in this process over the same raw files in an in-memory store, with
// no engine threads, S3 or PostgreSQL around them: the job code's own CPU, for comparing two
// versions of it side by side (bench/batch.ts measures the whole run). Each round enriches the
// raw files into a fresh run, freezes its schemas and shred-reduces every bucket; the CPU of each
// job is this process's (user + system) over its tasks. Progress on stderr, the table on stdout.

const events = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
const say = (s: string) => process.stderr.write(`${s}\n`);
const cpuSeconds = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
};

async function timed(tasks: TaskInput[], run: (t: TaskInput) => Promise<TaskResult>): Promise<{ cpu: number; results: TaskResult[] }> {
  const start = process.cpuUsage();
  const results: TaskResult[] = [];
  for (const t of tasks) results.push(await run(t));
  return { cpu: cpuSeconds(start), results };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const store = memoryStore();
  const lookup = (uri: string) => getEnricher(config.enrich).iglu.resolver.lookupSchema(uri);
  const t0 = Date.UTC(2026, 11, 1, 10, 0, 0);
  say(`batch jobs: ${events.toLocaleString('en-US')} events of bench/raw-files.ts, ${rounds} rounds, in-process, in-memory store`);
  const raw = await writeRawFiles(store, { stream: 'sluice-raw', appId: 'bench-jobs', events, eventsPerFile: 20_000, fromMs: t0, toMs: t0 + 3_600_000 });
  const sized = await store.listSized('raw/in/');
  const groups = groupRawFiles(sized);
  const buckets = bucketsForRawBytes(sized.reduce((n, o) => n + o.size, 0));
  say(`  ${raw.files} raw files in ${groups.length} enrich tasks, ${buckets} buckets`);

  const rows: { round: number; enrich: number; reduce: number; good: number }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const runId = `bench-jobs-${round}`;
    const etlTstamp = t0 + 7_200_000;
    const enrichTasks: TaskInput[] = groups.map((keys, index) => ({ runId, key: keys[0], keys, index, etlTstamp, buckets }));
    const enriched = await timed(enrichTasks, (t) => jobs.enrich(store, t));
    const schemas = new Set<string>([DUPLICATE_SCHEMA_URI, ...enriched.results.flatMap((r) => r.schemas ?? [])]);
    await snapshotSchemas(store, runId, schemas, lookup);
    const reduceTasks: TaskInput[] = Array.from({ length: buckets }, (_, b) => ({ runId, key: enrichedBucketPrefix(runId, b), index: b, etlTstamp }));
    const reduced = await timed(reduceTasks, (t) => jobs['shred-reduce'](store, t));
    const good = reduced.results.reduce((n, r) => n + r.good, 0);
    if (good !== events) throw new Error(`round ${round}: shred-reduce wrote ${good} atomic rows, expected ${events}`);
    rows.push({ round, enrich: enriched.cpu, reduce: reduced.cpu, good });
    say(`  round ${round}: enrich ${enriched.cpu.toFixed(2)} cpu-s, shred-reduce ${reduced.cpu.toFixed(2)} cpu-s`);
    // The next round starts from the raw files alone.
    await store.deleteMany([...store.objects.keys()].filter((k) => !k.startsWith('raw/in/')));
  }

  const per = (cpu: number) => `${((cpu / events) * 1e6).toFixed(1)} µs`;
  console.log(`\nBatch jobs in-process, ${events.toLocaleString('en-US')} events (${raw.files} raw files, ${groups.length} enrich tasks, ${buckets} buckets), Node ${process.version}:\n`);
  console.log('| round | enrich cpu-s | per event | shred-reduce cpu-s | per event | both |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.round} | ${r.enrich.toFixed(2)} | ${per(r.enrich)} | ${r.reduce.toFixed(2)} | ${per(r.reduce)} | ${(r.enrich + r.reduce).toFixed(2)} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
