import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobName, TaskInput, TaskResult } from './job-types';
import { pathToEnvKey, type SluiceConfig } from '../config';

// The pure half of the EMR engine: where a step's files live, what the step runs, and how its
// output is read back. No I/O here, so the step's shape is unit-testable and the local Hadoop
// test runs exactly the arguments the engine sends to EMR.

/** The mapper's file name in each task's working directory (the `#name` of `-files`). */
export const MAPPER_FILE = 'sluice-jobs.mjs';
export const STREAMING_JAR = 'command-runner.jar';
export const NLINE_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat';

// Task fields that differ between attempts of the same step (the activity stamps etlTstamp when
// it starts): left out of the step's identity, so a retried activity finds the first attempt's step.
const ATTEMPT_FIELDS = new Set(['etlTstamp']);

export interface StepPlan {
  job: JobName;
  runId: string;
  /** Identity of (job, tasks without attempt fields): the same for every attempt of a step. */
  hash: string;
  /** The EMR step name, also the key a retried run looks for in ListSteps. */
  name: string;
  /** Key prefix that holds everything of this step. */
  dir: string;
  manifestKey: string;
  outputPrefix: string;
  /** Where the mapper drops one object per finished task: the engine counts them for progress. */
  progressPrefix: string;
  /** One JSON line per task: `{"n": position, "task": …}`. */
  manifest: string;
  total: number;
}

export interface ManifestEntry {
  n: number;
  task: TaskInput;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function stepHash(job: JobName, tasks: TaskInput[]): string {
  const identity = tasks.map((t) => Object.fromEntries(Object.entries(t).filter(([k]) => !ATTEMPT_FIELDS.has(k))));
  return createHash('sha256').update(stableJson({ job, tasks: identity })).digest('hex').slice(0, 16);
}

export function planStep(prefix: string, job: JobName, tasks: TaskInput[]): StepPlan {
  if (tasks.length === 0) throw new Error('an EMR step needs at least one task');
  const runIds = new Set(tasks.map((t) => t.runId));
  if (runIds.size !== 1) throw new Error(`an EMR step runs tasks of one run; got runs ${[...runIds].join(', ')}`);
  const runId = tasks[0].runId;
  // Hadoop paths: no "=" (s3rver and some S3A versions mis-handle it in copy sources) and no spaces.
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`);
  const hash = stepHash(job, tasks);
  const dir = `${prefix}runs/${runId}/${job}-${hash}/`;
  return {
    job,
    runId,
    hash,
    name: `sluice ${job} ${runId} ${hash}`,
    dir,
    manifestKey: `${dir}manifest.jsonl`,
    outputPrefix: `${dir}out/`,
    progressPrefix: `${dir}done/`,
    manifest: tasks.map((task, n) => `${JSON.stringify({ n, task } satisfies ManifestEntry)}\n`).join(''),
    total: tasks.length,
  };
}

/**
 * One line of mapper input. TextInputFormat hands streaming mappers the line itself;
 * NLineInputFormat hands them `byteOffset<TAB>line`. Blank lines give undefined.
 */
export function parseManifestLine(line: string): ManifestEntry | undefined {
  let text = line.trim();
  if (!text) return undefined;
  if (!text.startsWith('{')) {
    const tab = text.indexOf('\t');
    if (tab < 0 || !/^\d+$/.test(text.slice(0, tab))) throw new Error(`manifest line is neither a task nor offset<TAB>task: ${text.slice(0, 200)}`);
    text = text.slice(tab + 1);
  }
  const entry = JSON.parse(text) as ManifestEntry;
  if (!Number.isInteger(entry.n) || entry.n < 0 || typeof entry.task !== 'object' || entry.task === null) {
    throw new Error(`manifest line lacks "n" or "task": ${text.slice(0, 200)}`);
  }
  return entry;
}

/** The mapper's output line for one finished task: streaming's key (position) TAB value (result). */
export function formatResultLine(n: number, result: TaskResult): string {
  return `${n}\t${JSON.stringify(result)}\n`;
}

/** Results in task order from the step's part files; every task must be there. */
export function parseStepOutput(parts: string[], total: number): TaskResult[] {
  const results: (TaskResult | undefined)[] = new Array(total);
  for (const text of parts) {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const tab = line.indexOf('\t');
      const n = Number(line.slice(0, tab));
      if (tab < 0 || !Number.isInteger(n) || n < 0 || n >= total) throw new Error(`unexpected line in the step output: ${line.slice(0, 200)}`);
      results[n] = JSON.parse(line.slice(tab + 1)) as TaskResult;
    }
  }
  const missing = [...results.keys()].filter((n) => results[n] === undefined);
  if (missing.length) throw new Error(`the step output lacks the results of ${missing.length} task(s), e.g. #${missing.slice(0, 5).join(', #')}`);
  return results as TaskResult[];
}

export interface StreamingOptions {
  scheme: 's3' | 's3a';
  bucket: string;
  bundleKey: string;
  tasksPerMapper: number;
  /** Environment of the mapper (`-cmdenv`): the object store's settings. */
  env: Record<string, string>;
}

/** hadoop-streaming's arguments: generic options (-files, -D) first, then the streaming ones. */
export function streamingArgs(plan: StepPlan, o: StreamingOptions): string[] {
  const uri = (key: string) => `${o.scheme}://${o.bucket}/${key}`;
  const args = [
    '-files', `${uri(o.bundleKey)}#${MAPPER_FILE}`,
    '-D', `mapreduce.job.name=${plan.name}`,
    '-D', 'mapreduce.job.reduces=0',
    '-D', `mapreduce.input.lineinputformat.linespermap=${o.tasksPerMapper}`,
    // Jobs are idempotent per task, but a speculative duplicate would only double the S3 writes.
    '-D', 'mapreduce.map.speculative=false',
    '-inputformat', NLINE_INPUT_FORMAT,
    '-input', uri(plan.manifestKey),
    '-output', uri(plan.outputPrefix.replace(/\/$/, '')),
    '-mapper', `node ${MAPPER_FILE} ${plan.job} --progress ${plan.progressPrefix}`,
  ];
  for (const [k, v] of Object.entries(o.env)) args.push('-cmdenv', `${k}=${v}`);
  return args;
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Config sections the job code reads at run time (the enricher's settings), passed on to the
// mapper. Their paths are project-relative there: the bundle carries those files (engine/bundle.ts).
const FORWARDED_SECTIONS = ['enrich'] as const;

function forwardSection(env: Record<string, string>, keyPath: string[], value: unknown): void {
  if (value === undefined || value === null || value === '') return; // unset: the default applies
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) forwardSection(env, [...keyPath, k], v);
    return;
  }
  let text = String(value);
  if (typeof value === 'string' && path.isAbsolute(value) && !path.relative(projectRoot, value).startsWith('..')) {
    text = path.relative(projectRoot, value);
  }
  env[pathToEnvKey(keyPath)] = text;
}

/**
 * The mapper's environment: the object store's settings and the job code's config sections as
 * SLUICE_* variables. Credentials go along only for a local S3 stand-in; on EMR the mapper uses
 * the cluster's instance role.
 */
export function mapperEnv(config: SluiceConfig): Record<string, string> {
  const env: Record<string, string> = {
    SLUICE_REGION: config.region,
    SLUICE_S3__BUCKET: config.s3.bucket,
    SLUICE_S3__LOCAL: String(config.s3.local),
    SLUICE_LOG__LEVEL: config.log.level,
  };
  if (config.s3.local) {
    env.SLUICE_S3__ENDPOINT = config.s3.endpoint;
    env.SLUICE_AWS__ACCESS_KEY_ID = config.aws.accessKeyId;
    env.SLUICE_AWS__SECRET_ACCESS_KEY = config.aws.secretAccessKey;
  }
  for (const section of FORWARDED_SECTIONS) forwardSection(env, [section], config[section]);
  return env;
}

export type ActionOnFailure = 'CONTINUE' | 'TERMINATE_CLUSTER';

export function stepConfig(plan: StepPlan, o: StreamingOptions, actionOnFailure: ActionOnFailure) {
  return {
    Name: plan.name,
    ActionOnFailure: actionOnFailure,
    HadoopJarStep: { Jar: STREAMING_JAR, Args: ['hadoop-streaming', ...streamingArgs(plan, o)] },
  };
}
