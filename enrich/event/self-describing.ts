// The event's own self-describing JSON: the unstructured event and the contexts, each checked as
// Snowplow's IgluUtils does (self-describing, the expected envelope, valid against its schema,
// then every entity inside valid against its own schema).
import type { SchemaViolation } from '../bad-rows';
import type { Validator } from '../iglu';
import {
  type SchemaCriterion, type SchemaKey, criterion, criterionString, matchesCriterion, parseSelfDescribing,
} from '../iglu/schema-key';
import type { JsonParam } from './transform';

export const UNSTRUCT_CRITERION = criterion('com.snowplowanalytics.snowplow', 'unstruct_event', 'jsonschema', 1, 0);
export const CONTEXTS_CRITERION = criterion('com.snowplowanalytics.snowplow', 'contexts', 'jsonschema', 1, 0);

/** A validated entity (the unstructured event or one context). */
export interface Entity { key: SchemaKey; uri: string; data: unknown }

export interface InputJsons {
  unstruct?: Entity;
  contexts: Entity[];
  violations: SchemaViolation[];
  /** Schema URIs only a remote registry can still answer: the event must be retried after prefetch. */
  pending: string[];
}

function entity(json: unknown, validator: Validator, out: InputJsons): Entity | null {
  const sd = parseSelfDescribing(json);
  if (!sd.ok) { out.violations.push({ json, error: sd.error }); return null; }
  const r = validator.check(sd.key, sd.data, sd.uri);
  if (r === 'pending') { out.pending.push(sd.uri); return null; }
  if (r !== null) { out.violations.push({ schemaKey: sd.uri, error: r }); return null; }
  return { key: sd.key, uri: sd.uri, data: sd.data };
}

/** Checks the envelope and returns its data, or null after recording why it is unusable. */
function envelope(p: JsonParam, expected: SchemaCriterion, validator: Validator, out: InputJsons): unknown {
  const sd = parseSelfDescribing(p.json);
  if (!sd.ok) { out.violations.push({ json: p.json, error: sd.error }); return null; }
  if (!matchesCriterion(expected, sd.key)) {
    out.violations.push({ schemaKey: sd.uri, schemaCriterion: criterionString(expected) });
    return null;
  }
  const r = validator.check(sd.key, sd.data, sd.uri);
  if (r === 'pending') { out.pending.push(sd.uri); return null; }
  if (r !== null) { out.violations.push({ schemaKey: sd.uri, error: r }); return null; }
  return sd.data;
}

// Most events carry neither: they share one empty result.
const NONE: InputJsons = Object.freeze({ contexts: Object.freeze([]) as unknown as Entity[], violations: Object.freeze([]) as unknown as SchemaViolation[], pending: Object.freeze([]) as unknown as string[] });

export function validateInputJsons(unstruct: JsonParam | undefined, contexts: JsonParam | undefined, validator: Validator): InputJsons {
  if (!unstruct && !contexts) return NONE;
  const out: InputJsons = { contexts: [], violations: [], pending: [] };
  if (unstruct) {
    const data = envelope(unstruct, UNSTRUCT_CRITERION, validator, out);
    if (data !== null) out.unstruct = entity(data, validator, out) ?? undefined;
  }
  if (contexts) {
    const data = envelope(contexts, CONTEXTS_CRITERION, validator, out);
    if (Array.isArray(data)) {
      for (const item of data) {
        const c = entity(item, validator, out);
        if (c) out.contexts.push(c);
      }
    }
  }
  return out;
}
