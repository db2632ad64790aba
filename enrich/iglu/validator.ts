// JSON Schema draft-04 validation (ajv + ajv-draft-04) of self-describing data, with one compiled
// validator per schema URI, and Iglu client errors in the shape Snowplow's bad rows carry.
import Ajv04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Resolver, ResolutionError } from './resolver';
import { type SchemaKey, schemaUri } from './schema-key';

export interface DataReport { message: string; path: string | null; keyword: string | null; targets: string[] | null }
export type ValidationError =
  | { error: 'ValidationError'; dataReports: DataReport[] }
  | { error: 'ValidationError'; schemaIssues: { path: string; message: string }[] };
export type IgluClientError = ResolutionError | ValidationError;

/** null = valid; an Iglu client error; or 'pending' when the schema must first be fetched remotely. */
export type CheckResult = null | IgluClientError | 'pending';

type Compiled = { ok: true; validate: ValidateFunction } | { ok: false; error: IgluClientError };

/** `/a/0/b` → `$.a[0].b` (JSONPath, as Snowplow reports it). */
function jsonPath(instancePath: string): string {
  if (!instancePath) return '$';
  return '$' + instancePath.split('/').slice(1).map((seg) => {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  }).join('');
}

function targets(e: ErrorObject): string[] {
  const p = e.params as Record<string, unknown>;
  if (typeof p.missingProperty === 'string') return [p.missingProperty];
  if (typeof p.additionalProperty === 'string') return [p.additionalProperty];
  return [];
}

export function toDataReports(errors: ErrorObject[] | null | undefined): DataReport[] {
  const reports = (errors ?? []).map((e) => {
    const path = jsonPath(e.instancePath);
    return { message: `${path}: ${e.message ?? 'is invalid'}`, path, keyword: e.keyword, targets: targets(e) };
  });
  return reports.length ? reports : [{ message: '$: is invalid', path: '$', keyword: null, targets: null }];
}

export class Validator {
  private readonly ajv: InstanceType<typeof Ajv04>;
  private readonly compiled = new Map<string, Compiled>();

  constructor(readonly resolver: Resolver) {
    // allErrors so a bad row lists every problem; formats as Iglu's validator checks them.
    this.ajv = new Ajv04({ allErrors: true, strict: false, logger: false, validateSchema: false });
    addFormats(this.ajv);
  }

  private compile(uri: string, schema: Record<string, unknown>): Compiled {
    // `$schema` names Iglu's meta-schema and `id` would register globally: neither is for ajv.
    const { $schema: _m, id: _i, self: _s, ...rest } = schema;
    try {
      return { ok: true, validate: this.ajv.compile(rest) };
    } catch (err) {
      return { ok: false, error: { error: 'ValidationError', schemaIssues: [{ path: '$', message: (err as Error).message }] } };
    }
  }

  private validatorFor(key: SchemaKey, knownUri?: string): Compiled | 'pending' {
    const uri = knownUri ?? schemaUri(key);
    const hit = this.compiled.get(uri);
    if (hit) return hit;
    const resolved = this.resolver.lookupSync(key);
    if (!resolved) return 'pending';
    // Misses are not memoised here: the resolver decides when to ask the registries again.
    if (!resolved.ok) return { ok: false, error: resolved.error };
    const c = this.compile(uri, resolved.schema);
    this.compiled.set(uri, c);
    return c;
  }

  /** Validates `data` against the schema `key` names (`uri`, when the caller has it, saves rebuilding it). */
  check(key: SchemaKey, data: unknown, uri?: string): CheckResult {
    const v = this.validatorFor(key, uri);
    if (v === 'pending') return 'pending';
    if (!v.ok) return v.error;
    return v.validate(data) ? null : { error: 'ValidationError', dataReports: toDataReports(v.validate.errors) };
  }
}
