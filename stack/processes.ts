import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../observability/logger';

// Child-process supervision for `sluice up`: start in order, wait for readiness, restart a child
// that dies unexpectedly (with backoff), stop everything in reverse order.

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Resolves true once the process serves; polled until `readyTimeoutMs`. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Signal for a clean stop (PostgreSQL wants SIGINT for a fast shutdown). */
  stopSignal?: NodeJS.Signals;
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

/** Fails with a clear message when something already listens on the port. */
export async function assertPortFree(port: number, key: string, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUseError(`port ${port} (${key}) is already in use on ${host}: stop what holds it or configure another port`)
          : err,
      );
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

export function tcpReady(port: number, host = '127.0.0.1'): () => Promise<boolean> {
  return () =>
    new Promise((resolve) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
}

export function httpReady(url: string): () => Promise<boolean> {
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return res.ok;
    } catch {
      return false;
    }
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The last lines of a child's log (at most 2 KB), so a failed start says why where it is reported (CI). */
function logTail(file: string, bytes = 2048): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(bytes, size));
      fs.readSync(fd, buf, 0, buf.length, size - buf.length);
      const lines = buf.toString('utf8').split('\n').slice(size > bytes ? 1 : 0).filter((l) => l.trim());
      return lines.length ? `; its log ends:\n${lines.slice(-10).join('\n')}` : '';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** A child that ran this long before exiting is not crash-looping. */
const HEALTHY_RUN_MS = 20_000;

export class ManagedProcess {
  private child?: ChildProcess;
  private stopping = false;
  private restarts = 0;

  constructor(
    readonly spec: ProcessSpec,
    private readonly logDir: string,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.spawnChild();
    const deadline = Date.now() + (this.spec.readyTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      if (await this.spec.ready()) {
        this.log.info({ process: this.spec.name, pid: this.pid }, 'ready');
        return;
      }
      // The exit handler restarts a child that dies; one that keeps dying before it is ready is
      // misconfigured, so stop waiting for it.
      if (this.restarts > 3) break;
      await sleep(200);
    }
    throw new Error(`${this.spec.name} did not become ready; see ${this.logFile()}${logTail(this.logFile())}`);
  }

  logFile(): string {
    return path.join(this.logDir, `${this.spec.name}.log`);
  }

  private spawnChild(): void {
    fs.mkdirSync(this.logDir, { recursive: true });
    const out = fs.openSync(this.logFile(), 'a');
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env },
      uid: this.spec.uid,
      gid: this.spec.gid,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    this.child = child;
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      if (this.stopping || this.child !== child) return;
      // Backoff grows for a crash loop only: a child that ran for 20 s starts from scratch.
      if (Date.now() - startedAt > HEALTHY_RUN_MS) this.restarts = 0;
      this.restarts += 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(this.restarts, 6));
      this.log.error({ process: this.spec.name, code, signal, restartInMs: delay }, 'process exited unexpectedly');
      setTimeout(() => {
        if (!this.stopping) this.spawnChild();
      }, delay).unref();
    });
  }

  /** Kill without the clean-stop path (fault tests). The supervisor restarts it. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(this.spec.stopSignal ?? 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.log.info({ process: this.spec.name }, 'stopped');
  }
}
