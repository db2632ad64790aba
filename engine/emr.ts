import {
  AddJobFlowStepsCommand,
  CancelStepsCommand,
  DescribeClusterCommand,
  DescribeStepCommand,
  EMRClient,
  ListClustersCommand,
  ListStepsCommand,
  RunJobFlowCommand,
  TerminateJobFlowsCommand,
  type Step,
  type StepState,
} from '@aws-sdk/client-emr';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { makeS3Client } from '../adapters/aws-clients';
import { s3ObjectStore, type ObjectStore } from '../adapters/object-store';
import type { SluiceConfig } from '../config';
import type { JobBundle } from './bundle';
import { transientClusterRequest } from './emr-cluster';
import { planStep, type StepPlan } from './emr-plan';
import { finishedTasks, readStepResults, stageStep, stepSucceeded, uploadBootstrap, uploadBundle } from './emr-stage';
import type { BatchEngine } from './engine';

// The EMR engine: each run() is one Hadoop streaming step whose mapper is the bundled job code
// (engine/hadoop/job-runner.ts), on an existing cluster (emr.clusterId = j-…) or on a transient
// cluster started for the step. Idempotent: the step's keys and name derive from the job and its
// tasks, so a retried activity reuses a finished step's output or attaches to its running step.

const ACTIVE_STEP: StepState[] = ['PENDING', 'RUNNING'];
const ACTIVE_CLUSTER = ['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING'] as const;

export function makeEmrClient(config: SluiceConfig): EMRClient {
  // A configured endpoint is a stand-in (or a VPC endpoint): the stand-in credentials and
  // HTTP/1.1 as for the other local clients. Otherwise the SDK's default chain and endpoint.
  const local = config.emr.endpoint
    ? {
        endpoint: config.emr.endpoint,
        requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
        ...(config.aws.accessKeyId ? { credentials: { accessKeyId: config.aws.accessKeyId, secretAccessKey: config.aws.secretAccessKey } } : {}),
      }
    : {};
  return new EMRClient({ region: config.region, maxAttempts: 5, ...local });
}

export interface EmrEngineDeps {
  emr?: EMRClient;
  store?: ObjectStore;
  /** The job bundle to ship; default: built with esbuild on first use (engine/bundle.ts). */
  bundle?: () => Promise<JobBundle>;
}

interface StepRef {
  clusterId: string;
  stepId: string;
  transient: boolean;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function describeFailure(plan: StepPlan, ref: StepRef, step: Step, clusterReason?: string): string {
  const s = step.Status ?? {};
  const parts = [`EMR step "${plan.name}" (${ref.stepId} on ${ref.clusterId}) ended ${s.State}`];
  const d = s.FailureDetails;
  if (d?.Reason || d?.Message) parts.push(`${d.Reason ?? 'failure'}: ${d.Message ?? ''}`.trim());
  if (d?.LogFile) parts.push(`log: ${d.LogFile}`);
  if (s.StateChangeReason?.Message) parts.push(`state change: ${s.StateChangeReason.Message}`);
  if (clusterReason) parts.push(`cluster: ${clusterReason}`);
  return parts.join('; ');
}

export function emrEngine(config: SluiceConfig, deps: EmrEngineDeps = {}): BatchEngine {
  const emr = deps.emr ?? makeEmrClient(config);
  const store = deps.store ?? s3ObjectStore(makeS3Client(config), config.s3.bucket);
  const { clusterId, prefix, pollMs } = config.emr;
  const transient = clusterId === 'transient';
  let bundleKey: Promise<string> | undefined;

  /** Built (or given) once per engine; uploaded under its content hash. */
  const ensureBundle = (): Promise<string> => {
    bundleKey ??= (async () => {
      const bundle = deps.bundle ? await deps.bundle() : await (await import('./bundle')).buildJobBundle(config);
      return uploadBundle(store, prefix, bundle);
    })();
    bundleKey.catch(() => (bundleKey = undefined));
    return bundleKey;
  };

  async function findStepIn(cluster: string, name: string): Promise<string | undefined> {
    let marker: string | undefined;
    do {
      const page = await emr.send(new ListStepsCommand({ ClusterId: cluster, StepStates: ACTIVE_STEP, Marker: marker }));
      const hit = page.Steps?.find((s) => s.Name === name);
      if (hit?.Id) return hit.Id;
      marker = page.Marker;
    } while (marker);
    return undefined;
  }

  /** A step of an earlier attempt still pending or running: attach to it instead of adding another. */
  async function findActiveStep(plan: StepPlan): Promise<StepRef | undefined> {
    if (!transient) {
      const stepId = await findStepIn(clusterId, plan.name);
      return stepId ? { clusterId, stepId, transient } : undefined;
    }
    let marker: string | undefined;
    do {
      const page = await emr.send(new ListClustersCommand({ ClusterStates: [...ACTIVE_CLUSTER], Marker: marker }));
      for (const c of page.Clusters ?? []) {
        if (c.Name !== plan.name || !c.Id) continue;
        const stepId = await findStepIn(c.Id, plan.name);
        if (stepId) return { clusterId: c.Id, stepId, transient };
      }
      marker = page.Marker;
    } while (marker);
    return undefined;
  }

  async function startStep(plan: StepPlan): Promise<StepRef> {
    const bundle = await ensureBundle();
    if (!transient) {
      const step = await stageStep(store, config, plan, bundle, 'CONTINUE');
      const out = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: clusterId, Steps: [step] }));
      const stepId = out.StepIds?.[0];
      if (!stepId) throw new Error(`AddJobFlowSteps on ${clusterId} returned no step id`);
      return { clusterId, stepId, transient };
    }
    const step = await stageStep(store, config, plan, bundle, 'TERMINATE_CLUSTER');
    const request = transientClusterRequest(config, { plan, step, bootstrapKey: await uploadBootstrap(store, prefix), bundleKey: bundle });
    const { JobFlowId } = await emr.send(new RunJobFlowCommand(request));
    if (!JobFlowId) throw new Error('RunJobFlow returned no cluster id');
    // RunJobFlow does not return step ids; the cluster's only step carries the plan's name.
    const stepId = await findStepIn(JobFlowId, plan.name);
    if (!stepId) throw new Error(`transient cluster ${JobFlowId} has no step named "${plan.name}"`);
    return { clusterId: JobFlowId, stepId, transient };
  }

  async function cancel(ref: StepRef): Promise<void> {
    await emr.send(new CancelStepsCommand({ ClusterId: ref.clusterId, StepIds: [ref.stepId], StepCancellationOption: 'TERMINATE_PROCESS' }));
    if (ref.transient) await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: [ref.clusterId] }));
  }

  async function clusterReason(ref: StepRef): Promise<string | undefined> {
    if (!ref.transient) return undefined;
    try {
      const { Cluster } = await emr.send(new DescribeClusterCommand({ ClusterId: ref.clusterId }));
      const r = Cluster?.Status?.StateChangeReason;
      return r ? `${Cluster?.Status?.State} ${r.Code ?? ''} ${r.Message ?? ''}`.trim() : undefined;
    } catch {
      return undefined; // the step's own failure is what matters; the cluster detail is a bonus
    }
  }

  async function waitForStep(plan: StepPlan, ref: StepRef, onProgress: (done: number, total: number) => void, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const { Step } = await emr.send(new DescribeStepCommand({ ClusterId: ref.clusterId, StepId: ref.stepId }));
      const state = Step?.Status?.State;
      onProgress(state === 'COMPLETED' ? plan.total : await finishedTasks(store, plan), plan.total);
      if (state === 'COMPLETED') return;
      if (state === 'FAILED' || state === 'CANCELLED' || state === 'INTERRUPTED') {
        throw new Error(describeFailure(plan, ref, Step!, await clusterReason(ref)));
      }
      await abortableSleep(pollMs, signal);
    }
  }

  return {
    async run(job, tasks, onProgress, options = {}) {
      const { signal } = options;
      if (tasks.length === 0) return [];
      signal?.throwIfAborted();
      const plan = planStep(prefix, job, tasks);
      // An earlier attempt already finished this very step (Hadoop committed its output).
      if (await stepSucceeded(store, plan)) {
        onProgress(plan.total, plan.total);
        return readStepResults(store, plan);
      }
      const ref = (await findActiveStep(plan)) ?? (await startStep(plan));
      try {
        await waitForStep(plan, ref, onProgress, signal);
      } catch (err) {
        if (!signal?.aborted) throw err;
        try {
          await cancel(ref);
        } catch (cancelErr) {
          throw new Error(`run cancelled, but cancelling EMR step ${ref.stepId} on ${ref.clusterId} failed: ${(cancelErr as Error).message}`, { cause: cancelErr });
        }
        throw signal.reason;
      }
      return readStepResults(store, plan);
    },
    async close() {
      if (!deps.emr) emr.destroy();
    },
  };
}
