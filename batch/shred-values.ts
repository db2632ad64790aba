import { type SchemaKey, versionString } from '../warehouse/iglu';
import type { ColumnType, ModelColumn, ShredModel } from '../warehouse/shred-model';

// Values → COPY text (tab-separated rows both PostgreSQL's text format and Redshift's
// `DELIMITER '\t' ESCAPE` read the same way). Backslash escapes a backslash, tab, newline or
// carriage return inside a value, so values keep them; NUL and lone UTF-16 surrogates, which
// neither warehouse stores, become U+FFFD. Pure.

/** NULL in shredded rows (PostgreSQL's text default; `NULL AS '\\N'` on Redshift). */
export const COPY_NULL = '\\N';

const NEEDS_ESCAPE = /[\\\t\n\r]/;

const NUL = /\u0000/g;

/** A string both warehouses can store: NUL and lone surrogates replaced. */
export function storable(s: string): string {
  const wellFormed = (s as string & { isWellFormed(): boolean; toWellFormed(): string }).isWellFormed()
    ? s
    : (s as string & { toWellFormed(): string }).toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replace(NUL, '\uFFFD') : wellFormed;
}

export function copyEscape(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => `\\${c}`) : s;
}

/** The first `max` code points of `s`; `truncated` says whether anything was cut. */
export function truncate(s: string, max: number): { value: string; truncated: boolean } {
  if (s.length <= max) return { value: s, truncated: false };
  const points = Array.from(s);
  if (points.length <= max) return { value: s, truncated: false };
  return { value: points.slice(0, max).join(''), truncated: true };
}

function storableJson(v: unknown): unknown {
  if (typeof v === 'string') return storable(v);
  if (Array.isArray(v)) return v.map(storableJson);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[storable(k)] = storableJson((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

/** An RFC 3339 date-time → UTC `yyyy-MM-dd HH:mm:ss[.ffffff]`; undefined if it is not one. */
export function normaliseTimestamp(s: string): string | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac, , sign, oh, om] = m;
  if (Number(mo) < 1 || Number(mo) > 12 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 60) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  if (date.getUTCDate() !== Number(d)) return undefined;
  date.setUTCHours(Number(h), Number(mi), Math.min(Number(sec), 59), 0);
  if (sign) date.setTime(date.getTime() - (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000);
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999) return undefined;
  const base = date.toISOString().slice(0, 19).replace('T', ' ');
  // Warehouses keep microseconds: digits beyond six are cut, not rounded into the next second.
  const f = frac ? frac.slice(0, 6).replace(/0+$/, '') : '';
  return f ? `${base}.${f}` : base;
}

const INT_RANGE: Record<string, [number, number]> = {
  smallint: [-32768, 32767],
  int: [-2147483648, 2147483647],
  // 2^63 - 1 is no double: the largest double below 2^63 is 2^63 - 1024 (2^63 itself would overflow).
  bigint: [-9223372036854775808, 9223372036854774784],
};

export class ValueError extends Error {
  override name = 'ValueError';
  constructor(readonly column: string, readonly value: unknown, readonly expected: string) {
    super(`column ${column}: ${JSON.stringify(value)?.slice(0, 200)} is not ${expected}`);
  }
}

export interface RenderStats {
  truncated: number;
}

function plainNumber(n: number, scale: number): string {
  const s = String(n);
  return s.includes('e') ? n.toFixed(Math.min(scale, 20)) : s;
}

/** One value in COPY text for a column of type `t` (already escaped); COPY_NULL for null. */
export function renderValue(column: string, t: ColumnType, v: unknown, stats: RenderStats): string {
  if (v === undefined || v === null) return COPY_NULL;
  switch (t.kind) {
    case 'json':
      return copyEscape(JSON.stringify(storableJson(v)));
    case 'varchar':
    case 'char': {
      const text = typeof v === 'string' ? storable(v) : JSON.stringify(storableJson(v));
      const cut = truncate(text, t.size);
      if (cut.truncated) stats.truncated++;
      return copyEscape(cut.value);
    }
    case 'smallint':
    case 'int':
    case 'bigint': {
      const [min, max] = INT_RANGE[t.kind];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ValueError(column, v, `an integer fitting ${t.kind.toUpperCase()}`);
      return String(v);
    }
    case 'double':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(column, v, 'a number');
      return String(v);
    case 'decimal':
      if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) >= 10 ** (t.precision - t.scale)) {
        throw new ValueError(column, v, `a number fitting DECIMAL(${t.precision},${t.scale})`);
      }
      return plainNumber(v, t.scale);
    case 'boolean':
      if (typeof v !== 'boolean') throw new ValueError(column, v, 'a boolean');
      return v ? 'true' : 'false';
    case 'timestamp': {
      const ts = typeof v === 'string' ? normaliseTimestamp(v) : undefined;
      if (!ts) throw new ValueError(column, v, 'an RFC 3339 date-time');
      return ts;
    }
    case 'date':
      if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v) || !normaliseTimestamp(`${v}T00:00:00Z`)) {
        throw new ValueError(column, v, 'a date (yyyy-MM-dd)');
      }
      return v;
  }
}

/** The value at `path` in `data` (own properties only: `__proto__` in a path is just a name). */
export function valueAt(data: unknown, path: readonly string[]): unknown {
  let cur: unknown = data;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function commonValues(key: SchemaKey, rootId: string, rootTstamp: string): string[] {
  return [key.vendor, key.name, key.format, versionString(key.version), rootId, rootTstamp, 'events', JSON.stringify(['events', key.name]), 'events'];
}

/** The COPY text row of one self-describing entity for its table (common columns first). */
export function shreddedRow(model: ShredModel, rootId: string, rootTstamp: string, data: unknown, stats: RenderStats): string {
  const out = commonValues(model.key, rootId, rootTstamp).map(copyEscape);
  for (const c of model.columns) {
    const rendered = renderValue(c.name, c.type, valueAt(data, c.path), stats);
    if (rendered === COPY_NULL && !c.nullable) throw new ValueError(c.name, null, 'present (the column is NOT NULL)');
    out.push(rendered);
  }
  return out.join('\t');
}

/** Column names a shredded file of `model` carries, in order (for COPY's column list). */
export function shreddedColumnNames(columns: readonly ModelColumn[]): string[] {
  return [
    'schema_vendor', 'schema_name', 'schema_format', 'schema_version',
    'root_id', 'root_tstamp', 'ref_root', 'ref_tree', 'ref_parent',
    ...columns.map((c) => c.name),
  ];
}
