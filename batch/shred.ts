import { parseEnrichedTsv, parseTstamp } from '../codecs/enriched-tsv';
import { ATOMIC_COLUMNS } from '../warehouse/atomic-events';

// Shred: enriched TSV → atomic.events rows in PostgreSQL COPY text format (tab-separated, empty =
// NULL, backslashes escaped). Pure.

function copyEscape(value: string): string {
  return value.replace(/\\/g, '\\\\');
}

export interface ShreddedPart {
  rows: string;
  count: number;
  minTstamp?: number;
  maxTstamp?: number;
}

export function shredEnrichedLines(lines: Iterable<string>): ShreddedPart {
  const out: string[] = [];
  let minTstamp: number | undefined;
  let maxTstamp: number | undefined;
  for (const line of lines) {
    if (line.length === 0) continue;
    const event = parseEnrichedTsv(line) as Record<string, string | undefined>;
    out.push(ATOMIC_COLUMNS.map((c) => copyEscape(event[c] ?? '')).join('\t'));
    const t = parseTstamp(event.collector_tstamp ?? '');
    if (minTstamp === undefined || t < minTstamp) minTstamp = t;
    if (maxTstamp === undefined || t > maxTstamp) maxTstamp = t;
  }
  return { rows: out.length ? `${out.join('\n')}\n` : '', count: out.length, minTstamp, maxTstamp };
}
