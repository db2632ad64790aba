import { describe, expect, it } from 'vitest';
import { columnChange, createTableSql, parseWarehouseType, renderType, tableColumns, warehouseType } from '../../warehouse/ddl';
import { parseSchemaUri, type SchemaKey } from '../../warehouse/iglu';
import { planLoad, type TableState } from '../../warehouse/migration';
import { columnTypeFor, SchemaModelError, shredModel, snakeCase, tableNameFor } from '../../warehouse/shred-model';
import { quoteIdent, quoteLiteral, UnsafeIdentifierError } from '../../warehouse/sql';

const key = (uri: string): SchemaKey => parseSchemaUri(uri);
const schema = (vendor: string, name: string, version: string, body: Record<string, unknown>) => ({
  self: { vendor, name, format: 'jsonschema', version },
  type: 'object',
  ...body,
});

describe('table names (Snowplow naming)', () => {
  it('vendor dots and hyphens become underscores, the name snake_case, then the model', () => {
    expect(tableNameFor(key('iglu:com.acme/link_click/jsonschema/1-0-0'))).toBe('com_acme_link_click_1');
    expect(tableNameFor(key('iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0'))).toBe('com_snowplowanalytics_snowplow_web_page_1');
    expect(tableNameFor(key('iglu:com.Acme-Corp/PascalCase/jsonschema/13-0-0'))).toBe('com_acme_corp_pascal_case_13');
    expect(tableNameFor(key('iglu:io.x/HTTPRequest-log/jsonschema/2-1-0'))).toBe('io_x_http_request_log_2');
  });

  it('snakeCase follows schema-ddl', () => {
    expect(snakeCase('camelCase')).toBe('camel_case');
    expect(snakeCase('userID')).toBe('user_id');
    expect(snakeCase('HTTPServer')).toBe('http_server');
    expect(snakeCase('already_snake')).toBe('already_snake');
    expect(snakeCase('with-hyphen')).toBe('with_hyphen');
  });

  it('an overlong name is cut to 63 characters with a hash; distinct inputs stay distinct', () => {
    const long = 'v'.repeat(120);
    const a = tableNameFor(key(`iglu:com.${long}/event/jsonschema/1-0-0`));
    const b = tableNameFor(key(`iglu:com.${long}/event/jsonschema/2-0-0`));
    expect(a.length).toBeLessThanOrEqual(63);
    expect(b.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(quoteIdent(a)).toBe(`"${a}"`);
  });

  it('a vendor starting with a digit still gives a plain identifier', () => {
    const t = tableNameFor(key('iglu:1acme/x/jsonschema/1-0-0'));
    expect(t).toBe('_1acme_x_1');
    expect(() => quoteIdent(t)).not.toThrow();
  });

  it('hostile schema URIs are rejected before any name is made', () => {
    for (const uri of [
      'iglu:com.acme"; DROP TABLE atomic.events; --/x/jsonschema/1-0-0',
      "iglu:com.acme/x'; DELETE FROM atomic.events; --/jsonschema/1-0-0",
      'iglu:com.acme/x y/jsonschema/1-0-0',
      'iglu:com.аcme/x/jsonschema/1-0-0', // Cyrillic а
      'iglu:com.acme/x\u200b/jsonschema/1-0-0',
      `iglu:${'a'.repeat(129)}/x/jsonschema/1-0-0`,
      'iglu:com.acme/x/jsonschema/1-0',
      'iglu:com.acme/x/jsonschema/9999999-0-0',
    ]) {
      expect(() => parseSchemaUri(uri), uri).toThrow(/Iglu schema URI/);
    }
  });
});

describe('column types from JSON schema (schema-ddl suggestions)', () => {
  const t = (s: Record<string, unknown>) => renderType(warehouseType(columnTypeFor(s), 'redshift'));
  const pg = (s: Record<string, unknown>) => renderType(warehouseType(columnTypeFor(s), 'postgres'));

  it('strings', () => {
    expect(t({ type: 'string', maxLength: 100 })).toBe('VARCHAR(100)');
    expect(t({ type: ['string', 'null'], maxLength: 20 })).toBe('VARCHAR(20)');
    expect(t({ type: 'string' })).toBe('VARCHAR(4096)');
    expect(t({ type: 'string', minLength: 2, maxLength: 2 })).toBe('CHAR(2)');
    expect(t({ type: 'string', format: 'uuid' })).toBe('CHAR(36)');
    expect(t({ type: 'string', format: 'ipv4' })).toBe('VARCHAR(15)');
    expect(t({ type: 'string', format: 'ipv6' })).toBe('VARCHAR(39)');
    expect(t({ type: 'string', format: 'email' })).toBe('VARCHAR(255)');
    expect(t({ type: 'string', format: 'date-time' })).toBe('TIMESTAMP');
    expect(t({ type: 'string', format: 'date' })).toBe('DATE');
    expect(t({ type: 'string', maxLength: 10_000_000 })).toBe('VARCHAR(65535)');
  });

  it('enums are as long as their longest value', () => {
    expect(t({ type: 'string', enum: ['red', 'green', 'blue'] })).toBe('VARCHAR(5)');
    expect(t({ enum: ['only'] })).toBe('CHAR(4)');
    expect(t({ type: ['string', 'null'], enum: ['a', 'bbb', null] })).toBe('VARCHAR(3)');
    expect(t({ enum: [1, 'two', 300] })).toBe('VARCHAR(5)'); // mixed: JSON text
    expect(t({ type: 'integer', enum: [1, 2, 3] })).toBe('SMALLINT');
  });

  it('integers by range, numbers, booleans', () => {
    expect(t({ type: 'integer', minimum: 0, maximum: 100 })).toBe('SMALLINT');
    expect(t({ type: 'integer', minimum: -40000, maximum: 100 })).toBe('INTEGER');
    expect(t({ type: 'integer', minimum: 0, maximum: 2147483647 })).toBe('INTEGER');
    expect(t({ type: 'integer', minimum: 0, maximum: 2147483648 })).toBe('BIGINT');
    expect(t({ type: 'integer', maximum: 100 })).toBe('BIGINT'); // no lower bound: a negative value must fit
    expect(t({ type: 'integer' })).toBe('BIGINT');
    expect(t({ type: 'number' })).toBe('DOUBLE PRECISION');
    expect(t({ type: ['integer', 'number'] })).toBe('DOUBLE PRECISION');
    expect(t({ type: 'number', multipleOf: 0.01 })).toBe('DECIMAL(36,2)');
    expect(t({ type: 'boolean' })).toBe('BOOLEAN');
  });

  it('arrays, free objects and unions', () => {
    expect(t({ type: 'array', items: { type: 'string' } })).toBe('VARCHAR(65535)');
    expect(pg({ type: 'array', items: { type: 'string' } })).toBe('JSONB');
    expect(t({ type: 'object' })).toBe('VARCHAR(65535)');
    expect(pg({ type: ['object', 'null'] })).toBe('JSONB');
    expect(t({ type: ['string', 'integer'] })).toBe('VARCHAR(4096)');
    expect(t({ type: ['boolean', 'integer'] })).toBe('VARCHAR(10)');
    expect(t({})).toBe('VARCHAR(4096)');
  });
});

describe('shred model', () => {
  const product = schema('com.acme', 'product', '1-0-0', {
    properties: {
      sku: { type: 'string', maxLength: 32 },
      priceUSD: { type: 'number', multipleOf: 0.01 },
      tags: { type: 'array', items: { type: 'string' } },
      dims: {
        type: 'object',
        properties: { widthCm: { type: 'integer', minimum: 0, maximum: 1000 }, heightCm: { type: ['integer', 'null'], minimum: 0, maximum: 1000 } },
        required: ['widthCm'],
      },
      meta: { type: ['object', 'null'], properties: { source: { type: 'string' } }, required: ['source'] },
      launched: { type: 'string', format: 'date-time' },
    },
    required: ['sku', 'dims', 'meta'],
  });

  it('flattens nested objects with _, orders NOT NULL first then by name, nullability from required', () => {
    const m = shredModel(key('iglu:com.acme/product/jsonschema/1-0-0'), product);
    expect(m.table).toBe('com_acme_product_1');
    expect(m.columns.map((c) => [c.name, renderType(warehouseType(c.type, 'postgres')), c.nullable])).toEqual([
      ['dims_width_cm', 'SMALLINT', false],
      ['sku', 'VARCHAR(32)', false],
      ['dims_height_cm', 'SMALLINT', true],
      ['launched', 'TIMESTAMP', true],
      // meta is required but may be null, so its required child may be null too
      ['meta_source', 'VARCHAR(4096)', true],
      ['price_usd', 'DECIMAL(36,2)', true],
      ['tags', 'JSONB', true],
    ]);
    expect(m.columns.find((c) => c.name === 'dims_width_cm')!.path).toEqual(['dims', 'widthCm']);
  });

  it('neutralises hostile and unicode property names into plain identifiers', () => {
    const m = shredModel(key('iglu:com.acme/evil/jsonschema/1-0-0'), schema('com.acme', 'evil', '1-0-0', {
      properties: {
        'x"; DROP TABLE atomic.events; --': { type: 'string' },
        "a'b": { type: 'string' },
        naïve: { type: 'string' },
        '\u202Eright-to-left': { type: 'string' },
        ['p'.repeat(200)]: { type: 'string' },
        '1st': { type: 'string' },
      },
    }));
    for (const c of m.columns) {
      expect(c.name).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/);
      expect(() => quoteIdent(c.name)).not.toThrow();
    }
    expect(m.columns.map((c) => c.name)).toContain('x___drop_table_atomic_events____');
    expect(m.columns.map((c) => c.name)).toContain('_1st');
    // The data is still read with the original names.
    expect(m.columns.find((c) => c.name === 'x___drop_table_atomic_events____')!.path).toEqual(['x"; DROP TABLE atomic.events; --']);
  });

  it('rejects a schema whose properties collide once neutralised, or shadow a common column', () => {
    expect(() => shredModel(key('iglu:com.acme/c/jsonschema/1-0-0'), schema('com.acme', 'c', '1-0-0', {
      properties: { a_b: { type: 'string' }, a: { type: 'object', properties: { b: { type: 'string' } } } },
    }))).toThrow(SchemaModelError);
    expect(() => shredModel(key('iglu:com.acme/c/jsonschema/1-0-0'), schema('com.acme', 'c', '1-0-0', {
      properties: { rootId: { type: 'string' } },
    }))).toThrow(/common column/);
    expect(() => shredModel(key('iglu:com.acme/c/jsonschema/1-0-0'), 'not a schema')).toThrow(SchemaModelError);
  });
});

describe('DDL', () => {
  const m = shredModel(key('iglu:com.acme/link_click/jsonschema/1-0-0'), schema('com.acme', 'link_click', '1-0-0', {
    properties: { targetUrl: { type: 'string', maxLength: 4096 }, elementId: { type: 'string', maxLength: 255 }, isNew: { type: 'boolean' } },
    required: ['targetUrl'],
  }));

  it('Redshift: ENCODE per column, DISTKEY(root_id), SORTKEY(root_tstamp), FK to atomic.events, comment with the URI', () => {
    const [create, comment] = createTableSql('redshift', m.table, tableColumns(m.columns, 'redshift'), 'iglu:com.acme/link_click/jsonschema/1-0-0');
    expect(create).toBe([
      'CREATE TABLE IF NOT EXISTS "atomic"."com_acme_link_click_1" (',
      '  "schema_vendor" VARCHAR(128) ENCODE ZSTD NOT NULL,',
      '  "schema_name" VARCHAR(128) ENCODE ZSTD NOT NULL,',
      '  "schema_format" VARCHAR(128) ENCODE ZSTD NOT NULL,',
      '  "schema_version" VARCHAR(128) ENCODE ZSTD NOT NULL,',
      '  "root_id" CHAR(36) ENCODE RAW NOT NULL,',
      '  "root_tstamp" TIMESTAMP ENCODE ZSTD NOT NULL,',
      '  "ref_root" VARCHAR(255) ENCODE ZSTD NOT NULL,',
      '  "ref_tree" VARCHAR(1500) ENCODE ZSTD NOT NULL,',
      '  "ref_parent" VARCHAR(255) ENCODE ZSTD NOT NULL,',
      '  "target_url" VARCHAR(4096) ENCODE ZSTD NOT NULL,',
      '  "element_id" VARCHAR(255) ENCODE ZSTD,',
      '  "is_new" BOOLEAN ENCODE RUNLENGTH,',
      '  FOREIGN KEY ("root_id") REFERENCES "atomic"."events" ("event_id")',
      ')',
      'DISTSTYLE KEY',
      'DISTKEY ("root_id")',
      'SORTKEY ("root_tstamp")',
    ].join('\n'));
    expect(comment).toBe(`COMMENT ON TABLE "atomic"."com_acme_link_click_1" IS 'iglu:com.acme/link_click/jsonschema/1-0-0'`);
  });

  it('PostgreSQL: plain types, one index on (root_tstamp, root_id)', () => {
    const sql = createTableSql('postgres', m.table, tableColumns(m.columns, 'postgres'), 'iglu:com.acme/link_click/jsonschema/1-0-0');
    expect(sql[0]).toContain('"target_url" VARCHAR(4096) NOT NULL');
    expect(sql[0]).not.toContain('ENCODE');
    expect(sql[2]).toBe('CREATE INDEX IF NOT EXISTS "com_acme_link_click_1_root_idx" ON "atomic"."com_acme_link_click_1" ("root_tstamp", "root_id")');
    expect(sql).toHaveLength(3);
  });

  it('literals are quoted and refuse backslashes and control characters', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(() => quoteLiteral('a\\b')).toThrow(UnsafeIdentifierError);
    expect(() => quoteLiteral('a\nb')).toThrow(UnsafeIdentifierError);
  });

  it('reads format_type() names back', () => {
    expect(parseWarehouseType('character varying(255)')).toEqual({ kind: 'varchar', size: 255 });
    expect(parseWarehouseType('character(36)')).toEqual({ kind: 'char', size: 36 });
    expect(parseWarehouseType('numeric(36,2)')).toEqual({ kind: 'decimal', precision: 36, scale: 2 });
    expect(parseWarehouseType('timestamp without time zone')).toEqual({ kind: 'timestamp' });
    expect(columnChange({ kind: 'varchar', size: 10 }, { kind: 'varchar', size: 20 })).toBe('widen');
    expect(columnChange({ kind: 'varchar', size: 20 }, { kind: 'varchar', size: 10 })).toBe('same');
    expect(columnChange({ kind: 'bigint' }, { kind: 'smallint' })).toBe('same');
    expect(columnChange({ kind: 'smallint' }, { kind: 'bigint' })).toBe('incompatible');
    expect(columnChange({ kind: 'varchar', size: 10 }, { kind: 'boolean' })).toBe('same');
    expect(columnChange({ kind: 'boolean' }, { kind: 'varchar', size: 10 })).toBe('incompatible');
  });
});

describe('migration planning', () => {
  const v = (version: string, props: Record<string, unknown>, required: string[] = []) =>
    shredModel(key(`iglu:com.acme/link_click/jsonschema/${version}`), schema('com.acme', 'link_click', version, { properties: props, required }));
  const base = { targetUrl: { type: 'string', maxLength: 100 } };
  const stateOf = (dialect: 'postgres' | 'redshift', model: ReturnType<typeof v>, comment: string): Map<string, TableState> =>
    new Map([[model.table, { name: model.table, comment, columns: tableColumns(model.columns, dialect) }]]);

  it('creates a missing table, commented with its URI', () => {
    const p = planLoad('postgres', new Map(), [v('1-0-0', base, ['targetUrl'])]);
    expect(p.targets.get('iglu:com.acme/link_click/jsonschema/1-0-0')).toBe('com_acme_link_click_1');
    expect(p.actions).toEqual([{ kind: 'create', table: 'com_acme_link_click_1', schema: 'iglu:com.acme/link_click/jsonschema/1-0-0' }]);
  });

  it('an ADDITION adds a nullable column and bumps the comment; nothing to do when already there', () => {
    const existing = stateOf('postgres', v('1-0-0', base, ['targetUrl']), 'iglu:com.acme/link_click/jsonschema/1-0-0');
    const p = planLoad('postgres', existing, [v('1-0-0', base, ['targetUrl']), v('1-0-1', { ...base, elementId: { type: 'string', maxLength: 50 } }, ['targetUrl'])]);
    expect(p.inTransaction).toEqual([
      'ALTER TABLE "atomic"."com_acme_link_click_1" ADD COLUMN "element_id" VARCHAR(50)',
      `COMMENT ON TABLE "atomic"."com_acme_link_click_1" IS 'iglu:com.acme/link_click/jsonschema/1-0-1'`,
    ]);
    expect(p.targets.get('iglu:com.acme/link_click/jsonschema/1-0-0')).toBe('com_acme_link_click_1');
    const again = planLoad('postgres', stateOf('postgres', v('1-0-1', { ...base, elementId: { type: 'string', maxLength: 50 } }, ['targetUrl']), 'iglu:com.acme/link_click/jsonschema/1-0-1'), [v('1-0-0', base, ['targetUrl'])]);
    expect(again.inTransaction).toEqual([]);
  });

  it('a REVISION widening a VARCHAR: in the transaction on PostgreSQL, before it on Redshift', () => {
    const wider = v('1-1-0', { targetUrl: { type: 'string', maxLength: 4096 } }, ['targetUrl']);
    const pg = planLoad('postgres', stateOf('postgres', v('1-0-0', base, ['targetUrl']), 'iglu:com.acme/link_click/jsonschema/1-0-0'), [wider]);
    expect(pg.inTransaction[0]).toBe('ALTER TABLE "atomic"."com_acme_link_click_1" ALTER COLUMN "target_url" TYPE VARCHAR(4096)');
    const rs = planLoad('redshift', stateOf('redshift', v('1-0-0', base, ['targetUrl']), 'iglu:com.acme/link_click/jsonschema/1-0-0'), [wider]);
    expect(rs.beforeTransaction).toEqual(['ALTER TABLE "atomic"."com_acme_link_click_1" ALTER COLUMN "target_url" TYPE VARCHAR(4096)']);
    expect(rs.inTransaction).toEqual([`COMMENT ON TABLE "atomic"."com_acme_link_click_1" IS 'iglu:com.acme/link_click/jsonschema/1-1-0'`]);
  });

  it('a MODEL change goes to its own table', () => {
    const p = planLoad('postgres', stateOf('postgres', v('1-0-0', base, ['targetUrl']), 'iglu:com.acme/link_click/jsonschema/1-0-0'), [v('2-0-0', { targetUrl: { type: 'integer' } })]);
    expect(p.targets.get('iglu:com.acme/link_click/jsonschema/2-0-0')).toBe('com_acme_link_click_2');
    expect(p.actions[0]).toMatchObject({ kind: 'create', table: 'com_acme_link_click_2' });
  });

  it('an incompatible REVISION goes to a recovery table', () => {
    const p = planLoad('postgres', stateOf('postgres', v('1-0-0', base, ['targetUrl']), 'iglu:com.acme/link_click/jsonschema/1-0-0'), [v('1-1-0', { targetUrl: { type: 'integer' } })]);
    expect(p.targets.get('iglu:com.acme/link_click/jsonschema/1-1-0')).toBe('com_acme_link_click_1_1_0_recovered');
    const recovery = p.actions.find((a) => a.kind === 'recovery')!;
    expect(recovery).toMatchObject({ kind: 'recovery', table: 'com_acme_link_click_1_1_0_recovered' });
  });

  it('never writes into a table that belongs to another schema or has no Iglu comment', () => {
    const other = new Map([['com_acme_link_click_1', { name: 'com_acme_link_click_1', comment: 'iglu:com-acme/link_click/jsonschema/1-0-0', columns: [] }]]);
    const p = planLoad('postgres', other, [v('1-0-0', base)]);
    const table = p.targets.get('iglu:com.acme/link_click/jsonschema/1-0-0')!;
    expect(table).toMatch(/^com_acme_link_click_1_[0-9a-f]{8}$/);
    const foreign = new Map([['com_acme_link_click_1', { name: 'com_acme_link_click_1', columns: [] }]]);
    expect(planLoad('postgres', foreign, [v('1-0-0', base)]).targets.get('iglu:com.acme/link_click/jsonschema/1-0-0')).toBe(table);
  });
});
