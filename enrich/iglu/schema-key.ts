// Iglu schema keys and criteria: `iglu:vendor/name/format/MODEL-REVISION-ADDITION` (SchemaVer) and
// `iglu:vendor/name/format/1-*-*`. Parse errors use Iglu's codes so they can go into bad rows as is.
import { MEMO_MAX_KEY_LENGTH } from '../cache';

export interface SchemaVer { model: number; revision: number; addition: number }
export interface SchemaKey { vendor: string; name: string; format: string; version: SchemaVer }
export type IgluParseError = 'INVALID_IGLUURI' | 'INVALID_SCHEMAVER' | 'INVALID_DATA_PAYLOAD' | 'INVALID_SCHEMA';

const URI_RE = /^iglu:([a-zA-Z0-9\-_.]+)\/([a-zA-Z0-9\-_]+)\/([a-zA-Z0-9\-_]+)\/([^/]+)$/;
const SCHEMAVER_RE = /^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/;

export function parseSchemaVer(s: string): SchemaVer | null {
  const m = SCHEMAVER_RE.exec(s);
  return m ? { model: Number(m[1]), revision: Number(m[2]), addition: Number(m[3]) } : null;
}

export const schemaVerString = (v: SchemaVer): string => `${v.model}-${v.revision}-${v.addition}`;

// Events repeat a handful of schema URIs: parsed keys are shared (treat them as read-only).
const parsedUris = new Map<string, SchemaKey | 'INVALID_IGLUURI' | 'INVALID_SCHEMAVER'>();

/** Parses an Iglu URI; returns Iglu's ParseError code when it is not one. */
export function parseSchemaUri(uri: unknown): SchemaKey | 'INVALID_IGLUURI' | 'INVALID_SCHEMAVER' {
  if (typeof uri !== 'string') return 'INVALID_IGLUURI';
  const hit = parsedUris.get(uri);
  if (hit !== undefined) return hit;
  const r = parseSchemaUriUncached(uri);
  if (uri.length > MEMO_MAX_KEY_LENGTH) return r; // bounded in entries, not bytes: long keys are not kept
  if (parsedUris.size >= 10_000) parsedUris.delete(parsedUris.keys().next().value as string);
  parsedUris.set(uri, r);
  return r;
}

function parseSchemaUriUncached(uri: string): SchemaKey | 'INVALID_IGLUURI' | 'INVALID_SCHEMAVER' {
  const m = URI_RE.exec(uri);
  if (!m) return 'INVALID_IGLUURI';
  const version = parseSchemaVer(m[4]);
  if (!version) return 'INVALID_SCHEMAVER';
  return { vendor: m[1], name: m[2], format: m[3], version };
}

export const schemaUri = (k: SchemaKey): string => `iglu:${k.vendor}/${k.name}/${k.format}/${schemaVerString(k.version)}`;

/** The path of a schema in a static registry: `vendor/name/format/M-R-A`. */
export const schemaPath = (k: SchemaKey): string => `${k.vendor}/${k.name}/${k.format}/${schemaVerString(k.version)}`;

export interface SchemaCriterion {
  vendor: string; name: string; format: string;
  model: number | null; revision: number | null; addition: number | null;
}

const CRITERION_RE = /^iglu:([a-zA-Z0-9\-_.]+)\/([a-zA-Z0-9\-_]+)\/([a-zA-Z0-9\-_]+)\/([1-9][0-9]*|\*)-((?:0|[1-9][0-9]*)|\*)-((?:0|[1-9][0-9]*)|\*)$/;

export function parseSchemaCriterion(s: string): SchemaCriterion | null {
  const m = CRITERION_RE.exec(s);
  if (!m) return null;
  const n = (x: string) => (x === '*' ? null : Number(x));
  return { vendor: m[1], name: m[2], format: m[3], model: n(m[4]), revision: n(m[5]), addition: n(m[6]) };
}

export function criterion(vendor: string, name: string, format: string, model: number | null, revision: number | null = null, addition: number | null = null): SchemaCriterion {
  return { vendor, name, format, model, revision, addition };
}

export const criterionString = (c: SchemaCriterion): string =>
  `iglu:${c.vendor}/${c.name}/${c.format}/${c.model ?? '*'}-${c.revision ?? '*'}-${c.addition ?? '*'}`;

export function matchesCriterion(c: SchemaCriterion, k: SchemaKey): boolean {
  return c.vendor === k.vendor && c.name === k.name && c.format === k.format &&
    (c.model === null || c.model === k.version.model) &&
    (c.revision === null || c.revision === k.version.revision) &&
    (c.addition === null || c.addition === k.version.addition);
}

/** Self-describing data `{schema, data}`: the checks (and error codes) of Iglu's SelfDescribingData.parse. */
export function parseSelfDescribing(json: unknown):
  { ok: true; key: SchemaKey; uri: string; data: unknown } | { ok: false; error: IgluParseError } {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, error: 'INVALID_DATA_PAYLOAD' };
  const o = json as Record<string, unknown>;
  if (typeof o.schema !== 'string') return { ok: false, error: 'INVALID_IGLUURI' };
  if (!('data' in o)) return { ok: false, error: 'INVALID_DATA_PAYLOAD' };
  const key = parseSchemaUri(o.schema);
  return typeof key === 'string' ? { ok: false, error: key } : { ok: true, key, uri: o.schema, data: o.data };
}
