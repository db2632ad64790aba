// Iglu schema keys (`iglu:vendor/name/format/M-R-A`, SchemaVer) and the schema lookup the shredder
// and the loaders are given. Every key that reaches SQL passes through parseSchemaUri first.

export interface SchemaVer {
  model: number;
  revision: number;
  addition: number;
}

export interface SchemaKey {
  vendor: string;
  name: string;
  format: string;
  version: SchemaVer;
}

/**
 * Resolves a full schema URI to its JSON schema (draft-04, with its `self` block). Resolves to
 * `undefined` when the schema does not exist (the events that use it become bad rows); rejects on
 * a transient failure (the step is retried).
 */
export type SchemaLookup = (schemaUri: string) => Promise<object | undefined>;

export class InvalidSchemaKeyError extends Error {
  override name = 'InvalidSchemaKeyError';
}

// Iglu's URI pattern, with bounded parts: vendor/name/format land in VARCHAR(128) columns and the
// model number in a table name.
const URI = /^iglu:([a-zA-Z0-9_.-]{1,128})\/([a-zA-Z0-9_-]{1,128})\/([a-zA-Z0-9_-]{1,128})\/(\d{1,6})-(\d{1,6})-(\d{1,6})$/;

export function parseSchemaUri(uri: unknown): SchemaKey {
  if (typeof uri !== 'string') throw new InvalidSchemaKeyError(`schema URI is not a string: ${JSON.stringify(uri)}`);
  const m = URI.exec(uri);
  if (!m) throw new InvalidSchemaKeyError(`not a valid Iglu schema URI: ${JSON.stringify(uri.slice(0, 300))}`);
  return {
    vendor: m[1],
    name: m[2],
    format: m[3],
    version: { model: Number(m[4]), revision: Number(m[5]), addition: Number(m[6]) },
  };
}

export function versionString(v: SchemaVer): string {
  return `${v.model}-${v.revision}-${v.addition}`;
}

export function schemaUri(key: SchemaKey): string {
  return `iglu:${key.vendor}/${key.name}/${key.format}/${versionString(key.version)}`;
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
