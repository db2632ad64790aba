// The invariants every fuzz case checks, shared by the properties: bad rows serialisable and
// within their bound, no prototype pollution, heap bounded, and every input event accounted for.
// A broken invariant throws a FuzzViolation whose `invariant` names the class of failure, so
// the campaign can group failures and the report can say which rule broke.
import v8 from 'node:v8';
import vm from 'node:vm';
import { type BadRow, MAX_BAD_ROW_BYTES, badRowJson } from '../../enrich/bad-rows';
import { ENRICHED_FIELDS } from '../../codecs/enriched-tsv';
import type { EnrichResult } from '../../enrich/enrich';
import { TP2 } from './tracker-arbitraries';

export class FuzzViolation extends Error {
  constructor(readonly invariant: string, message: string) {
    super(`[${invariant}] ${message}`);
    this.name = 'FuzzViolation';
  }
}

let checked = 0;
/** How many invariant checks have passed in this process (the campaign reports it). */
export const invariantsChecked = (): number => checked;

/** Asserts one invariant; `detail` is computed only on failure. */
export function must(ok: boolean, invariant: string, detail: () => string): void {
  if (!ok) throw new FuzzViolation(invariant, detail());
  checked++;
}

/** Runs an entry point that must never throw; a throw is reported as that invariant. */
export async function noThrow<T>(entry: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    const out = await fn();
    checked++;
    return out;
  } catch (err) {
    if (err instanceof FuzzViolation) throw err;
    const e = err as Error;
    throw new FuzzViolation(`no-throw:${entry}`, `${entry} threw ${e?.name}: ${String(e?.message).slice(0, 500)}\n${String(e?.stack).split('\n').slice(1, 6).join('\n')}`);
  }
}

export const short = (v: unknown, max = 300): string => {
  let s: string;
  try { s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
};

/** A bad row as every sink writes it: stringifies, and badRowJson never throws and stays within the bound. */
export function checkBadRow(row: BadRow, where: string): string {
  let raw: string | undefined;
  try {
    raw = JSON.stringify(row);
  } catch (err) {
    throw new FuzzViolation('bad-row-stringify', `${where}: JSON.stringify of a ${short(row?.schema)} row threw ${(err as Error).message}`);
  }
  must(typeof raw === 'string', 'bad-row-stringify', () => `${where}: JSON.stringify gave ${typeof raw}`);
  let line: string;
  try {
    line = badRowJson(row);
  } catch (err) {
    throw new FuzzViolation('bad-row-json-throws', `${where}: badRowJson threw ${(err as Error).message}`);
  }
  const bytes = Buffer.byteLength(line, 'utf8');
  must(bytes <= MAX_BAD_ROW_BYTES, 'bad-row-size', () => `${where}: badRowJson gave ${bytes} bytes > ${MAX_BAD_ROW_BYTES}`);
  must(!/[\n\r]/.test(line), 'bad-row-one-line', () => `${where}: bad row JSON holds a line break`);
  let back: unknown;
  try { back = JSON.parse(line); } catch { back = undefined; }
  must(typeof back === 'object' && back !== null && typeof (back as { schema?: unknown }).schema === 'string', 'bad-row-readable', () => `${where}: badRowJson output does not parse back: ${short(line)}`);
  return line;
}

// ---- prototype pollution ----
const PROTOS: [string, object][] = [['Object.prototype', Object.prototype], ['Array.prototype', Array.prototype], ['Function.prototype', Function.prototype], ['String.prototype', String.prototype]];
const snapshot = PROTOS.map(([name, p]) => [name, new Set(Reflect.ownKeys(p))] as const);

/** Object.prototype (and friends) have exactly the keys they had when this module loaded. */
export function checkPrototypes(where: string): void {
  for (const [name, keys] of snapshot) {
    const proto = PROTOS.find(([n]) => n === name)![1];
    const added = Reflect.ownKeys(proto).filter((k) => !keys.has(k));
    must(added.length === 0, 'prototype-pollution', () => `${where}: ${name} gained ${added.map(String).join(', ')}`);
  }
  const probe: Record<string, unknown> = {};
  must(probe.polluted === undefined && probe.isAdmin === undefined, 'prototype-pollution', () => `${where}: a fresh object reads polluted=${short(probe.polluted)}`);
}

// ---- heap ----
let gcFn: (() => void) | undefined;
/** A real `gc()` even without --expose-gc, so retained memory can be measured around one case. */
function gc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
}

export const HEAP_CEILING_BYTES = Number(process.env.FUZZ_HEAP_MB ?? 1536) * 1024 * 1024;
/** A case whose input is ≤ ~100 KB must not leave more than this behind. */
export const RETAINED_LIMIT_BYTES = 50 * 1024 * 1024;

export function checkHeap(where: string): void {
  const used = process.memoryUsage().heapUsed;
  if (used <= HEAP_CEILING_BYTES) { checked++; return; }
  gc();
  const after = process.memoryUsage().heapUsed;
  must(after <= HEAP_CEILING_BYTES, 'heap-ceiling', () => `${where}: heap ${Math.round(after / 1e6)} MB after gc > ceiling ${Math.round(HEAP_CEILING_BYTES / 1e6)} MB`);
}

/**
 * Runs one case between two full collections and checks what it left behind. Caches the code
 * fills on purpose (memos of URLs, user agents, validators) are bounded, and warmed up by the
 * cases before, so a real leak shows as tens of megabytes from a small input.
 */
export async function checkRetained<T>(where: string, inputBytes: number, fn: () => Promise<T>): Promise<T> {
  gc();
  const before = process.memoryUsage().heapUsed;
  const out = await fn();
  gc();
  const retained = process.memoryUsage().heapUsed - before;
  if (inputBytes <= 100_000) {
    must(retained <= RETAINED_LIMIT_BYTES, 'heap-retained', () => `${where}: a ${inputBytes}-byte input left ${Math.round(retained / 1e6)} MB on the heap`);
  }
  return out;
}

// ---- accounting ----
/**
 * How many events a collector payload carries, as enrich's contract counts them: a tp2 POST whose
 * body is a JSON object with a non-empty `data` array carries one per item; anything else on a
 * tracker path is one event. `null`: the payload can only fail whole (a body that is not JSON,
 * no data array, or a path no adapter takes), so only a single payload-level bad row is right.
 */
export function expectedEvents(p: { path?: string; body?: string; querystring?: string }): number | null {
  // Enrich reads the path as (/)vendor/version(/).
  const api = String(p.path ?? '').replace(/^\/|\/$/g, '');
  const hasBody = p.body !== undefined && p.body !== '';
  let json: unknown;
  const parsed = (() => { try { json = JSON.parse(p.body!); return true; } catch { return false; } })();
  if (api === TP2.slice(1) && hasBody) {
    if (!parsed) return null;
    const data = (json as { data?: unknown } | null)?.data;
    return Array.isArray(data) && data.length > 0 ? data.length : null;
  }
  // The Iglu webhook takes a JSON array body as one event per item.
  if (api === 'com.snowplowanalytics.iglu/v1' && hasBody && parsed && Array.isArray(json) && json.length > 0) return json.length;
  return 1;
}

const EVENT_FIELD = ENRICHED_FIELDS.indexOf('event');

/**
 * Good + bad covers every input event: either one payload-level bad row and nothing else, or
 * exactly one outcome per event (a pii_transformation event is an extra good line of its parent).
 */
export function checkAccounting(where: string, expected: number | null, r: EnrichResult, keptEvents: boolean): { perEvent: number; payloadLevel: boolean } {
  must(r.pending === undefined, 'accounting-pending', () => `${where}: result still pending ${short(r.pending)}`);
  // Read from the lines, so the stream path (no event objects) is counted the same way.
  const pii = r.lines.filter((l) => l.split('\t', EVENT_FIELD + 1)[EVENT_FIELD] === 'pii_transformation').length;
  const goodLines = r.lines.length - pii;
  must(!keptEvents || r.good.length === r.lines.length, 'accounting-lines', () => `${where}: ${r.good.length} good events but ${r.lines.length} lines`);
  const payloadLevel = r.lines.length === 0 && r.bad.length === 1;
  const perEvent = goodLines + r.bad.length;
  must(payloadLevel || (expected !== null && perEvent === expected), 'accounting', () =>
    `${where}: expected ${expected === null ? 'one payload-level bad row' : `${expected} outcome(s)`}, got ${goodLines} good + ${pii} pii + ${r.bad.length} bad`);
  return { perEvent, payloadLevel };
}
