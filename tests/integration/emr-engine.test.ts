import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeS3Client } from '../../adapters/aws-clients';
import { ensureBucket, s3ObjectStore, type ObjectStore } from '../../adapters/object-store';
import type { TaskInput } from '../../engine/job-types';
import type { SluiceConfig } from '../../config';
import { buildJobBundle, type JobBundle } from '../../engine/bundle';
import { emrEngine } from '../../engine/emr';
import { NLINE_INPUT_FORMAT, parseManifestLine, parseStepOutput, planStep, stepHash } from '../../engine/emr-plan';
import type { BatchEngine } from '../../engine/engine';
import type { ManagedProcess } from '../../stack/processes';
import { s3Spec } from '../../stack/standins';
import { freePort, startStandin, teardown, testConfig, waitFor } from '../helpers/standins';
import { BAD_PER_FILE, stageRawRun } from './emr-fixtures';

// The EMR engine's call sequence through the real @aws-sdk/client-emr, against a small EMR API
// stand-in on loopback that speaks EMR's JSON protocol and records every call. Its steps run for
// real: the stand-in plays Hadoop streaming for the step it was given (fetches the bundle and the
// manifest from s3rver, feeds the manifest to the bundled mapper as NLineInputFormat would, and
// commits part-00000 and _SUCCESS), unless a test holds or fails the step.

interface FakeStep {
  Id: string;
  Name: string;
  ClusterId: string;
  ActionOnFailure: string;
  Config: { Jar: string; Args: string[]; Properties: Record<string, string> };
  Status: { State: string; StateChangeReason?: { Message?: string }; FailureDetails?: { Reason: string; Message: string; LogFile: string } };
  describes: number;
}

type Script = (step: FakeStep) => Promise<void>;

class FakeEmr {
  calls: { target: string; body: Record<string, any> }[] = [];
  steps: FakeStep[] = [];
  clusters: { Id: string; Name: string; State: string }[] = [];
  /** Advances a step on each DescribeStep; the default plays the step for real. */
  script: Script = (s) => this.play(s);
  private server = http.createServer((req, res) => this.handle(req, res));
  private ids = 0;

  constructor(private store: () => ObjectStore, private workDir: string) {}

  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => resolve()));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
  targets(): string[] {
    return this.calls.map((c) => c.target);
  }
  bodies(target: string): Record<string, any>[] {
    return this.calls.filter((c) => c.target === target).map((c) => c.body);
  }

  private addStep(clusterId: string, s: { Name: string; ActionOnFailure: string; HadoopJarStep: { Jar: string; Args: string[] } }): FakeStep {
    const step: FakeStep = {
      Id: `s-${++this.ids}`, Name: s.Name, ClusterId: clusterId, ActionOnFailure: s.ActionOnFailure,
      Config: { Jar: s.HadoopJarStep.Jar, Args: s.HadoopJarStep.Args, Properties: {} }, Status: { State: 'PENDING' }, describes: 0,
    };
    this.steps.push(step);
    return step;
  }

  private summary(s: FakeStep) {
    return { Id: s.Id, Name: s.Name, Config: s.Config, ActionOnFailure: s.ActionOnFailure, Status: { ...s.Status, Timeline: { CreationDateTime: 1_709_294_400 } } };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '').replace(/^ElasticMapReduce\./, '');
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    this.calls.push({ target, body });
    const reply = (status: number, out: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `req-${this.calls.length}` });
      res.end(JSON.stringify(out));
    };
    try {
      switch (target) {
        case 'AddJobFlowSteps':
          return reply(200, { StepIds: body.Steps.map((s: any) => this.addStep(body.JobFlowId, s).Id) });
        case 'RunJobFlow': {
          const id = `j-TRANSIENT${++this.ids}`;
          this.clusters.push({ Id: id, Name: body.Name, State: 'STARTING' });
          for (const s of body.Steps ?? []) this.addStep(id, s);
          return reply(200, { JobFlowId: id, ClusterArn: `arn:aws:elasticmapreduce:us-east-1:000000000000:cluster/${id}` });
        }
        case 'ListSteps': {
          const states: string[] | undefined = body.StepStates;
          const steps = this.steps.filter((s) => s.ClusterId === body.ClusterId && (!states || states.includes(s.Status.State))).reverse();
          return reply(200, { Steps: steps.map((s) => this.summary(s)) });
        }
        case 'DescribeStep': {
          const step = this.steps.find((s) => s.Id === body.StepId && s.ClusterId === body.ClusterId);
          if (!step) return reply(400, { __type: 'InvalidRequestException', Message: `no step ${body.StepId}` });
          step.describes++;
          await this.script(step);
          return reply(200, { Step: this.summary(step) });
        }
        case 'CancelSteps':
          for (const id of body.StepIds) {
            const step = this.steps.find((s) => s.Id === id);
            if (step) step.Status = { State: 'CANCELLED', StateChangeReason: { Message: 'Cancelled by user' } };
          }
          return reply(200, { CancelStepsInfoList: body.StepIds.map((id: string) => ({ StepId: id, Status: 'SUBMITTED' })) });
        case 'ListClusters':
          return reply(200, { Clusters: this.clusters.filter((c) => !body.ClusterStates || body.ClusterStates.includes(c.State)).map((c) => ({ Id: c.Id, Name: c.Name, Status: { State: c.State } })) });
        case 'DescribeCluster': {
          const c = this.clusters.find((x) => x.Id === body.ClusterId);
          return reply(200, { Cluster: { Id: c?.Id, Name: c?.Name, Status: { State: c?.State, StateChangeReason: { Code: 'STEP_FAILURE', Message: 'Shut down as step failed' } } } });
        }
        case 'TerminateJobFlows':
          for (const c of this.clusters) if (body.JobFlowIds.includes(c.Id)) c.State = 'TERMINATING';
          return reply(200, {});
        default:
          return reply(400, { __type: 'UnknownOperationException', Message: target });
      }
    } catch (err) {
      return reply(500, { __type: 'InternalServerException', Message: (err as Error).message });
    }
  }

  /** PENDING → RUNNING → (the streaming job) → COMPLETED or FAILED. */
  async play(step: FakeStep): Promise<void> {
    if (step.Status.State === 'PENDING') {
      step.Status = { State: 'RUNNING' };
      return;
    }
    if (step.Status.State !== 'RUNNING') return;
    const r = await streamLikeHadoop(this.store(), step.Config.Args, path.join(this.workDir, step.Id));
    step.Status = r.code === 0
      ? { State: 'COMPLETED' }
      : { State: 'FAILED', FailureDetails: { Reason: 'Task attempt failed', Message: r.stderr.trim().split('\n').pop() ?? '', LogFile: `s3://logs/${step.Id}/stderr.gz` } };
  }
}

/** What hadoop-streaming does with these Args, in one map task (no Hadoop here; that is emr-hadoop.test.ts). */
async function streamLikeHadoop(store: ObjectStore, args: string[], dir: string): Promise<{ code: number; stderr: string }> {
  const opt = (name: string) => args[args.indexOf(name) + 1];
  const key = (uri: string) => uri.replace(/^s3a?:\/\/[^/]+\//, '');
  fs.mkdirSync(dir, { recursive: true });
  const [bundleUri, linkName] = opt('-files').split('#');
  fs.writeFileSync(path.join(dir, linkName), await store.get(key(bundleUri)));
  const env: Record<string, string> = { ...(process.env as Record<string, string>), TMPDIR: dir };
  args.forEach((a, i) => {
    if (a === '-cmdenv') {
      const [k, ...v] = args[i + 1].split('=');
      env[k] = v.join('=');
    }
  });
  let offset = 0;
  const input = (await store.get(key(opt('-input')))).toString('utf8').split('\n').filter(Boolean).map((line) => {
    const out = `${offset}\t${line}\n`;
    offset += Buffer.byteLength(line) + 1;
    return out;
  });
  const [cmd, ...cmdArgs] = opt('-mapper').split(' ');
  const child = spawn(cmd === 'node' ? process.execPath : cmd, cmdArgs, { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.on('error', () => undefined); // a mapper that exits early closes its stdin
  child.stdin.end(input.join(''));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (code === 0) {
    const output = key(opt('-output'));
    await store.put(`${output}/part-00000`, Buffer.concat(out));
    await store.put(`${output}/_SUCCESS`, '');
  }
  return { code, stderr: Buffer.concat(err).toString('utf8') };
}

let base: SluiceConfig;
let s3: ManagedProcess;
let client: S3Client;
let store: ObjectStore;
let fake: FakeEmr;
let bundle: JobBundle;
const engines: BatchEngine[] = [];

function engineWith(overrides: Partial<SluiceConfig['emr']>): { engine: BatchEngine; config: SluiceConfig } {
  const config = { ...base, emr: { ...base.emr, ...overrides } };
  const engine = emrEngine(config, { store, bundle: async () => bundle });
  engines.push(engine);
  return { engine, config };
}

const retried = (tasks: TaskInput[]) => tasks.map((t) => ({ ...t, etlTstamp: t.etlTstamp + 60_000 }));

beforeAll(async () => {
  const port = await freePort();
  base = testConfig({ SLUICE_EMR__ENDPOINT: `http://127.0.0.1:${port}`, SLUICE_EMR__POLL_MS: '100', SLUICE_EMR__CLUSTER_ID: 'j-EXISTING1' });
  s3 = await startStandin(s3Spec(base), base);
  client = makeS3Client(base);
  await ensureBucket(client, base.s3.bucket);
  store = s3ObjectStore(client, base.s3.bucket);
  fake = new FakeEmr(() => store, path.join(base.dataDir, 'fake-emr'));
  await fake.listen(port);
  bundle = await buildJobBundle(base, path.join(base.dataDir, 'bundle'));
});

afterAll(async () => {
  for (const e of engines) await e.close();
  await fake?.close();
  client?.destroy();
  await teardown(base, s3);
});

describe('EMR engine against an EMR API stand-in', () => {
  it('adds one streaming step on the cluster, polls it with progress, and returns the results in task order', async () => {
    fake.calls = [];
    fake.script = (s) => fake.play(s);
    const { engine, config } = engineWith({});
    const tasks = await stageRawRun(store, 'emr-api-1', 2, 12);
    const plan = planStep(config.emr.prefix, 'enrich', tasks);
    const progress: [number, number][] = [];

    const results = await engine.run('enrich', tasks, (done, total) => progress.push([done, total]));

    expect(results.map((r) => [r.key, r.good, r.bad])).toEqual(tasks.map((t) => [t.key, 12, BAD_PER_FILE]));
    expect(fake.targets()).toEqual(['ListSteps', 'AddJobFlowSteps', 'DescribeStep', 'DescribeStep']);
    expect(fake.bodies('ListSteps')[0]).toEqual({ ClusterId: 'j-EXISTING1', StepStates: ['PENDING', 'RUNNING'] });

    const [add] = fake.bodies('AddJobFlowSteps');
    expect(add.JobFlowId).toBe('j-EXISTING1');
    expect(add.Steps).toHaveLength(1);
    const step = add.Steps[0];
    expect(step.Name).toBe(plan.name);
    expect(step.ActionOnFailure).toBe('CONTINUE');
    expect(step.HadoopJarStep.Jar).toBe('command-runner.jar');
    const args: string[] = step.HadoopJarStep.Args;
    const bucket = `s3://${config.s3.bucket}/`;
    const bundleKey = `${config.emr.prefix}bundles/sluice-jobs-${bundle.sha256.slice(0, 16)}.mjs`;
    expect(args[0]).toBe('hadoop-streaming');
    const pair = (name: string, value: string) => args.some((a, i) => a === name && args[i + 1] === value);
    expect(pair('-files', `${bucket}${bundleKey}#sluice-jobs.mjs`)).toBe(true);
    expect(pair('-D', 'mapreduce.job.reduces=0')).toBe(true);
    expect(pair('-D', 'mapreduce.input.lineinputformat.linespermap=1')).toBe(true);
    expect(pair('-inputformat', NLINE_INPUT_FORMAT)).toBe(true);
    expect(pair('-input', `${bucket}${plan.manifestKey}`)).toBe(true);
    expect(pair('-output', `${bucket}${plan.outputPrefix.slice(0, -1)}`)).toBe(true);
    expect(pair('-mapper', `node sluice-jobs.mjs enrich --progress ${plan.progressPrefix}`)).toBe(true);
    expect(pair('-cmdenv', `SLUICE_S3__BUCKET=${config.s3.bucket}`)).toBe(true);
    // Generic options (-files, -D) must come before the streaming ones.
    expect(Math.max(args.lastIndexOf('-files'), args.lastIndexOf('-D'))).toBeLessThan(args.indexOf('-input'));

    expect(await store.exists(bundleKey)).toBe(true);
    expect((await store.get(plan.manifestKey)).toString('utf8')).toBe(plan.manifest);
    expect(progress.at(-1)).toEqual([2, 2]);
    expect(progress.every(([d, t], i) => t === 2 && (i === 0 || d >= progress[i - 1][0]))).toBe(true);

    // A retried activity (new etlTstamp, same tasks) finds the committed output: no EMR call at all.
    fake.calls = [];
    expect(await engine.run('enrich', retried(tasks), () => undefined)).toEqual(results);
    expect(fake.calls).toEqual([]);
  });

  it('a retry while the step runs attaches to it instead of adding a second step', async () => {
    fake.calls = [];
    let release = false;
    fake.script = async (s) => {
      if (s.Status.State === 'PENDING') s.Status = { State: 'RUNNING' };
      else if (release) await fake.play(s);
    };
    const { engine } = engineWith({});
    const tasks = await stageRawRun(store, 'emr-api-2', 1, 5);
    const first = engine.run('enrich', tasks, () => undefined);
    await waitFor(() => fake.steps.some((s) => s.Status.State === 'RUNNING' && s.Name.includes('emr-api-2')), 10_000);
    const second = engine.run('enrich', retried(tasks), () => undefined);
    await waitFor(() => fake.bodies('ListSteps').length >= 2 && fake.targets().filter((t) => t === 'DescribeStep').length >= 4, 10_000);
    release = true;
    const [a, b] = await Promise.all([first, second]);
    expect(b).toEqual(a);
    expect(fake.bodies('AddJobFlowSteps')).toHaveLength(1);
  });

  it('a FAILED step rejects with its failure details; the next attempt adds a fresh step', async () => {
    fake.calls = [];
    fake.script = async (s) => {
      s.Status = { State: 'FAILED', FailureDetails: { Reason: 'Task attempt failed', Message: 'sluice enrich: task #0 failed: boom', LogFile: 's3://logs/j-EXISTING1/steps/s-x/stderr.gz' } };
    };
    const { engine } = engineWith({});
    const tasks = await stageRawRun(store, 'emr-api-3', 1, 5);
    await expect(engine.run('enrich', tasks, () => undefined)).rejects.toThrow(
      /ended FAILED; Task attempt failed: sluice enrich: task #0 failed: boom; log: s3:\/\/logs\/j-EXISTING1\/steps\/s-x\/stderr\.gz/,
    );
    fake.script = (s) => fake.play(s);
    const results = await engine.run('enrich', retried(tasks), () => undefined);
    expect(results.map((r) => r.good)).toEqual([5]);
    expect(fake.bodies('AddJobFlowSteps')).toHaveLength(2);
  });

  it('cancellation cancels the running step and rejects with the abort reason', async () => {
    fake.calls = [];
    fake.script = async (s) => {
      if (s.Status.State === 'PENDING') s.Status = { State: 'RUNNING' };
    };
    const { engine } = engineWith({});
    const tasks = await stageRawRun(store, 'emr-api-4', 1, 5);
    const controller = new AbortController();
    const run = engine.run('enrich', tasks, () => undefined, { signal: controller.signal });
    await waitFor(() => fake.targets().includes('DescribeStep'), 10_000);
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    await expect(run).rejects.toBe(reason);
    const stepId = fake.steps.at(-1)!.Id;
    expect(fake.bodies('CancelSteps')).toEqual([{ ClusterId: 'j-EXISTING1', StepIds: [stepId], StepCancellationOption: 'TERMINATE_PROCESS' }]);
    expect(fake.targets()).not.toContain('TerminateJobFlows');
  });

  it('transient: starts a cluster with the Node bootstrap action and the step, which ends it', async () => {
    fake.calls = [];
    fake.script = (s) => fake.play(s);
    const { engine, config } = engineWith({ clusterId: 'transient' });
    const tasks = await stageRawRun(store, 'emr-api-5', 2, 5);
    const plan = planStep(config.emr.prefix, 'enrich', tasks);

    const results = await engine.run('enrich', tasks, () => undefined);

    expect(results.map((r) => r.good)).toEqual([5, 5]);
    expect(fake.targets().slice(0, 3)).toEqual(['ListClusters', 'RunJobFlow', 'ListSteps']);
    expect(fake.bodies('ListClusters')[0].ClusterStates).toEqual(['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING']);
    const [run] = fake.bodies('RunJobFlow');
    expect(run.Name).toBe(plan.name);
    expect(run.ReleaseLabel).toBe(config.emr.transient.releaseLabel);
    expect(run.Applications).toEqual([{ Name: 'Hadoop' }]);
    expect(run.Instances.KeepJobFlowAliveWhenNoSteps).toBe(false);
    expect(run.ServiceRole).toBe('EMR_DefaultRole');
    expect(run.JobFlowRole).toBe('EMR_EC2_DefaultRole');
    const bootstrap = run.BootstrapActions[0].ScriptBootstrapAction;
    const bucket = `s3://${config.s3.bucket}/`;
    expect(bootstrap.Path).toMatch(new RegExp(`^${bucket}emr/bundles/bootstrap-node-[0-9a-f]{16}\\.sh$`));
    expect((await store.get(bootstrap.Path.slice(bucket.length))).toString('utf8')).toContain('dnf install');
    expect(bootstrap.Args).toEqual(['20', `${bucket}${config.emr.prefix}bundles/sluice-jobs-${bundle.sha256.slice(0, 16)}.mjs`]);
    expect(run.Steps).toHaveLength(1);
    expect(run.Steps[0].Name).toBe(plan.name);
    expect(run.Steps[0].ActionOnFailure).toBe('TERMINATE_CLUSTER');
    expect(run.Steps[0].HadoopJarStep.Args).toContain(`${bucket}${plan.manifestKey}`);
  });

  it('transient: a retry attaches to the running cluster; cancelling terminates it', async () => {
    fake.calls = [];
    fake.script = async (s) => {
      if (s.Status.State === 'PENDING') s.Status = { State: 'RUNNING' };
    };
    const { engine } = engineWith({ clusterId: 'transient' });
    const tasks = await stageRawRun(store, 'emr-api-6', 1, 5);
    const first = engine.run('enrich', tasks, () => undefined);
    await waitFor(() => fake.targets().includes('DescribeStep'), 10_000);
    const cluster = fake.clusters.at(-1)!;
    cluster.State = 'RUNNING';

    const controller = new AbortController();
    const second = engine.run('enrich', retried(tasks), () => undefined, { signal: controller.signal });
    await waitFor(() => fake.bodies('ListSteps').filter((b) => b.ClusterId === cluster.Id).length >= 2, 10_000);
    controller.abort(new Error('run cancelled'));
    await expect(second).rejects.toThrow('run cancelled');
    await expect(first).rejects.toThrow(/ended CANCELLED; state change: Cancelled by user; cluster: TERMINATING STEP_FAILURE/);
    expect(fake.bodies('RunJobFlow')).toHaveLength(1);
    expect(fake.bodies('CancelSteps')[0].ClusterId).toBe(cluster.Id);
    expect(fake.bodies('TerminateJobFlows')).toEqual([{ JobFlowIds: [cluster.Id] }]);
  });
});

describe('EMR step plan', () => {
  const tasks: TaskInput[] = [0, 1].map((index) => ({ runId: 'r1', key: `raw/k${index}.lzo`, index, etlTstamp: 1 }));

  it('identifies a step by job and tasks, not by the attempt\'s etlTstamp', () => {
    expect(stepHash('enrich', retried(tasks))).toBe(stepHash('enrich', tasks));
    expect(stepHash('shred-map', tasks)).not.toBe(stepHash('enrich', tasks));
    expect(stepHash('enrich', [tasks[0], { ...tasks[1], key: 'raw/other.lzo' }])).not.toBe(stepHash('enrich', tasks));
    expect(() => planStep('emr/', 'enrich', [tasks[0], { ...tasks[1], runId: 'r2' }])).toThrow(/one run/);
  });

  it('reads manifest lines as TextInputFormat and NLineInputFormat hand them over', () => {
    const line = planStep('emr/', 'enrich', tasks).manifest.split('\n')[1];
    expect(parseManifestLine(line)).toEqual({ n: 1, task: tasks[1] });
    expect(parseManifestLine(`123\t${line}`)).toEqual({ n: 1, task: tasks[1] });
    expect(parseManifestLine('   ')).toBeUndefined();
    expect(() => parseManifestLine('x\t{}')).toThrow(/neither a task/);
    expect(() => parseManifestLine('{"task":{}}')).toThrow(/lacks/);
  });

  it('reads results in task order from any number of parts, and refuses a missing task', () => {
    const r = (n: number) => `${n}\t${JSON.stringify({ key: `k${n}`, good: n, bad: 0 })}\n`;
    expect(parseStepOutput([r(2), `${r(0)}${r(1)}`], 3).map((x) => x.key)).toEqual(['k0', 'k1', 'k2']);
    expect(() => parseStepOutput([r(0)], 3)).toThrow(/lacks the results of 2 task\(s\), e.g. #1, #2/);
    expect(() => parseStepOutput([r(5)], 3)).toThrow(/unexpected line/);
  });
});
