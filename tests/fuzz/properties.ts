// Every fuzz property, for the long campaign (the vitest files register the same ones).
import { collectorDefaultLimitsProperty, collectorSmallLimitsProperty } from './collector-properties';
import { describeBadRowProperty, shredProperty, viewEventsProperty } from './downstream-properties';
import { enrichPayloadProperty, enrichPayloadsProperty, enrichRecordsProperty } from './enrich-properties';
import { kinesaliteProperty } from './kinesalite-property';
import type { FuzzProperty } from './runner';

export const ALL_PROPERTIES = [
  enrichPayloadProperty, enrichPayloadsProperty, enrichRecordsProperty,
  collectorSmallLimitsProperty, collectorDefaultLimitsProperty, kinesaliteProperty,
  describeBadRowProperty, viewEventsProperty, shredProperty,
] as unknown as FuzzProperty<unknown, unknown>[];
