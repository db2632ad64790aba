import type { EnrichedEvent } from '../codecs/enriched-tsv';
import type { InvalidValue } from './shred-atomic';

// Bad rows of the shred step, in Snowplow's formats (iglu-central badrows schemas):
// loader_parsing_error 2-0-0 for lines that are not loadable enriched events, and
// loader_iglu_error 2-0-1 for entities whose schema is missing, unusable or not matched.

export const SHRED_PROCESSOR = { artifact: 'sluice-shred', version: '0.1.0' };

const PARSING = 'iglu:com.snowplowanalytics.snowplow.badrows/loader_parsing_error/jsonschema/2-0-0';
const IGLU = 'iglu:com.snowplowanalytics.snowplow.badrows/loader_iglu_error/jsonschema/2-0-1';

export type ParsingFailure =
  | { type: 'NotTSV' }
  | { type: 'FieldNumberMismatch'; fieldCount: number }
  | { type: 'RowDecodingError'; errors: (InvalidValue | { type: 'UnhandledRowDecodingError'; message: string })[] };

export function parsingBadRow(line: string, failure: ParsingFailure): string {
  return JSON.stringify({ schema: PARSING, data: { processor: SHRED_PROCESSOR, failure, payload: line } });
}

export type IgluFailure =
  | { schemaKey: string; message: string } // InvalidSchema: not a key, or a schema that cannot be shredded
  | { schemaKey: string; value: unknown; expected: string } // WrongType
  | { schemaKey: string; error: { error: 'ResolutionError'; lookupHistory: unknown[] } };

export function notFound(schemaKey: string, atMs: number): IgluFailure {
  return {
    schemaKey,
    error: {
      error: 'ResolutionError',
      lookupHistory: [{ repository: 'sluice run schemas', errors: [{ error: 'NotFound' }], attempts: 1, lastAttempt: new Date(atMs).toISOString() }],
    },
  };
}

export function igluBadRow(event: EnrichedEvent, failure: IgluFailure[]): string {
  return JSON.stringify({ schema: IGLU, data: { processor: SHRED_PROCESSOR, failure, payload: event } });
}
