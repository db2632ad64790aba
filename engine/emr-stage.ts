import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ObjectStore } from '../adapters/object-store';
import type { TaskResult } from './job-types';
import type { SluiceConfig } from '../config';
import type { JobBundle } from './bundle';
import { mapperEnv, parseStepOutput, stepConfig, type ActionOnFailure, type StepPlan } from './emr-plan';

// The object-store side of an EMR step: the files a step needs before it is added (bundle,
// bootstrap script, manifest) and the results it leaves behind.

const bootstrapScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hadoop', 'bootstrap-node.sh');

const sha16 = (body: Buffer | string) => createHash('sha256').update(body).digest('hex').slice(0, 16);

async function putOnce(store: ObjectStore, key: string, body: Buffer, contentType: string): Promise<string> {
  if (!(await store.exists(key))) await store.put(key, body, contentType);
  return key;
}

/** The job bundle under its content hash: uploaded once per content, then reused by every step. */
export function uploadBundle(store: ObjectStore, prefix: string, bundle: JobBundle): Promise<string> {
  return putOnce(store, `${prefix}bundles/sluice-jobs-${bundle.sha256.slice(0, 16)}.mjs`, fs.readFileSync(bundle.file), 'text/javascript');
}

/** The transient clusters' bootstrap action (engine/hadoop/bootstrap-node.sh), under its content hash. */
export function uploadBootstrap(store: ObjectStore, prefix: string): Promise<string> {
  const body = fs.readFileSync(bootstrapScript);
  return putOnce(store, `${prefix}bundles/bootstrap-node-${sha16(body)}.sh`, body, 'text/x-shellscript');
}

/**
 * Writes the step's manifest (after clearing what a failed earlier attempt left: Hadoop refuses
 * an existing output dir) and returns the step to add.
 */
export async function stageStep(store: ObjectStore, config: SluiceConfig, plan: StepPlan, bundleKey: string, actionOnFailure: ActionOnFailure) {
  const leftovers = [...(await store.list(plan.outputPrefix)), ...(await store.list(plan.progressPrefix))];
  for (const key of leftovers) await store.delete(key);
  await store.put(plan.manifestKey, plan.manifest, 'application/x-ndjson');
  return stepConfig(
    plan,
    { scheme: config.emr.fsScheme, bucket: config.s3.bucket, bundleKey, tasksPerMapper: config.emr.tasksPerMapper, env: mapperEnv(config) },
    actionOnFailure,
  );
}

/** Hadoop writes _SUCCESS when the job commits. */
export function stepSucceeded(store: ObjectStore, plan: StepPlan): Promise<boolean> {
  return store.exists(`${plan.outputPrefix}_SUCCESS`);
}

/** Tasks the mapper has finished so far (one progress object each). */
export async function finishedTasks(store: ObjectStore, plan: StepPlan): Promise<number> {
  return Math.min((await store.list(plan.progressPrefix)).length, plan.total);
}

/** The per-task results from the step's part files, in task order. */
export async function readStepResults(store: ObjectStore, plan: StepPlan): Promise<TaskResult[]> {
  const parts = (await store.list(plan.outputPrefix)).filter((k) => /^part-\d+/.test(k.slice(plan.outputPrefix.length)));
  const texts = await Promise.all(parts.map(async (k) => (await store.get(k)).toString('utf8')));
  return parseStepOutput(texts, plan.total);
}
