// JavaScript enrichment (javascript_script_config): the user's base64-encoded script defines
// `process(event)`, run in a node:vm sandbox with a time limit. `event` offers the enriched fields
// as properties and as Snowplow's POJO accessors (getApp_id(), setApp_id(v)); the function returns
// an array of self-describing contexts (or nothing). Changes to the event are kept.
import vm from 'node:vm';
import { ENRICHED_FIELDS, type EnrichedEvent, type EnrichedField } from '../../codecs/enriched-tsv';
import { toTsvSafe } from '../event/conversions';
import { parseSelfDescribing } from '../iglu/schema-key';
import type { DerivedContext } from './types';

// Runs inside the sandbox: builds the event from JSON, calls process(), returns JSON.
const HARNESS = `
(function (fieldsJson, names) {
  var fields = JSON.parse(fieldsJson);
  var event = {};
  names.forEach(function (n) {
    var cap = n.charAt(0).toUpperCase() + n.slice(1);
    Object.defineProperty(event, n, {
      get: function () { return fields[n] === undefined ? null : fields[n]; },
      set: function (v) { fields[n] = v; }, enumerable: true,
    });
    event['get' + cap] = function () { return fields[n] === undefined ? null : fields[n]; };
    event['set' + cap] = function (v) { fields[n] = v; };
  });
  var contexts = process(event);
  return JSON.stringify({ contexts: contexts === undefined ? null : contexts, fields: fields });
})`;

export class JavascriptEnrichment {
  private readonly context: vm.Context;
  private readonly call = new vm.Script('__run(__fields, __names)');

  constructor(script: string, private readonly timeoutMs: number) {
    if (script.trim() === '') throw new Error('Provided script for JS enrichment is empty');
    // No require, process or timers in the sandbox: only the language itself.
    this.context = vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
    try {
      new vm.Script(script, { filename: 'javascript-enrichment.js' }).runInContext(this.context, { timeout: timeoutMs });
    } catch (err) {
      throw new Error(`Error compiling JavaScript function: [${(err as Error).message}]`);
    }
    if (vm.runInContext('typeof process', this.context) !== 'function') {
      throw new Error('the JavaScript enrichment script must define a function process(event)');
    }
    Object.assign(this.context, { __run: new vm.Script(HARNESS).runInContext(this.context), __names: ENRICHED_FIELDS });
  }

  /** Runs process(event); returns the contexts and applies field changes to `e`, or an error message. */
  process(e: EnrichedEvent): { ok: true; contexts: DerivedContext[] } | { ok: false; error: string } {
    let out: string;
    try {
      this.context.__fields = JSON.stringify(e);
      out = this.call.runInContext(this.context, { timeout: this.timeoutMs }) as string;
    } catch (err) {
      const msg = (err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT'
        ? `the script ran for more than ${this.timeoutMs} ms`
        : String((err as Error)?.message ?? err);
      return { ok: false, error: `Error during execution of JavaScript function: [${msg}]` };
    }
    let parsed: { contexts: unknown; fields: Record<string, unknown> };
    try { parsed = JSON.parse(out); } catch (err) {
      return { ok: false, error: `Could not parse output JSON of Javascript function. Error: [${(err as Error).message}]` };
    }
    const { contexts, fields } = parsed;
    if (contexts !== null && !Array.isArray(contexts)) {
      return { ok: false, error: `Output of JavaScript function [${JSON.stringify(contexts)}] could be parsed as JSON but is not read as an array` };
    }
    const derived: DerivedContext[] = [];
    const errors: string[] = [];
    for (const c of contexts ?? []) {
      const sd = parseSelfDescribing(c);
      if (sd.ok) derived.push({ schema: sd.uri, data: sd.data }); else errors.push(`error code:[${sd.error}],json:[${JSON.stringify(c)}]`);
    }
    if (errors.length) return { ok: false, error: `Resulting contexts are not self-desribing. Error(s): [${errors.join(';')}]` };
    for (const f of ENRICHED_FIELDS) {
      const v = fields[f];
      if (v === null || v === undefined || v === '') delete e[f as EnrichedField];
      else e[f as EnrichedField] = toTsvSafe(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));
    }
    return { ok: true, contexts: derived };
  }
}
