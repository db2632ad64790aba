// The Iglu client enrich uses: a resolver over the local registry in `schemas/` (and optional
// remote static registries from an Iglu resolver config file) plus cached draft-04 validators.
import { parseJsonOrThrow } from '../../codecs/bounded-json';
import fs from 'node:fs';
import path from 'node:path';
import { type Registry, httpRegistry, localRegistry } from './registries';
import { Resolver, type ResolverOptions } from './resolver';
import { parseSelfDescribing } from './schema-key';
import { Validator } from './validator';

export * from './schema-key';
export { Resolver, type Resolved, type ResolutionError, type LookupHistory } from './resolver';
export { Validator, type CheckResult, type IgluClientError, type DataReport } from './validator';
export { localRegistry, httpRegistry, type Registry } from './registries';

export class IgluConfigError extends Error {
  override name = 'IgluConfigError';
}

export interface Iglu { resolver: Resolver; validator: Validator }

export interface IgluOptions {
  /** The project's local registry (always consulted first). */
  schemasDir: string;
  /** An Iglu resolver config (`iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-x`). */
  resolverConfigFile?: string;
  resolverOptions?: ResolverOptions;
}

export function createIglu(opts: IgluOptions): Iglu {
  const local = localRegistry(opts.schemasDir, { name: 'Sluice local registry', priority: 0 });
  if (!opts.resolverConfigFile) {
    const resolver = new Resolver([local], opts.resolverOptions);
    return { resolver, validator: new Validator(resolver) };
  }
  const { registries, cacheTtlMs, cacheSize } = readResolverConfig(opts.resolverConfigFile, new Validator(new Resolver([local])));
  const resolver = new Resolver([local, ...registries], { cacheTtlMs, cacheSize, ...opts.resolverOptions });
  return { resolver, validator: new Validator(resolver) };
}

/** Reads and validates an Iglu resolver config file; embedded paths resolve against its folder. */
export function readResolverConfig(file: string, validator: Validator): { registries: Registry[]; cacheTtlMs: number | null; cacheSize: number } {
  let json: unknown;
  try {
    json = parseJsonOrThrow(fs.readFileSync(file, 'utf8'), 'invalid JSON');
  } catch (err) {
    throw new IgluConfigError(`Iglu resolver config ${file}: ${(err as Error).message}`);
  }
  const sd = parseSelfDescribing(json);
  if (!sd.ok || sd.key.vendor !== 'com.snowplowanalytics.iglu' || sd.key.name !== 'resolver-config' || sd.key.version.model !== 1) {
    throw new IgluConfigError(`Iglu resolver config ${file}: expected self-describing iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-x`);
  }
  const problem = validator.check(sd.key, sd.data);
  if (problem) throw new IgluConfigError(`Iglu resolver config ${file}: ${JSON.stringify(problem)}`);
  const data = sd.data as {
    cacheSize: number; cacheTtl?: number | null;
    repositories: { name: string; priority: number; vendorPrefixes: string[]; connection: { embedded?: { path: string }; http?: { uri: string; apikey?: string | null } } }[];
  };
  const dir = path.dirname(path.resolve(file));
  const registries = data.repositories.map((r): Registry => {
    const common = { name: r.name, priority: r.priority, vendorPrefixes: r.vendorPrefixes };
    if (r.connection.http) return httpRegistry(r.connection.http.uri, { ...common, apikey: r.connection.http.apikey ?? null });
    return localRegistry(path.resolve(dir, r.connection.embedded!.path), common);
  });
  return { registries, cacheTtlMs: data.cacheTtl == null ? null : data.cacheTtl * 1000, cacheSize: data.cacheSize };
}
