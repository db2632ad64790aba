import { encodeCollectorPayload, type CollectorPayload } from '../codecs/collector-payload';
import { badRowJson, type Processor } from '../enrich/bad-rows';
import type { CollectorMetrics } from './metrics';
import type { KinesisSink, SinkRecord } from './sink';
import { splitToRecords } from './split';

// The one step every tracked request goes through: payload → records within the record limit
// (good) and size-violation bad rows (bad) → both sinks, all or nothing. When either buffer has
// no room the request is refused and nothing of it is kept, so the tracker's retry loses nothing
// and duplicates nothing.

export interface Sinks {
  good: KinesisSink;
  bad: KinesisSink;
}

export type IngestResult = 'accepted' | 'full';

export class Ingest {
  private readonly goodBytes;
  private readonly badBytes;

  constructor(
    private readonly sinks: Sinks,
    private readonly maxRecordBytes: number,
    private readonly processor: Processor,
    private readonly metrics: CollectorMetrics,
  ) {
    this.goodBytes = metrics.tally.goodRecordBytes;
    this.badBytes = metrics.tally.badRecordBytes;
  }

  accept(cp: CollectorPayload, partitionKey: string): IngestResult {
    const whole = encodeCollectorPayload(cp);
    // Nearly every request: one record that fits, to the good sink alone.
    if (whole.length <= this.maxRecordBytes) {
      if (!this.sinks.good.offer([{ data: whole, partitionKey }])) {
        this.metrics.tally.refused.inc();
        return 'full';
      }
      this.goodBytes.inc(whole.length + partitionKey.length);
      return 'accepted';
    }
    const { good, bad } = splitToRecords(cp, this.maxRecordBytes, this.processor, cp.timestamp, whole);
    const goodRecords: SinkRecord[] = good.map((data) => ({ data, partitionKey }));
    const badRecords: SinkRecord[] = bad.map((row) => ({ data: Buffer.from(badRowJson(row), 'utf8'), partitionKey }));
    const goodBytes = goodRecords.reduce((n, r) => n + r.data.length + r.partitionKey.length, 0);
    const badBytes = badRecords.reduce((n, r) => n + r.data.length + r.partitionKey.length, 0);
    const goodRoom = this.sinks.good.hasRoom(goodBytes);
    const badRoom = badRecords.length === 0 || this.sinks.bad.hasRoom(badBytes);
    if (!goodRoom || !badRoom) {
      // offer() on a full sink records the refusal, so /sink-health can say which buffer is full.
      if (!goodRoom) this.sinks.good.offer(goodRecords);
      if (!badRoom) this.sinks.bad.offer(badRecords);
      this.metrics.tally.refused.inc();
      return 'full';
    }
    if (goodRecords.length > 0) this.sinks.good.offer(goodRecords);
    if (badRecords.length > 0) this.sinks.bad.offer(badRecords);
    this.goodBytes.inc(goodBytes);
    if (badRecords.length > 0) {
      this.badBytes.inc(badBytes);
      this.metrics.tally.sizeViolations.inc(badRecords.length);
    }
    if (goodRecords.length > 1) this.metrics.tally.splits.inc();
    return 'accepted';
  }
}
