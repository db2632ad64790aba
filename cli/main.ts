import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type SluiceConfig } from '../config';
import { makeLogger } from '../observability/logger';
import { httpReady, tcpReady } from '../stack/processes';
import { temporalPort } from '../stack/standins';
import { Stack, stackUrls } from '../stack/stack';
import { connectTemporal } from '../workers/wiring';
import type { Client } from '@temporalio/client';
import { runBatch } from './batch';
import { operatorStatusCommand, reprocessCommand } from './operator';
import { runCommand } from './runs';
import { retentionCommand } from './retention';
import { streamsCommand } from './streams';
import { DEFAULT_SCHEDULE_ID, scheduleCommand } from './schedule';
import { runDemo } from './demo';

// `sluice <command>`: the operator's entry point to the local stack and the pipeline.

const USAGE = `usage: sluice <command>

  up        start the whole local stack and supervise it (Ctrl-C or \`sluice down\` stops it)
  down      stop a stack started by \`sluice up\`
  status    show what runs and where
  batch     start one batch run and follow it to the end
  run status|retry|skip|abort <runId> [--reason text]
            query a batch run, or resume a parked one (the same signals as the Temporal UI)
  schedule create|pause|unpause|trigger|delete|describe [--every 1h] [--id sluice-batch] [--note text]
            batch runs on a Temporal Schedule (overlap policy: skip)
  streams status|pause|resume|rewind [--processor P] [--stream S] [--shard ID] [--to ISO] [--json]
            per shard: checkpoint, lag, records/s; pause, resume or rewind a processor to a time
  reprocess --from <ISO time> --to <ISO time> [--reason text]
            ask the pipeline operator to replay a window's archived raw files and replace its
            rows and views (queued behind running batch runs; follows it with a progress bar)
  retention run|schedule|describe|pause|unpause|trigger|delete [--every 6h]
            prune bookkeeping and old archives now (holding the pipeline lease), or manage the
            Temporal Schedule sluice-retention that \`sluice up\` keeps (docs/retention.md)
  operator status
            the pipeline operator's status: watermark, running and queued work, skipped loads
  demo [--warehouse postgres|redshift]
            start the stack, send tracker events, run a batch, print the merged counts, stop
            (redshift: through the local Data API endpoint on the local PostgreSQL)

Configuration: sluice.config.json (or SLUICE_CONFIG=file) and SLUICE_* environment variables,
e.g. SLUICE_COLLECTOR__PORT=9090. See README.md.`;

const pidFile = (config: SluiceConfig) => path.join(config.dataDir, 'sluice.pid');

function runningPid(config: SluiceConfig): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(config), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function up(config: SluiceConfig): Promise<void> {
  const existing = runningPid(config);
  if (existing) throw new Error(`a stack is already running (pid ${existing}); \`sluice down\` stops it`);
  const log = makeLogger('sluice', config.log.level);
  const stack = new Stack(config, log);
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, 'stopping the stack');
      await stack.stop();
      fs.rmSync(pidFile(config), { force: true });
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  fs.mkdirSync(config.dataDir, { recursive: true });
  fs.writeFileSync(pidFile(config), String(process.pid));
  try {
    await stack.start();
  } catch (err) {
    await stack.stop();
    fs.rmSync(pidFile(config), { force: true });
    throw err;
  }
  const urls = stack.urls;
  process.stdout.write(
    [
      '',
      'Sluice is up:',
      `  collector     ${urls.collector}   (trackers send here: /i, /com.snowplowanalytics.snowplow/tp2)`,
      `  dashboard     ${urls.serving}/dashboard`,
      `  serving API   ${urls.serving}/v1/series?metric=events&grain=minute&from=…&to=…  (/v1/breakdown/events, /v1/badrows, /v1/streams)`,
      `  Temporal UI   ${urls.temporalUi}`,
      `  Temporal      ${urls.temporal} (namespace ${config.temporal.namespace})`,
      `  workers       ${urls.workers}/health`,
      `  logs          ${path.join(config.dataDir, 'logs')}`,
      'Ctrl-C or `sluice down` stops everything; data stays in ' + config.dataDir,
      '',
    ].join('\n'),
  );
}

async function down(config: SluiceConfig): Promise<void> {
  const pid = runningPid(config);
  if (!pid) {
    process.stdout.write('no stack is running\n');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      process.stdout.write('stack stopped\n');
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`stack (pid ${pid}) did not stop within 60 s`);
}

async function status(config: SluiceConfig): Promise<void> {
  const urls = stackUrls(config);
  const pid = runningPid(config);
  const rows: [string, string, boolean][] = [
    ['stack', pid ? `pid ${pid}` : 'not running', Boolean(pid)],
    ['temporal', urls.temporal, await tcpReady(temporalPort(config))()],
    ['temporal ui', urls.temporalUi, await httpReady(urls.temporalUi)()],
    ['kinesis', config.kinesis.endpoint || 'aws', config.kinesis.local ? await tcpReady(config.kinesis.port)() : true],
    ['s3', config.s3.endpoint || 'aws', config.s3.local ? await tcpReady(config.s3.port)() : true],
    ['postgres', `127.0.0.1:${config.warehouse.postgresPort}`, await tcpReady(config.warehouse.postgresPort)()],
    ['collector', urls.collector, await httpReady(`${urls.collector}/health`)()],
    ['workers', urls.workers, await httpReady(`${urls.workers}/health`)()],
    ['serving', urls.serving, await httpReady(`${urls.serving}/health`)()],
  ];
  for (const [name, where, ok] of rows) process.stdout.write(`${ok ? 'up  ' : 'down'}  ${name.padEnd(12)} ${where}\n`);
}

async function batch(config: SluiceConfig): Promise<void> {
  const { client, connection } = await connectTemporal(config);
  try {
    const { result, link } = await runBatch(client, config);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n${link}\n`);
  } finally {
    await connection.close();
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function withTemporal(config: SluiceConfig, fn: (client: Client) => Promise<void>): Promise<void> {
  const { client, connection } = await connectTemporal(config);
  try {
    await fn(client);
  } finally {
    await connection.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      reason: { type: 'string' },
      every: { type: 'string' },
      id: { type: 'string', default: DEFAULT_SCHEDULE_ID },
      note: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      processor: { type: 'string' },
      stream: { type: 'string' },
      shard: { type: 'string' },
      json: { type: 'boolean' },
      warehouse: { type: 'string' },
    },
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  // `--warehouse redshift` is warehouse.kind for this command (e.g. the demo against the local Data API endpoint).
  if (values.warehouse !== undefined) {
    if (values.warehouse !== 'postgres' && values.warehouse !== 'redshift') throw new Error(`--warehouse is postgres or redshift, not ${JSON.stringify(values.warehouse)}`);
    process.env.SLUICE_WAREHOUSE__KIND = values.warehouse;
  }
  const config = loadConfig();
  switch (command) {
    case 'up':
      await up(config);
      return -1; // keep running until a signal
    case 'down':
      await down(config);
      return 0;
    case 'status':
      await status(config);
      return 0;
    case 'batch':
      await batch(config);
      return 0;
    case 'run':
      if (positionals.length !== 3) throw new Error('usage: sluice run status|retry|skip|abort <runId> [--reason text]');
      await withTemporal(config, (client) => runCommand(client, positionals[1], positionals[2], values.reason, say));
      return 0;
    case 'schedule':
      if (positionals.length !== 2) throw new Error('usage: sluice schedule create|pause|unpause|trigger|delete|describe');
      await withTemporal(config, (client) =>
        scheduleCommand(client, config, { action: positionals[1], id: values.id!, every: values.every ?? '1h', note: values.note }, say),
      );
      return 0;
    case 'reprocess':
      if (!values.from || !values.to) throw new Error('usage: sluice reprocess --from <ISO time> --to <ISO time> [--reason text]');
      await withTemporal(config, async (client) => void (await reprocessCommand(client, config, { from: values.from!, to: values.to!, reason: values.reason }, say)));
      return 0;
    case 'retention':
      if (positionals.length !== 2) throw new Error('usage: sluice retention run|schedule|describe|pause|unpause|trigger|delete [--every 6h] [--note text]');
      await withTemporal(config, (client) => retentionCommand(client, config, { action: positionals[1], every: values.every, note: values.note }, say));
      return 0;
    case 'operator':
      if (positionals[1] !== 'status') throw new Error('usage: sluice operator status');
      await withTemporal(config, (client) => operatorStatusCommand(client, say));
      return 0;
    case 'streams':
      if (positionals.length !== 2) throw new Error('usage: sluice streams status|pause|resume|rewind [--processor P] [--stream S] [--shard ID] [--to ISO] [--json]');
      await withTemporal(config, (client) =>
        streamsCommand(client, config, { action: positionals[1], processor: values.processor, stream: values.stream, shard: values.shard, to: values.to, json: values.json }, say),
      );
      return 0;
    case 'demo':
      return (await runDemo(config, makeLogger('sluice', process.env.SLUICE_LOG__LEVEL ?? 'warn'))) ? 0 : 1;
    default:
      process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`sluice: ${err instanceof ConfigError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(1);
  },
);
