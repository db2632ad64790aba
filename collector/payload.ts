import { COLLECTOR_PAYLOAD_SCHEMA, type CollectorPayload } from '../codecs/collector-payload';

// Pure: what the collector knows about one HTTP request → Snowplow's CollectorPayload, filled as
// Snowplow's stream collector (3.x) fills it.

export interface RequestFacts {
  ipAddress: string;
  timestamp: number;
  path: string;
  /** Raw (undecoded) query string without the `?`; Snowplow writes "" when there is none. */
  querystring?: string;
  body?: string;
  /** POST only (Snowplow leaves it unset for GET): normalised with `normaliseContentType`. */
  contentType?: string;
  userAgent?: string;
  refererUri?: string;
  hostname?: string;
  networkUserId?: string;
  /** Raw header pairs as received (name, value), already filtered (SP-Anonymous). */
  headers: [string, string][];
}

export function collectorName(name: string, version: string, sink: string): string {
  return `${name}-${version}-${sink}`;
}

const normalised = new Map<string, string | undefined>();

/** Snowplow lower-cases the content type and renders parameters as `type/sub; k=v`. */
export function normaliseContentType(value: string | undefined): string | undefined {
  if (!value) return undefined;
  // Trackers send a handful of distinct values: remembered (boundedly) rather than re-split each time.
  const known = normalised.get(value);
  if (known !== undefined || normalised.has(value)) return known;
  const parts = value.split(';').map((p) => p.trim()).filter(Boolean);
  const result = parts.length > 0 ? parts.join('; ').toLowerCase() : undefined;
  if (value.length <= 256) {
    if (normalised.size >= 256) normalised.clear();
    normalised.set(value, result);
  }
  return result;
}

export function toCollectorPayload(req: RequestFacts, collector: string): CollectorPayload {
  return collectorPayloadOf({ ...req, headers: undefined, headerLines: req.headers.map(([name, value]) => `${name}: ${value}`) }, collector);
}

/** toCollectorPayload for headers already rendered as `Name: value` lines (the collector's own path; `headerLines` is kept). */
export function collectorPayloadOf(req: Omit<RequestFacts, 'headers'> & { headers?: undefined; headerLines: string[] }, collector: string): CollectorPayload {
  const headers = req.headerLines;
  // Snowplow's collector also appends the bare content type as the last header element.
  if (req.contentType) headers.push(req.contentType);
  return {
    schema: COLLECTOR_PAYLOAD_SCHEMA,
    ipAddress: req.ipAddress,
    timestamp: req.timestamp,
    encoding: 'UTF-8',
    collector,
    userAgent: req.userAgent,
    refererUri: req.refererUri,
    path: req.path,
    querystring: req.querystring ?? '',
    body: req.body,
    headers,
    contentType: req.contentType,
    hostname: req.hostname,
    networkUserId: req.networkUserId,
  };
}
