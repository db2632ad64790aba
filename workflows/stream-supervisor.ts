import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { ConsumerState, SpeedActivities } from '../activities/speed';
import { controlActivity, supervisorRelistInterval, workflowIds } from '../temporal.config';
import { pauseSignal, releaseSignal, relistSignal, resumeSignal, rewindSignal, shardConsumerWorkflow, type RewindRequest } from './shard-consumer';

// One supervisor per (stream, processor): lists the shards and makes sure each has exactly one
// consumer workflow. A child shard (after a split or merge) starts only once its parents'
// consumers have drained them, so records of one partition key are processed in order. It
// re-lists periodically (a split or merge made while running is picked up) and at once when a
// drained shard's consumer reports. Pause, resume and rewind sent here go to every shard.
//
// A rewind here also re-reads the closed shards still listed (within retention): their drained
// consumers are started again, rewound, and every consumer of a shard with a listed parent is
// held (rewound, not reading) until all its listed ancestors are drained again, so the records
// are read again parent before child, once per processor.

export interface StreamSupervisorInput {
  stream: string;
  processor: string;
  paused?: boolean;
  /** Consumers held after a rewind until their ancestors are drained again (workflow ids). */
  held?: string[];
  /** A rewind (epoch ms) received but not applied yet. */
  rewindToMs?: number;
}

export interface SupervisorStatus {
  paused: boolean;
  shards: { shardId: string; state: ConsumerState | 'waiting-for-parents'; parents: string[] }[];
  listedAtMs: number;
}

export const supervisorStatusQuery = defineQuery<SupervisorStatus>('status');

const { listShards, consumerStates, drainedCheckpoints } = proxyActivities<SpeedActivities>(controlActivity);

export async function streamSupervisorWorkflow(input: StreamSupervisorInput): Promise<void> {
  const self = workflowInfo().workflowId;
  let paused = input.paused ?? false;
  let relist = input.rewindToMs !== undefined;
  let running: string[] = [];
  const held = new Set(input.held ?? []);
  /** Consumers a rewind signal did not reach (they completed meanwhile): restarted rewound next round. */
  const missed = new Map<string, number>();
  let rewindTo = input.rewindToMs;
  let status: SupervisorStatus = { paused, shards: [], listedAtMs: 0 };

  /** Forwards a signal to every consumer this supervisor knows to be running. */
  const forward = async (send: (id: string) => Promise<void>) => {
    await Promise.all(running.map((id) => send(id).catch(() => undefined))); // a consumer that just finished has nothing to do
  };
  const consumer = (id: string) => getExternalWorkflowHandle(id);

  setHandler(supervisorStatusQuery, () => ({ ...status, paused }));
  setHandler(relistSignal, () => {
    relist = true;
  });
  setHandler(pauseSignal, async () => {
    paused = true;
    await forward((id) => consumer(id).signal(pauseSignal));
  });
  setHandler(resumeSignal, async () => {
    paused = false;
    await forward((id) => consumer(id).signal(resumeSignal));
  });
  // Applied by the loop below, which knows the shards' lineage.
  setHandler(rewindSignal, (request: RewindRequest) => {
    rewindTo = request.toMs;
    relist = true;
  });

  for (let round = 0; ; round++) {
    const shards = await listShards({ stream: input.stream });
    const ids = shards.map((s) => workflowIds.shardConsumer(input.stream, input.processor, s.shardId));
    const states = await consumerStates({ workflowIds: ids });
    const stateOf = new Map(shards.map((s, i) => [s.shardId, states[i]]));
    // A parent no longer listed is past retention: nothing of it is left to read.
    const drained = (shardId: string | undefined) => shardId === undefined || !stateOf.has(shardId) || stateOf.get(shardId) === 'completed';
    const byId = new Map(shards.map((s) => [s.shardId, s]));
    const listedParents = (shardId: string) => {
      const s = byId.get(shardId);
      return [s?.parentShardId, s?.adjacentParentShardId].filter((p): p is string => p !== undefined && byId.has(p));
    };
    /** Every listed ancestor of a shard (parents, their parents, …). */
    const ancestors = (shardId: string, out = new Set<string>()): Set<string> => {
      for (const p of listedParents(shardId)) if (!out.has(p)) ancestors(p, out.add(p));
      return out;
    };

    /** Consumers started again or rewound this round: their states above are stale. */
    let changed = false;
    if (rewindTo !== undefined || missed.size > 0) {
      const all = rewindTo;
      if (all !== undefined) changed = true;
      rewindTo = undefined;
      const toMsOf = (i: number) => all ?? missed.get(ids[i]);
      const mine = (i: number) => all !== undefined || missed.has(ids[i]);
      for (const id of missed.keys()) if (!ids.includes(id)) missed.delete(id);
      // Drained shards are read again from the rewind point: their consumers start again, rewound.
      const drainedShards = shards.map((s, i) => ({ s, i })).filter(({ i }) => states[i] === 'completed' && mine(i));
      const runningBefore = shards.map((_, i) => states[i] === 'running');
      const finals = drainedShards.length > 0 ? await drainedCheckpoints({ workflowIds: drainedShards.map(({ i }) => ids[i]) }) : [];
      for (const [j, { s, i }] of drainedShards.entries()) {
        const hold = listedParents(s.shardId).length > 0;
        await startChild(shardConsumerWorkflow, {
          workflowId: ids[i],
          args: [{ stream: input.stream, processor: input.processor, shardId: s.shardId, paused, supervisorId: self, checkpoint: finals[j] ?? undefined, rewindToMs: toMsOf(i), held: hold }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        });
        if (hold) held.add(ids[i]);
        missed.delete(ids[i]);
        states[i] = 'running';
        stateOf.set(s.shardId, 'running');
        changed = true;
      }
      // Running consumers rewind; those with a listed parent wait for it to be read again first.
      await Promise.all(
        shards.map(async (s, i) => {
          if (!runningBefore[i] || !mine(i)) return;
          const toMs = toMsOf(i)!;
          const hold = listedParents(s.shardId).length > 0;
          if (hold) held.add(ids[i]);
          missed.delete(ids[i]);
          // One that completed since it was described is started again, rewound, next round.
          await consumer(ids[i]).signal(rewindSignal, { toMs, hold }).catch(() => missed.set(ids[i], toMs));
        }),
      );
      for (const [i] of shards.entries()) if (missed.has(ids[i]) && (states[i] === 'none' || states[i] === 'failed')) missed.delete(ids[i]);
    }
    // A held consumer reads on once every listed ancestor of its shard is drained (again); not
    // in a round that just started or rewound consumers (their ancestors' states are from before).
    for (const [i, shard] of shards.entries()) {
      if (changed || !held.has(ids[i])) continue;
      if (![...ancestors(shard.shardId)].every((a) => stateOf.get(a) === 'completed')) continue;
      await consumer(ids[i]).signal(releaseSignal).catch(() => undefined);
      held.delete(ids[i]);
    }
    for (const id of held) if (!ids.includes(id)) held.delete(id); // its shard is gone

    const nextRunning: string[] = [];
    const listed: SupervisorStatus['shards'] = [];
    for (const [i, shard] of shards.entries()) {
      const parents = [shard.parentShardId, shard.adjacentParentShardId].filter((p): p is string => p !== undefined);
      let state: SupervisorStatus['shards'][number]['state'] = stateOf.get(shard.shardId)!;
      // 'failed' covers terminated and timed-out consumers too: the lease is free again.
      if (state === 'none' || state === 'failed') {
        if (!parents.every(drained)) {
          listed.push({ shardId: shard.shardId, state: 'waiting-for-parents', parents });
          continue;
        }
        // Consumers outlive this run (continue-as-new); the workflow id keeps them unique.
        await startChild(shardConsumerWorkflow, {
          workflowId: ids[i],
          args: [{ stream: input.stream, processor: input.processor, shardId: shard.shardId, paused, supervisorId: self }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        });
        state = 'running';
      }
      if (state === 'running') nextRunning.push(ids[i]);
      listed.push({ shardId: shard.shardId, state, parents });
    }
    running = nextRunning;
    status = { paused, shards: listed, listedAtMs: Date.now() };
    // After a rewind, look again at once (the releases wait for fresh states).
    if (changed) relist = true;

    await condition(() => relist, supervisorRelistInterval);
    relist = false;
    if (workflowInfo().continueAsNewSuggested || round >= 200) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof streamSupervisorWorkflow>({ ...input, paused, held: [...held], rewindToMs: rewindTo });
    }
  }
}
