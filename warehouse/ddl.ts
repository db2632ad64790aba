import { ATOMIC_COLUMNS, atomicColumnType } from './atomic-events';
import { COMMON_COLUMNS, type ColumnType, MAX_VARCHAR, type ModelColumn, safeIdentifier } from './shred-model';
import { qualified, quoteIdent, quoteLiteral } from './sql';

// DDL for shredded tables on PostgreSQL and Redshift, and the column types both sides agree on.
// Column types are compared at this level (what the warehouse reports back), because the same
// logical type renders differently per warehouse (a JSON column is jsonb on PostgreSQL and
// VARCHAR(65535) on Redshift).

export type Dialect = 'postgres' | 'redshift';

export type WarehouseType =
  | { kind: 'varchar'; size: number }
  | { kind: 'char'; size: number }
  | { kind: 'smallint' | 'integer' | 'bigint' | 'double' | 'boolean' | 'timestamp' | 'date' | 'jsonb' | 'text' }
  | { kind: 'decimal'; precision: number; scale: number }
  | { kind: 'other'; name: string };

export interface WarehouseColumn {
  name: string;
  type: WarehouseType;
  notNull: boolean;
}

export const ATOMIC_SCHEMA = 'atomic';

export function warehouseType(t: ColumnType, dialect: Dialect): WarehouseType {
  switch (t.kind) {
    case 'int': return { kind: 'integer' };
    case 'json': return dialect === 'postgres' ? { kind: 'jsonb' } : { kind: 'varchar', size: MAX_VARCHAR };
    default: return t;
  }
}

export function renderType(t: WarehouseType): string {
  switch (t.kind) {
    case 'varchar': return `VARCHAR(${t.size})`;
    case 'char': return `CHAR(${t.size})`;
    case 'decimal': return `DECIMAL(${t.precision},${t.scale})`;
    case 'double': return 'DOUBLE PRECISION';
    case 'other': return t.name;
    default: return t.kind.toUpperCase();
  }
}

/** Parses `format_type()` output (PostgreSQL and Redshift print the same names). */
export function parseWarehouseType(s: string): WarehouseType {
  const t = s.trim().toLowerCase();
  let m: RegExpExecArray | null;
  if ((m = /^character varying\((\d+)\)$/.exec(t))) return { kind: 'varchar', size: Number(m[1]) };
  if ((m = /^character\((\d+)\)$/.exec(t))) return { kind: 'char', size: Number(m[1]) };
  if ((m = /^numeric\((\d+),(\d+)\)$/.exec(t))) return { kind: 'decimal', precision: Number(m[1]), scale: Number(m[2]) };
  switch (t) {
    case 'smallint': return { kind: 'smallint' };
    case 'integer': return { kind: 'integer' };
    case 'bigint': return { kind: 'bigint' };
    case 'double precision': return { kind: 'double' };
    case 'boolean': return { kind: 'boolean' };
    case 'timestamp without time zone': return { kind: 'timestamp' };
    case 'date': return { kind: 'date' };
    case 'jsonb': return { kind: 'jsonb' };
    case 'text': return { kind: 'text' };
    default: return { kind: 'other', name: t };
  }
}

const sameType = (a: WarehouseType, b: WarehouseType) => renderType(a) === renderType(b);

/**
 * Can rows shaped for `wanted` go into an existing column of type `existing`? Returns 'same',
 * 'widen' (VARCHAR to a larger size) or 'incompatible' — schema-ddl's merge rules.
 */
export function columnChange(existing: WarehouseType, wanted: WarehouseType): 'same' | 'widen' | 'incompatible' {
  if (sameType(existing, wanted)) return 'same';
  const e = existing;
  const textAtLeast = (n: number) => (e.kind === 'varchar' && e.size >= n) || e.kind === 'text';
  const decimalDigits = (n: number) => e.kind === 'decimal' && e.precision - e.scale >= n;
  switch (wanted.kind) {
    case 'varchar':
      if (e.kind === 'varchar') return wanted.size > e.size ? 'widen' : 'same';
      return e.kind === 'text' ? 'same' : 'incompatible';
    case 'smallint':
      return ['integer', 'bigint', 'double'].includes(e.kind) || textAtLeast(6) || decimalDigits(5) ? 'same' : 'incompatible';
    case 'integer':
      return ['bigint', 'double'].includes(e.kind) || textAtLeast(11) || decimalDigits(10) ? 'same' : 'incompatible';
    case 'bigint':
      return e.kind === 'double' || textAtLeast(20) || decimalDigits(19) ? 'same' : 'incompatible';
    case 'decimal':
      if (e.kind === 'double' || textAtLeast(wanted.precision + 2)) return 'same';
      return e.kind === 'decimal' && e.precision >= wanted.precision && e.scale >= wanted.scale ? 'same' : 'incompatible';
    case 'char':
      return textAtLeast(wanted.size) ? 'same' : 'incompatible';
    case 'date':
      return textAtLeast(10) ? 'same' : 'incompatible';
    case 'timestamp':
      return textAtLeast(26) ? 'same' : 'incompatible';
    case 'boolean':
      return textAtLeast(5) ? 'same' : 'incompatible';
    default:
      return 'incompatible';
  }
}

/** The nine common columns, as schema-ddl declares them. */
export const COMMON_COLUMN_TYPES: Record<(typeof COMMON_COLUMNS)[number], WarehouseType> = {
  schema_vendor: { kind: 'varchar', size: 128 },
  schema_name: { kind: 'varchar', size: 128 },
  schema_format: { kind: 'varchar', size: 128 },
  schema_version: { kind: 'varchar', size: 128 },
  root_id: { kind: 'char', size: 36 },
  root_tstamp: { kind: 'timestamp' },
  ref_root: { kind: 'varchar', size: 255 },
  ref_tree: { kind: 'varchar', size: 1500 },
  ref_parent: { kind: 'varchar', size: 255 },
};

/** The table's full column list: the common columns, then the model's, all as warehouse types. */
export function tableColumns(columns: readonly ModelColumn[], dialect: Dialect): WarehouseColumn[] {
  return [
    ...COMMON_COLUMNS.map((name) => ({ name, type: COMMON_COLUMN_TYPES[name], notNull: true })),
    ...columns.map((c) => ({ name: c.name, type: warehouseType(c.type, dialect), notNull: !c.nullable })),
  ];
}

/** Redshift compression as schema-ddl picks it (root_id is the distribution key: RAW). */
function encoding(c: WarehouseColumn): string {
  if (c.name === 'root_id') return 'ENCODE RAW';
  if (c.type.kind === 'boolean') return 'ENCODE RUNLENGTH';
  if (c.type.kind === 'double') return 'ENCODE RAW';
  return 'ENCODE ZSTD';
}

export function columnDefinition(c: WarehouseColumn, dialect: Dialect): string {
  const parts = [quoteIdent(c.name), renderType(c.type)];
  if (dialect === 'redshift') parts.push(encoding(c));
  if (c.notNull) parts.push('NOT NULL');
  return parts.join(' ');
}

/** CREATE TABLE (+ comment, + PostgreSQL indexes) for a new shredded table. */
export function createTableSql(dialect: Dialect, table: string, columns: WarehouseColumn[], comment: string): string[] {
  const t = qualified(ATOMIC_SCHEMA, table);
  const defs = columns.map((c) => `  ${columnDefinition(c, dialect)}`);
  if (dialect === 'redshift') {
    defs.push(`  FOREIGN KEY (${quoteIdent('root_id')}) REFERENCES ${qualified(ATOMIC_SCHEMA, 'events')} (${quoteIdent('event_id')})`);
    return [
      `CREATE TABLE IF NOT EXISTS ${t} (\n${defs.join(',\n')}\n)\nDISTSTYLE KEY\nDISTKEY (${quoteIdent('root_id')})\nSORTKEY (${quoteIdent('root_tstamp')})`,
      commentSql(table, comment),
    ];
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${t} (\n${defs.join(',\n')}\n)`,
    commentSql(table, comment),
    // One index, time first: it serves the join to atomic.events (root_id = event_id AND
    // root_tstamp = collector_tstamp) and the window deletes of a reprocess. A separate index on the
    // random root_id cost as much as the rest of the COPY (1M rows: 6.0-6.8 s with it, 2.9-3.1 s without).
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(safeIdentifier(`${table}_root_idx`))} ON ${t} (${quoteIdent('root_tstamp')}, ${quoteIdent('root_id')})`,
  ];
}

export function commentSql(table: string, comment: string): string {
  return `COMMENT ON TABLE ${qualified(ATOMIC_SCHEMA, table)} IS ${quoteLiteral(comment)}`;
}

/** Added columns are always nullable: rows already in the table have no value for them. */
export function addColumnSql(dialect: Dialect, table: string, column: WarehouseColumn): string {
  return `ALTER TABLE ${qualified(ATOMIC_SCHEMA, table)} ADD COLUMN ${columnDefinition({ ...column, notNull: false }, dialect)}`;
}

/** Widening a VARCHAR (Redshift runs this outside a transaction block). */
export function widenColumnSql(table: string, column: string, type: WarehouseType): string {
  return `ALTER TABLE ${qualified(ATOMIC_SCHEMA, table)} ALTER COLUMN ${quoteIdent(column)} TYPE ${renderType(type)}`;
}

/** Redshift DDL for atomic.events (Snowplow's atomic-def.sql layout), Sluice's load manifest and the dripfeed's checkpoints. */
export function redshiftBaseDdl(): string[] {
  const cols = ATOMIC_COLUMNS.map((c) => {
    const [type, ...rest] = atomicColumnType(c).toUpperCase().split(' NOT NULL');
    const enc = c === 'event_id' || c === 'collector_tstamp' ? 'ENCODE RAW' : 'ENCODE ZSTD';
    return `  ${quoteIdent(c)} ${type.trim()} ${enc}${rest.length ? ' NOT NULL' : ''}`;
  });
  cols.push(`  ${quoteIdent('load_tstamp')} TIMESTAMP DEFAULT GETDATE() ENCODE ZSTD`);
  cols.push(`  PRIMARY KEY (${quoteIdent('event_id')})`);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(ATOMIC_SCHEMA)}`,
    `CREATE TABLE IF NOT EXISTS ${qualified(ATOMIC_SCHEMA, 'events')} (\n${cols.join(',\n')}\n)\nDISTSTYLE KEY\nDISTKEY (${quoteIdent('event_id')})\nSORTKEY (${quoteIdent('collector_tstamp')})`,
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent('sluice')}`,
    `CREATE TABLE IF NOT EXISTS ${qualified('sluice', 'load_manifest')} (
  ${quoteIdent('run_id')} VARCHAR(128) NOT NULL,
  ${quoteIdent('event_count')} BIGINT NOT NULL,
  ${quoteIdent('window_from')} TIMESTAMP,
  ${quoteIdent('window_to')} TIMESTAMP,
  ${quoteIdent('loaded_at')} TIMESTAMP DEFAULT GETDATE(),
  PRIMARY KEY (${quoteIdent('run_id')})
)`,
    // The dripfeed's shard checkpoints, moved in the same transaction as its rows (speed/dripfeed-redshift.ts).
    `CREATE TABLE IF NOT EXISTS ${qualified('sluice', 'dripfeed_checkpoints')} (
  ${quoteIdent('stream')} VARCHAR(128) NOT NULL,
  ${quoteIdent('shard_id')} VARCHAR(128) NOT NULL,
  ${quoteIdent('sequence_number')} VARCHAR(128) NOT NULL,
  ${quoteIdent('updated_at')} TIMESTAMP DEFAULT GETDATE()
)`,
  ];
}
