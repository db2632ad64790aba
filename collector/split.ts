import { sizeViolation, type BadRow, type Processor } from '../enrich/bad-rows';
import { parseJsonDepthBounded } from '../codecs/bounded-json';
import { encodeCollectorPayload, type CollectorPayload } from '../codecs/collector-payload';

// Pure: one CollectorPayload → raw records that each fit `maxBytes`, as Snowplow's SplitBatch does.
// A payload that fits goes out whole. A POST that does not is split on the `data` array of its
// self-describing body into as few records as fit; an event that alone does not fit, or a payload
// that cannot be split, becomes a size_violation bad row (with a prefix of the payload, a tenth
// of the limit, as Snowplow keeps) for the bad stream, never a silent drop.

export interface SplitResult {
  good: Buffer[];
  bad: BadRow[];
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** `encoded`: the payload's record, when the caller has it already. */
export function splitToRecords(cp: CollectorPayload, maxBytes: number, processor: Processor, now: number, encoded?: Buffer): SplitResult {
  const whole = encoded ?? encodeCollectorPayload(cp);
  if (whole.length <= maxBytes) return { good: [whole], bad: [] };

  const violation = (payload: CollectorPayload, actual: number, why: string): BadRow =>
    sizeViolation(processor, now, describe(payload, Math.floor(maxBytes / 10)), maxBytes, actual, `oversized collector payload: ${why}`);

  if (cp.body === undefined) return { good: [], bad: [violation(cp, whole.length, 'GET requests cannot be split')] };
  let schema: string;
  let events: unknown[];
  try {
    const parsed = parseJsonDepthBounded(cp.body);
    if (!parsed.ok) throw new Error(parsed.error);
    const json = parsed.value as { schema?: unknown; data?: unknown };
    if (typeof json !== 'object' || json === null || typeof json.schema !== 'string') {
      return { good: [], bad: [violation(cp, whole.length, 'cannot split POST requests which are not self-describing')] };
    }
    if (!Array.isArray(json.data)) {
      return { good: [], bad: [violation(cp, whole.length, 'cannot split POST requests which do not contain a data array')] };
    }
    schema = json.schema;
    events = json.data;
  } catch (err) {
    return { good: [], bad: [violation(cp, whole.length, `cannot split POST requests which are not json: ${(err as Error).message}`)] };
  }

  // Thrift strings are length-prefixed UTF-8, so a record's size is exactly the size with an empty
  // data array plus the events' JSON and the commas between them.
  const base = encodeCollectorPayload({ ...cp, body: JSON.stringify({ schema, data: [] }) }).length;
  if (base >= maxBytes) {
    return { good: [], bad: [violation(cp, whole.length, 'cannot split this POST request because event without "data" field is still too big')] };
  }
  const result: SplitResult = { good: [], bad: [] };
  let batch: string[] = [];
  let size = base;
  const emit = () => {
    if (batch.length === 0) return;
    result.good.push(encodeCollectorPayload({ ...cp, body: `{"schema":${JSON.stringify(schema)},"data":[${batch.join(',')}]}` }));
    batch = [];
    size = base;
  };
  for (const event of events) {
    const json = JSON.stringify(event) ?? 'null';
    const bytes = utf8(json);
    if (base + bytes > maxBytes) {
      const alone = { ...cp, body: `{"schema":${JSON.stringify(schema)},"data":[${json}]}` };
      result.bad.push(violation(alone, bytes, 'this POST request split is still too large'));
      continue;
    }
    const join = batch.length > 0 ? 1 : 0;
    if (size + join + bytes > maxBytes) emit();
    size += (batch.length > 0 ? 1 : 0) + bytes;
    batch.push(json);
  }
  emit();
  return result;
}

/** A readable rendering of the payload, cut to `limit` characters, for the bad row. */
function describe(cp: CollectorPayload, limit: number): string {
  const { body, ...rest } = cp;
  const text = JSON.stringify({ ...rest, body });
  return text.length > limit ? text.slice(0, limit) : text;
}
