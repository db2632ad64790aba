// The operator's contract with its activities and lease holders: plain types, importing nothing,
// so activities/, workflows/ and cli/ can all share them without an import cycle.

export interface TimeWindow {
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
}

export type LeaseKind = 'batch' | 'reprocess' | 'retention';

export interface LeaseRequest {
  kind: LeaseKind;
  /** The run id (batch), or the job id: unique among holders. */
  id: string;
  /** The holder's workflow id: the grant is signalled there. */
  workflowId: string;
  requestedAt: number;
}

export interface LeaseGrant {
  id: string;
  /** Windows still needed by queued reprocesses and owed (skipped) loads: retention keeps them. */
  protect: TimeWindow[];
}

export interface LeaseRelease {
  id: string;
  outcome: 'completed' | 'load-skipped' | 'failed' | 'aborted';
  /** The holder's event window (a batch run's, once shredded). */
  window?: TimeWindow;
  watermark?: number | null;
  error?: string;
}

export interface OperatorPolicy {
  /** Longest window one request may ask for. */
  maxReprocessMs: number;
  /** A reprocess runs as child runs of at most this span each. */
  chunkMs: number;
  /** How far back the master dataset is kept. */
  masterRetentionMs: number;
  /** Reprocess a skipped load's window as soon as the lease is free. */
  reprocessOwedWindows: boolean;
  /** Continue as new once the history holds this many events (Temporal also suggests it). */
  historyLimit: number;
}

/** What the Temporal UI's signal form, `temporal workflow signal|update` and `sluice reprocess` send. */
export interface ReprocessRequestBody {
  from: string;
  to: string;
  reason?: string;
}
