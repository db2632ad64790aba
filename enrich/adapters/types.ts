import type { AdapterFailure, CPFormatViolationMessage, NVP, TrackerProtocolViolation } from '../bad-rows';

export const SNOWPLOW_VENDOR = 'com.snowplowanalytics.snowplow';

/** The adapter a request path selects: `/{vendor}/{version}`, or tp1 for `/i` and `/ice.png`. */
export interface Api { vendor: string; version: string }

/** One raw event: tracker-protocol parameter name → value. */
export type RawEventParams = Record<string, string>;

/**
 * One event of a payload. `source` is the body item as sent (undefined when the event came from
 * the querystring alone), so a per-event bad row can carry exactly that event.
 */
export type RawEventResult =
  | { ok: true; params: RawEventParams; source: unknown }
  | { ok: false; violations: TrackerProtocolViolation[]; source: unknown };

export type ExtractResult =
  | { kind: 'format_violation'; message: CPFormatViolationMessage }
  | { kind: 'adapter_failures'; api: Api; querystring: NVP[]; messages: AdapterFailure[] }
  | { kind: 'tracker_protocol_violations'; api: Api; querystring: NVP[]; messages: TrackerProtocolViolation[] }
  | { kind: 'events'; api: Api; querystring: NVP[]; bodySchema: string | null; events: RawEventResult[] }
  | { kind: 'pending'; schemaUris: string[] };
