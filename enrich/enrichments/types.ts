import type { EnrichedEvent } from '../../codecs/enriched-tsv';
import type { EnrichmentFailure } from '../bad-rows';

/** A self-describing entity an enrichment adds to derived_contexts. */
export interface DerivedContext { schema: string; data: unknown }

/** Identifies an enrichment in its failures: its config schema and a short name. */
export interface EnrichmentInfo { schemaKey: string; identifier: string }

export type EnrichmentResult = { ok: true; contexts: DerivedContext[] } | { ok: false; failures: EnrichmentFailure[] };

// The badrows schema caps a simple error message at 512 characters.
export const simpleFailure = (info: EnrichmentInfo | null, error: string): EnrichmentFailure => ({ enrichment: info, message: { error: error.slice(0, 512) } });

export type { EnrichedEvent };
