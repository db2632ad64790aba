// The mapper of the EMR engine's Hadoop streaming step, bundled into one file (engine/bundle.ts):
//   node sluice-jobs.mjs <job> [--progress <key prefix>]
// reads manifest lines (one task each) on stdin, runs the job on each task against the object
// store configured by SLUICE_* variables (the step's -cmdenv), and writes `position<TAB>result`
// per task on stdout. A failed task exits non-zero, so Hadoop fails the map attempt and retries it.
// `node sluice-jobs.mjs --check` loads every job and prints their names (the bootstrap action's test).
// On EMR the step runs on the Node.js the cluster's bootstrap action installed, which Sluice does
// not choose: the SDK's runtime notice would land in every map attempt's log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import readline from 'node:readline';
import { makeS3Client } from '../../adapters/aws-clients';
import { s3ObjectStore } from '../../adapters/object-store';
import { jobs } from '../../batch/jobs';
import { loadConfig } from '../../config';
import { formatResultLine, parseManifestLine } from '../emr-plan';
import type { JobName } from '../job-types';

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node sluice-jobs.mjs <${Object.keys(jobs).join('|')}> [--progress <key prefix>] < manifest\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const [job, ...rest] = argv;
  if (job === '--check') {
    process.stdout.write(`${Object.keys(jobs).join('\n')}\n`);
    return 0;
  }
  if (!job || !Object.hasOwn(jobs, job)) usage(`unknown job ${JSON.stringify(job ?? '')}`);
  let progressPrefix: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--progress' && rest[i + 1]) progressPrefix = rest[++i];
    else usage(`unexpected argument ${JSON.stringify(rest[i])}`);
  }
  // Config from SLUICE_* variables only (cwd is the task's scratch directory).
  const config = loadConfig(process.env, process.cwd());
  const store = s3ObjectStore(makeS3Client(config), config.s3.bucket);
  const run = jobs[job as JobName];

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    const entry = parseManifestLine(line);
    if (!entry) continue;
    try {
      const result = await run(store, entry.task);
      if (progressPrefix) await store.put(`${progressPrefix}${entry.n}`, JSON.stringify(result));
      process.stdout.write(formatResultLine(entry.n, result));
    } catch (err) {
      process.stderr.write(`sluice ${job}: task #${entry.n} (${entry.task.key}) failed: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  }
  return 0;
}

// process.exit rather than waiting for the event loop: idle keep-alive sockets to S3 and a stdin
// Hadoop may still be writing to must not hold the task open. (stdout to a pipe is synchronous on Linux.)
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`sluice-jobs: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
