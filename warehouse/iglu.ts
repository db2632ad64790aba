// Iglu schema keys (`iglu:vendor/name/format/M-R-A`, SchemaVer) and the schema lookup the shredder
// and the loaders are given. Every key that reaches SQL passes through parseSchemaUri first.

import { parseSchemaUri as parseIgluUri, schemaUri, type SchemaKey, type SchemaVer } from '../enrich/iglu/schema-key';

// Keys, SchemaVer and URIs are enrich's (enrich/iglu); the warehouse adds stricter bounds.
export type { SchemaKey, SchemaVer } from '../enrich/iglu/schema-key';
export { schemaUri, schemaVerString as versionString } from '../enrich/iglu/schema-key';

/**
 * Resolves a full schema URI to its JSON schema (draft-04, with its `self` block). Resolves to
 * `undefined` when the schema does not exist (the events that use it become bad rows); rejects on
 * a transient failure (the step is retried).
 */
export type SchemaLookup = (schemaUri: string) => Promise<object | undefined>;

export class InvalidSchemaKeyError extends Error {
  override name = 'InvalidSchemaKeyError';
}

// Bounded parts: vendor/name/format land in VARCHAR(128) columns and the model number in a table name.
const PART = /^[a-zA-Z0-9_.-]{1,128}$/;
const MAX_VERSION_PART = 999_999;

/** Parses an Iglu URI for SQL use: throws on anything that is not one, or has overlong parts. */
export function parseSchemaUri(uri: unknown): SchemaKey {
  if (typeof uri !== 'string') throw new InvalidSchemaKeyError(`schema URI is not a string: ${JSON.stringify(uri)}`);
  const key = parseIgluUri(uri);
  const bounded = typeof key === 'object'
    && [key.vendor, key.name, key.format].every((p) => PART.test(p))
    && !key.name.includes('.') && !key.format.includes('.')
    && [key.version.model, key.version.revision, key.version.addition].every((n) => n <= MAX_VERSION_PART);
  if (!bounded) throw new InvalidSchemaKeyError(`not a valid Iglu schema URI: ${JSON.stringify(uri.slice(0, 300))}`);
  // A copy: enrich's parsed keys are shared and read-only.
  return { ...key, version: { ...key.version } };
}

export function compareVersions(a: SchemaVer, b: SchemaVer): number {
  return a.model - b.model || a.revision - b.revision || a.addition - b.addition;
}

/** The same schema family and model (the unit that shares one table). */
export function sameModel(a: SchemaKey, b: SchemaKey): boolean {
  return a.vendor === b.vendor && a.name === b.name && a.format === b.format && a.version.model === b.version.model;
}

/** Checks that a resolved schema's `self` block names the key it was resolved for. */
export function assertSelfMatches(key: SchemaKey, schema: unknown): void {
  const self = (schema as { self?: Record<string, unknown> } | null)?.self;
  const uri = schemaUri(key);
  if (!self || typeof self !== 'object') throw new InvalidSchemaKeyError(`schema for ${uri} has no self block`);
  const selfUri = `iglu:${self.vendor}/${self.name}/${self.format}/${self.version}`;
  if (selfUri !== uri) throw new InvalidSchemaKeyError(`schema resolved for ${uri} describes itself as ${selfUri}`);
}
