import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { makePool } from '../adapters/postgres';
import { runBatch } from '../cli/batch';
import { fetchMergedCounts, waitFor, waitForRawSink, type MergedAnswer } from '../cli/probes';
import pino from 'pino';
import { Stack } from '../stack/stack';
import { testConfig } from '../tests/helpers/standins';
import { connectTemporal } from '../workers/wiring';
import { FaultRunner, planFaults } from './soak-faults';
import { HostileSender } from './soak-hostile';
import { countWarehouse, failures, renderTable, type SoakResult } from './soak-report';
import { LagSampler, RssSampler, readLag } from './soak-samplers';
import { TrackerFleet } from './soak-trackers';

// `npm run bench:soak -- --minutes 10`: the whole local stack (fresh ports, fresh data dir) under a
// sustained tracker load mixed with hostile requests, while the workers process is SIGKILLed and
// kinesalite and PostgreSQL are restarted at intervals. At the end the speed layer drains, one
// batch run loads atomic.events, and every acknowledged event is looked up there by its sequence
// number: lost and duplicated must both be 0, the collector's and workers' RSS must not trend up,
// no hostile request may get a 5xx other than 503. Progress and faults on stderr, the table on
// stdout; the exit code is 1 when any of those fails. Not run in CI (docs/soak.md).

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string' },
    rate: { type: 'string' },
    trackers: { type: 'string' },
    'hostile-share': { type: 'string' },
    'fault-every-s': { type: 'string' },
    'outage-s': { type: 'string' },
  },
});
const setting = (arg: string | undefined, env: string, fallback: number) => {
  const v = Number(arg ?? process.env[env] ?? fallback);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${env} / --${env.slice(5).toLowerCase().replace(/_/g, '-')}: not a number >= 0: ${arg ?? process.env[env]}`);
  return v;
};
const MINUTES = setting(args.minutes, 'SOAK_MINUTES', 10);
const RATE = setting(args.rate, 'SOAK_RATE', 1_000); // tracked events/s
const TRACKERS = Math.max(1, setting(args.trackers, 'SOAK_TRACKERS', 8));
const HOSTILE_SHARE = Math.min(0.5, setting(args['hostile-share'], 'SOAK_HOSTILE_SHARE', 0.02)); // of all requests
const FAULT_EVERY_S = setting(args['fault-every-s'], 'SOAK_FAULT_EVERY_S', 120); // per kind; 0: no faults
const OUTAGE_S = setting(args['outage-s'], 'SOAK_OUTAGE_S', 5); // kinesalite down
const RSS_EVERY_MS = 10_000;
const LAG_EVERY_MS = 2_000;
const DRAIN_TIMEOUT_MS = 5 * 60_000;
const BATCH_TIMEOUT_MS = 15 * 60_000;
const DAY = 24 * 3600_000;

const say = (msg: string) => process.stderr.write(`[bench:soak] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const totalsOf = async (servingUrl: string): Promise<MergedAnswer['totals']> => {
  const now = Date.now();
  return (await fetchMergedCounts(servingUrl, now - DAY, now + DAY)).totals;
};

/** Lag 0 on every shard consumer, the realtime views holding at least `expected` and not moving for three polls in a row. */
async function drainSpeedLayer(stack: Stack, expected: number): Promise<SoakResult['drain']> {
  const t = Date.now();
  let last = -1;
  let still = 0;
  let totals: MergedAnswer['totals'] | undefined;
  let lastSay = 0;
  while (Date.now() - t < DRAIN_TIMEOUT_MS) {
    totals = await totalsOf(stack.urls.serving).catch(() => totals);
    const lag = await readLag(stack.urls.workers);
    const all = totals?.all ?? -1;
    still = all === last ? still + 1 : 0;
    last = all;
    if (lag?.maxMs === 0 && all >= expected && still >= 3) return { ms: Date.now() - t, drained: true, realtime: totals };
    if (Date.now() - lastSay > 10_000) {
      lastSay = Date.now();
      say(`draining: realtime views hold ${all} of ${expected} acknowledged; lag ${lag ? [...lag.byProcessor].map(([p, v]) => `${p} ${v}`).join(', ') : 'unknown'} ms`);
    }
    await sleep(2_000);
  }
  return { ms: Date.now() - t, drained: false, realtime: totals };
}

async function runOneBatch(stack: Stack): Promise<SoakResult['batch']> {
  const t = Date.now();
  const { client, connection } = await connectTemporal(stack.config);
  try {
    const run = runBatch(client, stack.config, undefined, (l) => say(`  ${l.trim()}`)).then(({ result }) => result);
    const timeout = sleep(BATCH_TIMEOUT_MS).then(() => undefined);
    const result = await Promise.race([run, timeout]);
    if (!result) return { status: `not finished after ${BATCH_TIMEOUT_MS / 60_000} min`, ms: Date.now() - t };
    return { runId: result.runId, status: result.status, loaded: result.loaded, ms: Date.now() - t };
  } catch (err) {
    return { status: `failed: ${(err as Error).message}`, ms: Date.now() - t };
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const config = testConfig({ SLUICE_LOG__LEVEL: 'warn' });
  // The stack's own log lines (a process restarted) go to stderr with the progress, keeping stdout for the table.
  const stack = new Stack(config, pino({ name: 'bench-soak', level: 'warn' }, pino.destination(2)));
  const durationMs = MINUTES * 60_000;
  let exitCode = 1;
  try {
    say(`starting the stack on fresh ports (data dir ${config.dataDir})…`);
    await stack.start();
    const fleet = new TrackerFleet(stack.urls.collector, TRACKERS);
    const hostile = new HostileSender(stack.urls.collector, config.collector.bodyLimitBytes);
    const rss = new RssSampler((name) => stack.processes.get(name)?.pid, ['collector', 'workers']);
    const lag = new LagSampler(stack.urls.workers);
    const plan = planFaults(durationMs, FAULT_EVERY_S * 1000);
    const faults = new FaultRunner(stack, plan, OUTAGE_S * 1000, say);
    say(`sending ${RATE} events/s for ${MINUTES} min through ${TRACKERS} node trackers, ${(HOSTILE_SHARE * 100).toFixed(1)}% hostile requests; ${plan.length} faults planned`);

    const start = Date.now();
    rss.start(RSS_EVERY_MS);
    lag.start(LAG_EVERY_MS);
    faults.start(start);
    let lastReport = start;
    let ackedAtLastReport = 0;
    while (Date.now() - start < durationMs) {
      const elapsed = Date.now() - start;
      const due = Math.floor((elapsed * RATE) / 1000);
      while (fleet.tracked < due) fleet.trackNext();
      // Hostile requests as a share of all requests: the trackers' requests so far (those in
      // flight not yet counted) are the other share.
      const hostileDue = Math.floor((fleet.requests * HOSTILE_SHARE) / (1 - HOSTILE_SHARE));
      while (hostile.sent < hostileDue) hostile.sendNext();
      const now = Date.now();
      if (now - lastReport >= 5_000) {
        const rate = ((fleet.acked - ackedAtLastReport) * 1000) / (now - lastReport);
        lastReport = now;
        ackedAtLastReport = fleet.acked;
        const l = lag.samples.at(-1);
        const r = (name: string) => rss.latest(name)?.mb.toFixed(0) ?? '?';
        say(
          `${Math.round(elapsed / 1000)} s: tracked ${fleet.tracked}, acknowledged ${fleet.acked} (${rate.toFixed(0)}/s), hostile ${hostile.sent} (${hostile.unexpected.length} unexpected), ` +
            `lag ${l ? `${l.maxMs} ms` : '?'}, RSS collector ${r('collector')} MB, workers ${r('workers')} MB`,
        );
      }
      await sleep(5);
    }
    const sendEndMs = Date.now();
    rss.sample();
    rss.stop();
    lag.stop();
    say('sending stopped; waiting for a fault in progress, the trackers and the hostile requests…');
    await faults.stop();
    await fleet.drain(60_000);
    await hostile.settle();
    say(`tracked ${fleet.tracked}, acknowledged ${fleet.acked}, given up ${fleet.givenUp}; waiting for the speed layer to drain…`);
    const drain = await drainSpeedLayer(stack, fleet.acked);
    say(drain.drained ? `drained in ${(drain.ms / 1000).toFixed(1)} s` : `the speed layer did not drain in ${DRAIN_TIMEOUT_MS / 60_000} min`);

    say('waiting for the raw S3 sink, then one batch run…');
    let batch: SoakResult['batch'];
    try {
      await waitForRawSink(config, Date.now());
      batch = await runOneBatch(stack);
    } catch (err) {
      batch = { status: `not started: ${(err as Error).message}`, ms: 0 };
    }
    say(`batch run: ${batch.status}`);

    const merged = await totalsOf(stack.urls.serving).catch(() => undefined);
    const pool = makePool(config, 2);
    const warehouse = await countWarehouse(pool, fleet).catch((err) => {
      say(`counting the warehouse failed: ${(err as Error).message}`);
      return undefined;
    });
    await pool.end();

    const result: SoakResult = {
      settings: { minutes: MINUTES, rate: RATE, trackers: TRACKERS, hostileShare: HOSTILE_SHARE, faultEveryS: FAULT_EVERY_S, outageS: OUTAGE_S },
      startMs: start,
      sendEndMs,
      fleet,
      hostile,
      rss: rss.samples,
      lag: lag.samples,
      drain,
      batch,
      merged,
      warehouse,
      faults: faults.injected,
    };
    process.stdout.write(`${renderTable(result)}\n`);
    const failed = failures(result);
    for (const f of failed) say(`FAIL: ${f}`);
    for (const u of hostile.unexpected.slice(0, 10)) say(`  unexpected answer: ${u.at} ${u.cls} → ${u.status}`);
    if (failed.length === 0) say('soak OK: nothing lost, nothing duplicated, no unexpected 5xx');
    exitCode = failed.length === 0 ? 0 : 1;
    return exitCode;
  } finally {
    say('stopping the stack…');
    await stack.stop();
    // A failed run keeps the services' logs (the data dir goes).
    if (exitCode !== 0) {
      const logs = path.join(os.tmpdir(), `sluice-soak-logs-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      fs.cpSync(path.join(config.dataDir, 'logs'), logs, { recursive: true });
      say(`the services' logs are kept in ${logs}`);
    }
    fs.rmSync(config.dataDir, { recursive: true, force: true });
  }
}

process.exit(await main());
