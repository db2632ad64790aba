import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { makeKinesisClient, makeS3Client } from '../adapters/aws-clients';
import { s3ObjectStore } from '../adapters/object-store';
import { makePool, type Pool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { Stack } from '../stack/stack';
import { workflowIds } from '../temporal.config';
import { recomputeBatchViews } from '../views/batch-views';
import { ATOMIC_COLUMNS } from '../warehouse/atomic-events';
import { quoteIdent } from '../warehouse/sql';
import { connectTemporal } from '../workers/wiring';
import { batchRunWorkflow, progressQuery } from '../workflows/batch-run';
import { CPU_GROUPS, type CpuGroup, type CpuSampler, sampleCpu } from './cpu-sampler';
import { advanceRawMarkers, writeRawFiles } from './raw-files';
import { reportSummary } from './summary';
import { testConfig } from '../tests/helpers/standins';

// `npx tsx bench/batch.ts [events]` (default 1,000,000): one batch run end to end on the local
// defaults, against PostgreSQL's own COPY of the same atomic.events rows from a local file.
//
// A Stack on fresh ports; raw lzop files written straight into raw/in/ (bench/raw-files.ts:
// what the raw S3 sink writes, tp2 bodies of 10 events each); one batch run
// through Temporal, timed per step from the activities' times in the workflow history; then the
// run's atomic.events rows exported with COPY TO a file and COPYed back into a scratch copy of
// the table. Progress on stderr, the table on stdout.

export const STEP_OF_ACTIVITY: Record<string, string> = {
  stageRawFiles: 'stage',
  stageEnrichedFiles: 'stage',
  enrichRawFiles: 'enrich',
  shredEnriched: 'shred',
  loadWarehouse: 'load',
  computeBatchViews: 'views',
  archiveRun: 'archive',
};

export interface StepTime {
  step: string;
  /** Scheduled → completed, epoch ms (queueing and retries included). */
  startMs: number;
  endMs: number;
  seconds: number;
  attempts: number;
  /** Why the attempt before the one that completed failed (e.g. a heartbeat timeout). */
  lastFailure?: string;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => (t ? Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : NaN);

/** Per step and in total, from a finished workflow's history. */
export async function stepTimes(client: Client, workflowId: string): Promise<{ steps: StepTime[]; totalSeconds: number }> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const scheduled = new Map<string, { step: string; at: number }>();
  const attempts = new Map<string, { attempt: number; lastFailure?: string }>();
  const steps: StepTime[] = [];
  for (const e of events) {
    const id = e.eventId?.toString() ?? '';
    if (e.activityTaskScheduledEventAttributes) {
      const name = e.activityTaskScheduledEventAttributes.activityType?.name ?? '';
      scheduled.set(id, { step: STEP_OF_ACTIVITY[name] ?? name, at: ms(e.eventTime) });
    } else if (e.activityTaskStartedEventAttributes) {
      const a = e.activityTaskStartedEventAttributes;
      const f = a.lastFailure;
      const why = f ? `${f.message ?? ''}${f.timeoutFailureInfo ? ` (timeout type ${f.timeoutFailureInfo.timeoutType})` : ''}` : undefined;
      attempts.set(a.scheduledEventId?.toString() ?? '', { attempt: a.attempt ?? 1, lastFailure: why });
    } else if (e.activityTaskCompletedEventAttributes) {
      const sid = e.activityTaskCompletedEventAttributes.scheduledEventId?.toString() ?? '';
      const s = scheduled.get(sid);
      const a = attempts.get(sid);
      const end = ms(e.eventTime);
      if (s) steps.push({ step: s.step, startMs: s.at, endMs: end, seconds: (end - s.at) / 1000, attempts: a?.attempt ?? 1, lastFailure: a?.lastFailure });
    }
  }
  const first = ms(events[0]?.eventTime);
  const last = ms(events[events.length - 1]?.eventTime);
  return { steps, totalSeconds: (last - first) / 1000 };
}

/** Seconds in which at least one step ran (the union of the steps' intervals). */
function busySeconds(steps: readonly { startMs: number; endMs: number }[]): number {
  let busy = 0;
  let end = -Infinity;
  for (const s of [...steps].sort((a, b) => a.startMs - b.startMs)) {
    if (s.endMs <= end) continue;
    busy += s.endMs - Math.max(s.startMs, end);
    end = s.endMs;
  }
  return busy / 1000;
}

const CEILING_RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** The newest LastModified under a prefix (epoch ms), and how many objects it holds. */
async function newestObject(s3: S3Client, bucket: string, prefix: string): Promise<{ newest: number; count: number }> {
  let newest = 0;
  let count = 0;
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of out.Contents ?? []) {
      count++;
      newest = Math.max(newest, o.LastModified?.getTime() ?? 0);
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return { newest, count };
}

interface CopySeen {
  first: number;
  last: number;
  rows: number;
  /** Samples per wait event of the COPYing backend (`CPU` when it waited on nothing). */
  waits: Map<string, number>;
}

/** Samples pg_stat_progress_copy: per table oid, when a COPY into it was first and last seen, and what its backend waited on. */
function sampleCopies(pool: Pool): { stop(): Promise<Map<number, CopySeen>> } {
  const seen = new Map<number, CopySeen>();
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        // By oid: the load's new tables are not visible by name outside its transaction.
        const { rows } = await pool.query(
          `SELECT c."relid"::bigint AS "rel", c."tuples_processed" AS "n", coalesce(a."wait_event_type" || ':' || a."wait_event", 'CPU') AS "wait"
           FROM pg_stat_progress_copy c LEFT JOIN pg_stat_activity a ON a."pid" = c."pid" WHERE c."command" = 'COPY FROM'`,
        );
        const now = Date.now();
        for (const r of rows) {
          const s = seen.get(r.rel) ?? { first: now, last: now, rows: 0, waits: new Map() };
          s.last = now;
          s.rows = Math.max(s.rows, Number(r.n));
          s.waits.set(r.wait, (s.waits.get(r.wait) ?? 0) + 1);
          seen.set(r.rel, s);
        }
      } catch {
        // sampling is best effort
      }
      await sleep(200);
    }
  })();
  return { stop: async () => ((running = false), await loop, seen) };
}

/** COPY FROM a server-side file into a scratch copy of `table`; seconds taken. */
async function copyCeiling(pool: Pool, table: string, columns: string, file: string, like: string, expected: number): Promise<number> {
  const scratch = `bench_scratch_${table}`.slice(0, 63);
  await pool.query(`DROP TABLE IF EXISTS "atomic".${quoteIdent(scratch)}`);
  await pool.query(`CREATE TABLE "atomic".${quoteIdent(scratch)} (LIKE "atomic".${quoteIdent(table)} ${like})`);
  await pool.query('CHECKPOINT');
  execFileSync('sync'); // no writeback of earlier work (the load, the export) during the timed COPY
  const started = performance.now();
  const copied = await pool.query(`COPY "atomic".${quoteIdent(scratch)} (${columns}) FROM ${lit(file)}`);
  const seconds = (performance.now() - started) / 1000;
  await pool.query(`DROP TABLE "atomic".${quoteIdent(scratch)}`);
  if (copied.rowCount !== expected) throw new Error(`ceiling COPY into ${scratch} read ${copied.rowCount} rows, expected ${expected}`);
  return seconds;
}

/** Core-seconds per process group during each span, and how many of the machine's cores were busy. */
function cpuTable(cpu: CpuSampler, spans: { step: string; startMs: number; endMs: number }[]): string {
  const used = spans.map((s) => ({ s, by: cpu.between(s.startMs, s.endMs) }));
  // Only the groups that used a noticeable share of the time get a column.
  const groups = CPU_GROUPS.filter((g) => used.some(({ s, by }) => (by.get(g) ?? 0) > 0.02 * ((s.endMs - s.startMs) / 1000)));
  const lines = [
    `CPU while each step ran (core-seconds per process group, from /proc every 0.5 s, on ${os.cpus().length} cores; steps that ran side by side share their samples):`,
    '',
    `| step | seconds | cores busy | ${groups.join(' | ')} |`,
    `| --- | ---: | ---: | ${groups.map(() => '---:').join(' | ')} |`,
  ];
  for (const { s, by } of used) {
    const seconds = (s.endMs - s.startMs) / 1000;
    const total = [...by.values()].reduce((a, b) => a + b, 0);
    lines.push(`| ${s.step} | ${fmt(seconds, 2)} | ${fmt(total / seconds, 2)} | ${groups.map((g: CpuGroup) => fmt(by.get(g) ?? 0)).join(' | ')} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const events = Number(process.argv[2] ?? 1_000_000);
  if (!Number.isInteger(events) || events < 10) throw new Error('usage: npx tsx bench/batch.ts [events ≥ 10]');
  const appId = 'bench-batch';
  say(`sluice bench: one batch run of ${events.toLocaleString('en-US')} events vs PostgreSQL's COPY of the same rows`);

  const config: SluiceConfig = testConfig({ SLUICE_LOG__LEVEL: 'warn' });
  const stack = new Stack(config, makeLogger('bench', 'warn'));
  const s3 = makeS3Client(config);
  const kinesis = makeKinesisClient(config);
  const store = s3ObjectStore(s3, config.s3.bucket);
  const pool = makePool(config, 3);
  let temporal: Awaited<ReturnType<typeof connectTemporal>> | undefined;
  let cpu: CpuSampler | undefined;
  const exportDir = path.join(config.dataDir, 'postgres', 'bench-export');
  try {
    say('  starting the stack on fresh ports…');
    await stack.start();
    temporal = await connectTemporal(config);

    // Collector times over the last hour, ending a few seconds ago.
    const toMs = Date.now() - 5_000;
    const fromMs = toMs - 3_600_000;
    say('  writing raw lzop files into raw/in/…');
    let lastReport = 0;
    const genStarted = performance.now();
    const raw = await writeRawFiles(store, {
      stream: config.kinesis.streams.raw, appId, events, eventsPerFile: 10_000, fromMs, toMs,
      onProgress: (n) => {
        if (n - lastReport >= 100_000) {
          lastReport = n;
          say(`    ${n.toLocaleString('en-US')} events written`);
        }
      },
    });
    await advanceRawMarkers(store, kinesis, config.kinesis.streams.raw, Date.now());
    say(`  ${raw.files} files, ${raw.events.toLocaleString('en-US')} events in ${fmt((performance.now() - genStarted) / 1000)} s (not timed)`);

    execFileSync('sync'); // the run starts, like each ceiling COPY, with nothing waiting to be written back
    const loadBefore = os.loadavg()[0];
    cpu = sampleCpu();
    say('  batch run…');
    const runId = `bench-${Date.now()}`;
    const workflowId = workflowIds.batchRun(runId);
    const handle = await temporal.client.workflow.start(batchRunWorkflow, {
      workflowId, taskQueue: config.temporal.taskQueues.batch, args: [{ runId }],
    });
    // Follow the run; once shred is done, note when its two phases wrote their last objects
    // (before archive moves them), and sample PostgreSQL's COPY progress during the load.
    let lastStep = '';
    let shredMarks: Promise<{ mapEnd: number; reduceEnd: number; interim: number }> | undefined;
    const copies = sampleCopies(pool);
    const timer = setInterval(() => {
      handle.query(progressQuery).then((p) => {
        if (p.step === lastStep) return;
        say(`    step ${(lastStep = p.step)}`);
        if (p.step === 'load' && !shredMarks) {
          shredMarks = Promise.all([
            newestObject(s3, config.s3.bucket, `shredded/interim/run=${runId}/`),
            newestObject(s3, config.s3.bucket, `shredded/good/run=${runId}/`),
          ]).then(([i, g]) => ({ mapEnd: i.newest, reduceEnd: g.newest, interim: i.count }));
        }
      }, () => undefined);
    }, 250);
    const result = await handle.result().finally(() => clearInterval(timer));
    const copiedByOid = await copies.stop();
    const names = new Map((await pool.query<{ oid: number; name: string }>('SELECT "oid"::bigint AS "oid", "relname" AS "name" FROM pg_class WHERE "oid" = ANY($1::oid[])', [[...copiedByOid.keys()]])).rows.map((r) => [Number(r.oid), r.name]));
    const copied = new Map([...copiedByOid].map(([oid, c]) => [names.get(oid) ?? String(oid), c]));
    const loadAfter = os.loadavg()[0];
    if (result.status !== 'completed') throw new Error(`batch run ended ${result.status}: ${result.reason ?? ''}`);
    const { steps, totalSeconds } = await stepTimes(temporal.client, workflowId);
    const loaded = result.loaded ?? 0;
    say(`    done: ${loaded.toLocaleString('en-US')} rows loaded, ${result.enriched?.bad ?? 0} bad rows`);
    if (loaded !== raw.events) throw new Error(`the run loaded ${loaded} events, ${raw.events} were written`);

    say('  the views recompute alone, in a transaction rolled back…');
    const client = await pool.connect();
    let viewsAlone = NaN;
    try {
      await client.query('BEGIN');
      const started = performance.now();
      await recomputeBatchViews(client, { from: result.window!.from!, to: result.window!.to! }, 'bench-probe');
      viewsAlone = (performance.now() - started) / 1000;
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }

    say('  ceiling: the rows exported with COPY TO, then COPY FROM the local file into scratch copies…');
    fs.mkdirSync(exportDir, { recursive: true });
    const pg = fs.statSync(path.dirname(exportDir));
    fs.chownSync(exportDir, pg.uid, pg.gid); // the server process writes there
    const atomicCols = ATOMIC_COLUMNS.map(quoteIdent).join(', ');
    const atomicFile = path.join(exportDir, 'events.tsv');
    await pool.query(`COPY (SELECT ${atomicCols} FROM "atomic"."events" WHERE "app_id" = ${lit(appId)}) TO ${lit(atomicFile)}`);
    const fileMb = fs.statSync(atomicFile).size / 1e6;
    // Three times, and the median is the ceiling: one COPY alone varied by 25% between runs.
    const ceilings: number[] = [];
    const ceilingSpans: { startMs: number; endMs: number }[] = [];
    for (let i = 0; i < CEILING_RUNS; i++) {
      const startMs = Date.now();
      ceilings.push(await copyCeiling(pool, 'events', atomicCols, atomicFile, 'INCLUDING ALL', loaded));
      ceilingSpans.push({ startMs, endMs: Date.now() });
      say(`    atomic.events, same definition (indexes), COPY ${i + 1} of ${CEILING_RUNS}: ${fmt(ceilings[i], 2)} s`);
    }
    const ceiling = median(ceilings);
    const ceilingSpan = ceilingSpans[ceilings.indexOf(ceiling)];
    const ceilingNoIndex = await copyCeiling(pool, 'events', atomicCols, atomicFile, 'INCLUDING DEFAULTS', loaded);
    say(`    atomic.events, no indexes: ${fmt(ceilingNoIndex, 2)} s`);
    // The load also writes the shredded tables: their COPY from files, for the load's own ceiling.
    const shredded = (await pool.query<{ name: string; n: number }>(
      `SELECT c.relname AS "name", c.reltuples::bigint AS "n" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'atomic' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') LIKE 'iglu:%' ORDER BY 1`,
    )).rows;
    let shreddedSeconds = 0;
    let shreddedRows = 0;
    for (const t of shredded) {
      const file = path.join(exportDir, `${t.name}.tsv`);
      const [{ n }] = (await pool.query(`SELECT count(*) AS "n" FROM "atomic".${quoteIdent(t.name)}`)).rows;
      await pool.query(`COPY "atomic".${quoteIdent(t.name)} TO ${lit(file)}`);
      const cols = (await pool.query(`SELECT string_agg(quote_ident("attname"), ', ' ORDER BY "attnum") AS c FROM pg_attribute WHERE "attrelid" = ${lit(`atomic.${quoteIdent(t.name)}`)}::regclass AND "attnum" > 0 AND NOT "attisdropped"`)).rows[0].c;
      shreddedSeconds += await copyCeiling(pool, t.name, cols, file, 'INCLUDING ALL', Number(n));
      shreddedRows += Number(n);
    }
    say(`    ${shredded.length} shredded tables, ${shreddedRows.toLocaleString('en-US')} rows: ${fmt(shreddedSeconds, 2)} s`);

    const rows: string[] = [];
    const row = (cells: string[]) => rows.push(`| ${cells.join(' | ')} |`);
    row(['step', 'seconds', 'events/s', 'share']);
    row(['---', '---:', '---:', '---:']);
    for (const s of steps) {
      // Steps that ran at the same time (views and archive) say so; their shares overlap.
      const beside = steps.filter((o) => o !== s && o.startMs < s.endMs && s.startMs < o.endMs).map((o) => o.step);
      const name = `${s.step}${s.attempts > 1 ? ` (attempt ${s.attempts})` : ''}${beside.length ? ` (beside ${beside.join(', ')})` : ''}`;
      row([name, fmt(s.seconds, 2), fmt(loaded / s.seconds, 0), `${fmt((s.seconds / totalSeconds) * 100)}%`]);
    }
    const busy = busySeconds(steps);
    row(['orchestration (no step running)', fmt(totalSeconds - busy, 2), '', `${fmt(((totalSeconds - busy) / totalSeconds) * 100)}%`]);
    row(['**whole batch run**', `**${fmt(totalSeconds, 2)}**`, `**${fmt(loaded / totalSeconds, 0)}**`, '100%']);
    row([`**ceiling: COPY atomic.events FROM file** (same table definition; median of ${ceilings.map((c) => fmt(c, 2)).join(', ')})`, `**${fmt(ceiling, 2)}**`, `**${fmt(loaded / ceiling, 0)}**`, '']);
    const ratio = totalSeconds / ceiling;
    const out = (line = '') => process.stdout.write(`${line}\n`);
    out();
    out(`Batch run of ${loaded.toLocaleString('en-US')} events (${raw.files} raw files; atomic.events rows ${fmt(fileMb, 0)} MB as COPY text), local engine with ${config.emr.threads} threads, ${new Date().toISOString().slice(0, 10)}, load average ${fmt(loadBefore, 1)} → ${fmt(loadAfter, 1)} on ${os.cpus().length} cores:`);
    out();
    out(rows.join('\n'));
    out();
    out(`**whole batch / bare COPY = ${fmt(ratio, 2)}×** (target ≤ 4×: ${ratio <= 4 ? 'met' : 'missed'})`);
    out();
    out('Where the time goes:');
    out();
    for (const s of steps.filter((x) => x.lastFailure)) out(`- ${s.step}: ${s.attempts - 1} failed attempt(s) before the one that completed; last failure: ${s.lastFailure}`);
    const shred = steps.find((s) => s.step === 'shred');
    const marks = await shredMarks;
    if (shred && marks && marks.mapEnd > 0) {
      out(`- shred: shred-map ≈ ${fmt((marks.mapEnd - shred.startMs) / 1000)} s (${marks.interim} interim objects), schema freeze + shred-reduce ≈ ${fmt((shred.endMs - marks.mapEnd) / 1000)} s (from the objects' LastModified)`);
    }
    const load = steps.find((s) => s.step === 'load');
    if (load && copied.size) {
      const parts = [...copied].map(([rel, c]) => ({ rel, seconds: (c.last - c.first) / 1000 + 0.2, rows: c.rows, waits: c.waits })).sort((a, b) => b.seconds - a.seconds);
      const copySum = parts.reduce((n, p) => n + p.seconds, 0);
      out(`- load: COPY per table, on two connections at once when two-phase commit is on (${fmt(copySum)} s summed over ${fmt(load.seconds)} s; sampled pg_stat_progress_copy): ${parts.map((p) => `${p.rel} ${fmt(p.seconds)} s (${p.rows.toLocaleString('en-US')} rows)`).join(', ')}`);
      const waits = new Map<string, number>();
      for (const p of parts) for (const [w, n] of p.waits) waits.set(w, (waits.get(w) ?? 0) + n);
      const samples = [...waits.values()].reduce((a, b) => a + b, 0);
      out(`- load: what the COPYing backends were doing (${samples} samples): ${[...waits].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([w, n]) => `${w} ${fmt((100 * n) / samples, 0)}%`).join(', ')}`);
    }
    out(`- load ceiling for all the tables it writes: atomic.events ${fmt(ceiling, 2)} s + ${shredded.length} shredded tables (${shreddedRows.toLocaleString('en-US')} rows) ${fmt(shreddedSeconds, 2)} s = ${fmt(ceiling + shreddedSeconds, 2)} s; COPY of atomic.events without its indexes ${fmt(ceilingNoIndex, 2)} s`);
    out(`- views: the recompute alone (minute and hour buckets of the run's window, no contention) takes ${fmt(viewsAlone, 2)} s`);
    cpu.stop();
    const run = { step: 'whole batch run', startMs: Math.min(...steps.map((s) => s.startMs)), endMs: Math.max(...steps.map((s) => s.endMs)) };
    out();
    out(cpuTable(cpu, [...steps, run, { step: 'ceiling COPY (the median one)', ...ceilingSpan }]));
    const coreSeconds = [...cpu.between(run.startMs, run.endMs).values()].reduce((a, b) => a + b, 0);
    reportSummary('batch', [
      { measure: `whole batch run of ${loaded.toLocaleString('en-US')} events ÷ bare COPY of its atomic.events rows`, measured: `${fmt(ratio, 2)}× (${fmt(totalSeconds, 1)} s ÷ ${fmt(ceiling, 2)} s)`, target: '≤ 4×', met: ratio <= 4 },
      { measure: 'core-seconds the run used (every process on the machine)', measured: fmt(coreSeconds, 0) },
    ]);
  } finally {
    cpu?.stop();
    fs.rmSync(exportDir, { recursive: true, force: true });
    await temporal?.connection.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    s3.destroy();
    kinesis.destroy();
    await stack.stop();
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  });
}
