import { loadConfig } from '../config';
import type { ObjectStore } from '../adapters/object-store';
import { enrichRawFiles } from '../batch/jobs';
import { runPrefix } from '../batch/layout';
import { compressLines } from '../batch/run-files';
import { modelSource } from '../batch/shred-jobs';
import { ENTITY_FIELDS, EVENT_ID, pickFields, shredLine } from '../batch/shred-line';
import { bucketsForRawBytes, enrichTasks, groupRawFiles, runShred, writeEnrichedLayout } from '../batch/shred-run';
import type { TaskInput } from '../engine/job-types';
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
//
// Each round also measures what fusing the two jobs could save at most (`fusedBound`): a task
// that enriches its raw files and shreds every line it has just written, with nothing routed,
// written between the jobs, read back or de-duplicated; and, apart, the JSON.parse of the entity
// fields, which a fused task holding the parsed entities would not repeat. Not a pipeline: a
// bound on the lever (docs/batch.md, "Seventh session").

/** The fused task's CPU over the run's enrich tasks, on the schemas the run's shred step froze. */
async function fusedBound(store: ObjectStore, tasks: TaskInput[], expected: number): Promise<{ cpu: number; entityJson: number }> {
  const frozen = new Set(await store.list(runPrefix.shredSchemas(tasks[0].runId)));
  const start = process.cpuUsage();
  let atomicRows = 0;
  let entityJson = 0;
  const picked: string[] = [];
  for (const t of tasks) {
    const modelFor = modelSource(store, t, frozen);
    const { good } = await enrichRawFiles(store, t.keys ?? [t.key], t.etlTstamp);
    const atomic: string[] = [];
    const keys: string[] = [];
    const byType = new Map<string, string[]>();
    for (const line of good) {
      pickFields(line, [EVENT_ID], picked);
      const shredded = await shredLine(line, picked[0], undefined, modelFor, { truncated: 0 });
      if ('bad' in shredded) continue;
      atomic.push(shredded.event.atomic);
      keys.push(...shredded.event.keys);
      for (const [uri, row] of shredded.event.rows) {
        let rows = byType.get(uri);
        if (!rows) byType.set(uri, (rows = []));
        rows.push(row);
      }
    }
    atomicRows += atomic.length;
    const out = `bench-fused/${t.runId}/`;
    await Promise.all([
      store.put(`${out}atomic/${t.index}`, compressLines(atomic)),
      store.put(`${out}keys/${t.index}`, compressLines(keys)),
      ...[...byType].map(([uri, rows]) => store.put(`${out}${encodeURIComponent(uri)}/${t.index}`, compressLines(rows))),
    ]);
    // Timed apart and subtracted from nothing: the entity JSON this task parsed a second time.
    const parseStart = process.cpuUsage();
    for (const line of good) {
      pickFields(line, ENTITY_FIELDS, picked);
      for (const field of picked) if (field) JSON.parse(field);
    }
    entityJson += cpuSeconds(parseStart);
  }
  if (atomicRows !== expected) throw new Error(`the fused bound wrote ${atomicRows} atomic rows, expected ${expected}`);
  return { cpu: cpuSeconds(start) - entityJson, entityJson };
}

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

  const rows: { round: number; enrich: number; shred: number; cpu: number; entityJson: number }[] = [];
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
    const fused = await fusedBound(store, tasks, events);
    rows.push({ round, enrich, shred, ...fused });
    say(`  round ${round}: enrich ${enrich.toFixed(2)} cpu-s, shred ${shred.toFixed(2)} cpu-s, fused bound ${fused.cpu.toFixed(2)} cpu-s (entity JSON ${fused.entityJson.toFixed(2)})`);
    // The next round starts from the raw files alone.
    await store.deleteMany([...store.objects.keys()].filter((k) => !k.startsWith('raw/in/')));
  }

  const per = (cpu: number) => `${((cpu / events) * 1e6).toFixed(1)} µs`;
  console.log(`\nBatch jobs in-process, ${events.toLocaleString('en-US')} events (${raw.files} raw files, ${groups.length} enrich tasks, ${buckets} buckets), Node ${process.version}:\n`);
  console.log('| round | enrich cpu-s | per event | shred (freeze + shred-reduce) cpu-s | per event | both | fused bound | less than both | and without the entity JSON |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const both = r.enrich + r.shred;
    const less = (cpu: number) => `${(((both - cpu) / both) * 100).toFixed(0)}%`;
    console.log(`| ${r.round} | ${r.enrich.toFixed(2)} | ${per(r.enrich)} | ${r.shred.toFixed(2)} | ${per(r.shred)} | ${both.toFixed(2)} | ${r.cpu.toFixed(2)} | ${less(r.cpu)} | ${less(r.cpu - r.entityJson)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
