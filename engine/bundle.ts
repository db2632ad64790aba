import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { loadConfig, type SluiceConfig } from '../config';

// Builds the EMR engine's job bundle: engine/hadoop/job-runner.ts, every batch job, and the
// project files the jobs read at run time, in one self-contained .mjs that a cluster node runs
// with plain `node`, no project checkout or node_modules beside it (see hadoop/runtime-tree.ts).
//   npx tsx engine/bundle.ts [outDir]   prints the bundle's path, size and content hash

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '..');
const runtimeTree = path.join(here, 'hadoop', 'runtime-tree.ts');

export interface JobBundle {
  file: string;
  sha256: string;
  bytes: number;
  /** Project files inside the bundle (project-relative). */
  runtimeFiles: string[];
}

function filesUnder(rel: string): string[] {
  const abs = path.join(projectRoot, rel);
  if (!fs.existsSync(abs)) return [];
  if (fs.statSync(abs).isFile()) return [rel];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => filesUnder(path.join(rel, e.name)));
}

function projectRelative(file: string, what: string): string {
  const rel = path.relative(projectRoot, path.resolve(projectRoot, file));
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`the EMR job bundle carries files under the project root only; ${what} is at ${file}`);
  }
  return rel;
}

/** Databases an enrichment config names as { uri: "file:…", database: "…" } (Snowplow's shape). */
function enrichmentDatabases(configFile: string): string[] {
  const found: string[] = [];
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.uri === 'string' && o.uri.startsWith('file:') && typeof o.database === 'string') {
      const dir = o.uri.startsWith('file://') ? fileURLToPath(o.uri) : path.resolve(path.dirname(configFile), o.uri.slice('file:'.length));
      found.push(path.join(dir, o.database));
    }
    Object.values(o).forEach(visit);
  };
  try {
    visit(JSON.parse(fs.readFileSync(configFile, 'utf8')));
  } catch {
    // an unreadable config fails in the enricher itself, with its own message
  }
  return found;
}

/** The project files the jobs read at run time, for this configuration. */
export function runtimeFiles(config: SluiceConfig): string[] {
  const e = config.enrich;
  const rel = new Set<string>(['node_modules/lzo-wasm/package.json', 'node_modules/lzo-wasm/lzo-wasm.wasm']);
  for (const f of filesUnder(projectRelative(e.schemasDir, 'enrich.schemasDir'))) rel.add(f);
  if (e.resolverConfig) rel.add(projectRelative(e.resolverConfig, 'enrich.resolverConfig'));
  for (const f of filesUnder(projectRelative(e.enrichmentsDir, 'enrich.enrichmentsDir'))) {
    rel.add(f);
    if (!f.endsWith('.json')) continue;
    for (const db of enrichmentDatabases(path.join(projectRoot, f))) {
      if (fs.existsSync(db)) rel.add(projectRelative(db, `the database of ${f}`));
    }
  }
  return [...rel].map((f) => f.split(path.sep).join('/')).sort();
}

function bundlePlugin(files: string[]): Plugin {
  return {
    name: 'sluice-job-bundle',
    setup(build) {
      build.onResolve({ filter: /^sluice-runtime-files$/ }, () => ({ path: 'runtime-files', namespace: 'sluice' }));
      build.onLoad({ filter: /^runtime-files$/, namespace: 'sluice' }, () => {
        const hash = createHash('sha256');
        const entries = files.map((rel) => {
          const body = fs.readFileSync(path.join(projectRoot, rel));
          hash.update(rel).update('\0').update(body);
          return `  ${JSON.stringify(rel)}: ${JSON.stringify(body.toString('base64'))},`;
        });
        return { contents: `export const hash = ${JSON.stringify(hash.digest('hex').slice(0, 16))};\nexport const files = {\n${entries.join('\n')}\n};\n`, loader: 'js' };
      });
      // Project modules: import.meta.url → their URL inside the runtime tree.
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        if (args.path.split(path.sep).includes('node_modules') || args.path === runtimeTree) return undefined;
        const source = fs.readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const rel = path.relative(projectRoot, args.path).split(path.sep).join('/');
        const contents = `import { moduleUrl as __sluiceModuleUrl } from ${JSON.stringify(runtimeTree)};\n${source.replaceAll('import.meta.url', `__sluiceModuleUrl(${JSON.stringify(rel)})`)}`;
        return { contents, loader: 'ts', resolveDir: path.dirname(args.path) };
      });
      // The native `lzo` addon only compresses (writing lzop files); jobs read lzop through lzo-wasm.
      build.onResolve({ filter: /^lzo$/ }, () => ({ path: 'lzo', namespace: 'sluice' }));
      build.onLoad({ filter: /^lzo$/, namespace: 'sluice' }, () => ({
        contents: `const unavailable = () => { throw new Error('lzo compression is not available in the job bundle'); };
export default { compress: unavailable, decompress: unavailable, version: '' };`,
        loader: 'js',
      }));
    },
  };
}

export async function buildJobBundle(config: SluiceConfig, outDir = path.join(os.tmpdir(), 'sluice-job-bundle')): Promise<JobBundle> {
  const { build } = await import('esbuild');
  const files = runtimeFiles(config);
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'sluice-jobs.mjs');
  await build({
    entryPoints: [path.join(here, 'hadoop', 'job-runner.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'none',
    plugins: [bundlePlugin(files)],
    // CommonJS dependencies call require() for Node built-ins, which ESM output has no binding for.
    banner: { js: "import { createRequire as __sluiceCreateRequire } from 'node:module';\nconst require = __sluiceCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const body = fs.readFileSync(file);
  return { file, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length, runtimeFiles: files };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bundle = await buildJobBundle(loadConfig(), process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  process.stdout.write(`${bundle.file}\n${(bundle.bytes / 1024).toFixed(0)} KiB, sha256 ${bundle.sha256}, ${bundle.runtimeFiles.length} runtime files\n`);
}
