// Fuzz of what reads enrich's output: the bad-rows sink, the realtime views, the batch shred (see docs/fuzz.md).
import { describeBadRowProperty, shredProperty, viewEventsProperty } from './downstream-properties';
import { fuzzSuite } from './suite';

fuzzSuite('fuzz: downstream of enrich', [describeBadRowProperty, viewEventsProperty, shredProperty]);
