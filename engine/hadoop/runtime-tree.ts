// Inside the job bundle, project modules see import.meta.url as if they sat in the project tree:
// engine/bundle.ts rewrites it to moduleUrl('<their project path>'). The project files the jobs
// read at run time (Iglu schemas, enrichment configs and databases, lzo-wasm's .wasm) travel
// inside the bundle and are written once per node to a temp dir that stands for the project root,
// so code that finds files relative to its own module (or via createRequire) works unchanged.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { files, hash } from 'sluice-runtime-files';

let root: string | undefined;

function materialise(): string {
  const dir = path.join(os.tmpdir(), `sluice-runtime-${hash}`);
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return dir;
  // Map tasks on one node may start at the same moment: build aside, then rename into place.
  const staging = `${dir}.${process.pid}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  for (const [rel, base64] of Object.entries(files)) {
    const file = path.join(staging, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(base64, 'base64'));
  }
  fs.writeFileSync(path.join(staging, '.complete'), '');
  try {
    fs.renameSync(staging, dir);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(done)) throw err; // not just another task that got there first
  }
  return dir;
}

/** The file: URL a bundled project module would have had at `projectPath` (e.g. "codecs/lzop.ts"). */
export function moduleUrl(projectPath: string): string {
  root ??= materialise();
  return pathToFileURL(path.join(root, projectPath)).href;
}
