import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The source tree's import graph, as dependency-cruiser sees it with the project's rules
// (.dependency-cruiser.cjs, the same run as `npm run lint:deps`): no cycle but the known ones
// (.dependency-cruiser-known-violations.json), and every known one still there, so the list only
// shrinks. Every import counts, `import type` too (the config says why).

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const KNOWN_FILE = path.join(root, '.dependency-cruiser-known-violations.json');

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}

/** One line per violation: a cycle as its path from `from` back to itself. */
const describeViolation = (v: Violation) =>
  v.cycle ? `${v.rule.name}: ${[v.from, ...v.cycle.map((c) => c.name)].join(' → ')}` : `${v.rule.name}: ${v.from} → ${v.to}`;

function cruise(): { violations: Violation[]; modules: number } {
  const bin = path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');
  // --no-ignore-known: every violation, the known ones included; they are told apart below.
  const run = spawnSync(process.execPath, [bin, '--config', '.dependency-cruiser.cjs', '--no-ignore-known', '--output-type', 'json', '.'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.error) throw run.error;
  if (!run.stdout.trim()) throw new Error(`dependency-cruiser printed nothing (exit ${run.status}): ${run.stderr}`);
  const out = JSON.parse(run.stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  return { violations: out.summary.violations, modules: out.summary.totalCruised };
}

describe('import graph of the source tree', () => {
  const { violations, modules } = cruise();
  const known = new Set((JSON.parse(fs.readFileSync(KNOWN_FILE, 'utf8')) as Violation[]).map(describeViolation));
  const found = new Set(violations.map(describeViolation));

  it('cruises the whole tree', () => {
    // A config that matched nothing would pass every check below.
    expect(modules).toBeGreaterThan(200);
  });

  it('has no import cycle (nor unresolvable relative import) but the known ones', () => {
    const fresh = [...found].filter((v) => !known.has(v));
    if (fresh.length) {
      console.error(`New violations: move what both sides share to a lower module.\n  ${fresh.join('\n  ')}`);
    }
    expect(fresh).toEqual([]);
  });

  it('lists no known cycle that is gone (run `npm run lint:deps:baseline` after breaking one)', () => {
    const gone = [...known].filter((v) => !found.has(v));
    expect(gone).toEqual([]);
  });
});
