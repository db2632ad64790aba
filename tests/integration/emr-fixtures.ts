import type { ObjectStore } from '../../adapters/object-store';
import { runPrefix } from '../../batch/layout';
import { partText } from '../../batch/run-files';
import type { TaskInput } from '../../engine/job-types';
import { COLLECTOR_PAYLOAD_SCHEMA, encodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { writeLzop } from '../../codecs/lzop';
import { frameRecords } from '../../codecs/record-framing';

// Raw master-dataset files for the EMR engine tests, in the raw sink's format: lzop files of
// length-framed Thrift CollectorPayloads carrying tracker-protocol events.

const T0 = Date.UTC(2024, 2, 1, 12, 0, 0);
export const ETL_TSTAMP = Date.UTC(2024, 2, 1, 13, 0, 0);

const contextsOf = (schema: string, data: unknown) =>
  JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1', data: [{ schema, data }] });
const contexts = contextsOf('iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0', { id: '0f6b3b4a-2c4e-4a8e-9d6c-1f2e3d4c5b6a' });
const unstruct = JSON.stringify({
  schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0',
  data: { schema: 'iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1', data: { targetUrl: 'https://t.test/x' } },
});

const eventId = (file: number, i: number) => `c6ef3124-b53a-4b13-a233-${String(file * 10_000 + i).padStart(12, '0')}`;

function event(file: number, i: number): Record<string, string> {
  const base = { p: 'web', aid: 'shop', tv: 'js-3.17.0', eid: eventId(file, i), dtm: String(T0 + i * 1000), url: `https://shop.test/p/${i}`, duid: `u${i % 7}` };
  switch (i % 3) {
    case 0:
      return { ...base, e: 'pv', page: `Page ${i}`, co: contexts };
    case 1:
      return { ...base, e: 'se', se_ca: 'cart', se_ac: 'add', se_pr: `sku-${i}`, se_va: String(i) };
    default:
      return { ...base, e: 'ue', ue_pr: unstruct, co: contexts };
  }
}

function payload(file: number, events: Record<string, string>[], at: number): CollectorPayload {
  return {
    schema: COLLECTOR_PAYLOAD_SCHEMA,
    ipAddress: '203.0.113.9',
    timestamp: at,
    encoding: 'UTF-8',
    collector: 'sluice-collector',
    userAgent: 'Mozilla/5.0 (test)',
    path: '/com.snowplowanalytics.snowplow/tp2',
    contentType: 'application/json; charset=UTF-8',
    body: JSON.stringify({ schema: 'iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4', data: events }),
    headers: ['Host: c.test'],
    hostname: 'c.test',
    networkUserId: `ecdff4d0-9175-40ac-a8bb-${String(file).padStart(12, '0')}`,
  };
}

/** Bad rows per raw file: an invalid event, an event whose context's schema is unknown, an undecodable record. */
export const BAD_PER_FILE = 3;

/** One raw file: `events` valid events in batches of 10, then the BAD_PER_FILE failures. */
export function rawFile(file: number, events: number): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < events; i += 10) {
    const batch = Array.from({ length: Math.min(10, events - i) }, (_, k) => event(file, i + k));
    records.push(encodeCollectorPayload(payload(file, batch, T0 + i * 1000)));
  }
  records.push(encodeCollectorPayload(payload(file, [{ e: 'pv', p: 'not-a-platform', eid: eventId(file, 9_998) }], T0)));
  const unknownContext = contextsOf('iglu:com.acme/no_such_schema/jsonschema/1-0-0', { id: 7 });
  records.push(encodeCollectorPayload(payload(file, [{ e: 'pv', p: 'web', eid: eventId(file, 9_999), co: unknownContext }], T0)));
  records.push(Buffer.from('not a thrift collector payload'));
  return writeLzop(frameRecords(records));
}

/**
 * Puts `files` raw files in the run's processing folder; returns the run's enrich tasks with
 * `perTask` files each (the enrich step groups small files so: groupRawFiles).
 */
export async function stageRawRun(store: ObjectStore, runId: string, files: number, eventsPerFile: number, perTask = 1): Promise<TaskInput[]> {
  const keys: string[] = [];
  for (let f = 0; f < files; f++) {
    const key = `${runPrefix.rawProcessing(runId)}shard-0/${String(f).padStart(5, '0')}.lzo`;
    await store.put(key, rawFile(f, eventsPerFile));
    keys.push(key);
  }
  const groups = Array.from({ length: Math.ceil(keys.length / perTask) }, (_, g) => keys.slice(perTask * g, perTask * (g + 1)));
  return groups.map((group, index) => ({ runId, key: group[0], keys: group, index, etlTstamp: ETL_TSTAMP, buckets: RAW_RUN_BUCKETS }));
}

/** The bucket count stageRawRun's enrich tasks spread their output over. */
export const RAW_RUN_BUCKETS = 4;

/** Every object under the prefixes, key → content (gzipped parts unzipped). */
export async function snapshot(store: ObjectStore, prefixes: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const prefix of prefixes) {
    for (const key of await store.list(prefix)) out.set(key, partText(key, await store.get(key)));
  }
  return out;
}

export async function deleteAll(store: ObjectStore, prefixes: string[]): Promise<void> {
  for (const prefix of prefixes) for (const key of await store.list(prefix)) await store.delete(key);
}
