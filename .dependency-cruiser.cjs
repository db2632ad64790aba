/**
 * dependency-cruiser: the source tree's imports must form no cycle. `npm run lint:deps` runs it,
 * and tests/unit/import-cycles.test.ts runs the same under `npm test`.
 *
 * Every import counts, `import type` too: a type-only edge still says which module owns a
 * contract, and a cycle through one is the layering problem all the same (batch/jobs.ts ↔
 * batch/shred-jobs.ts was one). Besides, the parser here is swc, which does not tell the two apart:
 * dependency-cruiser's TypeScript parser needs the compiler's JS API (typescript < 7), and this
 * project is on TypeScript 7.
 *
 * Cycles that were already there when the rule came are listed in
 * .dependency-cruiser-known-violations.json and reported, not failed; any other cycle fails.
 * Breaking one: fix it, then `npm run lint:deps:baseline` to drop it from that list (never to add one).
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module reaches itself through its imports: move what both sides share to a lower module.',
      from: { pathNot: '^node_modules/' },
      to: { circular: true },
    },
    {
      // A relative import the resolver cannot follow would drop its edge, and so hide a cycle.
      name: 'resolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, path: '^\\.\\.?/' },
    },
  ],
  options: {
    parser: 'swc',
    // The source tree: every top-level folder except the tests and what is installed or generated.
    exclude: { path: '^(node_modules|tests|coverage|\\.tools|\\.sluice|\\.tmp-bench|\\.ci)/' },
    doNotFollow: { path: '^node_modules/' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.mjs', '.js', '.json'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
