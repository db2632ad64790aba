import type { Grain, Metric, ViewValue } from './definitions';

// Where the batch views and the batch watermark live: the warehouse (`warehouse.kind`). The batch
// layer recomputes them there from atomic.events; the serving layer reads them there. Realtime
// views are always in PostgreSQL (the speed layer's own store) and are not part of this interface.
// The interface only: the implementations import it, and views/make-batch-views-store.ts picks one.

export interface ViewsRun {
  runId: string;
  /** The run's event window; no window (nothing loaded) recomputes nothing but still moves the watermark. */
  window: { from?: number; to?: number };
  /** Per open raw shard: the instant the master dataset is complete through. */
  completeThroughMs: number[];
  latenessMs: number;
}

export interface ViewsRunResult {
  watermark: number | null;
  /** Batch view rows written. */
  rows: number;
}

export interface BatchValues {
  watermark: number | null;
  values: ViewValue[];
}

export interface EventCountFilter {
  appId?: string;
  /** collector_tstamp range [from, to). */
  from?: number;
  to?: number;
}

export interface BatchViewsStore {
  readonly warehouse: 'postgres' | 'redshift';
  /**
   * Recomputes the batch views of the run's window from atomic.events and advances the watermark
   * (views/minute-counts.ts nextWatermark), in one warehouse transaction, then retires the
   * realtime rows the batch views now answer.
   */
  computeViews(run: ViewsRun, opts?: { signal?: AbortSignal }): Promise<ViewsRunResult>;
  readWatermark(): Promise<number | null>;
  /** One metric's batch values per bucket (key '') or per event name (byEvent), with the watermark. */
  readBatch(metric: Metric, grain: Grain, range: { from: number; to: number }, byEvent: boolean): Promise<BatchValues>;
  /** Rows in atomic.events (for the demo and the dashboard's cross-checks). */
  countEvents(filter: EventCountFilter): Promise<number>;
  /** Releases what the store opened itself (never the PostgreSQL pool it was given). */
  close(): Promise<void>;
}
