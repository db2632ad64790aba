// The JavaScript enrichment's threads, as CommonJS source run with `new Worker(src, { eval: true })`:
// strings, not files, so a bundled job (engine/bundle.ts) carries them inside its own code.
//
//   main thread ──request port──► SANDBOX (resourceLimits; the user's script in a node:vm context)
//        ▲  ▲                         │ answer on the port, then bumps the shared counter
//        │  └──── status port ◄── SUPERVISOR (starts sandboxes, sees their exit codes)
//        └── Atomics.wait on the shared counter (bumped by both)
//
// The supervisor exists because the main thread blocks in Atomics.wait for the answer: it cannot
// see a sandbox's 'exit' event (ERR_WORKER_OUT_OF_MEMORY) until it returns to its event loop.
// The supervisor's loop is free, so it reports the exit through a port the main thread reads
// synchronously (receiveMessageOnPort).

/**
 * Runs inside the sandbox's vm context, set up once with the field names: returns the function that
 * builds the event from JSON, calls process() and returns JSON. The event is a Proxy over the parsed
 * fields (an absent field reads null), so a call costs a few µs; defining 131 accessors and 262
 * methods on a fresh object per call, as before, cost ~300 µs. Enumeration still lists every field
 * and accessor, and accessors are closures, so they work detached too.
 */
export const HARNESS = `
(function (names) {
  var FIELD = Object.create(null), GETTER = Object.create(null), SETTER = Object.create(null), KEYS = [];
  names.forEach(function (n) {
    var cap = n.charAt(0).toUpperCase() + n.slice(1);
    FIELD[n] = true; GETTER['get' + cap] = n; SETTER['set' + cap] = n;
    KEYS.push(n, 'get' + cap, 'set' + cap);
  });
  var parse = JSON.parse, stringify = JSON.stringify, reflect = Reflect, P = Proxy;
  var known = function (p) { return FIELD[p] === true || GETTER[p] !== undefined || SETTER[p] !== undefined; };
  return function (fieldsJson) {
    var fields = parse(fieldsJson), methods = Object.create(null);
    var read = function (n) { var v = fields[n]; return v === undefined ? null : v; };
    var method = function (p) {
      var m = methods[p];
      if (m !== undefined) return m;
      var g = GETTER[p];
      if (g !== undefined) m = function () { return read(g); };
      else { var s = SETTER[p]; m = function (v) { fields[s] = v; }; }
      return (methods[p] = m);
    };
    var event = new P(fields, {
      get: function (t, p, r) { return FIELD[p] === true ? read(p) : known(p) ? method(p) : reflect.get(t, p, r); },
      set: function (t, p, v) { t[p] = v; return true; },
      has: function (t, p) { return known(p) || p in t; },
      ownKeys: function (t) { return KEYS.concat(reflect.ownKeys(t).filter(function (k) { return !known(k); })); },
      getOwnPropertyDescriptor: function (t, p) {
        if (!known(p)) return reflect.getOwnPropertyDescriptor(t, p);
        return { value: FIELD[p] === true ? read(p) : method(p), writable: true, enumerable: true, configurable: true };
      },
    });
    var contexts = process(event);
    return stringify({ contexts: contexts === undefined ? null : contexts, fields: fields });
  };
})`;

/**
 * One sandbox: compiles the script once (answers { ready } or { ready: false, error }), then answers
 * each { seq, fields } with { seq, out } (the harness's JSON), { seq, error } (a throw) or
 * { seq, tooBig, limit } (output over the bound, checked here so it is never copied out).
 */
export const SANDBOX_SOURCE = `'use strict';
const { workerData } = require('node:worker_threads');
const vm = require('node:vm');
const { port, signal: shared, script, harness, names, compileTimeoutMs, maxOutputBytes } = workerData;
const signal = new Int32Array(shared);
function send(message) { port.postMessage(message); Atomics.add(signal, 0, 1); Atomics.notify(signal, 0); }
// A thrown value is the script's: reading its message may itself throw.
function describe(err) {
  try { return String(err !== null && typeof err === 'object' && err.message !== undefined ? err.message : err); }
  catch (e) { return 'a value that cannot be printed was thrown'; }
}
let run = null;
try {
  // No require, process or timers in the context: only the language itself.
  const context = vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
  new vm.Script(script, { filename: 'javascript-enrichment.js' }).runInContext(context, { timeout: compileTimeoutMs });
  if (vm.runInContext('typeof process', context) !== 'function') {
    send({ ready: false, error: 'the JavaScript enrichment script must define a function process(event)' });
  } else {
    run = new vm.Script(harness).runInContext(context)(names);
    send({ ready: true });
  }
} catch (err) {
  send({ ready: false, error: 'Error compiling JavaScript function: [' + describe(err) + ']' });
}
if (run !== null) {
  port.on('message', function (m) {
    let out;
    try { out = run(m.fields); } catch (err) { send({ seq: m.seq, error: describe(err) }); return; }
    const bytes = Buffer.byteLength(out);
    const limit = Buffer.byteLength(m.fields) + maxOutputBytes;
    if (bytes > limit) send({ seq: m.seq, tooBig: bytes, limit: limit }); else send({ seq: m.seq, out: out });
  });
}
`;

/**
 * Starts a sandbox at boot and on { start }, ends one on { terminate: gen }; tells the main thread
 * { gen, port } for each new sandbox and { ended: gen, code, message } when one exits.
 */
export const SUPERVISOR_SOURCE = `'use strict';
const { Worker, MessageChannel, parentPort, workerData } = require('node:worker_threads');
const { status, signal: shared, sandboxSource, sandboxData, resourceLimits } = workerData;
const signal = new Int32Array(shared);
let gen = 0;
let live = null;
let startWanted = false;
function tell(message, transfer) { status.postMessage(message, transfer); Atomics.add(signal, 0, 1); Atomics.notify(signal, 0); }
function start() {
  startWanted = false;
  const g = ++gen;
  const channel = new MessageChannel();
  const w = new Worker(sandboxSource, {
    eval: true, resourceLimits,
    workerData: Object.assign({}, sandboxData, { port: channel.port1, signal: shared }),
    transferList: [channel.port1],
  });
  let failure = null;
  w.on('error', function (err) { failure = err; });
  w.on('exit', function (code) {
    live = null;
    tell({ ended: g, code: failure ? failure.code || null : null, message: failure ? String(failure.message) : 'exit code ' + code });
    if (startWanted) start();
  });
  live = { g: g, w: w };
  tell({ gen: g, port: channel.port2 }, [channel.port2]);
}
parentPort.on('message', function (m) {
  if (m.terminate !== undefined && live !== null && live.g === m.terminate) void live.w.terminate();
  if (m.start) { if (live !== null) startWanted = true; else start(); }
});
start();
`;
