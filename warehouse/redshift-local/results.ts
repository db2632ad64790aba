import type { Field } from '@aws-sdk/client-redshift-data';
import type { StoredColumn, StoredResult } from './statements';

// Stored result rows → GetStatementResult's Records and ColumnMetadata, as the Data API types them:
// integers as longValue, floats as doubleValue, booleans as booleanValue, NULL as isNull, and
// everything else (numeric, timestamps, text) as stringValue. Pure.

const TYPE_NAMES: Record<number, string> = {
  16: 'bool', 17: 'bytea', 18: 'char', 19: 'name', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 26: 'oid',
  114: 'json', 700: 'float4', 701: 'float8', 1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1083: 'time',
  1114: 'timestamp', 1184: 'timestamptz', 1186: 'interval', 1266: 'timetz', 1700: 'numeric', 2950: 'uuid', 3802: 'jsonb',
};

const LONG = new Set([20, 21, 23, 26]);
const DOUBLE = new Set([700, 701]);

export function field(value: string | null, typeOid: number): Field {
  if (value === null) return { isNull: true };
  if (typeOid === 16) return { booleanValue: value === 't' };
  if (LONG.has(typeOid)) return { longValue: Number(value) };
  if (DOUBLE.has(typeOid)) {
    const n = Number(value);
    return Number.isFinite(n) ? { doubleValue: n } : { stringValue: value };
  }
  return { stringValue: value };
}

export function columnMetadata(c: StoredColumn) {
  return { name: c.name, label: c.name, typeName: TYPE_NAMES[c.typeOid] ?? 'unknown' };
}

/** NextToken: where the next page starts, bound to the statement it belongs to. */
export function pageToken(id: string, offset: number): string {
  return Buffer.from(JSON.stringify({ id, offset })).toString('base64url');
}

export function readPageToken(token: string, id: string): number | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { id?: unknown; offset?: unknown };
    return t.id === id && Number.isSafeInteger(t.offset) && (t.offset as number) > 0 ? (t.offset as number) : undefined;
  } catch {
    return undefined;
  }
}

export function resultPage(id: string, result: StoredResult, offset: number, pageRows: number) {
  const rows = result.rows.slice(offset, offset + pageRows);
  const next = offset + rows.length;
  return {
    Records: rows.map((r) => r.map((v, i) => field(v, result.columns[i].typeOid))),
    ColumnMetadata: result.columns.map(columnMetadata),
    TotalNumRows: result.rows.length,
    ...(next < result.rows.length ? { NextToken: pageToken(id, next) } : {}),
  };
}
