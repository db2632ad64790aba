// PII pseudonymisation (pii_enrichment_config 2-0-0): configured atomic fields and JSON paths inside
// matching contexts/unstruct_event are replaced by hash(value + salt), and the replacements can be
// emitted as a pii_transformation event (Snowplow's emitEvent), linked by a parent_event context.
import { parseJsonBounded } from '../../codecs/bounded-json';
import { createHash, getHashes } from 'node:crypto';
import type { EnrichedEvent, EnrichedField } from '../../codecs/enriched-tsv';
import { type SchemaCriterion, matchesCriterion, parseSchemaCriterion, parseSchemaUri } from '../iglu/schema-key';
import { parseJsonPath, replaceAtPath } from './jsonpath';

export const PII_TRANSFORMATION = 'iglu:com.snowplowanalytics.snowplow/pii_transformation/jsonschema/1-0-0';
const HASHES: Record<string, string> = { MD2: 'md2', MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

type JsonField = 'contexts' | 'derived_contexts' | 'unstruct_event';
export interface PiiConfig {
  emitEvent: boolean;
  pii: ({ pojo: { field: EnrichedField } } | { json: { field: JsonField; schemaCriterion: string; jsonPath: string } })[];
  strategy: { pseudonymize: { hashFunction: string; salt: string } };
}

export interface ScalarModified { fieldName: string; originalValue: string; modifiedValue: string }
export interface JsonModified extends ScalarModified { jsonPath: string; schema: string }
export interface PiiTransformation {
  pii: { pojo?: ScalarModified[]; json?: JsonModified[] };
  strategy: { pseudonymize: { hashFunction: string } };
}

interface JsonRule { field: JsonField; criterion: SchemaCriterion; path: string; tokens: ReturnType<typeof parseJsonPath> }

export class PiiPseudonymizerEnrichment {
  readonly emitEvent: boolean;
  private readonly scalars: EnrichedField[] = [];
  private readonly json: JsonRule[] = [];
  private readonly algorithm: string;

  constructor(private readonly cfg: PiiConfig) {
    const algo = HASHES[cfg.strategy.pseudonymize.hashFunction];
    if (!algo || !getHashes().includes(algo)) throw new Error(`PII hash function ${cfg.strategy.pseudonymize.hashFunction} is not available in this Node.js build`);
    this.algorithm = algo;
    this.emitEvent = cfg.emitEvent;
    for (const f of cfg.pii) {
      if ('pojo' in f) this.scalars.push(f.pojo.field);
      else {
        const criterion = parseSchemaCriterion(f.json.schemaCriterion);
        if (!criterion) throw new Error(`PII schemaCriterion ${f.json.schemaCriterion} is not a valid criterion`);
        this.json.push({ field: f.json.field, criterion, path: f.json.jsonPath, tokens: parseJsonPath(f.json.jsonPath) });
      }
    }
  }

  scramble(value: string): string {
    return createHash(this.algorithm).update(value + this.cfg.strategy.pseudonymize.salt, 'utf8').digest('hex');
  }

  /** Pseudonymises `e` in place; returns what was replaced (null when nothing was). */
  transform(e: EnrichedEvent): PiiTransformation | null {
    const pojo: ScalarModified[] = [];
    const json: JsonModified[] = [];
    for (const field of this.scalars) {
      const v = e[field];
      if (v === undefined) continue;
      const modified = this.scramble(v);
      e[field] = modified;
      pojo.push({ fieldName: field, originalValue: v, modifiedValue: modified });
    }
    for (const rule of this.json) {
      const text = e[rule.field];
      if (text === undefined) continue;
      let doc: { data?: unknown };
      const parsed = parseJsonBounded(text);
      if (!parsed.ok) continue;
      doc = parsed.value as { data?: unknown };
      const entities = rule.field === 'unstruct_event' ? [doc.data] : Array.isArray(doc.data) ? doc.data : [];
      let changed = false;
      for (const ent of entities as { schema?: unknown; data?: unknown }[]) {
        if (!ent || typeof ent !== 'object' || typeof ent.schema !== 'string') continue;
        const key = parseSchemaUri(ent.schema);
        if (typeof key === 'string' || !matchesCriterion(rule.criterion, key)) continue;
        const holder = { data: ent.data };
        replaceAtPath(holder.data, rule.tokens, (original) => {
          const modifiedValue = this.scramble(original);
          json.push({ fieldName: rule.field, originalValue: original, modifiedValue, jsonPath: rule.path, schema: ent.schema as string });
          changed = true;
          return modifiedValue;
        });
      }
      if (changed) e[rule.field] = JSON.stringify(doc);
    }
    if (pojo.length === 0 && json.length === 0) return null;
    return {
      pii: { ...(pojo.length ? { pojo } : {}), ...(json.length ? { json } : {}) },
      strategy: { pseudonymize: { hashFunction: this.cfg.strategy.pseudonymize.hashFunction } },
    };
  }
}
