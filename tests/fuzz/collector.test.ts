// Fuzz of the collector's HTTP surface through app.inject (see docs/fuzz.md).
import { collectorDefaultLimitsProperty, collectorSmallLimitsProperty } from './collector-properties';
import { fuzzSuite } from './suite';

fuzzSuite('fuzz: collector', [collectorSmallLimitsProperty, collectorDefaultLimitsProperty]);
