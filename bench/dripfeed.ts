import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import { makePool, type Pool } from '../adapters/postgres';
import type { StreamRecord } from '../adapters/kinesis';
import { waitFor } from '../cli/probes';
import { sendTrackerEvents } from '../cli/send-events';
import { streamsCommand } from '../cli/streams';
import { encodeCollectorPayload } from '../codecs/collector-payload';
import { createEnricher } from '../enrich/default-enricher';
import { makeLogger } from '../observability/logger';
import { postgresDripfeed } from '../speed/dripfeed-postgres';
import { cachedModels, rowsByType, shredRecords } from '../speed/dripfeed-shred';
import { enrichRecords } from '../speed/stream-enrich';
import { WAREHOUSE_PROCESSOR, warehouseDripfeedProcessor } from '../speed/warehouse-dripfeed';
import { Stack } from '../stack/stack';
import { testConfig } from '../tests/helpers/standins';
import { ATOMIC_SCHEMA } from '../warehouse/ddl';
import { atomicCopySql, readTables, shreddedCopySql } from '../warehouse/postgres-load-steps';
import { qualified, quoteIdent } from '../warehouse/sql';
import { executeStatement, fetchRows, makeRedshiftDataClient, redshiftTarget } from '../warehouse/redshift-data';
import { connectTemporal, makeSchemaLookup } from '../workers/wiring';
import { sampleCpu } from './cpu-sampler';
import { enrichMixPayload, mkEnrichmentsDir } from './enrich-mix';
import { reportSummary } from './summary';
import { consumerLags, latenciesFromCurves, percentile, trackAtRate } from './tracker-load';

// `npm run bench:dripfeed` (also part of `npm run bench`): the warehouse dripfeed on the whole
// local stack, default flush policy. Four parts, progress on stderr, one table on stdout:
//  1. latency: real node trackers at BENCH_RATE events/s for BENCH_DURATION_MS; atomic.events
//     polled; p50/p95/p99 of tracker send → row visible, and rows/s sustained;
//  2. catch-up: PostgreSQL stopped for BENCH_OUTAGE_MS while the trackers keep sending; then the
//     time until every event is in atomic.events, as events/s and as a multiple of the ingest rate;
//  3. the dripfeed's own catch-up: its consumers paused by signal for BENCH_OUTAGE_MS while the
//     rest of the pipeline runs, then resumed (the outage above also stops enrich, whose
//     checkpoints are in PostgreSQL, so its catch-up is the whole pipeline's);
//  4. CPU per event: the dripfeed processor on micro-batches of realistic enriched events
//     (bench/enrich-mix.ts, with contexts) against a bare COPY of the same rows (atomic.events and
//     shredded tables) into copies of the same tables, alternating, the bench process's and
//     PostgreSQL's CPU both counted (bench/cpu-sampler.ts plus process.cpuUsage).

const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 120_000);
const OUTAGE_MS = Number(process.env.BENCH_OUTAGE_MS ?? 60_000);
const TRACKERS = Number(process.env.BENCH_TRACKERS ?? 4);
const POLL_MS = 100;
const say = (msg: string) => process.stderr.write(`[bench:dripfeed] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Row counts of atomic.events in the configured warehouse (PostgreSQL, or Redshift through the Data API). */
interface WarehouseCounts {
  rows(appId: string): Promise<number>;
  /** Events of `appId` in atomic.events more than once (must be 0). */
  doubled(appId: string): Promise<number>;
  close(): void;
}

const COUNT_SQL = {
  postgres: 'SELECT count(*)::int AS "n", count(DISTINCT "event_id")::int AS "ids" FROM "atomic"."events" WHERE "app_id" = $1',
  redshift: 'SELECT COUNT(*) AS "n", COUNT(DISTINCT "event_id") AS "ids" FROM "atomic"."events" WHERE "app_id" = :app',
};

function warehouseCounts(config: ReturnType<typeof testConfig>, pool: Pool): WarehouseCounts {
  let count: (appId: string) => Promise<{ n: number; ids: number }>;
  let close = () => undefined as void;
  if (config.warehouse.kind === 'redshift') {
    const client = makeRedshiftDataClient(config);
    const target = redshiftTarget(config);
    close = () => client.destroy();
    count = async (appId) => {
      const d = await executeStatement(client, target, COUNT_SQL.redshift, [{ name: 'app', value: appId }], { pollMs: 50 });
      const [r] = await fetchRows(client, d.Id!);
      return { n: Number(r.n), ids: Number(r.ids) };
    };
  } else {
    count = async (appId) => {
      const { rows } = await pool.query(COUNT_SQL.postgres, [appId]);
      return { n: rows[0].n as number, ids: rows[0].ids as number };
    };
  }
  return {
    rows: async (appId) => (await count(appId)).n,
    doubled: async (appId) => {
      const c = await count(appId);
      return c.n - c.ids;
    },
    close,
  };
}

/** Polls atomic.events for `appId` until stopped: (time the answer arrived, rows). */
function pollRows(counts: WarehouseCounts, appId: string) {
  const samples: { t: number; n: number }[] = [];
  const state = { stop: false };
  const done = (async () => {
    while (!state.stop) {
      const n = await counts.rows(appId).catch(() => undefined);
      if (n !== undefined) samples.push({ t: Date.now(), n });
      await sleep(POLL_MS);
    }
  })();
  return { samples, stop: async () => ((state.stop = true), await done) };
}

async function latencyPart(stack: Stack, counts: WarehouseCounts) {
  const appId = 'bench-dripfeed';
  const poll = pollRows(counts, appId);
  say(`latency: ${RATE} events/s for ${DURATION_MS / 1000} s through ${TRACKERS} node trackers…`);
  const load = await trackAtRate(stack.urls.collector, { appId, rate: RATE, durationMs: DURATION_MS, trackers: TRACKERS }, (l) => {
    say(`  ${Math.round((Date.now() - l.startMs) / 1000)} s: ${l.sendTimes.length} tracked, ${l.accepted} accepted, ${poll.samples.at(-1)?.n ?? 0} in atomic.events`);
  });
  const sent = load.sendTimes.length;
  await waitFor('every event in atomic.events', async () => ((poll.samples.at(-1)?.n ?? 0) >= sent ? true : undefined), 180_000, 200).catch(() => undefined);
  await poll.stop();
  const latencies = latenciesFromCurves(load.sendTimes, poll.samples);
  // Sustained: rows that became visible while the trackers were sending, per second of it.
  const during = poll.samples.filter((s) => s.t >= load.startMs + 5_000 && s.t <= load.endMs);
  const rowsPerSecond = during.length > 1 ? (during.at(-1)!.n - during[0].n) / ((during.at(-1)!.t - during[0].t) / 1000) : NaN;
  return { sent, doubled: await counts.doubled(appId), visible: latencies.length, final: poll.samples.at(-1)?.n ?? 0, latencies, rowsPerSecond, sendRate: sent / ((load.endMs - load.startMs) / 1000), failed: load.failedRequests };
}

/** Waits until `appId` has `sent` rows; reports progress and consumer lags every 5 s. */
async function waitForBacklog(stack: Stack, counts: WarehouseCounts, appId: string, sent: number, since: number): Promise<number> {
  let last = 0;
  let reported = Date.now();
  await waitFor('the backlog in atomic.events', async () => {
    last = await counts.rows(appId).catch(() => last);
    if (Date.now() - reported >= 5_000) {
      reported = Date.now();
      say(`  +${Math.round((reported - since) / 1000)} s: ${last} of ${sent} in atomic.events; consumer lag ms ${await consumerLags(stack.urls.workers)}`);
    }
    return last >= sent ? true : undefined;
  }, 600_000, 200).catch(() => undefined);
  return last;
}

/** The dripfeed's own catch-up: its consumers paused (signal, as `sluice streams pause`) while events arrive, then resumed. */
async function pausedCatchUpPart(stack: Stack, counts: WarehouseCounts, config: ReturnType<typeof testConfig>) {
  const appId = 'bench-dripfeed-paused';
  const { client, connection } = await connectTemporal(config);
  const signal = (action: 'pause' | 'resume') => streamsCommand(client, config, { action, processor: WAREHOUSE_PROCESSOR }, () => undefined);
  try {
    say(`catch-up (dripfeed alone): the warehouse consumers paused for ${OUTAGE_MS / 1000} s while ${RATE} events/s keep arriving…`);
    await signal('pause');
    const load = await trackAtRate(stack.urls.collector, { appId, rate: RATE, durationMs: OUTAGE_MS, trackers: TRACKERS });
    // Let the rest of the pipeline (enrich) finish what arrived, so the backlog is the dripfeed's alone.
    await sleep(5_000);
    await signal('resume');
    const resumedAt = Date.now();
    const sent = load.sendTimes.length;
    const loaded = await waitForBacklog(stack, counts, appId, sent, resumedAt);
    const seconds = (Date.now() - resumedAt) / 1000;
    return { sent, loaded, seconds, rate: sent / seconds, doubled: await counts.doubled(appId) };
  } finally {
    await connection.close();
  }
}

async function catchUpPart(stack: Stack, counts: WarehouseCounts) {
  const appId = 'bench-dripfeed-outage';
  const postgres = stack.processes.get('postgres')!;
  say(`catch-up: PostgreSQL stopped for ${OUTAGE_MS / 1000} s while ${RATE} events/s keep arriving…`);
  const sending = trackAtRate(stack.urls.collector, { appId, rate: RATE, durationMs: OUTAGE_MS, trackers: TRACKERS });
  await postgres.stop();
  const stoppedAt = Date.now();
  const load = await sending;
  await postgres.start();
  const startedAt = Date.now();
  const sampler = sampleCpu(500);
  say(`  PostgreSQL back after ${((startedAt - stoppedAt) / 1000).toFixed(0)} s; ${load.sendTimes.length} events tracked meanwhile; waiting for them in atomic.events…`);
  const sent = load.sendTimes.length;
  const last = await waitForBacklog(stack, counts, appId, sent, startedAt);
  const caughtUpAt = Date.now();
  await sleep(600);
  const groups = sampler.between(startedAt, caughtUpAt + 600);
  sampler.stop();
  // Where the catch-up's CPU went, by process group (core-seconds).
  const cpu = [...groups].filter(([, v]) => v >= 0.5).sort((a, b) => b[1] - a[1]).map(([g, v]) => `${g} ${v.toFixed(1)}`).join(', ');
  say(`  caught up; core-seconds: ${cpu}`);
  const seconds = (caughtUpAt - startedAt) / 1000;
  return { sent, cpu, doubled: await counts.doubled(appId), loaded: last, seconds, rate: sent / seconds, outageSeconds: (startedAt - stoppedAt) / 1000 };
}

/** Realistic enriched events (the enrich bench's mix: UA, campaign, contexts), as stream records. */
async function enrichedRecords(count: number): Promise<StreamRecord[]> {
  const enricher = createEnricher({ enrichmentsDir: mkEnrichmentsDir() });
  const lines: string[] = [];
  for (let i = 0; lines.length < count; i++) {
    const { good } = await enrichRecords([{ data: encodeCollectorPayload(enrichMixPayload(i)), sequenceNumber: String(i), partitionKey: 'k', arrivalMs: 0 }], Date.now(), enricher);
    lines.push(...good);
  }
  return lines.slice(0, count).map((l, i) => ({ data: Buffer.from(l), sequenceNumber: String(1_000_000 + i), partitionKey: 'k', arrivalMs: Date.now() }));
}

/** Where the bare COPY writes its copies of the dripfeed's tables. */
const COPY_SCHEMA = 'bench_copy';

async function cpuPart(stack: Stack, pool: Pool, config: ReturnType<typeof testConfig>) {
  const BATCH = config.speed.dripfeed.maxRecords;
  const ROUNDS = 6;
  say(`CPU: ${ROUNDS} rounds of one ${BATCH}-event micro-batch through the dripfeed and one bare COPY of the same rows…`);
  const records = await enrichedRecords(BATCH * ROUNDS);
  const lookup = makeSchemaLookup(config);
  const processor = warehouseDripfeedProcessor(postgresDripfeed(pool, { lockTimeoutMs: 30_000 }), lookup, config.speed.dripfeed);
  // The rows the dripfeed writes, for the bare COPY: atomic.events rows and each type's rows.
  const models = cachedModels(lookup);
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(COPY_SCHEMA)}`);
  const sampler = sampleCpu(100);
  let dripCpu = 0;
  let copyCpu = 0;
  let shredCpu = 0;
  let rows = 0;
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  const pgBetween = (from: number, to: number) => sampler.between(from, to).get('postgres') ?? 0;
  for (let r = 0; r < ROUNDS; r++) {
    const batch = records.slice(r * BATCH, (r + 1) * BATCH);
    // The rows the dripfeed writes: shredded again here, outside both measured windows.
    const s0 = cpu();
    const shred = await shredRecords(batch, models);
    shredCpu += cpu() - s0; // the same shredding the dripfeed does first (and the batch's shred-reduce)
    const copies = rowsByType(shred.events);
    await sleep(300);
    let t0 = Date.now();
    let c0 = cpu();
    await processor.process(batch, { stream: 'bench-enriched', shardId: `cpu-${process.pid}`, after: r === 0 ? undefined : records[r * BATCH - 1].sequenceNumber }, {});
    let c1 = cpu();
    await sleep(300); // let the sampler see the backend's CPU of this side
    dripCpu += c1 - c0 + pgBetween(t0, Date.now());

    const client = await pool.connect();
    try {
      // Copies of the tables the dripfeed just wrote (found by their Iglu comment), made before the measured window.
      const tableOf = new Map([...(await readTables(client)).values()].map((t) => [t.comment?.trim(), t.name]));
      await client.query(`CREATE TABLE IF NOT EXISTS ${qualified(COPY_SCHEMA, 'events')} (LIKE ${qualified(ATOMIC_SCHEMA, 'events')} INCLUDING ALL)`);
      for (const uri of copies.keys()) {
        const table = tableOf.get(uri)!;
        await client.query(`CREATE TABLE IF NOT EXISTS ${qualified(COPY_SCHEMA, table)} (LIKE ${qualified(ATOMIC_SCHEMA, table)} INCLUDING ALL)`);
      }
      t0 = Date.now();
      c0 = cpu();
      await client.query('BEGIN');
      const copy = async (sql: string, lines: string[]) => pipeline(Readable.from([Buffer.from(`${lines.join('\n')}\n`)]), client.query(copyFrom(sql)));
      await copy(atomicCopySql(qualified(COPY_SCHEMA, 'events')), shred.events.map((e) => e.event.atomic));
      for (const [uri, lines] of copies) {
        const table = tableOf.get(uri)!;
        await copy(shreddedCopySql(table, shred.models.get(uri)!).replace(qualified(ATOMIC_SCHEMA, table), qualified(COPY_SCHEMA, table)), lines);
      }
      await client.query('COMMIT');
      c1 = cpu();
    } finally {
      client.release();
    }
    await sleep(300);
    copyCpu += c1 - c0 + pgBetween(t0, Date.now());
    rows += shred.events.length;
    say(`  round ${r + 1}/${ROUNDS}: dripfeed ${((dripCpu / rows) * 1e6).toFixed(0)} µs/event, bare COPY ${((copyCpu / rows) * 1e6).toFixed(0)} µs/event so far`);
  }
  sampler.stop();
  await pool.query(`DROP SCHEMA ${quoteIdent(COPY_SCHEMA)} CASCADE`);
  return { events: rows, dripUs: (dripCpu / rows) * 1e6, copyUs: (copyCpu / rows) * 1e6, shredUs: (shredCpu / rows) * 1e6 };
}

async function main(): Promise<void> {
  // BENCH_WAREHOUSE=redshift: the same stack with warehouse.kind=redshift (the local Data API
  // endpoint); the latency and the dripfeed's own catch-up (the warehouse-stop and CPU parts are PostgreSQL's).
  const redshift = process.env.BENCH_WAREHOUSE === 'redshift';
  const config = testConfig({ SLUICE_LOG__LEVEL: 'warn', ...(redshift ? { SLUICE_WAREHOUSE__KIND: 'redshift' } : {}) });
  const stack = new Stack(config, makeLogger('bench', 'warn'));
  const pool = makePool(config, 4);
  const counts = warehouseCounts(config, pool);
  try {
    say(`starting the stack on fresh ports (warehouse.kind=${config.warehouse.kind})…`);
    await stack.start();
    say('warm-up: 100 events…');
    await sendTrackerEvents({ collectorUrl: stack.urls.collector, appId: 'bench-dripfeed-warmup', count: 100 });
    await waitFor('the warm-up events in atomic.events', async () => ((await counts.rows('bench-dripfeed-warmup')) >= 100 ? true : undefined), 120_000, 200);
    const lat = await latencyPart(stack, counts);
    const up = redshift ? undefined : await catchUpPart(stack, counts);
    const paused = await pausedCatchUpPart(stack, counts, config);
    const cpu = redshift ? undefined : await cpuPart(stack, pool, config);

    const ms = (v: number) => `${Math.round(v).toLocaleString('en-US')} ms`;
    const row = (what: string, value: string, target = '', ratio = '') => `| ${what} | ${value} | ${target} | ${ratio} |`;
    const { maxRecords, maxBytes, maxAgeMs } = config.speed.dripfeed;
    const lines = [
      `Warehouse dripfeed into ${redshift ? 'Redshift (local Data API endpoint)' : 'PostgreSQL'}, tracker → row in atomic.events (${TRACKERS} node trackers, flush ${maxRecords} records / ${maxBytes / 1048576} MiB / ${maxAgeMs} ms; ${new Date().toISOString().slice(0, 10)})`,
      '',
      '| measure | measured | target | measured / target |',
      '| --- | ---: | ---: | ---: |',
      row('events tracked per second', lat.sendRate.toFixed(0), RATE.toLocaleString('en-US'), (lat.sendRate / RATE).toFixed(2)),
      row(`events in atomic.events after ${DURATION_MS / 1000} s (more than once)`, `${lat.final.toLocaleString('en-US')} of ${lat.sent.toLocaleString('en-US')} (${lat.doubled})`, 'all (0)', (lat.final / lat.sent).toFixed(3)),
      row('rows/s sustained', lat.rowsPerSecond.toFixed(0), RATE.toLocaleString('en-US'), (lat.rowsPerSecond / RATE).toFixed(2)),
      row('latency p50', ms(percentile(lat.latencies, 50)), '5,000 ms', (percentile(lat.latencies, 50) / 5_000).toFixed(2)),
      row('latency p95', ms(percentile(lat.latencies, 95))),
      row('latency p99', ms(percentile(lat.latencies, 99)), redshift ? '60,000 ms' : '15,000 ms', (percentile(lat.latencies, 99) / (redshift ? 60_000 : 15_000)).toFixed(2)),
      row('latency max', ms(lat.latencies.at(-1) ?? NaN)),
      ...(cpu && up ? [
        row('dripfeed CPU per event (bench process + PostgreSQL)', `${cpu.dripUs.toFixed(0)} µs`),
        row('bare COPY of the same rows, CPU per event', `${cpu.copyUs.toFixed(0)} µs`),
        row('dripfeed / bare COPY', `${(cpu.dripUs / cpu.copyUs).toFixed(2)}×`, '2.00×', (cpu.dripUs / cpu.copyUs / 2).toFixed(2)),
        row('… of which shredding (batch/shred-line.ts, JS)', `${cpu.shredUs.toFixed(0)} µs`),
        row('… the rest (presence check, COPYs, checkpoint) / bare COPY', `${((cpu.dripUs - cpu.shredUs) / cpu.copyUs).toFixed(2)}×`),
        row(`events tracked during a ${up.outageSeconds.toFixed(0)} s PostgreSQL stop`, up.sent.toLocaleString('en-US')),
        row('in atomic.events after the stop (more than once)', `${up.loaded.toLocaleString('en-US')} of ${up.sent.toLocaleString('en-US')} (${up.doubled})`, 'all (0)', (up.loaded / up.sent).toFixed(3)),
        row('… CPU of that catch-up, core-seconds by process', up.cpu),
        row('catch-up after the stop', `${up.seconds.toFixed(1)} s, ${up.rate.toFixed(0)} events/s`, `${(5 * RATE).toLocaleString('en-US')} events/s`, `${(up.rate / RATE).toFixed(1)}× ingest (target 5×)`),
      ] : []),
      row(`events tracked while the dripfeed was paused ${OUTAGE_MS / 1000} s`, paused.sent.toLocaleString('en-US')),
      row('in atomic.events after it resumed (more than once)', `${paused.loaded.toLocaleString('en-US')} of ${paused.sent.toLocaleString('en-US')} (${paused.doubled})`, 'all (0)', (paused.loaded / paused.sent).toFixed(3)),
      row('dripfeed catch-up alone', `${paused.seconds.toFixed(1)} s, ${paused.rate.toFixed(0)} events/s`, `${(5 * RATE).toLocaleString('en-US')} events/s`, `${(paused.rate / RATE).toFixed(1)}× ingest (target 5×)`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const p99 = percentile(lat.latencies, 99);
    reportSummary(`dripfeed (${redshift ? 'Redshift' : 'PostgreSQL'})`, [
      { measure: 'events in atomic.events, each once', measured: `${lat.final.toLocaleString('en-US')} of ${lat.sent.toLocaleString('en-US')}, ${lat.doubled} twice`, target: 'all, 0', met: lat.final === lat.sent && lat.doubled === 0 },
      { measure: 'latency p99, tracker → row', measured: ms(p99), target: redshift ? '≤ 60,000 ms' : '≤ 15,000 ms', met: p99 <= (redshift ? 60_000 : 15_000) },
      ...(cpu ? [{ measure: 'dripfeed CPU ÷ bare COPY', measured: `${(cpu.dripUs / cpu.copyUs).toFixed(2)}×`, target: '≤ 2×', met: cpu.dripUs / cpu.copyUs <= 2 }] : []),
      { measure: 'catch-up of the dripfeed alone', measured: `${(paused.rate / RATE).toFixed(1)}× ingest`, target: '≥ 5×', met: paused.rate / RATE >= 5 },
    ]);
    if (lat.failed > 0) say(`warning: ${lat.failed} tracker requests failed (retried by the tracker)`);
  } finally {
    counts.close();
    await pool.end().catch(() => undefined);
    say('stopping the stack…');
    await stack.stop();
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
