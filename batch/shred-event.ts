import { parseJsonBounded } from '../codecs/bounded-json';
import type { EnrichedEvent } from '../codecs/enriched-tsv';
import { parseSchemaUri, type SchemaKey } from '../warehouse/iglu';

// The self-describing entities of an enriched event: its contexts, its unstruct event and its
// derived contexts, each `{schema, data}` with a parsed Iglu key. Pure.

export type EntityField = 'contexts' | 'unstruct_event' | 'derived_contexts';

export interface Entity {
  field: EntityField;
  uri: string;
  key: SchemaKey;
  data: unknown;
}

export interface EntityProblem {
  field: EntityField;
  /** The entity's schema URI when there was one. */
  uri?: string;
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const WRAPPERS: Record<EntityField, RegExp> = {
  contexts: /^iglu:com\.snowplowanalytics\.snowplow\/contexts\/jsonschema\/1-\d+-\d+$/,
  derived_contexts: /^iglu:com\.snowplowanalytics\.snowplow\/contexts\/jsonschema\/1-\d+-\d+$/,
  unstruct_event: /^iglu:com\.snowplowanalytics\.snowplow\/unstruct_event\/jsonschema\/1-\d+-\d+$/,
};

function entity(field: EntityField, sd: unknown, out: Entity[], problems: EntityProblem[]): void {
  if (!isObject(sd)) {
    problems.push({ field, message: 'entity is not a {schema, data} object' });
    return;
  }
  const uri = typeof sd.schema === 'string' ? sd.schema : undefined;
  try {
    const key = parseSchemaUri(sd.schema);
    if (!Object.hasOwn(sd, 'data')) throw new Error('entity has no data');
    out.push({ field, uri: uri!, key, data: sd.data });
  } catch (err) {
    problems.push({ field, uri, message: (err as Error).message });
  }
}

/** Every entity of the event, in Snowplow's order (contexts, unstruct event, derived contexts). */
export function entitiesOf(event: EnrichedEvent): { entities: Entity[]; problems: EntityProblem[] } {
  const entities: Entity[] = [];
  const problems: EntityProblem[] = [];
  for (const field of ['contexts', 'unstruct_event', 'derived_contexts'] as const) {
    const text = event[field];
    if (!text) continue;
    const parsed = parseJsonBounded(text);
    if (!parsed.ok) {
      problems.push({ field, message: `not JSON: ${parsed.error}` });
      continue;
    }
    const wrapper = parsed.value;
    if (!isObject(wrapper) || typeof wrapper.schema !== 'string' || !WRAPPERS[field].test(wrapper.schema)) {
      problems.push({ field, message: `not a ${field === 'unstruct_event' ? 'unstruct_event' : 'contexts'} wrapper` });
      continue;
    }
    if (field === 'unstruct_event') entity(field, wrapper.data, entities, problems);
    else if (!Array.isArray(wrapper.data)) problems.push({ field, message: 'contexts data is not an array' });
    else for (const sd of wrapper.data) entity(field, sd, entities, problems);
  }
  return { entities, problems };
}

const isWrapper = (uri: string) => WRAPPERS.contexts.test(uri) || WRAPPERS.unstruct_event.test(uri);

const SCHEMA_STRING = /"schema"\s*:\s*("(?:[^"\\]|\\.)*")/y;

/**
 * Every valid Iglu URI named as a `"schema"` in the event's entity fields — a cheap superset of
 * the entities' schemas (a `"schema"` key inside entity data is picked up too, harmlessly).
 */
export function schemaUrisIn(fieldTexts: Iterable<string | undefined>, into: Set<string>): void {
  for (const text of fieldTexts) {
    if (!text) continue;
    // indexOf finds each `"schema"` key faster than the regex can scan the whole text for it.
    for (let at = text.indexOf('"schema"'); at >= 0; at = text.indexOf('"schema"', at + 1)) {
      SCHEMA_STRING.lastIndex = at;
      const m = SCHEMA_STRING.exec(text);
      if (!m) continue;
      let uri: unknown;
      // A JSON string with no escape is its own text between the quotes (the common case).
      if (!m[1].includes('\\')) uri = m[1].slice(1, -1);
      else {
        try {
          uri = JSON.parse(m[1]);
        } catch {
          continue;
        }
      }
      if (typeof uri !== 'string' || !uri.startsWith('iglu:') || into.has(uri) || isWrapper(uri)) continue;
      try {
        parseSchemaUri(uri);
        into.add(uri);
      } catch {
        // Not a schema key: the reduce step reports the entity as a bad row.
      }
    }
  }
}
