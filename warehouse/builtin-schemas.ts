import { DUPLICATE_SCHEMA_URI } from '../batch/dedupe';

// Schemas the shredder itself emits entities for. They come from the schema lookup like any
// other; this copy (Iglu Central's, as published) is the fallback when the registry lacks it.

export const BUILTIN_SCHEMAS: Readonly<Record<string, object>> = {
  [DUPLICATE_SCHEMA_URI]: {
    $schema: 'http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#',
    description: 'Context containing first duplicated event id',
    self: { vendor: 'com.snowplowanalytics.snowplow', name: 'duplicate', format: 'jsonschema', version: '1-0-0' },
    type: 'object',
    properties: { originalEventId: { type: 'string', format: 'uuid' } },
    required: ['originalEventId'],
    additionalProperties: false,
  },
};
