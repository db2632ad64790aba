import { ATOMIC_SCHEMA, type Dialect, parseWarehouseType } from './ddl';
import { parseSchemaUri } from './iglu';
import type { TableState } from './migration';

// What the warehouse holds now: every table of the atomic schema with its comment (the Iglu URI
// of the version it was last migrated to) and its columns. One catalog query, the same on
// PostgreSQL and Redshift apart from parameter syntax and obj_description's arity.

export interface CatalogRow {
  table_name: string;
  comment: string | null;
  column_name: string;
  column_type: string;
  not_null: boolean;
}

export function catalogSql(dialect: Dialect): string {
  const param = dialect === 'postgres' ? '$1' : ':schema';
  const comment = dialect === 'postgres' ? "obj_description(c.oid, 'pg_class')" : 'obj_description(c.oid)';
  return `SELECT c.relname AS table_name, ${comment} AS comment, a.attname AS column_name,
  format_type(a.atttypid, a.atttypmod) AS column_type, a.attnotnull AS not_null
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
WHERE n.nspname = ${param} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum`;
}

export const CATALOG_SCHEMA = ATOMIC_SCHEMA;

/** The shredded tables among the warehouse's tables (their comment is an Iglu URI). */
export function shreddedTableNames(existing: ReadonlyMap<string, TableState>): string[] {
  return [...existing.values()].filter(isShreddedTable).map((t) => t.name);
}

function isShreddedTable(t: TableState): boolean {
  try {
    return Boolean(t.comment) && Boolean(parseSchemaUri(t.comment!.trim()));
  } catch {
    return false;
  }
}

export function tablesFromCatalog(rows: Iterable<CatalogRow>): Map<string, TableState> {
  const tables = new Map<string, TableState>();
  for (const r of rows) {
    let t = tables.get(r.table_name);
    if (!t) {
      t = { name: r.table_name, comment: r.comment ?? undefined, columns: [] };
      tables.set(r.table_name, t);
    }
    t.columns.push({ name: r.column_name, type: parseWarehouseType(r.column_type), notNull: Boolean(r.not_null) });
  }
  return tables;
}
