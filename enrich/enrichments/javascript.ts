// JavaScript enrichment (javascript_script_config): the user's base64-encoded script defines
// `process(event)`. `event` offers the enriched fields as properties and as Snowplow's POJO
// accessors (getApp_id(), setApp_id(v)); the function returns an array of self-describing
// contexts (or nothing). Changes to the event are kept.
//
// The script runs in a node:vm context (no require, process or timers) inside a worker thread of
// its own with V8 heap limits, so a script that allocates without end loses its worker, not the
// enricher. Calls stay synchronous (enrich is, per event): the event is posted to the worker and
// the caller blocks in Atomics.wait until the answer, the worker's death or the time limit; the
// answer is taken with receiveMessageOnPort. Threads and messages: javascript-sandbox.ts.
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { parseJsonDepthBounded } from '../../codecs/bounded-json';
import { ENRICHED_FIELDS, type EnrichedEvent, type EnrichedField } from '../../codecs/enriched-tsv';
import { toTsvSafe } from '../event/conversions';
import { parseSelfDescribing } from '../iglu/schema-key';
import { HARNESS, SANDBOX_SOURCE, SUPERVISOR_SOURCE } from './javascript-sandbox';
import type { DerivedContext } from './types';

export interface JavascriptLimits {
  /** Wall time of one process(event) call (and of the script's top level at start). */
  timeoutMs: number;
  /** V8 old-generation heap of the script's worker (resourceLimits.maxOldGenerationSizeMb). */
  maxOldGenerationMb: number;
  /** V8 young-generation heap (resourceLimits.maxYoungGenerationSizeMb). */
  maxYoungGenerationMb: number;
  /** Stack of the script's worker (resourceLimits.stackSizeMb). */
  stackMb: number;
  /** The JSON the script returns (fields + contexts) may exceed the event's own JSON by this much. */
  maxOutputBytes: number;
}

export const DEFAULT_JAVASCRIPT_LIMITS: JavascriptLimits = {
  timeoutMs: 1_000, maxOldGenerationMb: 64, maxYoungGenerationMb: 16, stackMb: 4, maxOutputBytes: 1_000_000,
};

/** A worker's start (thread, isolate, the script's top level) on a busy machine; not the script's time limit. */
const START_TIMEOUT_MS = 30_000;
const OUT_OF_MEMORY = 'ERR_WORKER_OUT_OF_MEMORY';

type Result = { ok: true; contexts: DerivedContext[] } | { ok: false; error: string };
type Ended = { ended: number; code: string | null; message: string };
type Reply = { seq: number; out?: string; error?: string; tooBig?: number; limit?: number };
interface Sandbox { gen: number; port: MessagePort; ready: boolean }

// An enrichment dropped without close() still ends its threads once collected.
const orphans = new FinalizationRegistry<Worker>((w) => void w.terminate());

const fail = (msg: string): Result => ({ ok: false, error: `Error during execution of JavaScript function: [${msg}]` });

export class JavascriptEnrichment {
  readonly limits: JavascriptLimits;
  /** Bumped (and notified) by the sandbox and the supervisor after each message they post. */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly supervisor: Worker;
  private readonly status: MessagePort;
  private sandbox: Sandbox | null = null;
  private starting = true;
  private seq = 0;
  private closed = false;

  constructor(script: string, limits: Partial<JavascriptLimits> = {}) {
    if (script.trim() === '') throw new Error('Provided script for JS enrichment is empty');
    this.limits = { ...DEFAULT_JAVASCRIPT_LIMITS };
    for (const [k, v] of Object.entries(limits)) if (v !== undefined) this.limits[k as keyof JavascriptLimits] = v;
    const { port1, port2 } = new MessageChannel();
    this.status = port2;
    this.supervisor = new Worker(SUPERVISOR_SOURCE, {
      eval: true,
      workerData: {
        status: port1,
        signal: this.signal.buffer,
        sandboxSource: SANDBOX_SOURCE,
        sandboxData: { script, harness: HARNESS, names: ENRICHED_FIELDS, compileTimeoutMs: this.limits.timeoutMs, maxOutputBytes: this.limits.maxOutputBytes },
        resourceLimits: {
          maxOldGenerationSizeMb: this.limits.maxOldGenerationMb,
          maxYoungGenerationSizeMb: this.limits.maxYoungGenerationMb,
          stackSizeMb: this.limits.stackMb,
        },
      },
      transferList: [port1],
    });
    // The threads never keep the process alive; a supervisor failure shows as workers that do not start.
    this.supervisor.unref();
    this.supervisor.on('error', () => {});
    const started = this.ready();
    if (started !== undefined) {
      this.close();
      throw new Error(started);
    }
    orphans.register(this, this.supervisor, this);
  }

  /** Ends the worker threads; process() fails afterwards. */
  close(): void {
    this.closed = true;
    orphans.unregister(this);
    void this.supervisor.terminate();
  }

  /** Runs process(event); returns the contexts and applies field changes to `e`, or an error message. */
  process(e: EnrichedEvent): Result {
    if (this.closed) return fail('the JavaScript enrichment was closed');
    const notReady = this.ready();
    if (notReady !== undefined) return fail(notReady);
    const s = this.sandbox!;
    const seq = ++this.seq;
    s.port.postMessage({ seq, fields: JSON.stringify(e) });
    const answer = this.waitFor<{ reply: Reply } | { ended: Ended }>(() => {
      const m = receiveMessageOnPort(s.port);
      if (m !== undefined && (m.message as Reply).seq === seq) return { reply: m.message as Reply };
      const ended = this.readStatus();
      return ended ? { ended } : undefined;
    }, performance.now() + this.limits.timeoutMs);
    if (answer === undefined) {
      // Still running: its worker is ended and the next event gets a fresh one.
      this.supervisor.postMessage({ terminate: s.gen });
      this.drop(s);
      return fail(`the script ran for more than ${this.limits.timeoutMs} ms`);
    }
    if ('ended' in answer) return fail(this.death(answer.ended));
    const r = answer.reply;
    if (r.error !== undefined) return fail(r.error);
    if (r.tooBig !== undefined) {
      return { ok: false, error: `Output of JavaScript function is ${r.tooBig} bytes of JSON, over the limit of ${r.limit} (the event's own JSON + ${this.limits.maxOutputBytes})` };
    }
    return this.apply(r.out!, e);
  }

  private apply(out: string, e: EnrichedEvent): Result {
    // The size is bounded in the sandbox already; the depth is bounded here, as for any outside JSON.
    const read = parseJsonDepthBounded(out);
    if (!read.ok) return { ok: false, error: `Could not parse output JSON of Javascript function. Error: [${read.error}]` };
    const parsed = read.value as { contexts: unknown; fields: Record<string, unknown> };
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

  private death(ended: Ended): string {
    if (ended.code === OUT_OF_MEMORY) {
      return `the script went over the memory limit of ${this.limits.maxOldGenerationMb} MB (+ ${this.limits.maxYoungGenerationMb} MB young generation)`;
    }
    return `the script's worker stopped: ${ended.message}`;
  }

  /** Blocks until a sandbox has compiled the script; undefined when ready, else why not. */
  private ready(): string | undefined {
    const outcome = this.waitFor<{ error?: string }>(() => {
      const ended = this.readStatus(true);
      if (ended) return { error: `Error compiling JavaScript function: [${this.death(ended)}]` };
      const s = this.sandbox;
      if (s === null) {
        if (!this.starting) { this.supervisor.postMessage({ start: true }); this.starting = true; }
        return undefined;
      }
      if (s.ready) return {};
      const m = receiveMessageOnPort(s.port);
      if (m === undefined) return undefined;
      const hello = m.message as { ready: boolean; error?: string };
      if (hello.ready) { s.ready = true; return {}; }
      this.drop(s);
      return { error: hello.error };
    }, performance.now() + START_TIMEOUT_MS);
    return outcome === undefined ? `the script's worker did not start within ${START_TIMEOUT_MS} ms` : outcome.error;
  }

  /**
   * Takes the supervisor's messages: a new sandbox becomes current; returns the exit of the current
   * one (only of one that had not compiled yet when `starting`).
   */
  private readStatus(starting = false): Ended | undefined {
    let ended: Ended | undefined;
    for (let m = receiveMessageOnPort(this.status); m !== undefined; m = receiveMessageOnPort(this.status)) {
      const msg = m.message as { gen: number; port: MessagePort } | Ended;
      if ('port' in msg) {
        this.sandbox = { gen: msg.gen, port: msg.port, ready: false };
        this.starting = false;
      } else if (this.sandbox !== null && this.sandbox.gen === msg.ended) {
        if (!starting || !this.sandbox.ready) ended = msg;
        this.drop(this.sandbox);
      }
    }
    return ended;
  }

  private drop(s: Sandbox): void {
    s.port.close();
    if (this.sandbox === s) this.sandbox = null;
  }

  /** Polls `check` until it answers or the deadline passes, sleeping on the shared counter in between. */
  private waitFor<T>(check: () => T | undefined, deadline: number): T | undefined {
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      const r = check();
      if (r !== undefined) return r;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      Atomics.wait(this.signal, 0, seen, left);
    }
  }
}
