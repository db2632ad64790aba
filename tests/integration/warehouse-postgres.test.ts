import { describe, expect, it } from 'vitest';
import { type EnrichedEvent, formatTstamp, parseTstamp, toEnrichedTsv } from '../../codecs/enriched-tsv';
import { DUPLICATE_SCHEMA_URI, syntheticEventId } from '../../batch/dedupe';
import { runPrefix } from '../../batch/layout';
import { partBytes } from '../../batch/run-files';
import { runShred, type ShredRunResult } from '../../batch/shred-run';
import { ATOMIC_COLUMNS, atomicColumnType } from '../../warehouse/atomic-events';
import { postgresLoader } from '../../warehouse/postgres-loader';
import { InjectedStop, preparedTransactionsEnabled, twoPhaseLoad } from '../../warehouse/postgres-two-phase';
import { useStandins } from '../helpers/rig';
import { mulberry32 as prng } from '../helpers/prng';

// Shred (shred-map + shred-reduce in the local engine's threads, against s3rver) and load into
// the real PostgreSQL stand-in: a few thousand generated events with contexts, unstruct events
// and derived contexts of several types, both kinds of duplicates, checked field for field in
// atomic.events and in every shredded table. Then schema evolution mid-stream, hostile names,
// a repeated load and a window replaced by reprocessing.

const rig = useStandins({ postgres: true, s3: true, engineThreads: 2 });

// ---- schemas ------------------------------------------------------------------------------

const sd = (vendor: string, name: string, version: string, body: Record<string, unknown>) => ({
  $schema: 'http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#',
  self: { vendor, name, format: 'jsonschema', version },
  type: 'object',
  ...body,
});

const U = {
  click: 'iglu:com.acme/link_click/jsonschema/1-0-0',
  click101: 'iglu:com.acme/link_click/jsonschema/1-0-1',
  click200: 'iglu:com.acme/link_click/jsonschema/2-0-0',
  product: 'iglu:com.acme/product/jsonschema/1-0-0',
  product110: 'iglu:com.acme/product/jsonschema/1-1-0',
  product120: 'iglu:com.acme/product/jsonschema/1-2-0',
  webPage: 'iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0',
  flag: 'iglu:com.acme/enrichment_flag/jsonschema/1-0-0',
  evil: 'iglu:com.acme/evil_props/jsonschema/1-0-0',
  long: `iglu:com.${'longvendor'.repeat(11)}/event/jsonschema/1-0-0`,
};

const clickProps = {
  targetUrl: { type: 'string', maxLength: 4096 },
  elementId: { type: ['string', 'null'], maxLength: 255 },
  elementClasses: { type: 'array', items: { type: 'string' } },
  clickedAt: { type: 'string', format: 'date-time' },
};
const productProps = {
  sku: { type: 'string', maxLength: 32 },
  name: { type: 'string', maxLength: 100 },
  priceUsd: { type: 'number', multipleOf: 0.01, minimum: 0, maximum: 100000 },
  quantity: { type: 'integer', minimum: 0, maximum: 1000 },
  inStock: { type: 'boolean' },
  category: { enum: ['books', 'games', 'music'] },
  tags: { type: 'array', items: { type: 'string' } },
  dims: { type: 'object', properties: { widthCm: { type: 'integer', minimum: 0, maximum: 10000 }, heightCm: { type: ['integer', 'null'], minimum: 0, maximum: 10000 } }, required: ['widthCm'] },
};
const EVIL_PROP = 'x"; DROP TABLE atomic.events; --';

const SCHEMAS: Record<string, object> = {
  [U.click]: sd('com.acme', 'link_click', '1-0-0', { properties: clickProps, required: ['targetUrl'] }),
  [U.click101]: sd('com.acme', 'link_click', '1-0-1', { properties: { ...clickProps, elementTarget: { type: 'string', maxLength: 50 } }, required: ['targetUrl'] }),
  [U.click200]: sd('com.acme', 'link_click', '2-0-0', { properties: { target: { type: 'string', format: 'uri', maxLength: 8192 } }, required: ['target'] }),
  [U.product]: sd('com.acme', 'product', '1-0-0', { properties: productProps, required: ['sku', 'dims'] }),
  [U.product110]: sd('com.acme', 'product', '1-1-0', { properties: { ...productProps, name: { type: 'string', maxLength: 500 } }, required: ['sku', 'dims'] }),
  [U.product120]: sd('com.acme', 'product', '1-2-0', { properties: { ...productProps, quantity: { type: 'string', format: 'date-time' } }, required: ['sku', 'dims'] }),
  [U.webPage]: sd('com.snowplowanalytics.snowplow', 'web_page', '1-0-0', { properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false }),
  [U.flag]: sd('com.acme', 'enrichment_flag', '1-0-0', { properties: { flag: { type: 'boolean' }, score: { type: 'number' } }, required: ['flag'] }),
  [U.evil]: sd('com.acme', 'evil_props', '1-0-0', { properties: { [EVIL_PROP]: { type: 'string' }, "a'b": { type: 'string' }, naïve: { type: 'string' }, ['q'.repeat(300)]: { type: 'integer', minimum: 0, maximum: 9 } } }),
  [U.long]: sd(`com.${'longvendor'.repeat(11)}`, 'event', '1-0-0', { properties: { n: { type: 'integer', minimum: 0, maximum: 9 } } }),
};
const lookup = async (uri: string) => SCHEMAS[uri];

// ---- generated events ---------------------------------------------------------------------


const TRICKY = ['plain', 'tab\there', 'new\nline', 'back\\slash', "quote'single", 'dq"uote', 'ünïcödé', '😀 emoji', 'nul\u0000byte', '\\N', '', 'semi;colon --', 'cr\rhere'];

interface Generated {
  event: EnrichedEvent;
  entities: { uri: string; data: Record<string, unknown> }[];
}

function generate(count: number, seed: number, t0: number): Generated[] {
  const r = prng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: T[]) => xs[int(xs.length)];
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[int(16)]).join('');
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[int(4)]}${hex(3)}-${hex(12)}`;
  const out: Generated[] = [];
  for (let i = 0; i < count; i++) {
    const collector = t0 + i * 997;
    const entities: Generated['entities'] = [{ uri: U.webPage, data: { id: uuid() } }];
    for (let k = int(3); k > 0; k--) {
      const product: Record<string, unknown> = {
        sku: `SKU-${hex(6)}`, dims: { widthCm: int(10000), ...(r() < 0.5 ? { heightCm: r() < 0.3 ? null : int(10000) } : {}) },
      };
      if (r() < 0.8) product.name = pick(TRICKY);
      if (r() < 0.8) product.priceUsd = int(10_000_000) / 100;
      if (r() < 0.8) product.quantity = int(1001);
      if (r() < 0.8) product.inStock = r() < 0.5;
      if (r() < 0.8) product.category = pick(['books', 'games', 'music']);
      if (r() < 0.5) product.tags = Array.from({ length: int(4) }, () => pick(TRICKY));
      entities.push({ uri: U.product, data: product });
    }
    const isClick = r() < 0.5;
    if (isClick) {
      const offset = pick(['Z', '+02:00', '-05:30']);
      entities.push({
        uri: U.click,
        data: {
          targetUrl: `https://example.com/${pick(TRICKY)}/${i}`,
          ...(r() < 0.7 ? { elementId: r() < 0.2 ? null : pick(TRICKY) } : {}),
          ...(r() < 0.5 ? { elementClasses: [pick(TRICKY), pick(TRICKY)] } : {}),
          clickedAt: `2026-03-01T${String(int(24)).padStart(2, '0')}:${String(int(60)).padStart(2, '0')}:07.${String(int(1000)).padStart(3, '0')}${offset}`,
        },
      });
    }
    const derived = r() < 0.3 ? [{ uri: U.flag, data: { flag: r() < 0.5, ...(r() < 0.5 ? { score: int(1000) / 8 } : {}) } }] : [];
    entities.push(...derived);
    const contexts = entities.filter((e) => e.uri !== U.click && e.uri !== U.flag);
    const event: EnrichedEvent = {
      app_id: pick(['shop', 'blog']), platform: 'web',
      etl_tstamp: formatTstamp(collector + 5_000), collector_tstamp: formatTstamp(collector), dvce_created_tstamp: formatTstamp(collector - int(3000)),
      event: isClick ? 'unstruct' : 'page_view', event_id: uuid(), txn_id: String(int(1_000_000)),
      name_tracker: 'sp', v_tracker: 'js-4.1.0', v_collector: 'sluice-collector-0.1.0-kinesis', v_etl: 'sluice-enrich-0.1.0',
      user_id: r() < 0.5 ? pick(TRICKY) : undefined, user_ipaddress: `10.0.${int(256)}.${int(256)}`,
      domain_userid: uuid(), domain_sessionidx: String(1 + int(20)), network_userid: uuid(),
      geo_country: pick(['GB', 'FR', 'DE']), geo_region: pick(['ENG', 'IDF']), geo_latitude: String(int(180_000) / 1000 - 90),
      page_url: i === 7 ? `https://example.com/${'long'.repeat(1500)}` : `https://example.com/p/${i}`,
      page_title: pick(TRICKY), page_urlport: '443', se_value: r() < 0.3 ? String(int(100_000) / 16) : undefined,
      tr_total: r() < 0.2 ? (int(1_000_000) / 100).toFixed(2) : undefined, tr_currency: r() < 0.2 ? 'EUR' : undefined,
      br_cookies: pick(['1', '0']), dvce_ismobile: pick(['1', '0']), br_viewwidth: String(320 + int(1600)),
      domain_sessionid: uuid(), derived_tstamp: formatTstamp(collector - 10), event_fingerprint: hex(32),
      true_tstamp: r() < 0.1 ? formatTstamp(collector - 7) : undefined,
      contexts: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1', data: contexts.map((e) => ({ schema: e.uri, data: e.data })) }),
      unstruct_event: isClick ? JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: { schema: U.click, data: entities.find((e) => e.uri === U.click)!.data } }) : undefined,
      derived_contexts: derived.length ? JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1', data: derived.map((e) => ({ schema: e.uri, data: e.data })) }) : undefined,
    };
    out.push({ event, entities });
  }
  return out;
}

async function writeParts(runId: string, lines: string[], parts: number): Promise<void> {
  const per = Math.ceil(lines.length / parts);
  for (let p = 0; p < parts; p++) {
    await rig.store.put(`${runPrefix.enriched(runId)}part-${String(p).padStart(5, '0')}.tsv`, `${lines.slice(p * per, (p + 1) * per).join('\n')}\n`);
  }
}

const shred = (runId: string): Promise<ShredRunResult> =>
  runShred({ store: rig.store, engine: rig.engine, lookup }, { runId, inputPrefix: runPrefix.enriched(runId), buckets: 8, etlTstamp: Date.UTC(2026, 2, 1) });

// ---- expected values ----------------------------------------------------------------------

/** What PostgreSQL prints (col::text) for an enriched TSV value of an atomic column. */
function atomicText(col: string, tsv: string | undefined): string | null {
  const v = tsv?.replace(/[\t\n\r]/g, ' ').replace(/\u0000/g, '\uFFFD');
  if (v === undefined || v === '') return null;
  const type = atomicColumnType(col).replace(' not null', '');
  if (type === 'timestamp') return v.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  if (type === 'boolean') return v === '1' ? 'true' : 'false';
  if (type.startsWith('decimal')) return Number(v).toFixed(2);
  if (type === 'double precision') return String(Number(v));
  const len = /\((\d+)\)/.exec(type);
  if (len) return type.startsWith('char') ? Array.from(v).slice(0, Number(len[1])).join('').padEnd(Number(len[1])) : Array.from(v).slice(0, Number(len[1])).join('');
  return v;
}

const clean = (v: unknown): unknown =>
  typeof v === 'string' ? v.replace(/\u0000/g, '\uFFFD') : Array.isArray(v) ? v.map(clean) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clean(x)])) : v;

/** Property columns of each type, as node-postgres returns them. */
const EXPECTED_COLUMNS: Record<string, (d: Record<string, any>) => Record<string, unknown>> = {
  [U.webPage]: (d) => ({ id: d.id }),
  [U.product]: (d) => ({
    sku: d.sku, dims_width_cm: d.dims.widthCm, category: d.category ?? null, dims_height_cm: d.dims.heightCm ?? null,
    in_stock: d.inStock ?? null, name: d.name === undefined ? null : clean(d.name), price_usd: d.priceUsd === undefined ? null : d.priceUsd.toFixed(2),
    quantity: d.quantity ?? null, tags: d.tags === undefined ? null : clean(d.tags),
  }),
  [U.click]: (d) => ({
    target_url: clean(d.targetUrl), clicked_at: new Date(d.clickedAt), element_classes: d.elementClasses === undefined ? null : clean(d.elementClasses),
    element_id: d.elementId === undefined || d.elementId === null ? null : clean(d.elementId),
  }),
  [U.flag]: (d) => ({ flag: d.flag, score: d.score ?? null }),
  [DUPLICATE_SCHEMA_URI]: (d) => ({ original_event_id: d.originalEventId }),
};

function expectedRow(uri: string, rootId: string, collectorTstamp: string, data: Record<string, unknown>): Record<string, unknown> {
  const [, vendor, name, format, version] = /^iglu:([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri)!;
  return {
    schema_vendor: vendor, schema_name: name, schema_format: format, schema_version: version,
    root_id: rootId, root_tstamp: new Date(parseTstamp(collectorTstamp)),
    ref_root: 'events', ref_tree: JSON.stringify(['events', name]), ref_parent: 'events',
    ...EXPECTED_COLUMNS[uri](data),
  };
}

const canonical = (row: Record<string, unknown>) => JSON.stringify(Object.keys(row).sort().map((k) => [k, row[k]]));
const byKey = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => (canonical(a) < canonical(b) ? -1 : 1));

async function columnsOf(table: string): Promise<[string, string, string][]> {
  const { rows } = await rig.pool.query(
    `SELECT column_name, format_type(a.atttypid, a.atttypmod) AS type, is_nullable FROM information_schema.columns c
     JOIN pg_attribute a ON a.attrelid = ('atomic.' || quote_ident(c.table_name))::regclass AND a.attname = c.column_name
     WHERE table_schema = 'atomic' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return rows.map((r) => [r.column_name, r.type, r.is_nullable]);
}

async function commentOf(table: string): Promise<string | null> {
  const { rows } = await rig.pool.query(`SELECT obj_description(('atomic.' || quote_ident($1))::regclass, 'pg_class') AS c`, [table]);
  return rows[0].c;
}

// ---- tests --------------------------------------------------------------------------------

const T0 = Date.UTC(2026, 2, 1, 9, 0, 0);
const RUN1 = 'run-pg-1';
let run1: Generated[];
let expectedEvents: { id: string; tsv: EnrichedEvent; entities: { uri: string; data: Record<string, unknown> }[] }[];

describe('shred + PostgreSQL load', () => {
  it('loads a few thousand events into atomic.events and the shredded tables, field for field', async () => {
    run1 = generate(3000, 42, T0);
    const lines = run1.map((g) => toEnrichedTsv(g.event));
    // Natural duplicates: 40 events sent twice (another part, same fingerprint).
    for (let i = 0; i < 40; i++) lines.push(lines[i * 50]);
    // Synthetic duplicates: 25 events whose id reappears with another payload and fingerprint.
    const synthetic: Generated[] = [];
    for (let i = 0; i < 25; i++) {
      const original = run1[i * 100 + 3];
      const twin: Generated = { event: { ...original.event, page_title: `twin ${i}`, event_fingerprint: `twin-${i}` }, entities: original.entities };
      synthetic.push(twin);
      lines.push(toEnrichedTsv(twin.event));
    }
    await writeParts(RUN1, lines, 5);

    const result = await shred(RUN1);
    const syntheticIds = new Set(synthetic.map((s) => s.event.event_id));
    expectedEvents = [];
    for (const g of [...run1, ...synthetic]) {
      const id = g.event.event_id!;
      if (!syntheticIds.has(id)) {
        expectedEvents.push({ id, tsv: g.event, entities: g.entities });
        continue;
      }
      const newId = syntheticEventId(id, g.event.event_fingerprint!);
      expectedEvents.push({ id: newId, tsv: { ...g.event, event_id: newId }, entities: [...g.entities, { uri: DUPLICATE_SCHEMA_URI, data: { originalEventId: id } }] });
    }
    expect(result.good).toBe(expectedEvents.length);
    expect(result.bad).toBe(0);
    expect(result.duplicates).toEqual({ natural: 40, synthetic: 50 });
    expect(result.truncated).toBe(1); // the one page_url over 4096 characters

    const loader = postgresLoader({ pool: rig.pool, store: rig.store });
    const progress: number[] = [];
    const load = await loader.loadRun({ runId: RUN1, window: { from: result.minTstamp, to: result.maxTstamp } }, (d) => progress.push(d));
    expect(load.alreadyLoaded).toBe(false);
    expect(load.loaded).toBe(expectedEvents.length);
    expect(progress.length).toBeGreaterThan(8);
    expect(load.actions.filter((a) => a.kind === 'create').map((a) => a.table).sort()).toEqual([
      'com_acme_enrichment_flag_1', 'com_acme_link_click_1', 'com_acme_product_1',
      'com_snowplowanalytics_snowplow_duplicate_1', 'com_snowplowanalytics_snowplow_web_page_1',
    ]);

    // atomic.events: every column of every event.
    const { rows } = await rig.pool.query(`SELECT ${ATOMIC_COLUMNS.map((c) => `"${c}"::text AS "${c}"`).join(', ')} FROM atomic.events`);
    expect(rows).toHaveLength(expectedEvents.length);
    const loaded = new Map(rows.map((r) => [r.event_id, r]));
    let compared = 0;
    for (const e of expectedEvents) {
      const row = loaded.get(e.id);
      expect(row, e.id).toBeDefined();
      for (const col of ATOMIC_COLUMNS) {
        expect(row[col], `${e.id}.${col}`).toBe(atomicText(col, e.tsv[col as keyof EnrichedEvent]));
        compared++;
      }
    }
    expect(compared).toBe(expectedEvents.length * 128);

    // DDL generated from the schemas.
    expect(await columnsOf('com_acme_product_1')).toEqual([
      ['schema_vendor', 'character varying(128)', 'NO'], ['schema_name', 'character varying(128)', 'NO'],
      ['schema_format', 'character varying(128)', 'NO'], ['schema_version', 'character varying(128)', 'NO'],
      ['root_id', 'character(36)', 'NO'], ['root_tstamp', 'timestamp without time zone', 'NO'],
      ['ref_root', 'character varying(255)', 'NO'], ['ref_tree', 'character varying(1500)', 'NO'], ['ref_parent', 'character varying(255)', 'NO'],
      ['dims_width_cm', 'smallint', 'NO'], ['sku', 'character varying(32)', 'NO'],
      ['category', 'character varying(5)', 'YES'], ['dims_height_cm', 'smallint', 'YES'], ['in_stock', 'boolean', 'YES'],
      ['name', 'character varying(100)', 'YES'], ['price_usd', 'numeric(36,2)', 'YES'], ['quantity', 'smallint', 'YES'], ['tags', 'jsonb', 'YES'],
    ]);
    expect(await commentOf('com_acme_product_1')).toBe(U.product);
    expect(await columnsOf('com_acme_link_click_1')).toEqual(expect.arrayContaining([
      ['target_url', 'character varying(4096)', 'NO'], ['clicked_at', 'timestamp without time zone', 'YES'],
      ['element_classes', 'jsonb', 'YES'], ['element_id', 'character varying(255)', 'YES'],
    ]));

    // Shredded tables: every row of every entity, every column.
    const tables: Record<string, string> = {
      [U.webPage]: 'com_snowplowanalytics_snowplow_web_page_1', [U.product]: 'com_acme_product_1', [U.click]: 'com_acme_link_click_1',
      [U.flag]: 'com_acme_enrichment_flag_1', [DUPLICATE_SCHEMA_URI]: 'com_snowplowanalytics_snowplow_duplicate_1',
    };
    for (const [uri, table] of Object.entries(tables)) {
      const expected = expectedEvents.flatMap((e) => e.entities.filter((x) => x.uri === uri).map((x) => expectedRow(uri, e.id, e.tsv.collector_tstamp!, x.data)));
      const got = (await rig.pool.query(`SELECT * FROM atomic."${table}"`)).rows;
      expect(got.length, table).toBe(expected.length);
      expect(byKey(got), table).toEqual(byKey(expected));
    }
    // The synthetic duplicates' contexts hang off their new ids; the original id is gone from atomic.events.
    const orphans = await rig.pool.query(`SELECT count(*)::int AS n FROM atomic.com_acme_product_1 p LEFT JOIN atomic.events e ON e.event_id = p.root_id WHERE e.event_id IS NULL`);
    expect(orphans.rows[0].n).toBe(0);
  });

  it('loading the same run again is a no-op (manifest)', async () => {
    const before = await rig.pool.query('SELECT count(*)::int AS n FROM atomic.events');
    const again = await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: RUN1, window: {} });
    expect(again).toMatchObject({ alreadyLoaded: true, loaded: expectedEvents.length });
    // Two attempts at once: one loads nothing, neither fails.
    const both = await Promise.all([0, 1].map(() => postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: RUN1, window: {} })));
    expect(both.every((r) => r.alreadyLoaded)).toBe(true);
    expect((await rig.pool.query('SELECT count(*)::int AS n FROM atomic.events')).rows[0].n).toBe(before.rows[0].n);
  });

  it('a new ADDITION adds its column, a REVISION widens, a MODEL goes to _2, an incompatible REVISION to a recovery table — no manual DDL', async () => {
    const RUN2 = 'run-pg-2';
    const base = generate(60, 7, T0 + 86_400_000);
    const evolved = base.map((g, i) => {
      const event = { ...g.event, contexts: undefined, unstruct_event: undefined, derived_contexts: undefined } as EnrichedEvent;
      const ctx: { schema: string; data: unknown }[] = [];
      let ue: { schema: string; data: unknown } | undefined;
      if (i % 4 === 0) ue = { schema: U.click101, data: { targetUrl: `https://x/${i}`, elementTarget: '_blank' } };
      if (i % 4 === 1) ue = { schema: U.click, data: { targetUrl: `https://y/${i}` } };
      if (i % 4 === 2) ue = { schema: U.click200, data: { target: `https://z/${i}` } };
      if (i % 3 === 0) ctx.push({ schema: U.product110, data: { sku: `S${i}`, dims: { widthCm: 1 }, name: 'n'.repeat(300) } });
      if (i % 5 === 0) ctx.push({ schema: U.product120, data: { sku: `R${i}`, dims: { widthCm: 2 }, quantity: '2026-03-02T10:00:00Z' } });
      if (ctx.length) event.contexts = JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1', data: ctx });
      if (ue) event.unstruct_event = JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: ue });
      return event;
    });
    await writeParts(RUN2, evolved.map(toEnrichedTsv), 2);
    const result = await shred(RUN2);
    expect(result).toMatchObject({ good: 60, bad: 0 });
    const load = await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: RUN2, window: {} });
    expect(load.actions).toEqual(expect.arrayContaining([
      { kind: 'add-column', table: 'com_acme_link_click_1', column: 'element_target', type: 'VARCHAR(50)' },
      { kind: 'comment', table: 'com_acme_link_click_1', schema: U.click101 },
      { kind: 'create', table: 'com_acme_link_click_2', schema: U.click200 },
      { kind: 'widen', table: 'com_acme_product_1', column: 'name', from: 'VARCHAR(100)', to: 'VARCHAR(500)' },
      expect.objectContaining({ kind: 'recovery', table: 'com_acme_product_1_2_0_recovered', schema: U.product120 }),
    ]));

    expect(await commentOf('com_acme_link_click_1')).toBe(U.click101);
    expect(await columnsOf('com_acme_link_click_1')).toContainEqual(['element_target', 'character varying(50)', 'YES']);
    const clicks = await rig.pool.query(`SELECT target_url, element_target, schema_version FROM atomic.com_acme_link_click_1 WHERE target_url LIKE 'https://x/%' OR target_url LIKE 'https://y/%' ORDER BY target_url`);
    expect(clicks.rows).toHaveLength(30);
    for (const r of clicks.rows) {
      expect(r.element_target).toBe(r.target_url.startsWith('https://x/') ? '_blank' : null);
      expect(r.schema_version).toBe(r.target_url.startsWith('https://x/') ? '1-0-1' : '1-0-0');
    }
    // Rows loaded before the ADDITION are still there, with NULL in the new column.
    const old = await rig.pool.query(`SELECT count(*)::int AS n FROM atomic.com_acme_link_click_1 WHERE schema_version = '1-0-0' AND element_target IS NULL`);
    expect(old.rows[0].n).toBe(expectedEvents.filter((e) => e.entities.some((x) => x.uri === U.click)).length + 15);

    expect(await commentOf('com_acme_link_click_2')).toBe(U.click200);
    expect((await rig.pool.query('SELECT count(*)::int AS n FROM atomic.com_acme_link_click_2')).rows[0].n).toBe(15);
    expect(await columnsOf('com_acme_product_1')).toContainEqual(['name', 'character varying(500)', 'YES']);
    expect(await commentOf('com_acme_product_1')).toBe(U.product110);
    const longNames = await rig.pool.query(`SELECT count(*)::int AS n FROM atomic.com_acme_product_1 WHERE length(name) = 300`);
    expect(longNames.rows[0].n).toBe(20);
    expect(await commentOf('com_acme_product_1_2_0_recovered')).toBe(U.product120);
    const recovered = await rig.pool.query(`SELECT sku, quantity FROM atomic.com_acme_product_1_2_0_recovered ORDER BY sku`);
    expect(recovered.rows).toHaveLength(12);
    expect(recovered.rows[0].quantity).toEqual(new Date('2026-03-02T10:00:00Z'));
  });

  it('hostile schema and property names cannot inject SQL', async () => {
    const RUN3 = 'run-pg-3';
    const ids = generate(4, 9, T0 + 2 * 86_400_000).map((g) => g.event);
    const ctx = (schema: string, data: unknown) => JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1', data: [{ schema, data }] });
    ids[0].contexts = ctx(U.evil, { [EVIL_PROP]: "Robert'); DROP TABLE students;--", "a'b": 'x', naïve: 'y', ['q'.repeat(300)]: 3 });
    ids[1].contexts = ctx('iglu:com.acme"; DROP TABLE atomic.events; --/x/jsonschema/1-0-0', { a: 1 });
    ids[2].contexts = ctx("iglu:com.acme/x'; DELETE FROM atomic.events; --/jsonschema/1-0-0", { a: 1 });
    ids[3].contexts = ctx(U.long, { n: 4 });
    await writeParts(RUN3, ids.map(toEnrichedTsv), 1);
    const result = await shred(RUN3);
    expect(result).toMatchObject({ good: 2, bad: 2 });
    const load = await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: RUN3, window: {} });
    expect(load.loaded).toBe(2);

    const evil = await columnsOf('com_acme_evil_props_1');
    const names = evil.map(([n]) => n);
    expect(names).toEqual(expect.arrayContaining(['x___drop_table_atomic_events____', 'a_b', 'na_ve']));
    for (const n of names) expect(n).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
    const row = (await rig.pool.query('SELECT * FROM atomic.com_acme_evil_props_1')).rows[0];
    expect(row.x___drop_table_atomic_events____).toBe("Robert'); DROP TABLE students;--");
    expect(Object.entries(row).find(([k]) => k.startsWith('qqqq'))?.[1]).toBe(3);

    const longTables = await rig.pool.query(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'atomic' AND c.relkind = 'r' AND c.relname LIKE 'com_longvendor%'`);
    expect(longTables.rows).toHaveLength(1);
    expect(longTables.rows[0].relname.length).toBeLessThanOrEqual(63);
    expect(await commentOf(longTables.rows[0].relname)).toBe(U.long);

    // Nothing was dropped or deleted; the two hostile URIs are bad rows.
    expect((await rig.pool.query(`SELECT count(*)::int AS n FROM atomic.events`)).rows[0].n).toBeGreaterThan(3000);
    const bad = (await Promise.all((await rig.store.list(runPrefix.shreddedBad(RUN3))).map(async (k) => (await rig.store.get(k)).toString()))).join('');
    expect(bad).toContain('DROP TABLE atomic.events');
    expect(bad.split('\n').filter(Boolean).map((l) => JSON.parse(l).schema)).toEqual([
      'iglu:com.snowplowanalytics.snowplow.badrows/loader_iglu_error/jsonschema/2-0-1',
      'iglu:com.snowplowanalytics.snowplow.badrows/loader_iglu_error/jsonschema/2-0-1',
    ]);
  });

  it('reprocessing a window replaces its rows in one transaction: no duplicates, nothing lost', async () => {
    const count = async () => Object.fromEntries(await Promise.all(
      ['events', 'com_acme_product_1', 'com_acme_link_click_1', 'com_snowplowanalytics_snowplow_duplicate_1'].map(async (t) => [t, (await rig.pool.query(`SELECT count(*)::int AS n FROM atomic."${t}"`)).rows[0].n]),
    ));
    const before = await count();
    const REPROCESS = 'reprocess-run-pg-1';
    for (const key of await rig.store.list(runPrefix.enriched(RUN1))) await rig.store.put(`${runPrefix.enriched(REPROCESS)}${key.slice(runPrefix.enriched(RUN1).length)}`, await rig.store.get(key));
    const result = await shred(REPROCESS);
    const window = { from: T0, to: T0 + 86_400_000 };
    const load = await postgresLoader({ pool: rig.pool, store: rig.store }).loadRun({ runId: REPROCESS, window, replaceWindow: true });
    expect(load.loaded).toBe(result.good);
    expect(await count()).toEqual(before);
  });
});

describe('two-phase load (atomic.events and the shredded tables on two connections)', () => {
  const T2 = Date.UTC(2026, 2, 5, 9, 0, 0);
  const loader = () => postgresLoader({ pool: rig.pool, store: rig.store });
  const prepared = async () => (await rig.pool.query<{ gid: string }>(`SELECT "gid" FROM pg_prepared_xacts ORDER BY 1`)).rows.map((r) => r.gid);
  /** Rows of one run in atomic.events and in the product table (through its events' ids). */
  const rowsOf = async (runId: string, ids: string[]) => {
    const events = (await rig.pool.query('SELECT count(*)::int AS n FROM atomic.events WHERE event_id = ANY($1::text[])', [ids])).rows[0].n;
    const products = (await rig.pool.query('SELECT count(*)::int AS n FROM atomic.com_acme_product_1 WHERE root_id = ANY($1::text[])', [ids])).rows[0].n;
    const manifest = (await rig.pool.query('SELECT count(*)::int AS n FROM sluice.load_manifest WHERE run_id = $1', [runId])).rows[0].n;
    return { events, products, manifest };
  };
  const seedRun = async (runId: string, seed: number, t0: number, options: { entities?: boolean } = {}) => {
    const events = generate(200, seed, t0);
    if (options.entities === false) {
      for (const g of events) {
        g.event = { ...g.event, contexts: undefined, unstruct_event: undefined, derived_contexts: undefined };
        g.entities = [];
      }
    }
    // Ids unique to the run (the generator's streams for nearby seeds overlap).
    for (const g of events) g.event.event_id = `${String(seed).padStart(8, '0')}${g.event.event_id!.slice(8)}`;
    await writeParts(runId, events.map((g) => toEnrichedTsv(g.event)), 2);
    const result = await shred(runId);
    const products = events.reduce((n, g) => n + g.entities.filter((e) => e.uri === U.product).length, 0);
    return { ids: events.map((g) => g.event.event_id!), result, products };
  };

  it('runs on this server, and a worker dying with both branches prepared leaves them for the next attempt, which commits them once', async () => {
    expect(await preparedTransactionsEnabled(rig.pool)).toBe(true);
    const run = await seedRun('run-2pc-a', 7, T2);
    await expect(twoPhaseLoad({ pool: rig.pool, store: rig.store }, { runId: 'run-2pc-a', window: {} }, undefined, { stopAt: 'both-prepared' })).rejects.toThrow(InjectedStop);
    expect(await prepared()).toEqual(['sluice-load:run-2pc-a:events', 'sluice-load:run-2pc-a:shredded']);
    // Prepared is not committed: nothing of the run is visible yet.
    expect(await rowsOf('run-2pc-a', run.ids)).toEqual({ events: 0, products: 0, manifest: 0 });

    const again = await loader().loadRun({ runId: 'run-2pc-a', window: {} });
    expect(again).toMatchObject({ alreadyLoaded: true, loaded: run.result.good });
    expect(await prepared()).toEqual([]);
    expect(await rowsOf('run-2pc-a', run.ids)).toEqual({ events: 200, products: run.products, manifest: 1 });
  });

  it('a worker dying between the two commits: any later load (here another run\'s) commits the shredded branch', async () => {
    const b = await seedRun('run-2pc-b', 8, T2 + 3_600_000);
    await expect(twoPhaseLoad({ pool: rig.pool, store: rig.store }, { runId: 'run-2pc-b', window: {} }, undefined, { stopAt: 'events-committed' })).rejects.toThrow(InjectedStop);
    expect(await prepared()).toEqual(['sluice-load:run-2pc-b:shredded']);
    expect(await rowsOf('run-2pc-b', b.ids)).toEqual({ events: 200, products: 0, manifest: 1 });

    const c = await seedRun('run-2pc-c', 9, T2 + 7_200_000);
    const load = await loader().loadRun({ runId: 'run-2pc-c', window: {} });
    expect(load).toMatchObject({ alreadyLoaded: false, loaded: 200 });
    expect(load.tables.com_acme_product_1).toBe(c.products);
    expect(await prepared()).toEqual([]);
    expect(await rowsOf('run-2pc-b', b.ids)).toEqual({ events: 200, products: b.products, manifest: 1 });
    expect(await rowsOf('run-2pc-c', c.ids)).toEqual({ events: 200, products: c.products, manifest: 1 });
  });

  it('an events branch that fails rolls back the shredded one, even with nothing to load there', async () => {
    const e = await seedRun('run-2pc-e', 11, T2 + 14_400_000, { entities: false });
    // One bucket's count file claims an atomic row more than its part holds.
    const counts = (await rig.store.list(runPrefix.shreddedCounts('run-2pc-e')))[0];
    const original = await rig.store.get(counts);
    await rig.store.put(counts, JSON.stringify({ ...JSON.parse(original.toString('utf8')), atomic: JSON.parse(original.toString('utf8')).atomic + 1 }));
    await expect(loader().loadRun({ runId: 'run-2pc-e', window: {} })).rejects.toThrow(/atomic\.events: COPY loaded 200 rows, the shred step wrote 201/);
    expect(await prepared()).toEqual([]);
    expect(await rowsOf('run-2pc-e', e.ids)).toEqual({ events: 0, products: 0, manifest: 0 });

    await rig.store.put(counts, original);
    expect(await loader().loadRun({ runId: 'run-2pc-e', window: {} })).toMatchObject({ alreadyLoaded: false, loaded: 200, tables: { events: 200 } });
    expect(await rowsOf('run-2pc-e', e.ids)).toEqual({ events: 200, products: 0, manifest: 1 });
    expect((await rig.pool.query('SELECT event_count FROM sluice.load_manifest WHERE run_id = $1', ['run-2pc-e'])).rows[0].event_count).toBe(200);
  });

  it('streams parts larger than a CopyData chunk (1 MiB): rows cut across chunks load whole', async () => {
    const events = generate(3000, 12, T2 + 18_000_000);
    for (const [i, g] of events.entries()) {
      g.event = { ...g.event, event_id: `00000012${g.event.event_id!.slice(8)}`, page_url: `https://example.com/${String(i).padStart(6, '0')}/${'x'.repeat(3000)}` };
    }
    await writeParts('run-2pc-f', events.map((g) => toEnrichedTsv(g.event)), 2);
    await shred('run-2pc-f');
    const sizes = await Promise.all((await rig.store.list(runPrefix.shredded('run-2pc-f'))).map(async (k) => (await partBytes(k, await rig.store.get(k))).length));
    expect(Math.max(...sizes)).toBeGreaterThan(1 << 20);
    expect(await loader().loadRun({ runId: 'run-2pc-f', window: {} })).toMatchObject({ alreadyLoaded: false, loaded: 3000 });
    const { rows } = await rig.pool.query('SELECT event_id, page_url FROM atomic.events WHERE event_id LIKE $1', ['00000012%']);
    expect(new Map(rows.map((r) => [r.event_id, r.page_url]))).toEqual(new Map(events.map((g) => [g.event.event_id, g.event.page_url])));
  });

  it('a branch that fails rolls the other back: nothing of the run is loaded and nothing stays prepared', async () => {
    const d = await seedRun('run-2pc-d', 10, T2 + 10_800_000);
    // One bucket's count file claims a product row more than its part holds.
    const counts = (await rig.store.list(runPrefix.shreddedCounts('run-2pc-d')))[0];
    const original = await rig.store.get(counts);
    const tampered = JSON.parse(original.toString('utf8'));
    tampered.tables[U.product] = (tampered.tables[U.product] ?? 0) + 1;
    await rig.store.put(counts, JSON.stringify(tampered));
    await expect(loader().loadRun({ runId: 'run-2pc-d', window: {} })).rejects.toThrow(/com_acme_product_1 .*COPY loaded \d+ rows, the shred step wrote/);
    expect(await prepared()).toEqual([]);
    expect(await rowsOf('run-2pc-d', d.ids)).toEqual({ events: 0, products: 0, manifest: 0 });

    await rig.store.put(counts, original);
    expect(await loader().loadRun({ runId: 'run-2pc-d', window: {} })).toMatchObject({ alreadyLoaded: false, loaded: 200 });
    expect(await rowsOf('run-2pc-d', d.ids)).toEqual({ events: 200, products: d.products, manifest: 1 });
  });
});
