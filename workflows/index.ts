// Every workflow the workers register. Deterministic orchestration only: no I/O, clocks or Node APIs.
export { batchRunWorkflow, progressQuery } from './batch-run';
export { shardConsumerWorkflow, checkpointQuery } from './shard-consumer';
export { streamSupervisorWorkflow } from './stream-supervisor';
export { reprocessWorkflow, reprocessProgressQuery } from './reprocess';
export { pipelineOperatorWorkflow } from './operator';
export { retentionWorkflow, retentionProgressQuery } from './retention';
