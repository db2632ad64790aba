import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../adapters/object-store';
import { runPrefix } from '../../batch/layout';
import type { TaskInput } from '../../engine/job-types';
import type { SluiceConfig } from '../../config';
import { buildJobBundle, type JobBundle } from '../../engine/bundle';
import { planStep } from '../../engine/emr-plan';
import { finishedTasks, readStepResults, stageStep, stepSucceeded, uploadBundle } from '../../engine/emr-stage';
import { runStreamingLocally, type LocalHadoopRun } from '../../engine/hadoop/local-streaming';
import { localEngine } from '../../engine/local';
import type { ManagedProcess } from '../../stack/processes';
import { projectRoot, s3Spec } from '../../stack/standins';
import { bucketStore, startStandin, teardown, testConfig } from '../helpers/standins';
import { bucketOf } from '../../batch/shred-jobs';
import { PART_EXTENSION } from '../../batch/run-files';
import { BAD_PER_FILE, deleteAll, RAW_RUN_BUCKETS, snapshot, stageRawRun } from './emr-fixtures';

// Acceptance for the EMR engine: the step the engine would add to EMR (its exact
// hadoop-streaming arguments) runs under Apache Hadoop's own jars (Maven Central, local mode),
// reading the manifest and shipping the job bundle through S3A from s3rver, with the bundled Node
// mapper enriching real lzop raw files from s3rver and writing the enriched output back there.
// Its results and outputs must equal the local engine's for the same tasks.

let config: SluiceConfig;
let s3: ManagedProcess;
let client: S3Client;
let store: ObjectStore;
let bundle: JobBundle;

beforeAll(async () => {
  // A no-op when bin/bootstrap.mjs --test already fetched the jars.
  execFileSync(process.execPath, [path.join(projectRoot, 'bin', 'hadoop-jars.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  // The step reaches the bucket through S3A (s3a://), as plain Hadoop names it.
  config = testConfig({ SLUICE_EMR__FS_SCHEME: 's3a', SLUICE_EMR__CLUSTER_ID: 'transient' });
  s3 = await startStandin(s3Spec(config), config);
  ({ client, store } = await bucketStore(config));
  bundle = await buildJobBundle(config, path.join(config.dataDir, 'bundle'));
});

afterAll(async () => {
  client?.destroy();
  await teardown(config, s3);
});

async function runStepLocally(tasks: TaskInput[]): Promise<{ run: LocalHadoopRun; plan: ReturnType<typeof planStep> }> {
  const plan = planStep(config.emr.prefix, 'enrich', tasks);
  const step = await stageStep(store, config, plan, await uploadBundle(store, config.emr.prefix, bundle), 'TERMINATE_CLUSTER');
  const workDir = fs.mkdtempSync(path.join(config.dataDir, 'hadoop-'));
  const run = await runStreamingLocally(step.HadoopJarStep.Args, {
    workDir,
    s3: { endpoint: config.s3.endpoint, accessKeyId: config.aws.accessKeyId, secretAccessKey: config.aws.secretAccessKey },
  });
  return { run, plan };
}

describe('EMR step under Apache Hadoop (local mode, S3A on s3rver)', () => {
  it('enriches lzop raw files exactly as the local engine does', async () => {
    const runId = 'emr-hadoop-1';
    // Two files per task, as the enrich step groups small files: multi- and single-file tasks both run.
    const tasks = await stageRawRun(store, runId, 3, 45, 2);
    const outputs = [runPrefix.enriched(runId), runPrefix.enrichedBad(runId)];

    const { run, plan } = await runStepLocally(tasks);
    console.log(`hadoop streaming step: ${run.ms} ms for ${tasks.length} map tasks`);
    expect(run.exitCode, run.log).toBe(0);
    expect(await stepSucceeded(store, plan)).toBe(true);
    expect(await finishedTasks(store, plan)).toBe(tasks.length);
    const emrResults = await readStepResults(store, plan);
    const emrOutputs = await snapshot(store, outputs);

    // Every event is accounted for: the valid ones enriched, each failure one bad row.
    expect(emrResults.map((r) => r.key)).toEqual(tasks.map((t) => t.key));
    expect(emrResults.map((r) => [r.good, r.bad])).toEqual(tasks.map((t) => [45 * t.keys!.length, BAD_PER_FILE * t.keys!.length]));
    expect(tasks.map((t) => t.keys!.length)).toEqual([2, 1]);
    // Good events bucketed by event id (one object per non-empty bucket and task), one bad-rows object per task.
    const goodKeys = [...emrOutputs.keys()].filter((k) => k.startsWith(outputs[0]));
    // The enriched parts are zstd where the runtime has it.
    const part = new RegExp(`/bucket=0000[0-3]/part-0000[0-2]\\.${PART_EXTENSION.replace('.', '\\.')}$`);
    expect(goodKeys.every((k) => part.test(k)), goodKeys.join()).toBe(true);
    expect(goodKeys.length).toBeGreaterThan(tasks.length);
    expect(emrOutputs.size - goodKeys.length).toBe(tasks.length);
    const goodLines = goodKeys.flatMap((k) => emrOutputs.get(k)!.split('\n').filter(Boolean));
    expect(goodLines).toHaveLength(3 * 45);
    expect(goodLines.every((l) => l.split('\t').length === 131)).toBe(true);
    for (const k of goodKeys) {
      const bucket = Number(/bucket=(\d+)/.exec(k)![1]);
      for (const l of emrOutputs.get(k)!.split('\n').filter(Boolean)) expect(bucketOf(l.split('\t')[6], RAW_RUN_BUCKETS), k).toBe(bucket);
    }

    // The same tasks on the local engine, from a clean slate, write the same bytes.
    await deleteAll(store, outputs);
    const engine = localEngine(config);
    try {
      const localResults = await engine.run('enrich', tasks, () => undefined);
      expect(emrResults).toEqual(localResults);
    } finally {
      await engine.close();
    }
    expect(await snapshot(store, outputs)).toEqual(emrOutputs);
  });

  it('fails the Hadoop job when a task fails, with the mapper error in the log and no _SUCCESS', async () => {
    const runId = 'emr-hadoop-2';
    const [good] = await stageRawRun(store, runId, 1, 5);
    const missing = `${runPrefix.rawProcessing(runId)}missing.lzo`;
    const tasks = [good, { ...good, key: missing, keys: [missing], index: 1 }];
    const { run, plan } = await runStepLocally(tasks);
    expect(run.exitCode).not.toBe(0);
    expect(run.log).toMatch(/task #1 \(raw\/processing\/run=emr-hadoop-2\/missing\.lzo\) failed/);
    expect(run.log).toMatch(/subprocess failed with code 1/);
    expect(await stepSucceeded(store, plan)).toBe(false);
  });
});
