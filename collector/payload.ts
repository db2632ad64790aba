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

/** Snowplow lower-cases the content type and renders parameters as `type/sub; k=v`. */
export function normaliseContentType(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const parts = value.split(';').map((p) => p.trim()).filter(Boolean);
  return parts.length > 0 ? parts.join('; ').toLowerCase() : undefined;
}

export function toCollectorPayload(req: RequestFacts, collector: string): CollectorPayload {
  const headers = req.headers.map(([name, value]) => `${name}: ${value}`);
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
