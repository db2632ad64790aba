import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { makeKinesisClient } from '../adapters/aws-clients';
import { listShards } from '../adapters/kinesis';
import type { ShardProgress } from '../activities/speed';
import type { SluiceConfig } from '../config';
import { workflowIds } from '../temporal.config';
import { speedTopology } from '../workers/wiring';
import { pauseSignal, resumeSignal, rewindSignal, statusQuery, type ShardStatus } from '../workflows/shard-consumer';
import { supervisorStatusQuery } from '../workflows/stream-supervisor';

// `sluice streams status|pause|resume|rewind`: the speed layer's shard consumers for operators.
// status reads every consumer's workflow query (and the live heartbeat of its running consume
// activity); the others signal a stream supervisor (all its shards) or one shard's consumer.

export interface StreamsArgs {
  action: string;
  processor?: string;
  stream?: string;
  shard?: string;
  /** rewind: ISO time to re-read from. */
  to?: string;
  json?: boolean;
}

export interface ShardRow {
  stream: string;
  processor: string;
  shardId: string;
  /** running, pausing, paused, drained (closed shard fully read), waiting (for its parent shards, or for them to be read again after a rewind), stopped, none. */
  state: string;
  paused: boolean;
  checkpoint?: string;
  millisBehindLatest?: number;
  recordsPerSecond?: number;
  /** When the numbers were measured (epoch ms). */
  measuredAtMs?: number;
}

function pairs(config: SluiceConfig, args: Pick<StreamsArgs, 'processor' | 'stream'>) {
  const all = speedTopology(config);
  const chosen = all.filter((p) => (!args.processor || p.processor === args.processor) && (!args.stream || p.stream === args.stream));
  if (chosen.length === 0) {
    const known = all.map((p) => `${p.stream}/${p.processor}`).join(', ');
    throw new Error(`no speed-layer consumer matches${args.stream ? ` stream ${args.stream}` : ''}${args.processor ? ` processor ${args.processor}` : ''} (running: ${known})`);
  }
  return chosen;
}

/** The live numbers a running consume activity heartbeats, if there is one. */
export function heartbeatOf(describe: Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['describe']>>): ShardProgress | undefined {
  for (const activity of describe.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (activity.activityType?.name === 'consumeShard' && payload) return defaultPayloadConverter.fromPayload<ShardProgress>(payload);
  }
  return undefined;
}

/** One row per (stream, processor, shard), open and closed shards alike (also the serving API's GET /v1/streams rows). */
export async function streamsStatus(client: Client, config: SluiceConfig, filter: Pick<StreamsArgs, 'processor' | 'stream'> = {}): Promise<ShardRow[]> {
  const kinesis = makeKinesisClient(config);
  const rows: ShardRow[] = [];
  try {
    for (const { stream, processor } of pairs(config, filter)) {
      const supervisor = client.workflow.getHandle(workflowIds.supervisor(stream, processor));
      const supervisorStatus = await supervisor.query(supervisorStatusQuery).catch(() => undefined);
      const waiting = new Set(supervisorStatus?.shards.filter((s) => s.state === 'waiting-for-parents').map((s) => s.shardId));
      for (const shard of await listShards(kinesis, stream)) {
        const row: ShardRow = { stream, processor, shardId: shard.shardId, state: 'none', paused: false };
        rows.push(row);
        const handle = client.workflow.getHandle(workflowIds.shardConsumer(stream, processor, shard.shardId));
        let d;
        try {
          d = await handle.describe();
        } catch (err) {
          if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
          if (waiting.has(shard.shardId)) row.state = 'waiting';
          continue;
        }
        if (d.status.name !== 'RUNNING') {
          row.state = d.status.name === 'COMPLETED' ? 'drained' : 'stopped';
          const done = await handle.result().catch(() => undefined);
          row.checkpoint = (done as { checkpoint?: string } | undefined)?.checkpoint;
          continue;
        }
        // Queries are answered by a worker: with none running the row keeps what describe says.
        const status: ShardStatus | undefined = await handle.query(statusQuery).catch(() => undefined);
        const live = heartbeatOf(d);
        row.paused = status?.paused ?? false;
        // Held: rewound across a reshard, waiting for its parent shards to be read again.
        row.state = row.paused ? (status?.consuming ? 'pausing' : 'paused') : status?.held && !status.consuming ? 'waiting' : 'running';
        row.checkpoint = live?.checkpoint ?? status?.checkpoint;
        row.millisBehindLatest = live?.millisBehindLatest ?? status?.millisBehindLatest;
        row.recordsPerSecond = live?.recordsPerSecond ?? status?.recordsPerSecond;
        row.measuredAtMs = live?.atMs ?? status?.lastPollMs;
        if (row.paused) {
          row.millisBehindLatest = undefined;
          row.recordsPerSecond = 0;
        }
      }
    }
  } finally {
    kinesis.destroy();
  }
  return rows;
}

export function formatStatus(rows: ShardRow[], now = Date.now()): string[] {
  const header = ['stream', 'processor', 'shard', 'state', 'lag ms', 'records/s', 'measured', 'checkpoint'];
  const cells = rows.map((r) => [
    r.stream,
    r.processor,
    r.shardId,
    r.state,
    r.millisBehindLatest === undefined ? '-' : String(r.millisBehindLatest),
    r.recordsPerSecond === undefined ? '-' : r.recordsPerSecond.toFixed(1),
    r.measuredAtMs ? `${Math.max(0, Math.round((now - r.measuredAtMs) / 1000))} s ago` : '-',
    r.checkpoint ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === 4 || i === 5 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)];
}

export async function streamsCommand(client: Client, config: SluiceConfig, args: StreamsArgs, out: (line: string) => void): Promise<void> {
  if (args.action === 'status') {
    const rows = await streamsStatus(client, config, args);
    if (args.json) out(JSON.stringify(rows, null, 2));
    else for (const line of formatStatus(rows)) out(line);
    return;
  }
  if (!['pause', 'resume', 'rewind'].includes(args.action)) throw new Error(`unknown streams action ${JSON.stringify(args.action)} (status|pause|resume|rewind)`);
  if (!args.processor) throw new Error(`streams ${args.action} needs --processor (one of ${[...new Set(speedTopology(config).map((p) => p.processor))].join(', ')})`);
  let toMs: number | undefined;
  if (args.action === 'rewind') {
    toMs = args.to ? Date.parse(args.to) : NaN;
    if (!Number.isFinite(toMs)) throw new Error('streams rewind needs --to <ISO time>, e.g. --to 2026-11-21T10:00:00Z');
    if (toMs > Date.now()) throw new Error('--to lies in the future: a rewind only moves back');
  }
  for (const { stream, processor } of pairs(config, args)) {
    const id = args.shard ? workflowIds.shardConsumer(stream, processor, args.shard) : workflowIds.supervisor(stream, processor);
    const handle = client.workflow.getHandle(id);
    if (args.action === 'pause') await handle.signal(pauseSignal);
    else if (args.action === 'resume') await handle.signal(resumeSignal);
    else await handle.signal(rewindSignal, { toMs: toMs! });
    out(`sent ${args.action}${toMs !== undefined ? ` to ${new Date(toMs).toISOString()}` : ''} to ${id}`);
  }
}
