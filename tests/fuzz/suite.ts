// Registers fuzz properties as vitest tests: one seed for the file (printed, FUZZ_SEED replays
// it), each property's case count from FUZZ_RUNS or its default.
import { describe, it } from 'vitest';
import { type FuzzProperty, assertOutcome, fuzzRuns, fuzzSeed, runFuzzProperty } from './runner';

// `any`: each property has its own input and context types.
export function fuzzSuite(title: string, props: readonly FuzzProperty<any, any>[], timeoutMs = 120_000): void {
  const seed = fuzzSeed();
  describe(title, () => {
    for (const prop of props) {
      it(prop.name, async () => {
        const numRuns = fuzzRuns(prop);
        // Printed before the run, so even a hang or a crash leaves the seed behind.
        console.log(`fuzz: "${prop.name}": seed ${seed}, ${numRuns} cases (FUZZ_SEED=${seed} to replay)`);
        const outcome = await runFuzzProperty(prop, { seed, numRuns });
        console.log(`fuzz: "${prop.name}": ${outcome.cases} cases, ${outcome.invariants} invariant checks held, ${outcome.ms} ms${outcome.failed ? `, FAILED: ${outcome.invariant}` : ''}`);
        assertOutcome(outcome);
      }, timeoutMs);
    }
  });
}
