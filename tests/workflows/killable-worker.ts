// A batch-queue worker in a process of its own, for tests/workflows/operator.test.ts to SIGKILL
// mid-reprocess: its replaceWindow announces itself on stdout and never finishes.
// Usage: node --import tsx tests/workflows/killable-worker.ts <address> <taskQueue>
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { operatorActivities } from '../helpers/operator';
import { Gates, pipelineFakes } from './operator-fakes';

const [address, taskQueue] = process.argv.slice(2);
Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address });
const client = new Client({ connection: await Connection.connect({ address }) });
const fakes = pipelineFakes([], new Gates(), { watermark: null, owed: [] });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)),
  activities: {
    ...operatorActivities(client, taskQueue),
    ...fakes,
    async replaceWindow() {
      process.stdout.write(`replace-started attempt=${Context.current().info.attempt}\n`);
      for (;;) {
        Context.current().heartbeat();
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  },
});
process.stdout.write('worker-ready\n');
await worker.run();
