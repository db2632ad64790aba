import type { RunJobFlowCommandInput } from '@aws-sdk/client-emr';
import type { SluiceConfig } from '../config';
import type { StepPlan } from './emr-plan';

// The transient cluster of one step: Hadoop only, the Node bootstrap action, the step itself, and
// KeepJobFlowAliveWhenNoSteps=false so the cluster terminates when the step ends (or fails).

export interface TransientClusterInput {
  plan: StepPlan;
  step: NonNullable<RunJobFlowCommandInput['Steps']>[number];
  bootstrapKey: string;
  bundleKey: string;
}

export function transientClusterRequest(config: SluiceConfig, i: TransientClusterInput): RunJobFlowCommandInput {
  const t = config.emr.transient;
  const s3 = (key: string) => `s3://${config.s3.bucket}/${key}`;
  return {
    Name: i.plan.name,
    ReleaseLabel: t.releaseLabel,
    Applications: [{ Name: 'Hadoop' }],
    LogUri: s3(`${config.emr.prefix}logs/`),
    ServiceRole: t.serviceRole,
    JobFlowRole: t.jobFlowRole,
    VisibleToAllUsers: true,
    Instances: {
      InstanceGroups: [
        { Name: 'master', InstanceRole: 'MASTER', InstanceType: t.instanceType, InstanceCount: 1, Market: 'ON_DEMAND' },
        ...(t.coreInstances > 0
          ? [{ Name: 'core', InstanceRole: 'CORE' as const, InstanceType: t.instanceType, InstanceCount: t.coreInstances, Market: 'ON_DEMAND' as const }]
          : []),
      ],
      KeepJobFlowAliveWhenNoSteps: false,
      TerminationProtected: false,
      ...(t.subnetId ? { Ec2SubnetId: t.subnetId } : {}),
      ...(t.ec2KeyName ? { Ec2KeyName: t.ec2KeyName } : {}),
    },
    BootstrapActions: [
      {
        Name: 'sluice: Node.js and the job bundle',
        ScriptBootstrapAction: { Path: s3(i.bootstrapKey), Args: [String(config.emr.nodeMajor), s3(i.bundleKey)] },
      },
    ],
    Steps: [i.step],
    Tags: [
      { Key: 'sluice:run', Value: i.plan.runId },
      { Key: 'sluice:job', Value: i.plan.job },
    ],
  };
}
