// Fuzz of enrich's entry points (see docs/fuzz.md): real tracker payloads and hostile mutations.
import { enrichPayloadProperty, enrichPayloadsProperty, enrichRecordsProperty } from './enrich-properties';
import { fuzzSuite } from './suite';

fuzzSuite('fuzz: enrich', [enrichPayloadProperty, enrichPayloadsProperty, enrichRecordsProperty]);
