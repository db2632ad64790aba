import { type EnrichedEvent, type EnrichedField, ENRICHED_FIELDS, isTstamp } from '../codecs/enriched-tsv';
import { isUuid } from '../codecs/uuid';
import { ATOMIC_COLUMNS, atomicColumnType } from '../warehouse/atomic-events';
import { copyEscape, storable, truncate, type RenderStats } from './shred-values';

// atomic.events rows in COPY text (empty field = NULL, as Snowplow's loaders read the enriched
// TSV with EMPTYASNULL). Each value is checked against its column so that one odd event becomes
// a bad row instead of failing the whole load: strings longer than their column are cut to it
// (what Redshift's TRUNCATECOLUMNS does, counted), anything else that does not fit is an error.

export interface InvalidValue {
  type: 'InvalidValue';
  key: string;
  value: string;
  message: string;
}

type Check = (v: string) => string | undefined; // error message, or undefined when valid

// An event's timestamps repeat across events (one etl_tstamp per run; one collector_tstamp and
// dvce_sent_tstamp per request): the last few valid ones are remembered.
const recentTstamps: string[] = ['', '', '', ''];
let nextRecent = 0;

/** What codecs' parseTstamp accepts and both warehouses read (year 0 parses, but neither has it). */
function validTstamp(v: string): boolean {
  if (v === recentTstamps[0] || v === recentTstamps[1] || v === recentTstamps[2] || v === recentTstamps[3]) return v !== '';
  if (!isTstamp(v) || v.startsWith('0000')) return false;
  recentTstamps[nextRecent] = v;
  nextRecent = (nextRecent + 1) & 3;
  return true;
}

interface ColumnRule {
  name: string;
  notNull: boolean;
  maxChars?: number;
  check?: Check;
}

function ruleFor(name: string): ColumnRule {
  const type = atomicColumnType(name).toLowerCase();
  const notNull = type.endsWith(' not null');
  const base = notNull ? type.slice(0, -' not null'.length) : type;
  const rule: ColumnRule = { name, notNull };
  const len = /^(?:varchar|char)\((\d+)\)$/.exec(base);
  if (len) rule.maxChars = Number(len[1]);
  if (name === 'event_id') rule.check = (v) => (isUuid(v) ? undefined : 'not a UUID');
  else if (base === 'timestamp') {
    rule.check = (v) => (validTstamp(v) ? undefined : 'not a timestamp (yyyy-MM-dd HH:mm:ss.SSS)');
  } else if (base === 'integer') {
    rule.check = (v) => (/^-?\d{1,10}$/.test(v) && Math.abs(Number(v)) <= 2147483647 ? undefined : 'not a 32-bit integer');
  } else if (base === 'double precision') {
    rule.check = (v) => (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) && Number.isFinite(Number(v)) ? undefined : 'not a number');
  } else if (/^decimal\((\d+),(\d+)\)$/.test(base)) {
    const [, p, s] = /^decimal\((\d+),(\d+)\)$/.exec(base)!;
    const re = new RegExp(`^-?\\d{1,${Number(p) - Number(s)}}(\\.\\d+)?$`);
    rule.check = (v) => (re.test(v) ? undefined : `not a decimal fitting ${base}`);
  } else if (base === 'boolean') {
    rule.check = (v) => (/^(0|1|true|false)$/i.test(v) ? undefined : 'not a boolean (0/1/true/false)');
  }
  return rule;
}

const RULES: readonly ColumnRule[] = ATOMIC_COLUMNS.map(ruleFor);
/** Where each atomic column's value sits in an enriched TSV line. */
const SOURCE: readonly number[] = ATOMIC_COLUMNS.map((c) => ENRICHED_FIELDS.indexOf(c as EnrichedField));

// A line with none of these (and no lone surrogate) needs no value rewritten: TSV fields hold no
// tab or line feed, so only a backslash, a carriage return or a NUL would need escaping or replacing.
const NEEDS_REWRITE = /[\\\r\u0000]/;

/** Whether every field of an enriched line can go into COPY text as it is (checked once per line). */
export function copySafeLine(line: string): boolean {
  return !NEEDS_REWRITE.test(line) && (line as string & { isWellFormed(): boolean }).isWellFormed();
}

export type AtomicRowResult = { row: string } | { errors: InvalidValue[] };

/**
 * The atomic.events row of an enriched event given as its TSV fields, with `eventId` in place of
 * its own (de-duplication may re-identify it), or why it cannot be loaded. `copySafe`: the
 * caller checked the whole line with copySafeLine.
 */
export function atomicRowFromFields(fields: readonly string[], eventId: string, copySafe: boolean, stats: RenderStats): AtomicRowResult {
  const out: string[] = new Array(RULES.length);
  let errors: InvalidValue[] | undefined;
  for (let i = 0; i < RULES.length; i++) {
    const rule = RULES[i];
    const raw = i === EVENT_ID ? eventId : fields[SOURCE[i]];
    if (raw === undefined || raw === '') {
      if (rule.notNull) (errors ??= []).push({ type: 'InvalidValue', key: rule.name, value: '', message: 'required field is empty' });
      out[i] = '';
      continue;
    }
    const problem = rule.check?.(raw);
    if (problem) {
      (errors ??= []).push({ type: 'InvalidValue', key: rule.name, value: raw.slice(0, 1000), message: problem });
      continue;
    }
    let v = copySafe ? raw : storable(raw);
    if (rule.maxChars !== undefined && v.length > rule.maxChars) {
      const cut = truncate(v, rule.maxChars);
      if (cut.truncated) stats.truncated++;
      v = cut.value;
    }
    out[i] = copySafe ? v : copyEscape(v);
  }
  return errors ? { errors } : { row: out.join('\t') };
}

const EVENT_ID = ATOMIC_COLUMNS.indexOf('event_id');

/**
 * Where each field of a tab-separated line ends (its tab, or the line's end) into `ends`; returns
 * the line's field count (counting stops past `ends.length`). Finds the fields without making a
 * string of each (~130 per enriched line).
 */
export function fieldEnds(line: string, ends: Int32Array): number {
  let n = 0;
  for (let tab = line.indexOf('\t'); tab >= 0; tab = line.indexOf('\t', tab + 1)) {
    if (n === ends.length) return n + 1;
    ends[n++] = tab;
  }
  if (n === ends.length) return n + 1;
  ends[n++] = line.length;
  return n;
}

const fieldStart = (ends: Int32Array, i: number) => (i === 0 ? 0 : ends[i - 1] + 1);

// The atomic columns are runs of consecutive enriched fields (the entity fields are left out), so
// a row that needs no value changed is a few slices of its line.
const RUNS: readonly (readonly [number, number])[] = (() => {
  const runs: [number, number][] = [];
  for (const s of SOURCE) {
    const last = runs[runs.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else runs.push([s, s]);
  }
  return runs;
})();
const EVENT_ID_FIELD = SOURCE[EVENT_ID];

/** Whether every value of a copy-safe line fits its column as it is (`eventId` in place of its own). */
function fitsAsIs(line: string, ends: Int32Array, eventId: string): boolean {
  for (let i = 0; i < RULES.length; i++) {
    const rule = RULES[i];
    if (i === EVENT_ID) {
      if (rule.check?.(eventId) !== undefined || eventId.length > (rule.maxChars ?? Infinity)) return false;
      continue;
    }
    const s = SOURCE[i];
    const a = fieldStart(ends, s);
    const b = ends[s];
    if (a === b) {
      if (rule.notNull) return false;
      continue;
    }
    if (rule.maxChars !== undefined && b - a > rule.maxChars) return false;
    if (rule.check && rule.check(line.slice(a, b)) !== undefined) return false;
  }
  return true;
}

/**
 * atomicRowFromFields for a whole enriched line whose field ends are in `ends` (fieldEnds gave
 * ENRICHED_FIELD_COUNT). A line whose values all fit as they are (almost every line) becomes its
 * row without splitting it; any other goes through atomicRowFromFields, so both give one answer.
 */
export function atomicRowFromLine(line: string, ends: Int32Array, eventId: string, stats: RenderStats): AtomicRowResult {
  const copySafe = copySafeLine(line);
  if (!copySafe || !fitsAsIs(line, ends, eventId)) return atomicRowFromFields(line.split('\t'), eventId, copySafe, stats);
  const idStart = fieldStart(ends, EVENT_ID_FIELD);
  const idEnd = ends[EVENT_ID_FIELD];
  const sameId = idEnd - idStart === eventId.length && line.startsWith(eventId, idStart);
  let row = '';
  for (let k = 0; k < RUNS.length; k++) {
    const a = fieldStart(ends, RUNS[k][0]);
    const b = ends[RUNS[k][1]];
    if (k > 0) row += '\t';
    row += !sameId && a <= idStart && idEnd <= b ? `${line.slice(a, idStart)}${eventId}${line.slice(idEnd, b)}` : line.slice(a, b);
  }
  return { row };
}

/** The atomic.events row of an enriched event, or why it cannot be loaded. */
export function atomicRow(event: EnrichedEvent, stats: RenderStats): AtomicRowResult {
  return atomicRowFromFields(ENRICHED_FIELDS.map((f) => event[f] ?? ''), event.event_id ?? '', false, stats);
}
