// Static Iglu registries: the local one (a directory laid out as `vendor/name/format/M-R-A`, read
// synchronously) and remote ones over HTTP (`GET {uri}/schemas/vendor/name/format/M-R-A`).
import fs from 'node:fs';
import path from 'node:path';
import { currentJsonLimits, parseJsonBounded } from '../../codecs/bounded-json';
import { type SchemaKey, schemaPath } from './schema-key';

export type RegistryErrorKind = 'NotFound' | 'RepoFailure' | 'ClientFailure';
export type RegistryResult = { ok: true; schema: Record<string, unknown> } | { ok: false; error: RegistryErrorKind; message?: string };

export interface Registry {
  name: string;
  priority: number;
  vendorPrefixes: string[];
  /** Present for registries that can answer without I/O waits (the local directory). */
  lookupSync?(key: SchemaKey): RegistryResult;
  lookup(key: SchemaKey): Promise<RegistryResult>;
}

const short = (s: string) => s.slice(0, 256);

function parseSchemaText(text: string): RegistryResult {
  const parsed = parseJsonBounded(text);
  if (!parsed.ok) return { ok: false, error: 'RepoFailure', message: short(`schema is not valid JSON: ${parsed.error}`) };
  const schema = parsed.value;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return { ok: false, error: 'RepoFailure', message: 'schema is not a JSON object' };
  return { ok: true, schema: schema as Record<string, unknown> };
}

/** The response body as text, or null past `maxBytes` (a registry answer is read no further). */
async function textUpTo(res: Response, maxBytes: number): Promise<string | null> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) return null;
      chunks.push(value);
    }
  } catch {
    return '';
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A registry on the local file system (Iglu's "embedded" connection). */
export function localRegistry(dir: string, opts: { name?: string; priority?: number; vendorPrefixes?: string[] } = {}): Registry {
  const lookupSync = (key: SchemaKey): RegistryResult => {
    const file = path.join(dir, schemaPath(key));
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return { ok: false, error: 'NotFound' };
      return { ok: false, error: 'RepoFailure', message: short((err as Error).message) };
    }
    return parseSchemaText(text);
  };
  return {
    name: opts.name ?? 'local',
    priority: opts.priority ?? 0,
    vendorPrefixes: opts.vendorPrefixes ?? [],
    lookupSync,
    lookup: async (key) => lookupSync(key),
  };
}

/** A static registry served over HTTP; `apikey` is sent as Iglu servers expect. */
export function httpRegistry(
  uri: string,
  opts: { name?: string; priority?: number; vendorPrefixes?: string[]; apikey?: string | null; timeoutMs?: number } = {},
): Registry {
  const base = uri.replace(/\/+$/, '');
  return {
    name: opts.name ?? base,
    priority: opts.priority ?? 0,
    vendorPrefixes: opts.vendorPrefixes ?? [],
    async lookup(key) {
      const url = `${base}/schemas/${schemaPath(key)}`;
      let res: Response;
      try {
        res = await fetch(url, {
          headers: opts.apikey ? { apikey: opts.apikey } : {},
          signal: AbortSignal.timeout(opts.timeoutMs ?? 5_000),
        });
      } catch (err) {
        return { ok: false, error: 'RepoFailure', message: short(`GET ${url}: ${(err as Error).message}`) };
      }
      const max = currentJsonLimits().maxBytes;
      const text = await textUpTo(res, max);
      if (text === null) return { ok: false, error: 'RepoFailure', message: short(`GET ${url}: the schema is over the ${max}-byte limit`) };
      if (res.status === 404) return { ok: false, error: 'NotFound' };
      if (res.status === 401 || res.status === 403) return { ok: false, error: 'ClientFailure', message: short(`GET ${url}: HTTP ${res.status}`) };
      if (!res.ok) return { ok: false, error: 'RepoFailure', message: short(`GET ${url}: HTTP ${res.status}`) };
      return parseSchemaText(text);
    },
  };
}
