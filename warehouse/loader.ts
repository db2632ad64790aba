import type { ObjectStore } from '../adapters/object-store';
import { assertRunId, runPrefix, shreddedTypeOf, shredSchemaKey } from '../batch/layout';
import type { Dialect } from './ddl';
import { parseSchemaUri, versionString } from './iglu';
import type { PlanAction } from './migration';
import { shredModel, type ShredModel } from './shred-model';

// One small interface for both warehouses. A load takes everything the run's shred step wrote
// (atomic.events parts, one folder per schema version, the frozen schemas) and applies it in one
// transaction together with the run's load-manifest row; loading a run twice is a no-op.

export interface LoadRequest {
  runId: string;
  window: { from?: number; to?: number };
  /**
   * Reprocessing: first delete the window's rows — atomic.events by collector_tstamp and every
   * shredded table by root_tstamp, `from` inclusive, `to` exclusive — in the same transaction.
   */
  replaceWindow?: boolean;
}

export interface LoadResult {
  /** Rows loaded into atomic.events (or recorded in the manifest when alreadyLoaded). */
  loaded: number;
  alreadyLoaded: boolean;
  /** Rows loaded per table (atomic `events` included). */
  tables: Record<string, number>;
  /** DDL the load applied (tables created, columns added or widened, recovery tables). */
  actions: PlanAction[];
}

export type LoadProgress = (done: number, total: number) => void;

export interface WarehouseLoader {
  readonly dialect: Dialect;
  loadRun(req: LoadRequest, onProgress?: LoadProgress): Promise<LoadResult>;
}

export interface TypeOutput {
  uri: string;
  model: ShredModel;
  /** Folder holding the version's parts (Redshift COPYs the prefix). */
  prefix: string;
  keys: string[];
  expected?: number;
}

export interface RunOutputs {
  atomicPrefix: string;
  atomicKeys: string[];
  /** The event keys the load replaces (`event_id<TAB>collector_tstamp` parts; empty for runs shredded before they existed). */
  keysPrefix: string;
  keyParts: string[];
  /** Rows the shred step wrote; undefined for output without counts (the single-pass `shred` job). */
  expectedAtomic?: number;
  types: TypeOutput[];
}

export class RunOutputsError extends Error {
  override name = 'RunOutputsError';
}

/** What a run's shred step produced, with each schema version's table model and row counts. */
export async function readRunOutputs(store: ObjectStore, runId: string): Promise<RunOutputs> {
  assertRunId(runId);
  const root = runPrefix.shreddedRun(runId);
  const atomicPrefix = runPrefix.shredded(runId);
  const countsPrefix = runPrefix.shreddedCounts(runId);
  const keysPrefix = runPrefix.shreddedKeys(runId);
  const out: RunOutputs = { atomicPrefix, atomicKeys: [], keysPrefix, keyParts: [], types: [] };
  const byUri = new Map<string, string[]>();
  const countKeys: string[] = [];
  for (const key of await store.list(root)) {
    if (key.startsWith(atomicPrefix)) out.atomicKeys.push(key);
    else if (key.startsWith(countsPrefix)) countKeys.push(key);
    else if (key.startsWith(keysPrefix)) out.keyParts.push(key);
    else {
      const uri = shreddedTypeOf(key.slice(root.length));
      if (!uri) throw new RunOutputsError(`unexpected object in the run's shredded output: ${key}`);
      let list = byUri.get(uri);
      if (!list) byUri.set(uri, (list = []));
      list.push(key);
    }
  }
  const expectedTypes: Record<string, number> = {};
  if (countKeys.length) out.expectedAtomic = 0;
  for (const key of countKeys) {
    const c = JSON.parse((await store.get(key)).toString('utf8')) as { atomic: number; tables: Record<string, number> };
    out.expectedAtomic! += c.atomic;
    for (const [uri, n] of Object.entries(c.tables)) expectedTypes[uri] = (expectedTypes[uri] ?? 0) + n;
  }
  for (const [uri, keys] of [...byUri].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const key = parseSchemaUri(uri);
    const schemaKey = shredSchemaKey(runId, { ...key, version: versionString(key.version) });
    let schema: unknown;
    try {
      schema = JSON.parse((await store.get(schemaKey)).toString('utf8'));
    } catch (err) {
      throw new RunOutputsError(`run ${runId} has rows for ${uri} but no readable schema at ${schemaKey}: ${(err as Error).message}`);
    }
    const prefix = keys[0].slice(0, keys[0].lastIndexOf('/') + 1);
    out.types.push({ uri, model: shredModel(key, schema), prefix, keys, expected: countKeys.length ? (expectedTypes[uri] ?? 0) : undefined });
  }
  return out;
}
