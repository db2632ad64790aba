import { describe, expect, it } from 'vitest';
import { CopyOptionError, isCopyStatement, parseCopy } from '../../warehouse/redshift-local/copy-from-s3';
import { CopyDataError, RedshiftTextToPg, replaceInvalidUtf8, type TextColumn, type TextOptions, truncateBytes } from '../../warehouse/redshift-local/copy-text';
import { stringValue, tokenize } from '../../warehouse/redshift-local/sql-tokens';
import { TranslateError, translateSql } from '../../warehouse/redshift-local/translate';
import { createTableSql, redshiftBaseDdl, tableColumns } from '../../warehouse/ddl';
import { parseSchemaUri } from '../../warehouse/iglu';
import { shredModel } from '../../warehouse/shred-model';

// The local Data API endpoint's pure parts: Redshift SQL → PostgreSQL (only what PostgreSQL cannot
// run), COPY option parsing, and Redshift's delimited text → PostgreSQL's COPY text.

const sql = (s: string, params: { name: string; value: string }[] = []) => translateSql(s, params);

describe('translateSql: parameters', () => {
  it('binds :name as $n in order of first use, repeated names sharing one placeholder', () => {
    expect(sql('SELECT * FROM t WHERE a = :x AND b = :y OR c = :x', [{ name: 'y', value: '2' }, { name: 'x', value: '1' }])).toEqual({
      sql: 'SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $1',
      values: ['1', '2'],
      after: [],
    });
  });

  it('leaves :x inside string literals, quoted identifiers, comments and casts alone', () => {
    const out = sql(`SELECT ':x', 'it''s :x', 'back\\':x', E'\\n:x', "col:x", a::int -- :x\n/* :x */ FROM t WHERE v = :x`, [{ name: 'x', value: 'v' }]);
    expect(out.sql).toBe(`SELECT ':x', 'it''s :x', 'back\\':x', E'\\n:x', "col:x", a::int -- :x\n/* :x */ FROM t WHERE v = $1`);
    expect(out.values).toEqual(['v']);
  });

  it('refuses a placeholder without a parameter, an unused parameter, duplicates and bad names', () => {
    expect(() => sql('SELECT :a')).toThrow(/uses :a but no parameter a/);
    expect(() => sql('SELECT 1', [{ name: 'a', value: '1' }])).toThrow(/not used in the SQL: a/);
    expect(() => sql('SELECT :a', [{ name: 'a', value: '1' }, { name: 'a', value: '2' }])).toThrow(/given twice/);
    expect(() => sql('SELECT 1', [{ name: 'a-b', value: '1' }])).toThrow(TranslateError);
  });

  it('refuses several statements in one Sql and unterminated literals; a trailing ; is fine', () => {
    expect(() => sql('SELECT 1; SELECT 2')).toThrow(/BatchExecuteStatement/);
    expect(sql('SELECT 1;').sql).toBe('SELECT 1');
    expect(sql("SELECT ';'").sql).toBe("SELECT ';'");
    expect(() => sql("SELECT 'oops")).toThrow(/unterminated string/);
  });
});

describe('translateSql: DDL', () => {
  it('strips ENCODE, DISTSTYLE, DISTKEY, SORTKEY (compound, interleaved, column-level) and BACKUP', () => {
    expect(sql('CREATE TABLE t (a INT ENCODE AZ64 DISTKEY, b VARCHAR(65535) ENCODE ZSTD SORTKEY NOT NULL) DISTSTYLE KEY DISTKEY(a) COMPOUND SORTKEY(a, b) BACKUP NO').sql)
      .toBe('CREATE TABLE t (a INT, b VARCHAR(65535) NOT NULL)');
    expect(sql('CREATE TEMP TABLE t (a INT) DISTSTYLE EVEN INTERLEAVED SORTKEY (a)').sql).toBe('CREATE TEMP TABLE t (a INT)');
    expect(sql('CREATE TABLE t (a INT) SORTKEY AUTO').sql).toBe('CREATE TABLE t (a INT)');
    expect(sql('CREATE TABLE t DISTKEY(a) AS SELECT 1 AS a').sql).toBe('CREATE TABLE t AS SELECT 1 AS a');
  });

  it('drops PRIMARY KEY, UNIQUE and FOREIGN KEY constraints, table-level and inline', () => {
    expect(sql('CREATE TABLE t (id CHAR(36) PRIMARY KEY, k INT UNIQUE, p CHAR(36) REFERENCES s (id), PRIMARY KEY (id), CONSTRAINT u UNIQUE (k), FOREIGN KEY (p) REFERENCES s (id))').sql)
      .toBe('CREATE TABLE t (id CHAR(36), k INT, p CHAR(36))');
    expect(sql('CREATE TABLE t (PRIMARY KEY (a), a INT)').sql).toBe('CREATE TABLE t (a INT)');
  });

  it('leaves the words alone where they are data, names or expressions', () => {
    const q = `CREATE TABLE "t" ("encode" VARCHAR(10) DEFAULT 'ENCODE ZSTD', "sortkey" INT DEFAULT (1), x INT CHECK (x > 0))`;
    expect(sql(q).sql).toBe(q);
    expect(sql(`SELECT 'DISTKEY(a) PRIMARY KEY' AS "DISTSTYLE" FROM t`).sql).toBe(`SELECT 'DISTKEY(a) PRIMARY KEY' AS "DISTSTYLE" FROM t`);
  });

  it('GETDATE() → now()::timestamp; LOCK and CREATE TEMPORARY TABLE … (LIKE …) pass unchanged', () => {
    expect(sql('CREATE TABLE t (at TIMESTAMP DEFAULT GETDATE() ENCODE ZSTD)').sql).toBe('CREATE TABLE t (at TIMESTAMP DEFAULT now()::timestamp)');
    expect(sql('SELECT GETDATE(), \'GETDATE()\'').sql).toBe("SELECT now()::timestamp, 'GETDATE()'");
    expect(sql('LOCK "sluice"."load_manifest"').sql).toBe('LOCK "sluice"."load_manifest"');
    expect(sql('CREATE TEMPORARY TABLE "s" (LIKE "atomic"."events")').sql).toBe('CREATE TEMPORARY TABLE "s" (LIKE "atomic"."events")');
  });

  it('ALTER TABLE … ADD COLUMN loses ENCODE; ALTER COLUMN TYPE VARCHAR stays', () => {
    expect(sql('ALTER TABLE "atomic"."t" ADD COLUMN "is_new" BOOLEAN ENCODE RUNLENGTH').sql).toBe('ALTER TABLE "atomic"."t" ADD COLUMN "is_new" BOOLEAN');
    expect(sql('ALTER TABLE "atomic"."t" ALTER COLUMN "c" TYPE VARCHAR(1000)').sql).toBe('ALTER TABLE "atomic"."t" ALTER COLUMN "c" TYPE VARCHAR(1000)');
  });

  it("translates the project's own Redshift DDL into plain PostgreSQL", () => {
    const events = redshiftBaseDdl().map((s) => sql(s).sql).join('\n');
    expect(events).not.toMatch(/ENCODE|DISTKEY|SORTKEY|DISTSTYLE|PRIMARY KEY|GETDATE/);
    expect(events).toContain('"load_tstamp" TIMESTAMP DEFAULT now()::timestamp');
    expect(events).toContain('"event_id" CHAR(36) NOT NULL');
    const model = shredModel(parseSchemaUri('iglu:com.acme/link_click/jsonschema/1-0-0'), {
      self: { vendor: 'com.acme', name: 'link_click', format: 'jsonschema', version: '1-0-0' }, type: 'object',
      properties: { targetUrl: { type: 'string', maxLength: 4096 }, tags: { type: 'array' } }, required: ['targetUrl'],
    });
    const [create] = createTableSql('redshift', model.table, tableColumns(model.columns, 'redshift'), 'iglu:com.acme/link_click/jsonschema/1-0-0');
    expect(sql(create).sql).toBe([
      'CREATE TABLE IF NOT EXISTS "atomic"."com_acme_link_click_1" (',
      ...['schema_vendor', 'schema_name', 'schema_format', 'schema_version'].map((c) => `  "${c}" VARCHAR(128) NOT NULL,`),
      '  "root_id" CHAR(36) NOT NULL,',
      '  "root_tstamp" TIMESTAMP NOT NULL,',
      '  "ref_root" VARCHAR(255) NOT NULL,',
      '  "ref_tree" VARCHAR(1500) NOT NULL,',
      '  "ref_parent" VARCHAR(255) NOT NULL,',
      '  "target_url" VARCHAR(4096) NOT NULL,',
      '  "tags" VARCHAR(65535)',
      ')',
    ].join('\n'));
  });
});

describe('translateSql: distribution and sort keys', () => {
  it('gives a table its DISTKEY and SORTKEY as PostgreSQL indexes (named, idempotent), never a temporary table', () => {
    const out = sql('CREATE TABLE IF NOT EXISTS "atomic"."com_acme_x_1" ("root_id" CHAR(36) ENCODE RAW NOT NULL, "root_tstamp" TIMESTAMP ENCODE ZSTD NOT NULL)\nDISTSTYLE KEY\nDISTKEY ("root_id")\nCOMPOUND SORTKEY ("root_tstamp", "root_id")');
    expect(out.sql).not.toMatch(/DISTKEY|SORTKEY|ENCODE/);
    expect(out.after).toEqual([
      'CREATE INDEX IF NOT EXISTS "atomic_com_acme_x_1_distkey" ON "atomic"."com_acme_x_1" ("root_id")',
      'CREATE INDEX IF NOT EXISTS "atomic_com_acme_x_1_sortkey" ON "atomic"."com_acme_x_1" ("root_tstamp", "root_id")',
    ]);
    expect(sql('CREATE TEMPORARY TABLE "t" ("a" INT) SORTKEY ("a")').after).toEqual([]);
    expect(sql('SELECT 1').after).toEqual([]);
  });
});

describe('string literals', () => {
  it('reads Redshift escapes: \\t, \\\\, doubled quotes, octal', () => {
    const lit = (s: string) => stringValue(tokenize(s)[0]);
    expect(lit("'\\t'")).toBe('\t');
    expect(lit("'\\\\N'")).toBe('\\N');
    expect(lit("'it''s'")).toBe("it's");
    expect(lit("'\\101'")).toBe('A');
  });
});

const ROLE = 'arn:aws:iam::123456789012:role/sluice-copy';
const LOADER_OPTIONS = `IAM_ROLE '${ROLE}' DELIMITER '\\t' ESCAPE GZIP`;

describe('parseCopy', () => {
  it("parses exactly what the loader's copyOptions() emits (atomic and shredded forms)", () => {
    expect(parseCopy(`COPY "atomic"."events" ("app_id", "platform") FROM 's3://sluice-data/shredded/good/run=r1/atomic-events/' ${LOADER_OPTIONS} EMPTYASNULL FILLRECORD TRUNCATECOLUMNS ACCEPTINVCHARS TIMEFORMAT 'auto' REGION 'eu-west-1'`)).toEqual({
      table: '"atomic"."events"', columns: ['app_id', 'platform'], bucket: 'sluice-data', prefix: 'shredded/good/run=r1/atomic-events/',
      iamRole: ROLE, region: 'eu-west-1', compression: 'gzip',
      text: { delimiter: '\t', nullAs: '\\N', emptyAsNull: true, fillRecord: true, truncateColumns: true, acceptInvChars: '?' },
    });
    const keys = parseCopy(`COPY "sluice_load_keys" ("event_id", "collector_tstamp") FROM 's3://b-1/k/' ${LOADER_OPTIONS} NULL AS '\\\\N' TRUNCATECOLUMNS ACCEPTINVCHARS TIMEFORMAT 'auto'`);
    expect(keys).toMatchObject({ table: '"sluice_load_keys"', bucket: 'b-1', prefix: 'k/', compression: 'gzip', text: { nullAs: '\\N', emptyAsNull: false, fillRecord: false } });
    expect(keys.region).toBeUndefined();
    expect(parseCopy(`COPY t FROM 's3://b-1/k/' IAM_ROLE '${ROLE}' DELIMITER '\\t' ESCAPE ZSTD`).compression).toBe('zstd');
    expect(parseCopy(`COPY t FROM 's3://b-1/k/' IAM_ROLE '${ROLE}' ESCAPE`).compression).toBeUndefined();
    expect(isCopyStatement('  copy t FROM x')).toBe(true);
    expect(isCopyStatement('SELECT 1')).toBe(false);
  });

  it('refuses unknown options, duplicates, other sources and what it cannot honour, naming them', () => {
    const base = `COPY t FROM 's3://sluice-data/p/' IAM_ROLE '${ROLE}' ESCAPE`;
    expect(() => parseCopy(`${base} CSV`)).toThrow(/option "CSV" is not supported/);
    expect(() => parseCopy(`${base} MAXERROR 10`)).toThrow(/option "MAXERROR"/);
    expect(() => parseCopy(`${base} GZIP GZIP`)).toThrow(/GZIP given twice/);
    expect(() => parseCopy(`${base} GZIP ZSTD`)).toThrow(/GZIP and ZSTD are exclusive/);
    expect(() => parseCopy(`${base} TIMEFORMAT 'epochsecs'`)).toThrow(/TIMEFORMAT 'auto'/);
    expect(() => parseCopy(`${base} DELIMITER '||'`)).toThrow(/single-byte/);
    expect(() => parseCopy(`COPY t FROM 's3://sluice-data/p/' IAM_ROLE '${ROLE}'`)).toThrow(/add ESCAPE/);
    expect(() => parseCopy(`COPY t FROM 's3://sluice-data/p/' ESCAPE`)).toThrow(/IAM_ROLE is required/);
    expect(() => parseCopy(`COPY t FROM 's3://sluice-data/p/' IAM_ROLE 'x' ESCAPE`)).toThrow(/not an IAM role ARN/);
    expect(() => parseCopy('COPY t FROM STDIN')).toThrow(/FROM STDIN is PostgreSQL/);
    expect(() => parseCopy(`COPY t FROM '/tmp/x' ${LOADER_OPTIONS}`)).toThrow(/s3:\/\/bucket\/prefix/);
    expect(() => parseCopy(`${base} CSV`)).toThrow(CopyOptionError);
  });
});

describe('Redshift text → PostgreSQL COPY text', () => {
  const cols: TextColumn[] = [
    { name: 'a', isText: true, width: 5 },
    { name: 'n', isText: false },
    { name: 'b', isText: true, width: 100 },
  ];
  const opts = (o: Partial<TextOptions> = {}): TextOptions => ({ delimiter: '\t', nullAs: '\\N', emptyAsNull: false, fillRecord: false, truncateColumns: false, ...o });
  const convert = (input: string | Buffer, o: Partial<TextOptions> = {}, c = cols, chunk = 3) => {
    const t = new RedshiftTextToPg(c, opts(o), 'test');
    const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
    const out: Buffer[] = [];
    // Small chunks: lines, escapes and characters split across chunk boundaries.
    for (let i = 0; i < buf.length; i += chunk) out.push(t.push(buf.subarray(i, i + chunk)));
    out.push(t.end());
    return Buffer.concat(out).toString('utf8');
  };

  it('keeps escaped tabs, newlines, CRs and backslashes; a backslashed letter is the letter (Redshift ESCAPE)', () => {
    expect(convert('x\\\ty\t1\tl1\\\nl2\nback\\\\s\t2\t\\t\\N\n')).toBe('x\\ty\t1\tl1\\nl2\nback\\\\s\t2\ttN\n');
    expect(convert('cr\\\rx\t3\t\\😀')).toBe('cr\\rx\t3\t😀\n');
  });

  it('NULL AS matches the raw field; empty is NULL for non-text always, for text with EMPTYASNULL', () => {
    expect(convert('\\N\t\\N\t\n')).toBe('\\N\t\\N\t\n');
    expect(convert('\t\t\n', { emptyAsNull: true })).toBe('\\N\t\\N\t\\N\n');
    expect(convert('NIL\tNIL\tx\n', { nullAs: 'NIL' })).toBe('\\N\t\\N\tx\n');
  });

  it('FILLRECORD pads missing trailing fields; without it they fail, as extra fields do', () => {
    expect(convert('a\n', { fillRecord: true })).toBe('a\t\\N\t\n');
    expect(convert('a\n', { fillRecord: true, emptyAsNull: true })).toBe('a\t\\N\t\\N\n');
    expect(() => convert('a\t1\n')).toThrow(/test line 1: Delimiter not found/);
    expect(() => convert('a\t1\tb\n\ta\t1\tb\textra\n')).toThrow(/line 2: Extra column/);
    expect(() => convert('a\t1\tb\n')).not.toThrow(CopyDataError);
  });

  it('TRUNCATECOLUMNS cuts text to the column size in bytes, on a character boundary', () => {
    expect(convert('abcdefg\t1\tx\n', { truncateColumns: true })).toBe('abcde\t1\tx\n');
    expect(convert('ééé\t1\tx\n', { truncateColumns: true })).toBe('éé\t1\tx\n');
    expect(convert('abcdefg\t1\tx\n')).toBe('abcdefg\t1\tx\n');
    expect(truncateBytes(Buffer.from('a😀'), 4).toString()).toBe('a');
  });

  it('ACCEPTINVCHARS replaces each byte of invalid UTF-8 in text columns', () => {
    const bad = Buffer.concat([Buffer.from('a'), Buffer.from([0xff, 0xc3]), Buffer.from('\t1\tok\n')]);
    expect(convert(bad, { acceptInvChars: '?' })).toBe('a??\t1\tok\n');
    expect(replaceInvalidUtf8(Buffer.from('ünï'), '?').toString()).toBe('ünï');
    expect(replaceInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]), '^').toString()).toBe('^^^');
  });

  it('a last line without newline is a row; blank input is no row', () => {
    expect(convert('a\t1\tb')).toBe('a\t1\tb\n');
    expect(convert('')).toBe('');
  });
});
