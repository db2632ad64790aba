// The enricher a process uses, built once from the `enrich` section of the Sluice config: the
// local registry (plus any remote ones), and the enrichments configured in enrichmentsDir.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SluiceConfig, loadConfig } from '../config';
import { DEFAULT_MAX_ENRICHED_BYTES, type Enricher } from './enrich';
import { loadEnrichments } from './enrichments/registry';
import { createIglu } from './iglu';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type EnrichSettings = SluiceConfig['enrich'];

export function createEnricher(settings: Partial<EnrichSettings> = {}, root = PROJECT_ROOT): Enricher {
  const at = (p: string) => path.resolve(root, p);
  const iglu = createIglu({
    schemasDir: at(settings.schemasDir ?? 'schemas'),
    resolverConfigFile: settings.resolverConfig ? at(settings.resolverConfig) : undefined,
  });
  const enrichments = loadEnrichments(at(settings.enrichmentsDir ?? 'config/enrichments'), {
    validator: iglu.validator,
    jsTimeoutMs: settings.jsTimeoutMs,
    jsLimits: {
      maxOldGenerationMb: settings.jsMaxOldGenerationMb, maxYoungGenerationMb: settings.jsMaxYoungGenerationMb,
      stackMb: settings.jsStackMb, maxOutputBytes: settings.jsMaxOutputBytes,
    },
  });
  return { iglu, enrichments, maxEnrichedBytes: settings.maxEnrichedBytes ?? DEFAULT_MAX_ENRICHED_BYTES };
}

const built = new Map<string, Enricher>();

/** One enricher per distinct settings (from the process's Sluice config when none are given). */
export function getEnricher(settings?: EnrichSettings): Enricher {
  const s = settings ?? loadConfig().enrich;
  const key = JSON.stringify(s);
  let e = built.get(key);
  if (!e) { e = createEnricher(s); built.set(key, e); }
  return e;
}
