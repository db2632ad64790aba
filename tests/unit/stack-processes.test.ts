import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeLogger } from '../../observability/logger';
import { ManagedProcess } from '../../stack/processes';
import { freePortsSync } from '../helpers/standins';

// The supervision a failed CI start is read through, and the test ports every stand-in binds.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-processes-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const listen = (port: number) =>
  new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('ManagedProcess', () => {
  it('a child that keeps exiting before it is ready fails start() with the end of its log', async () => {
    const proc = new ManagedProcess(
      {
        name: 'crasher',
        command: process.execPath,
        args: ['-e', 'console.error("cannot start the endpoint: listen EADDRINUSE 127.0.0.1:1"); process.exit(1)'],
        ready: async () => false,
        readyTimeoutMs: 60_000,
      },
      dir,
      makeLogger('test-processes', 'silent'),
    );
    // Four restarts back off 1 + 2 + 4 + 8 s before start() gives up.
    const err = await proc.start().then(() => undefined, (e: Error) => e);
    await proc.stop();
    expect(err?.message).toContain('crasher did not become ready');
    expect(err?.message).toContain('its log ends:\ncannot start the endpoint: listen EADDRINUSE 127.0.0.1:1');
  }, 60_000);
});

describe('freePortsSync', () => {
  it('gives distinct ports that a listener can bind and that bind(0) does not hand out again', async () => {
    const ports = freePortsSync(50);
    expect(new Set(ports).size).toBe(50);
    // Unreserved, 2,000 draws meet one of 50 such ports 14 to 19 times here (three rounds measured).
    let drawnAgain = 0;
    for (let i = 0; i < 2000; i++) {
      const server = await listen(0);
      if (ports.includes((server.address() as net.AddressInfo).port)) drawnAgain++;
      await close(server);
    }
    expect(drawnAgain).toBe(0);
    const servers = await Promise.all(ports.slice(0, 5).map(listen));
    await Promise.all(servers.map(close));
  });
});
