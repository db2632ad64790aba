import { describe, expect, it } from 'vitest';
import { inTransaction } from '../../adapters/postgres';
import { type EnrichedEvent, formatTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { syntheticEventId } from '../../batch/dedupe';
import { runPrefix } from '../../batch/layout';
import { runShred } from '../../batch/shred-run';
import { postgresLoader } from '../../warehouse/postgres-loader';
import { preparedTransactionsEnabled } from '../../warehouse/postgres-two-phase';
import { useStandins } from '../helpers/rig';

// "The batch wins, per event" (docs/warehouse.md, "Dripfeed and batch"): rows already in the
// warehouse for the events a run loads — as the dripfeed writes them — are replaced by the run's
// rows, in atomic.events and the shredded tables; rows of events the run does not hold stay,
// whatever their time. Real shred (local engine threads, s3rver) and real PostgreSQL, on both load
// paths (two-phase, and one transaction as a reprocess uses it).

const rig = useStandins({ postgres: true, s3: true, engineThreads: 2 });

const CLICK = 'iglu:com.acme/link_click/jsonschema/1-0-0';
const CLICK_TABLE = '"atomic"."com_acme_link_click_1"';
const SCHEMAS: Record<string, object> = {
  [CLICK]: {
    $schema: 'http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#',
    self: { vendor: 'com.acme', name: 'link_click', format: 'jsonschema', version: '1-0-0' },
    type: 'object',
    properties: { targetUrl: { type: 'string', maxLength: 4096 } },
    required: ['targetUrl'],
  },
};

const T0 = Date.UTC(2026, 10, 1, 10, 0, 0);
const uuid = (n: number, salt = 0) => `${String(salt).padStart(8, '0')}-0000-4000-8000-${String(n).padStart(12, '0')}`;

function event(id: string, at: number, opts: { app?: string; fingerprint?: string; url?: string } = {}): string {
  const e: EnrichedEvent = {
    app_id: opts.app ?? 'batch', platform: 'web', etl_tstamp: formatTstamp(at + 1000), collector_tstamp: formatTstamp(at),
    event: 'unstruct', event_id: id, v_collector: 'test-collector', v_etl: 'test-etl', event_fingerprint: opts.fingerprint ?? `fp-${id}`,
    unstruct_event: JSON.stringify({
      schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0',
      data: { schema: CLICK, data: { targetUrl: opts.url ?? `https://example.com/batch/${id}` } },
    }),
  };
  return toEnrichedTsv(e);
}

async function shredRun(runId: string, lines: string[]) {
  await rig.store.put(`${runPrefix.enriched(runId)}part-00000.tsv`, `${lines.join('\n')}\n`);
  return runShred({ store: rig.store, engine: rig.engine, lookup: async (uri) => SCHEMAS[uri] }, { runId, inputPrefix: runPrefix.enriched(runId), buckets: 2, etlTstamp: T0 });
}

/** What the dripfeed leaves: an atomic row and its click row, marked app_id 'dripfed'. */
async function dripfeed(id: string, at: number): Promise<void> {
  const ts = formatTstamp(at);
  await rig.pool.query(
    `INSERT INTO "atomic"."events" ("app_id", "collector_tstamp", "event", "event_id", "v_collector", "v_etl", "event_fingerprint") VALUES ('dripfed', $1, 'unstruct', $2, 'c', 'e', $3)`,
    [ts, id, `fp-${id}`],
  );
  await rig.pool.query(
    `INSERT INTO ${CLICK_TABLE} ("schema_vendor", "schema_name", "schema_format", "schema_version", "root_id", "root_tstamp", "ref_root", "ref_tree", "ref_parent", "target_url")
     VALUES ('com.acme', 'link_click', 'jsonschema', '1-0-0', $1, $2, 'events', 'events', 'events', $3)`,
    [id, ts, `https://example.com/dripfed/${id}`],
  );
}

async function rowsOf(ids: string[]) {
  const atomic = await rig.pool.query<{ event_id: string; app_id: string }>('SELECT "event_id", "app_id" FROM "atomic"."events" WHERE "event_id" = ANY($1::text[]) ORDER BY 1, 2', [ids]);
  const clicks = await rig.pool.query<{ root_id: string; target_url: string }>(`SELECT "root_id", "target_url" FROM ${CLICK_TABLE} WHERE "root_id" = ANY($1::text[]) ORDER BY 1, 2`, [ids]);
  return { atomic: atomic.rows, clicks: clicks.rows };
}

describe('a batch load replaces the rows the dripfeed loaded for its events', () => {
  it('sets the click table up with a first run', async () => {
    await shredRun('bw-setup', [event(uuid(1, 9), T0 - 3_600_000)]);
    await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: 'bw-setup', window: { from: T0 - 3_600_000, to: T0 - 3_600_000 } });
    expect((await rig.pool.query(`SELECT count(*)::int AS n FROM ${CLICK_TABLE}`)).rows[0].n).toBe(1);
  });

  for (const path of ['two-phase', 'one transaction'] as const) {
    it(`batch after dripfeed (${path}): the run's events once each, as the batch computed them; another event dripfed inside the window stays`, async () => {
      const salt = path === 'two-phase' ? 1 : 2;
      const runId = `bw-${salt}`;
      const ids = Array.from({ length: 10 }, (_, i) => uuid(i, salt));
      const at = (i: number) => T0 + salt * 600_000 + i * 1000;
      // The dripfeed got to six of the run's ten events first, and to one the run does not hold
      // (its raw record still in an open sink file), timed in the middle of the run's window.
      for (let i = 0; i < 6; i++) await dripfeed(ids[i], at(i));
      const foreign = uuid(99, salt);
      await dripfeed(foreign, at(4) + 500);

      const shredded = await shredRun(runId, ids.map((id, i) => event(id, at(i))));
      expect(shredded.good).toBe(10);
      const window = { from: shredded.minTstamp, to: shredded.maxTstamp };
      const loader = postgresLoader({ pool: rig.pool, store: rig.store });
      if (path === 'two-phase') {
        expect(await preparedTransactionsEnabled(rig.pool)).toBe(true);
        await loader.loadRun({ runId, window });
      } else {
        await inTransaction(rig.pool, (client) => loader.loadRunWith(client, { runId, window }));
      }

      const { atomic, clicks } = await rowsOf([...ids, foreign]);
      expect(atomic).toEqual([...ids.map((id) => ({ event_id: id, app_id: 'batch' })), { event_id: foreign, app_id: 'dripfed' }].sort((a, b) => (a.event_id < b.event_id ? -1 : 1)));
      expect(clicks).toEqual(
        [...ids.map((id) => ({ root_id: id, target_url: `https://example.com/batch/${id}` })), { root_id: foreign, target_url: `https://example.com/dripfed/${foreign}` }]
          .sort((a, b) => (a.root_id < b.root_id ? -1 : 1)),
      );
      // Loading the run again changes nothing.
      expect((await loader.loadRun({ runId, window })).alreadyLoaded).toBe(true);
      expect((await rowsOf([...ids, foreign])).atomic).toHaveLength(11);
    });
  }

  it('a synthetic duplicate the dripfeed loaded under its original id is replaced by the batch\'s two re-identified events', async () => {
    const id = uuid(1, 3);
    const at = T0 + 3 * 600_000;
    await dripfeed(id, at);
    const shredded = await shredRun('bw-3', [event(id, at, { fingerprint: 'fp-a' }), event(id, at, { fingerprint: 'fp-b', url: 'https://example.com/b' })]);
    expect(shredded.duplicates.synthetic).toBe(2);
    await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: 'bw-3', window: { from: shredded.minTstamp, to: shredded.maxTstamp } });
    const ids = [id, syntheticEventId(id, 'fp-a'), syntheticEventId(id, 'fp-b')];
    const { atomic } = await rowsOf(ids);
    expect(atomic.map((r) => r.event_id).sort()).toEqual(ids.slice(1).sort());
    expect(atomic.every((r) => r.app_id === 'batch')).toBe(true);
  });

  it('rows of other times and other events are never touched', async () => {
    const total = (await rig.pool.query('SELECT count(*)::int AS n FROM "atomic"."events"')).rows[0].n;
    // setup 1 + run 1 (10 + 1 foreign) + run 2 (10 + 1) + run 3 (2)
    expect(total).toBe(25);
  });
});
