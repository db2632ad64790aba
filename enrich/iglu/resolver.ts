// Iglu resolver: finds a schema by key across registries in Iglu's order (registries whose vendor
// prefixes match first, the local registry before remote ones, then by priority) and caches the
// outcome. Lookups in the local registry are synchronous; a key only a remote registry can answer
// is reported as pending by lookupSync and fetched by prefetch(), so the enrichment itself stays
// a synchronous, pure function of (payloads, config, schemas).
import type { Registry, RegistryErrorKind } from './registries';
import { type SchemaKey, parseSchemaUri, schemaUri } from './schema-key';

export interface LookupHistory {
  repository: string;
  errors: { error: RegistryErrorKind; message?: string }[];
  attempts: number;
  lastAttempt: string;
}
export interface ResolutionError { error: 'ResolutionError'; lookupHistory: LookupHistory[] }
export type Resolved =
  | { ok: true; uri: string; schema: Record<string, unknown> }
  | { ok: false; uri: string; error: ResolutionError };

export interface ResolverOptions {
  /** How long a found schema stays cached; null = for the life of the process (Iglu's cacheTtl). */
  cacheTtlMs?: number | null;
  /** How long a miss stays cached before the registries are asked again. */
  missTtlMs?: number;
  cacheSize?: number;
  now?: () => number;
}

interface Entry { resolved: Resolved; expiresAt: number }

export class Resolver {
  readonly registries: Registry[];
  private readonly cache = new Map<string, Entry>();
  private readonly cacheTtlMs: number | null;
  private readonly missTtlMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;
  private readonly hasRemote: boolean;

  constructor(registries: Registry[], opts: ResolverOptions = {}) {
    this.registries = registries;
    this.cacheTtlMs = opts.cacheTtlMs === undefined ? null : opts.cacheTtlMs;
    this.missTtlMs = opts.missTtlMs ?? 60_000;
    this.cacheSize = Math.max(1, opts.cacheSize ?? 1000);
    this.now = opts.now ?? Date.now;
    this.hasRemote = registries.some((r) => !r.lookupSync);
  }

  /** Registries in Iglu's lookup order for this vendor. */
  private ordered(vendor: string): Registry[] {
    const rank = (r: Registry) => [
      r.vendorPrefixes.some((p) => vendor.startsWith(p)) ? 0 : 1,
      r.lookupSync ? 0 : 1,
      r.priority,
    ];
    return [...this.registries].sort((a, b) => {
      const [x, y] = [rank(a), rank(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
  }

  private cached(uri: string): Resolved | undefined {
    const e = this.cache.get(uri);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) { this.cache.delete(uri); return undefined; }
    return e.resolved;
  }

  private store(resolved: Resolved): Resolved {
    const ttl = resolved.ok ? this.cacheTtlMs : this.missTtlMs;
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(resolved.uri, { resolved, expiresAt: ttl === null ? Infinity : this.now() + ttl });
    return resolved;
  }

  /** The schema, a resolution error, or undefined when only a remote registry can still answer. */
  lookupSync(key: SchemaKey): Resolved | undefined {
    const uri = schemaUri(key);
    const hit = this.cached(uri);
    if (hit) return hit;
    const history: LookupHistory[] = [];
    for (const r of this.ordered(key.vendor)) {
      if (!r.lookupSync) return undefined; // a remote registry comes next: resolve asynchronously
      const res = r.lookupSync(key);
      if (res.ok) return this.store({ ok: true, uri, schema: res.schema });
      history.push(this.attempt(r, res));
    }
    return this.store({ ok: false, uri, error: { error: 'ResolutionError', lookupHistory: history } });
  }

  async lookup(key: SchemaKey): Promise<Resolved> {
    const uri = schemaUri(key);
    const hit = this.cached(uri);
    if (hit) return hit;
    const history: LookupHistory[] = [];
    for (const r of this.ordered(key.vendor)) {
      const res = r.lookupSync ? r.lookupSync(key) : await r.lookup(key);
      if (res.ok) return this.store({ ok: true, uri, schema: res.schema });
      history.push(this.attempt(r, res));
    }
    return this.store({ ok: false, uri, error: { error: 'ResolutionError', lookupHistory: history } });
  }

  async prefetch(keys: Iterable<SchemaKey>): Promise<void> {
    const unique = new Map<string, SchemaKey>();
    for (const k of keys) unique.set(schemaUri(k), k);
    await Promise.all([...unique.values()].map((k) => this.lookup(k)));
  }

  /** True when some lookups may need prefetch() (a remote registry is configured). */
  get needsAsync(): boolean { return this.hasRemote; }

  /** The warehouse's SchemaLookup shape: the schema, or undefined when no registry has it. */
  async lookupSchema(uri: string): Promise<object | undefined> {
    const key = parseSchemaUri(uri);
    if (typeof key === 'string') return undefined;
    const r = await this.lookup(key);
    return r.ok ? r.schema : undefined;
  }

  private attempt(r: Registry, res: { error: RegistryErrorKind; message?: string }): LookupHistory {
    return {
      repository: r.name,
      errors: [res.message ? { error: res.error, message: res.message } : { error: res.error }],
      attempts: 1,
      lastAttempt: new Date(this.now()).toISOString(),
    };
  }
}
