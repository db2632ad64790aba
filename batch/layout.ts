// Where each batch run's data lives in the object store. Keys are deterministic per run and
// input, so re-running any step overwrites its own outputs instead of adding new ones.

export const runPrefix = {
  rawIn: 'raw/in/',
  rawProcessing: (runId: string) => `raw/processing/run=${runId}/`,
  enriched: (runId: string) => `enriched/good/run=${runId}/`,
  enrichedBad: (runId: string) => `enriched/bad/run=${runId}/`,
  shredded: (runId: string) => `shredded/good/run=${runId}/atomic-events/`,
  archiveRaw: (runId: string) => `archive/raw/run=${runId}/`,
  archiveEnriched: (runId: string) => `archive/enriched/run=${runId}/`,
  archiveShredded: (runId: string) => `archive/shredded/run=${runId}/`,
};

/** part-00007 from an input's position in the run's sorted input list. */
export function partName(index: number, ext: string): string {
  return `part-${String(index).padStart(5, '0')}.${ext}`;
}

/** Run ids become object keys and SQL literals: keep them to a safe alphabet. */
export function assertRunId(runId: string): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`);
  return runId;
}
