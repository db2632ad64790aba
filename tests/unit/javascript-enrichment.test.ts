// The JavaScript enrichment's bounds: its worker thread's time and memory limits, the size of what
// the script returns, and that a failed call leaves the enrichment usable for the next event.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import type { EnrichedEvent } from '../../codecs/enriched-tsv';
import { badRowType } from '../../enrich/bad-rows';
import { PROJECT_ROOT, createEnricher } from '../../enrich/default-enricher';
import { enrichPayload } from '../../enrich/enrich';
import { type JavascriptLimits, JavascriptEnrichment } from '../../enrich/enrichments/javascript';

const SP = 'com.snowplowanalytics.snowplow';
const WEB_PAGE = `iglu:${SP}/web_page/jsonschema/1-0-0`;
const open: JavascriptEnrichment[] = [];
const dirs: string[] = [];
const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-js-')); dirs.push(d); return d; };
afterAll(() => {
  for (const js of open) js.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const js = (script: string, limits: Partial<JavascriptLimits> = {}) => {
  const e = new JavascriptEnrichment(script, { timeoutMs: 5_000, ...limits });
  open.push(e);
  return e;
};
const event = (): EnrichedEvent => ({ app_id: 'shop', platform: 'web', event: 'page_view' });
const error = (r: ReturnType<JavascriptEnrichment['process']>) => (r.ok ? 'ok' : r.error);
// Fails only when process() throws; otherwise says which event it saw.
const RECOVERS = `var calls = 0;
function process(e) {
  calls++;
  if (e.app_id === 'loop') for (;;) {}
  if (e.app_id === 'grow') { var a = []; for (;;) a.push({ n: a.length, s: 'x' + a.length }); }
  e.user_id = 'call ' + calls;
  return [];
}`;

describe('JavaScript enrichment limits', () => {
  it('a call that runs past the time limit fails, and the next event gets a fresh worker', () => {
    const e = js(RECOVERS, { timeoutMs: 200 });
    expect(error(e.process({ app_id: 'loop' }))).toBe('Error during execution of JavaScript function: [the script ran for more than 200 ms]');
    const next = event();
    expect(e.process(next)).toEqual({ ok: true, contexts: [] });
    expect(next.user_id).toBe('call 1'); // the script's state started again with the new worker
  });

  it('a call that allocates without end fails naming the memory limit; the next event enriches', () => {
    const e = js(RECOVERS, { maxOldGenerationMb: 16, maxYoungGenerationMb: 4, timeoutMs: 60_000 });
    expect(error(e.process({ app_id: 'grow' }))).toBe('Error during execution of JavaScript function: [the script went over the memory limit of 16 MB (+ 4 MB young generation)]');
    const next = event();
    expect(e.process(next).ok).toBe(true);
    expect(next.user_id).toBe('call 1');
  });

  it('through the enricher: an out-of-memory event is an enrichment failure, the next event is good', () => {
    const dir = tmp();
    const script = 'function process(e) { if (e.app_id === "grow") { var a = []; for (;;) a.push([a.length]); } return []; }';
    fs.writeFileSync(path.join(dir, 'js.json'), JSON.stringify({
      schema: `iglu:${SP}/javascript_script_config/jsonschema/1-0-0`,
      data: { enabled: true, vendor: SP, name: 'javascript_script_config', parameters: { script: Buffer.from(script).toString('base64') } },
    }));
    const enricher = createEnricher({ enrichmentsDir: dir, jsTimeoutMs: 60_000, jsMaxOldGenerationMb: 16, jsMaxYoungGenerationMb: 4 });
    open.push(enricher.enrichments.javascriptScript!.enrichment);
    const T = Date.UTC(2024, 2, 1, 12, 0, 0);
    const run = (aid: string) => enrichPayload({
      schema: `iglu:${SP}/CollectorPayload/thrift/1-0-0`, ipAddress: '203.0.113.9', timestamp: T, encoding: 'UTF-8',
      collector: 'c-1', path: '/i', querystring: `e=pv&p=web&aid=${aid}`, headers: ['Host: c.test'],
    }, { etlTstamp: T + 5_000, etlVersion: 'sluice-enrich-0.1.0', enricher });
    const oom = run('grow');
    expect(oom.good).toEqual([]);
    expect(oom.bad.map(badRowType)).toEqual(['enrichment_failures']);
    expect(JSON.stringify(oom.bad[0].data)).toContain('went over the memory limit of 16 MB');
    const next = run('shop');
    expect(next.bad).toEqual([]);
    expect(next.good.map((g) => g.app_id)).toEqual(['shop']);
  });

  it('a throw is an enrichment failure with its message, and the worker stays', () => {
    const e = js('var calls = 0; function process(e) { calls++; if (e.app_id === "bad") throw new Error("nope " + calls); e.user_id = String(calls); return []; }');
    expect(error(e.process({ app_id: 'bad' }))).toBe('Error during execution of JavaScript function: [nope 1]');
    const next = event();
    e.process(next);
    expect(next.user_id).toBe('2');
    expect(error(js('function process(e) { throw "plain"; }').process(event()))).toBe('Error during execution of JavaScript function: [plain]');
    const hostile = js('function process(e) { throw { get message() { throw new Error("again"); } }; }');
    expect(error(hostile.process(event()))).toMatch(/cannot be printed/);
    expect(error(js('function process(e) { return process(e); }').process(event()))).toMatch(/Maximum call stack size exceeded/);
  });

  it('bad output is an enrichment failure', () => {
    expect(error(js('function process(e) { return {}; }').process(event()))).toMatch(/could be parsed as JSON but is not read as an array/);
    expect(error(js('function process(e) { return [{ nope: 1 }]; }').process(event()))).toMatch(/not self-desribing/);
    expect(error(js('function process(e) { var c = {}; c.c = c; return [c]; }').process(event()))).toMatch(/circular/i);
    expect(error(js('function process(e) { return [{ schema: "x", data: 1n }]; }').process(event()))).toMatch(/BigInt/);
  });

  it('output more than maxOutputBytes over the event is a failure; less is kept', () => {
    const e = js(`function process(e) { return [{ schema: '${WEB_PAGE}', data: { id: 'x'.repeat(Number(e.app_id)) } }]; }`, { maxOutputBytes: 100_000 });
    expect(error(e.process({ app_id: '200000' }))).toMatch(/^Output of JavaScript function is 2\d{5} bytes of JSON, over the limit of 1\d{5} \(the event's own JSON \+ 100000\)$/);
    const r = e.process({ app_id: '50000' });
    expect(r.ok && (r.contexts[0].data as { id: string }).id.length).toBe(50_000);
    // A big event passing through unchanged is not the script's output growing.
    const big = { app_id: '1', page_url: `https://shop.test/?q=${'y'.repeat(300_000)}` };
    expect(e.process(big).ok).toBe(true);
    expect(big.page_url.length).toBe(300_021);
  });

  it('checks the script at start: no process(), a throw, a loop or a huge allocation at its top level', () => {
    expect(() => js('var x = 1;')).toThrow(/must define a function process\(event\)/);
    expect(() => js('throw new Error("at start")')).toThrow('Error compiling JavaScript function: [at start]');
    expect(() => js('for (;;) {}', { timeoutMs: 200 })).toThrow(/Error compiling JavaScript function: \[Script execution timed out after 200ms\]/);
    expect(() => js('var a = []; for (;;) a.push([a.length]); function process() {}', { maxOldGenerationMb: 16, timeoutMs: 60_000 }))
      .toThrow(/Error compiling JavaScript function: \[the script went over the memory limit of 16 MB/);
  });

  it('the sandbox has the language only: no require, process, timers or code from strings', () => {
    const e = js(`function process(e) {
      var tries = [function () { return eval('1'); }, function () { return new Function('return 1')(); }];
      e.user_id = [typeof require, typeof setTimeout, typeof globalThis.process === 'function', typeof Buffer]
        .concat(tries.map(function (t) { try { t(); return 'ran'; } catch (err) { return err.name; } })).join(',');
      return [];
    }`);
    const ev = event();
    expect(e.process(ev).ok).toBe(true);
    expect(ev.user_id).toBe('undefined,undefined,true,undefined,EvalError,EvalError');
  });

  it('the event lists every field and accessor; absent fields read null; accessors work detached', () => {
    const e = js(`function process(e) {
      var keys = []; for (var k in e) keys.push(k);
      var get = e.getApp_id, set = e.setUser_id;
      set(get() + '/' + e.user_id + '/' + ('geo_city' in e) + '/' + keys.length + '/' + keys.slice(0, 3).join(','));
      e.platform = null;
      return [];
    }`);
    const ev = event();
    expect(e.process(ev).ok).toBe(true);
    expect(ev.user_id).toBe('shop/null/true/393/app_id,getApp_id,setApp_id');
    expect(ev.platform).toBeUndefined();
  });

  it('after close() a call fails at once', () => {
    const e = js('function process(e) { return []; }');
    e.close();
    expect(error(e.process(event()))).toBe('Error during execution of JavaScript function: [the JavaScript enrichment was closed]');
  });
});

describe('JavaScript enrichment threads', () => {
  it('run from a bundled file elsewhere (the EMR job bundle), and do not keep the process alive', async () => {
    const dir = tmp();
    const entry = path.join(dir, 'entry.ts');
    fs.writeFileSync(entry, `import { JavascriptEnrichment } from ${JSON.stringify(path.join(PROJECT_ROOT, 'enrich/enrichments/javascript.ts'))};
const js = new JavascriptEnrichment('function process(e) { e.user_id = e.app_id + "!"; return []; }', { timeoutMs: 5000 });
const ev = { app_id: 'bundled' };
const r = js.process(ev);
console.log(JSON.stringify({ ok: r.ok, user_id: ev.user_id }));
// no close(): the process must still end
`);
    const out = path.join(dir, 'bundle.mjs');
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: out, logLevel: 'error' });
    const printed = execFileSync(process.execPath, [out], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(JSON.parse(printed)).toEqual({ ok: true, user_id: 'bundled!' });
  });
});
