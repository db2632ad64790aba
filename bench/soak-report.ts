import type { Pool } from '../adapters/postgres';
import type { MergedAnswer } from '../cli/probes';
import type { InjectedFault } from './soak-faults';
import { HOSTILE_CLASSES, HOSTILE_APP_ID, type HostileSender } from './soak-hostile';
import { nearest, percentile, rssSlopeMbPerMin, type LagSample, type RssSample } from './soak-samplers';
import { SOAK_APP_ID, type TrackerFleet } from './soak-trackers';

// The soak's verdict: what the warehouse holds against what the collector acknowledged, and the
// one markdown table the run prints.

export interface WarehouseCounts {
  rowsByApp: Map<string, number>;
  /** Acknowledged tracked events with no row in atomic.events. */
  lost: number;
  lostExamples: number[];
  /** Tracked events with more than one row, and the rows beyond the first. */
  duplicated: number;
  extraRows: number;
  /** Rows of tracked events the collector never acknowledged (the tracker gave up or dropped them). */
  presentUnacknowledged: number;
  badRowsByType: Map<string, number>;
}

export async function countWarehouse(pool: Pool, fleet: TrackerFleet): Promise<WarehouseCounts> {
  const apps = await pool.query<{ app: string; n: number }>(`SELECT coalesce("app_id", '') AS "app", count(*)::int AS "n" FROM "atomic"."events" GROUP BY 1 ORDER BY 1`);
  const labels = await pool.query<{ label: string | null; n: number }>(
    `SELECT "se_label" AS "label", count(*)::int AS "n" FROM "atomic"."events" WHERE "app_id" = $1 GROUP BY 1`,
    [SOAK_APP_ID],
  );
  const bad = await pool.query<{ type: string; n: number }>(`SELECT "type", count(*)::int AS "n" FROM "sluice"."bad_rows" GROUP BY 1 ORDER BY 1`);
  const rows = new Uint32Array(fleet.tracked);
  for (const r of labels.rows) {
    const seq = Number(r.label);
    if (Number.isInteger(seq) && seq >= 0 && seq < rows.length) rows[seq] = r.n;
  }
  const counts: WarehouseCounts = {
    rowsByApp: new Map(apps.rows.map((r) => [r.app, r.n])),
    lost: 0,
    lostExamples: [],
    duplicated: 0,
    extraRows: 0,
    presentUnacknowledged: 0,
    badRowsByType: new Map(bad.rows.map((r) => [r.type, r.n])),
  };
  for (let seq = 0; seq < rows.length; seq++) {
    const acked = fleet.isAcked(seq);
    if (acked && rows[seq] === 0) {
      counts.lost += 1;
      if (counts.lostExamples.length < 10) counts.lostExamples.push(seq);
    }
    if (rows[seq] > 1) (counts.duplicated += 1), (counts.extraRows += rows[seq] - 1);
    if (!acked && rows[seq] > 0) counts.presentUnacknowledged += 1;
  }
  return counts;
}

export interface SoakResult {
  settings: { minutes: number; rate: number; trackers: number; hostileShare: number; faultEveryS: number; outageS: number };
  startMs: number;
  sendEndMs: number;
  fleet: TrackerFleet;
  hostile: HostileSender;
  rss: Map<string, RssSample[]>;
  lag: LagSample[];
  drain: { ms: number; drained: boolean; realtime?: MergedAnswer['totals'] };
  batch: { runId?: string; status: string; loaded?: number; ms: number };
  merged?: MergedAnswer['totals'];
  warehouse?: WarehouseCounts;
  faults: InjectedFault[];
}

/** |slope| under this is "flat". */
export const FLAT_MB_PER_MIN = 2;
// A restarted workers process grows while it bundles the workflows and catches up: not a trend.
const RSS_WARMUP_MS = 60_000;

const n = (v: number) => v.toLocaleString('en-US');
const mb = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(0)} MB`);
const tallyText = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ×${n(v)}`).join(', ') || '–';

/** Verdicts that fail the run. */
export function failures(r: SoakResult): string[] {
  const out: string[] = [];
  if (!r.warehouse) out.push('the warehouse could not be counted');
  else {
    if (r.warehouse.lost > 0) out.push(`${n(r.warehouse.lost)} acknowledged events lost`);
    if (r.warehouse.duplicated > 0) out.push(`${n(r.warehouse.duplicated)} events duplicated`);
  }
  if (r.hostile.unexpected.length > 0) out.push(`${n(r.hostile.unexpected.length)} hostile requests got a 5xx other than 503, or no answer`);
  if (r.batch.status !== 'completed') out.push(`the batch run ended ${r.batch.status}`);
  return out;
}

export function renderTable(r: SoakResult): string {
  const s = r.settings;
  const sendS = (r.sendEndMs - r.startMs) / 1000;
  const f = r.fleet;
  const w = r.warehouse;
  const rows: [string, string, string][] = [];
  const row = (what: string, value: string, verdict = '') => rows.push([what, value, verdict]);

  row('events tracked (node trackers)', `${n(f.tracked)} (${(f.tracked / sendS).toFixed(0)}/s)`, `target ${n(s.rate)}/s`);
  row('events sent = acknowledged by the collector', `${n(f.acked)} (${(f.acked / sendS).toFixed(0)}/s)`);
  row('events not acknowledged', `${n(f.tracked - f.acked)} (given up by the tracker ${n(f.givenUp)}; failed tracker requests ${n(f.failedRequests)} of ${n(f.requests)})`, 'not loss: the collector never took them');
  const hostileShare = r.hostile.sent / (r.hostile.sent + f.requests);
  row('hostile requests sent', `${n(r.hostile.sent)} (${(hostileShare * 100).toFixed(1)}% of requests)`, `target ${(s.hostileShare * 100).toFixed(1)}%`);
  for (const cls of HOSTILE_CLASSES) row(`  hostile: ${cls}`, tallyText(r.hostile.tally.get(cls)!));
  row('hostile: 5xx other than 503, or no answer', n(r.hostile.unexpected.length), r.hostile.unexpected.length === 0 ? 'OK' : `FAIL (first: ${r.hostile.unexpected[0].cls} ${r.hostile.unexpected[0].status})`);
  row(
    'speed layer drained after sending stopped',
    r.drain.drained ? `in ${(r.drain.ms / 1000).toFixed(1)} s` : `no, after ${(r.drain.ms / 1000).toFixed(0)} s`,
    r.drain.realtime ? `realtime views then held ${n(r.drain.realtime.all)}` : '',
  );
  row('batch run', `${r.batch.runId ?? '–'}: ${r.batch.status}, loaded ${r.batch.loaded === undefined ? '–' : n(r.batch.loaded)}, ${(r.batch.ms / 1000).toFixed(0)} s`);
  if (r.merged) row('good events in the merged views (batch + realtime)', `${n(r.merged.all)} = ${n(r.merged.batch)} + ${n(r.merged.realtime)}`);
  if (w) {
    const total = [...w.rowsByApp.values()].reduce((a, b) => a + b, 0);
    row('rows in atomic.events', n(total), tallyText(w.rowsByApp));
    row(`good events in atomic.events (app_id ${SOAK_APP_ID})`, n(w.rowsByApp.get(SOAK_APP_ID) ?? 0), `acknowledged ${n(f.acked)}`);
    row(`good events from hostile requests (app_id ${HOSTILE_APP_ID})`, n(w.rowsByApp.get(HOSTILE_APP_ID) ?? 0));
    row('bad rows (sluice.bad_rows by type)', n([...w.badRowsByType.values()].reduce((a, b) => a + b, 0)), tallyText(w.badRowsByType));
    row('lost (acknowledged, not in atomic.events)', n(w.lost), w.lost === 0 ? 'OK (must be 0)' : `FAIL (e.g. se_label ${w.lostExamples.join(', ')})`);
    row('duplicated (identities with more than one row)', `${n(w.duplicated)} (${n(w.extraRows)} extra rows)`, w.duplicated === 0 ? 'OK (must be 0)' : 'FAIL');
    row('in atomic.events though never acknowledged', n(w.presentUnacknowledged), 'allowed: the collector took them, the answer was lost');
  }
  for (const [name, samples] of r.rss) {
    const during = samples.filter((x) => x.atMs <= r.sendEndMs);
    const half = r.startMs + (r.sendEndMs - r.startMs) / 2;
    const { slope, used } = rssSlopeMbPerMin(during, half, r.sendEndMs, RSS_WARMUP_MS);
    const pids = new Set(during.map((x) => x.pid)).size;
    const verdict = Number.isNaN(slope) ? 'too few samples' : Math.abs(slope) < FLAT_MB_PER_MIN ? `flat (|slope| < ${FLAT_MB_PER_MIN} MB/min)` : slope > 0 ? 'NOT FLAT: growing' : 'not flat: shrinking';
    row(
      `${name} RSS start / middle / end`,
      `${mb(during[0]?.mb)} / ${mb(nearest(during, half)?.mb)} / ${mb(during.at(-1)?.mb)} (max ${mb(Math.max(...during.map((x) => x.mb)))}; ${pids} PID${pids === 1 ? '' : 's'})`,
      `slope over 2nd half ${Number.isNaN(slope) ? '–' : `${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min`} (${used} samples): ${verdict}`,
    );
  }
  for (const [name, samples] of r.rss) {
    const perMinute: string[] = [];
    for (let t = r.startMs; t <= r.sendEndMs + 1; t += 60_000) perMinute.push(nearest(samples, t)?.mb.toFixed(0) ?? '–');
    row(`${name} RSS each minute (MB)`, perMinute.join(', '));
  }
  const lags = r.lag.filter((x) => x.atMs >= r.startMs && x.atMs <= r.sendEndMs).map((x) => x.maxMs);
  row('speed-layer lag (largest shard, while sending)', `p50 ${n(percentile(lags, 50))} / p99 ${n(percentile(lags, 99))} / max ${n(Math.max(...lags, 0))} ms`, `${lags.length} samples`);
  const byKind = new Map<string, number>();
  for (const x of r.faults) byKind.set(x.kind, (byKind.get(x.kind) ?? 0) + 1);
  row('faults injected', `${r.faults.length}: ${tallyText(byKind)}`, r.faults.some((x) => x.error) ? 'some FAILED to inject' : '');
  for (const x of r.faults) row(`  fault at ${(x.atMs / 1000).toFixed(0)} s`, `${x.kind}: ${x.error ?? x.detail}`, `${(x.tookMs / 1000).toFixed(1)} s`);

  const esc = (t: string) => t.replace(/\|/g, '\\|');
  return [
    `Soak: ${s.minutes} min at ${n(s.rate)} events/s from ${s.trackers} node trackers, ${(s.hostileShare * 100).toFixed(1)}% hostile requests, ${s.faultEveryS > 0 ? `a fault every ${(s.faultEveryS / 3).toFixed(0)} s (each kind every ${s.faultEveryS} s, kinesalite down ${s.outageS} s)` : 'no faults'} (${new Date().toISOString().slice(0, 10)})`,
    '',
    '| measure | value | verdict |',
    '| --- | --- | --- |',
    ...rows.map(([a, b, c]) => `| ${esc(a)} | ${esc(b)} | ${esc(c)} |`),
  ].join('\n');
}
