import { createHash } from 'node:crypto';
import { type SchemaKey, schemaUri } from './iglu';

// The shredded-table model of one Iglu schema: table name and columns, derived from the JSON
// schema (draft-04) the way Snowplow's schema-ddl does it (facts, not code):
//  - nested objects with `properties` are flattened, their path joined with `_` (schema-ddl's
//    Redshift tables join with `.`; Sluice keeps every identifier a plain name);
//  - arrays, objects without properties and unions of several types stay one column (JSON text);
//  - a column is NOT NULL only when it and every ancestor are `required` and none can be null;
//  - columns are ordered NOT NULL first, then by name.
// Names are snake_cased, then neutralised: anything but [A-Za-z0-9_] becomes `_`, and a name too
// long for PostgreSQL (63 bytes) keeps a prefix plus a hash of the original.

export type ColumnType =
  | { kind: 'varchar'; size: number }
  | { kind: 'char'; size: number }
  | { kind: 'smallint' }
  | { kind: 'int' }
  | { kind: 'bigint' }
  | { kind: 'double' }
  | { kind: 'decimal'; precision: number; scale: number }
  | { kind: 'boolean' }
  | { kind: 'timestamp' }
  | { kind: 'date' }
  /** Arrays and free-form objects: jsonb on PostgreSQL, VARCHAR(65535) on Redshift. */
  | { kind: 'json' };

export interface ModelColumn {
  name: string;
  /** Property names from the entity's data down to the value. */
  path: string[];
  type: ColumnType;
  nullable: boolean;
}

export interface ShredModel {
  key: SchemaKey;
  /** The table's base name (`com_acme_link_click_1`), before any recovery or conflict suffix. */
  table: string;
  columns: ModelColumn[];
}

export class SchemaModelError extends Error {
  override name = 'SchemaModelError';
}

/** schema-ddl's default VARCHAR size for strings without maxLength (and for unions). */
export const DEFAULT_VARCHAR = 4096;
/** Redshift's largest VARCHAR, used for arrays/objects there and as the cap for any length. */
export const MAX_VARCHAR = 65535;
export const MAX_IDENTIFIER = 63;
const MAX_COLUMNS = 1500;
const MAX_DEPTH = 32;

/** The common columns every shredded table starts with. */
export const COMMON_COLUMNS = [
  'schema_vendor', 'schema_name', 'schema_format', 'schema_version',
  'root_id', 'root_tstamp', 'ref_root', 'ref_tree', 'ref_parent',
] as const;

export function shortHash(s: string, chars = 8): string {
  return createHash('sha256').update(s).digest('hex').slice(0, chars);
}

/** schema-ddl's snakeCase: CamelCase → camel_case, hyphens → underscores, lower case. */
export function snakeCase(s: string): string {
  return s
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z\d])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

/** A plain SQL identifier from any string: unsafe characters neutralised, length bounded. */
export function safeIdentifier(raw: string, max = MAX_IDENTIFIER): string {
  let s = raw.replace(/[^A-Za-z0-9_]/g, '_');
  if (!/^[A-Za-z_]/.test(s)) s = `_${s}`;
  if (s.length > max) s = `${s.slice(0, max - 9)}_${shortHash(raw)}`;
  return s;
}

/** Snowplow's table name: vendor with `.`/`-` → `_`, snake_case name, MODEL (`com_acme_link_click_1`). */
export function tableNameFor(key: SchemaKey): string {
  const vendor = key.vendor.replace(/[.-]/g, '_').toLowerCase();
  return safeIdentifier(`${vendor}_${snakeCase(key.name)}_${key.version.model}`);
}

/** Where a breaking REVISION/ADDITION of a model goes (schema-ddl names these `…_recovered_…`). */
export function recoveryTableName(base: string, key: SchemaKey): string {
  return safeIdentifier(`${base}_${key.version.revision}_${key.version.addition}_recovered`);
}

// ---- JSON schema helpers -------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typesOf(s: Schema): Set<string> | undefined {
  const t = s.type;
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t)) return new Set(t.filter((x): x is string => typeof x === 'string'));
  return undefined;
}

function nonNull(types: Set<string>): Set<string> {
  const out = new Set(types);
  out.delete('null');
  return out;
}

/** Exactly this type, alone or with null (schema-ddl's possiblyWithNull). */
function possiblyWithNull(types: Set<string> | undefined, t: string): boolean {
  if (!types) return false;
  const rest = nonNull(types);
  return rest.size === 1 && rest.has(t);
}

/** Two or more non-null types, except integer+number (schema-ddl's isUnion). */
function isUnion(types: Set<string> | undefined): boolean {
  if (!types) return false;
  const rest = nonNull(types);
  if (rest.size === 2 && rest.has('integer') && rest.has('number')) return false;
  return rest.size > 1;
}

function canBeNull(s: Schema): boolean {
  return Boolean(typesOf(s)?.has('null')) || (Array.isArray(s.enum) && s.enum.includes(null));
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function heterogeneousOneOf(s: Schema): boolean {
  if (!Array.isArray(s.oneOf)) return false;
  const types = new Set<string>();
  for (const alt of s.oneOf) if (isObject(alt)) for (const t of typesOf(alt) ?? []) if (t !== 'null') types.add(t);
  return types.size > 1;
}

/** A leaf becomes one column; anything else is an object whose properties are flattened. */
function isLeaf(s: Schema): boolean {
  const types = typesOf(s);
  if (!types || isUnion(types) || heterogeneousOneOf(s)) return true;
  const nested = types.has('object') && isObject(s.properties) && Object.keys(s.properties).length > 0;
  return !nested;
}

const SMALLINT = 32767;
const INT = 2147483647;

function intType(min: number | undefined, max: number | undefined): ColumnType {
  // Both bounds are needed to size an integer column (schema-ddl looks at the maximum only, which
  // lets a valid negative value overflow it).
  if (min === undefined || max === undefined) return { kind: 'bigint' };
  if (min >= -SMALLINT - 1 && max <= SMALLINT) return { kind: 'smallint' };
  if (min >= -INT - 1 && max <= INT) return { kind: 'int' };
  return { kind: 'bigint' };
}

const jsonLength = (v: Json): number => (typeof v === 'string' ? v.length : JSON.stringify(v).length);
const varchar = (size: number): ColumnType => ({ kind: 'varchar', size: Math.min(Math.max(size, 1), MAX_VARCHAR) });

/** The column type for a leaf schema, in schema-ddl's order of suggestions. */
export function columnTypeFor(s: Schema): ColumnType {
  const types = typesOf(s);
  const enumValues = Array.isArray(s.enum) ? (s.enum as Json[]).filter((v) => v !== null) : undefined;
  const format = typeof s.format === 'string' ? s.format : undefined;

  // Enums mixing numbers with strings, or holding booleans: text as long as the longest value.
  if (enumValues && enumValues.length) {
    const numeric = enumValues.some((v) => typeof v === 'number');
    const other = enumValues.some((v) => typeof v !== 'number');
    const bool = enumValues.some((v) => typeof v === 'boolean');
    if ((numeric && other) || bool) return varchar(Math.max(...enumValues.map((v) => JSON.stringify(v).length)));
  }
  if (isUnion(types)) {
    const rest = nonNull(types!);
    return rest.size === 2 && rest.has('boolean') && rest.has('integer') ? varchar(10) : varchar(DEFAULT_VARCHAR);
  }
  if (possiblyWithNull(types, 'string') && format === 'date-time') return { kind: 'timestamp' };
  if (possiblyWithNull(types, 'string') && format === 'date') return { kind: 'date' };
  if (possiblyWithNull(types, 'array') || possiblyWithNull(types, 'object')) return { kind: 'json' };
  if (possiblyWithNull(types, 'integer')) {
    if (enumValues && enumValues.length && enumValues.every((v) => Number.isInteger(v))) {
      const ints = enumValues as number[];
      return intType(Math.min(...ints), Math.max(...ints));
    }
    return intType(num(s.minimum), num(s.maximum));
  }
  if (!types && enumValues && enumValues.length && enumValues.every((v) => Number.isInteger(v))) {
    const ints = enumValues as number[];
    return intType(Math.min(...ints), Math.max(...ints));
  }
  if (types && (possiblyWithNull(types, 'number') || (nonNull(types).size === 2 && nonNull(types).has('integer') && nonNull(types).has('number')))) {
    if (possiblyWithNull(types, 'number') && s.multipleOf === 0.01) return { kind: 'decimal', precision: 36, scale: 2 };
    return { kind: 'double' };
  }
  if (possiblyWithNull(types, 'boolean')) return { kind: 'boolean' };
  if (possiblyWithNull(types, 'string')) {
    const min = num(s.minLength);
    const max = num(s.maxLength);
    if (min !== undefined && min === max && max >= 1 && max <= 4096) return { kind: 'char', size: max };
    if (format === 'uuid') return { kind: 'char', size: 36 };
    if (format === 'ipv6') return varchar(39);
    if (format === 'ipv4') return varchar(15);
    if (format === 'email') return varchar(255);
    if (max !== undefined && !enumValues) return varchar(max);
  }
  if (enumValues && enumValues.length) {
    const longest = Math.max(...enumValues.map(jsonLength));
    return enumValues.length === 1 && longest >= 1 ? { kind: 'char', size: longest } : varchar(longest);
  }
  return varchar(DEFAULT_VARCHAR);
}

// ---- flattening ---------------------------------------------------------------------------

interface Leaf {
  path: string[];
  schema: Schema;
  nullable: boolean;
}

function flatten(schema: Schema, path: string[], required: boolean, out: Leaf[], depth: number): void {
  if (depth > MAX_DEPTH) throw new SchemaModelError(`schema nests deeper than ${MAX_DEPTH} levels at ${path.join('.')}`);
  const props = isObject(schema.properties) ? schema.properties : {};
  const requiredList = Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === 'string') : [];
  for (const prop of Object.keys(props)) {
    const sub = props[prop];
    if (!isObject(sub)) continue;
    const childRequired = required && requiredList.includes(prop) && !canBeNull(sub);
    const childPath = [...path, prop];
    if (isLeaf(sub)) out.push({ path: childPath, schema: sub, nullable: !childRequired });
    else flatten(sub, childPath, childRequired, out, depth + 1);
    if (out.length > MAX_COLUMNS) throw new SchemaModelError(`schema has more than ${MAX_COLUMNS} columns`);
  }
}

/** The shredded-table model of one schema version. Throws SchemaModelError for an unusable schema. */
export function shredModel(key: SchemaKey, schema: unknown): ShredModel {
  if (!isObject(schema)) throw new SchemaModelError(`schema for ${schemaUri(key)} is not a JSON object`);
  const leaves: Leaf[] = [];
  flatten(schema, [], true, leaves, 0);
  const taken = new Map<string, string>(COMMON_COLUMNS.map((c) => [c, '(common column)']));
  const columns: ModelColumn[] = leaves.map((leaf) => {
    const name = safeIdentifier(leaf.path.map(snakeCase).join('_'));
    const shown = leaf.path.join('.');
    const clash = taken.get(name);
    if (clash) {
      throw new SchemaModelError(`${schemaUri(key)}: property ${JSON.stringify(shown)} and ${clash === '(common column)' ? 'a common column' : JSON.stringify(clash)} both map to column ${name}`);
    }
    taken.set(name, shown);
    return { name, path: leaf.path, type: columnTypeFor(leaf.schema), nullable: leaf.nullable };
  });
  columns.sort((a, b) => Number(a.nullable) - Number(b.nullable) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { key, table: tableNameFor(key), columns };
}
