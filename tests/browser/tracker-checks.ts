import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { expect } from 'vitest';
import { readStreamRecords } from '../helpers/kinesis';
import { decodeCollectorPayload, type CollectorPayload } from '../../codecs/collector-payload';
import { CONTEXTS, EXPECTED, SCENARIO } from './scenario';

// Shared by the tracker tests: what a tracker sent (captured at the tracker) against what the
// collector wrote (raw Kinesis records, decoded with the Thrift decoder), event by event.

export type Params = Record<string, string>;

export interface SentRequest {
  method: string;
  url: string;
  body?: string | null;
}

/** The events of one tracker request: the query parameters of a GET, the `data` of a POST. */
export function eventsFromRequest(req: SentRequest): Params[] {
  if (req.method === 'GET') return [Object.fromEntries(new URL(req.url).searchParams)];
  return (JSON.parse(req.body ?? '') as { data: Params[] }).data;
}

/** The events of one raw record, as enrich would read them. */
export function eventsFromRecord(p: CollectorPayload): Params[] {
  if (p.body) return (JSON.parse(p.body) as { data: Params[] }).data;
  return [Object.fromEntries(new URLSearchParams(p.querystring ?? ''))];
}

export async function readRawRecords(client: KinesisClient, stream: string): Promise<CollectorPayload[]> {
  return (await readStreamRecords(client, stream)).map((data) => decodeCollectorPayload(data));
}

const b64json = (s: string) => JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as unknown;
const selfDescribing = (p: Params, plain: string, encoded: string) => (p[encoded] ? b64json(p[encoded]) : p[plain] ? JSON.parse(p[plain]) : undefined) as { schema: string; data: unknown } | undefined;

/** One of each scenario event, with its exact protocol fields and our contexts attached. */
export function expectScenario(events: Params[], appId: string): void {
  const byType = (e: string) => events.filter((p) => p.e === e);
  expect(events.map((p) => p.e).sort()).toEqual(['pv', 'se', 'ti', 'ti', 'tr', 'ue']);
  for (const p of events) {
    expect(p.aid).toBe(appId);
    expect(p.eid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number(p.dtm)).toBeGreaterThan(1.7e12);
    const contexts = selfDescribing(p, 'co', 'cx');
    expect(contexts?.schema).toMatch(/^iglu:com\.snowplowanalytics\.snowplow\/contexts\/jsonschema\/1-0-\d$/);
    expect(contexts?.data).toEqual(expect.arrayContaining(CONTEXTS));
  }
  expect(byType('pv')[0].page).toBe(SCENARIO.pageTitle);
  for (const [type, expected] of Object.entries(EXPECTED)) {
    const got = byType(type);
    expect(got).toHaveLength(expected.length);
    for (const fields of expected) expect(got).toContainEqual(expect.objectContaining(fields));
  }
  const ue = selfDescribing(byType('ue')[0], 'ue_pr', 'ue_px');
  expect(ue).toEqual({ schema: 'iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0', data: SCENARIO.selfDescribing });
}

/** Every event the tracker sent is in the raw stream once, with every field as sent. */
export function expectSameEvents(sent: Params[], stored: Params[]): void {
  const byEid = (list: Params[]) => new Map(list.map((p) => [p.eid, p]));
  expect(stored).toHaveLength(sent.length);
  const storedByEid = byEid(stored);
  expect(storedByEid.size).toBe(stored.length);
  for (const [eid, p] of byEid(sent)) expect(storedByEid.get(eid)).toEqual(p);
}
