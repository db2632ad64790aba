import { randomUUID } from 'node:crypto';
import { makePool } from '../adapters/postgres';
import type { SluiceConfig } from '../config';
import type { Logger } from '../observability/logger';
import { Stack } from '../stack/stack';
import { makeBatchViewsStore } from '../views/make-batch-views-store';
import { floorMinute, MINUTE_MS } from '../views/minute-counts';
import { connectTemporal } from '../workers/wiring';
import { runBatch } from './batch';
import { fetchMergedCounts, waitFor, waitForRawSink } from './probes';
import { sendTrackerEvents } from './send-events';

// `sluice demo`: the whole pipeline once, end to end, on the local defaults. Two waves of tracker
// events on either side of a minute boundary, so that after the batch run the merged answer has
// a batch part (before the watermark) and a realtime part (after it).

const say = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runDemo(config: SluiceConfig, log: Logger, eventsPerWave = 150): Promise<boolean> {
  const stack = new Stack(config, log);
  const appId = `sluice-demo-${randomUUID().slice(0, 8)}`;
  const total = eventsPerWave * 2;
  let closeWarehouse: () => Promise<void> = async () => {};
  try {
    say(`Node.js ${process.version} · starting the local stack (Temporal, Kinesis, S3, PostgreSQL, collector, workers, serving API)…`);
    await stack.start();
    const urls = stack.urls;
    say(`collector ${urls.collector} · serving API ${urls.serving} · Temporal UI ${urls.temporalUi}`);

    const from = floorMinute(Date.now());
    // Events of an earlier run in this minute (a demo just before this one) are counted too: start from them.
    const earlier = (await fetchMergedCounts(urls.serving, from, from + MINUTE_MS, config.serving.token ?? config.auth.token)).totals.all;
    if (earlier > 0) say(`(${earlier} events of earlier runs are already counted in this minute)`);
    say(`wave 1: sending ${eventsPerWave} events with @snowplow/node-tracker (app_id ${appId})…`);
    const w1 = await sendTrackerEvents({ collectorUrl: urls.collector, appId, count: eventsPerWave });
    const nextMinute = floorMinute(Date.now()) + MINUTE_MS;
    say(`waiting ${Math.ceil((nextMinute - Date.now()) / 1000)} s for the next minute, so the two waves fall in different minutes…`);
    await sleep(nextMinute - Date.now() + 1_000);
    say(`wave 2: sending ${eventsPerWave} events…`);
    const w2 = await sendTrackerEvents({ collectorUrl: urls.collector, appId, count: eventsPerWave });
    const sentAt = Date.now();
    if (w1.failedRequests + w2.failedRequests > 0) throw new Error('the collector refused some tracker requests');

    const to = floorMinute(sentAt) + MINUTE_MS;
    say('waiting for the speed layer (stream enrich → realtime views, raw S3 sink)…');
    const speed = await waitFor('the realtime views', async () => {
      const m = await fetchMergedCounts(urls.serving, from, to, config.serving.token ?? config.auth.token);
      return m.totals.all >= total + earlier ? m : undefined;
    });
    say(`  realtime views hold ${speed.totals.realtime} events`);
    // Counted by the speed layer, so in the raw stream by now: wait until the raw sink has them too.
    await waitForRawSink(config, Date.now());

    // atomic.events is in the warehouse: PostgreSQL, or Redshift through the Data API.
    const pool = makePool(config, 1);
    const warehouse = makeBatchViewsStore(config, pool, log);
    closeWarehouse = async () => {
      await warehouse.close();
      await pool.end();
    };
    const countRows = () => warehouse.countEvents({ appId });
    let dripfed: number | undefined;
    if (config.speed.dripfeed.enabled) {
      say(`waiting for the dripfeed (enriched stream → atomic.events in ${config.warehouse.kind})…`);
      dripfed = await waitFor('the dripfed rows', async () => {
        const n = await countRows();
        return n >= total ? n : undefined;
      });
      say(`atomic.events rows for ${appId} before the batch run (dripfed): ${dripfed}`);
    }

    say('running one batch (stage → enrich → shred → load → views → archive)…');
    const { client, connection } = await connectTemporal(config);
    const { result, link } = await runBatch(client, config, undefined, (l) => say(`  ${l}`));
    await connection.close();

    const answer = await fetchMergedCounts(urls.serving, from, to, config.serving.token ?? config.auth.token);
    say('');
    say(`merged per-minute counts (watermark ${answer.watermark ?? 'none'}):`);
    for (const p of answer.points) say(`  ${p.minute}  ${String(p.count).padStart(6)}  ${p.source}`);
    say(`  total ${answer.totals.all} = batch ${answer.totals.batch} + realtime ${answer.totals.realtime} (tracker sent ${total}${earlier ? `, earlier runs ${earlier}` : ''})`);

    const rows = await countRows();
    say(`atomic.events rows for ${appId} after the batch run: ${rows}${dripfed === undefined ? '' : rows === dripfed ? ' (unchanged: the batch replaced the dripfed rows, every event once)' : ` (was ${dripfed})`} (batch run ${result.runId} loaded ${result.loaded})`);
    say(`batch run in the Temporal UI (while \`sluice up\` runs): ${link}`);
    const ok = answer.totals.all === total + earlier && rows === total && (dripfed === undefined || dripfed === total);
    say(ok ? 'demo OK: every event sent is counted exactly once' : 'demo FAILED: counts differ from what was sent');
    return ok;
  } finally {
    await closeWarehouse().catch(() => undefined);
    say('stopping the stack…');
    await stack.stop();
  }
}
