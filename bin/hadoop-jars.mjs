#!/usr/bin/env node
// Fetches Apache Hadoop's jars (engine/hadoop/pom.xml) from Maven Central into .tools/hadoop/lib,
// for the test that runs the EMR engine's streaming step under Hadoop in local mode. A no-op when
// the jars for the current pom are there. Plain Node with no dependencies, like bootstrap.mjs.
//   node bin/hadoop-jars.mjs            fetch if missing; prints the lib dir
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pom = path.join(root, 'engine', 'hadoop', 'pom.xml');
const lib = path.join(root, '.tools', 'hadoop', 'lib');
const marker = path.join(lib, '.pom-sha256');
const say = (msg) => process.stderr.write(`[hadoop-jars] ${msg}\n`);

function dirBytes(dir) {
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

const pomHash = createHash('sha256').update(fs.readFileSync(pom)).digest('hex');
if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').trim() === pomHash) {
  process.stdout.write(`${lib}\n`);
  process.exit(0);
}

const mvnCheck = spawnSync('mvn', ['-v'], { stdio: 'ignore' });
if (mvnCheck.error || mvnCheck.status !== 0) {
  say('Maven (`mvn`) and a JDK are needed to fetch the Hadoop jars: install them (e.g. apt-get install maven openjdk-17-jdk-headless)');
  process.exit(1);
}

say(`fetching Apache Hadoop's jars (${path.relative(root, pom)}) from Maven Central into ${path.relative(root, lib)}…`);
const started = Date.now();
const staging = `${lib}.partial-${process.pid}`;
fs.rmSync(staging, { recursive: true, force: true });
const res = spawnSync(
  'mvn',
  ['-B', '-q', '-Dstyle.color=never', '-f', pom, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${staging}`],
  { cwd: root, stdio: 'inherit' },
);
if (res.status !== 0) {
  fs.rmSync(staging, { recursive: true, force: true });
  say(`mvn failed (exit ${res.status ?? res.signal})`);
  process.exit(1);
}
// Swap the complete set in at once, so an interrupted fetch never looks like a finished one.
fs.rmSync(lib, { recursive: true, force: true });
fs.renameSync(staging, lib);
fs.writeFileSync(marker, `${pomHash}\n`);
const jars = fs.readdirSync(lib).filter((f) => f.endsWith('.jar')).length;
say(`${jars} jars, ${(dirBytes(lib) / 1048576).toFixed(1)} MiB, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.stdout.write(`${lib}\n`);
