// Per-minute event counts: the one view definition shared by the batch and the speed layer, so
// the two layers count the same thing for the same minute.

export const MINUTE_MS = 60_000;

export function floorMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

/** Counts events per minute of their collector timestamp (epoch ms). */
export function countByMinute(collectorTstamps: Iterable<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of collectorTstamps) {
    const m = floorMinute(t);
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  return counts;
}

export interface MinuteCount {
  minute: number;
  count: number;
}

export interface MergedPoint extends MinuteCount {
  source: 'batch' | 'realtime';
}

export interface MergedSeries {
  /** Minutes before this instant come from the batch views, the rest from the realtime views. */
  watermark: number | null;
  points: MergedPoint[];
  totals: { batch: number; realtime: number; all: number };
}

/**
 * Merges batch and realtime per-minute counts at the batch watermark (a minute boundary):
 * minutes wholly before it are answered by the batch view, later ones by the realtime view.
 * Only minutes with events in the answering view appear.
 */
export function mergeAtWatermark(
  batch: MinuteCount[],
  realtime: MinuteCount[],
  watermark: number | null,
  range: { from: number; to: number },
): MergedSeries {
  const points: MergedPoint[] = [];
  const inRange = (m: number) => m >= range.from && m < range.to;
  if (watermark !== null) {
    for (const b of batch) if (inRange(b.minute) && b.minute < watermark && b.count > 0) points.push({ ...b, source: 'batch' });
  }
  for (const r of realtime) {
    if (inRange(r.minute) && (watermark === null || r.minute >= watermark) && r.count > 0) points.push({ ...r, source: 'realtime' });
  }
  points.sort((a, b) => a.minute - b.minute);
  const totals = { batch: 0, realtime: 0, all: 0 };
  for (const p of points) {
    totals[p.source] += p.count;
    totals.all += p.count;
  }
  return { watermark, points, totals };
}

/**
 * The batch watermark a run may advance to: the last whole minute the master dataset is known
 * to hold completely (every raw shard's sink has flushed past it, less an allowance for events
 * still in the collector's buffer), and never backwards.
 */
export function nextWatermark(previous: number | null, completeThroughMs: number[], latenessMs: number): number | null {
  if (completeThroughMs.length === 0) return previous;
  const candidate = floorMinute(Math.min(...completeThroughMs) - latenessMs);
  return previous === null ? candidate : Math.max(previous, candidate);
}
