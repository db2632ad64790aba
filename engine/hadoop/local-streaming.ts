import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Runs an EMR engine step's hadoop-streaming arguments under Apache Hadoop's own jars in local
// mode (LocalJobRunner), with the bucket reached through S3A on an S3-compatible endpoint. The
// step's arguments are used as they are; only the cluster's site configuration is replaced by
// generic -D options placed before them.

const here = path.dirname(fileURLToPath(import.meta.url));
export const HADOOP_LIB = path.resolve(here, '..', '..', '.tools', 'hadoop', 'lib');
export const STREAMING_MAIN = 'org.apache.hadoop.streaming.HadoopStreaming';

export interface LocalHadoopOptions {
  /** Hadoop's jars (bin/hadoop-jars.mjs puts them in .tools/hadoop/lib). */
  libDir?: string;
  /** Scratch dir: the job's working dir (distributed-cache links land there) and hadoop.tmp.dir. */
  workDir: string;
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string; region?: string };
  /** Map tasks the LocalJobRunner runs at once. */
  mapSlots?: number;
  timeoutMs?: number;
}

export interface LocalHadoopRun {
  exitCode: number;
  /** Hadoop's log (stderr) and the mappers' stderr. */
  log: string;
  ms: number;
}

/** What a cluster's *-site.xml would say: local MapReduce, and S3A on the given endpoint. */
export function localSiteOptions(o: LocalHadoopOptions): string[] {
  const props: Record<string, string> = {
    'mapreduce.framework.name': 'local',
    'fs.defaultFS': 'file:///',
    'hadoop.tmp.dir': path.join(o.workDir, 'hadoop-tmp'),
    'mapreduce.local.map.tasks.maximum': String(o.mapSlots ?? 2),
    'fs.s3a.endpoint': o.s3.endpoint,
    'fs.s3a.endpoint.region': o.s3.region ?? 'us-east-1',
    'fs.s3a.path.style.access': 'true',
    'fs.s3a.connection.ssl.enabled': String(o.s3.endpoint.startsWith('https:')),
    'fs.s3a.aws.credentials.provider': 'org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider',
    'fs.s3a.access.key': o.s3.accessKeyId,
    'fs.s3a.secret.key': o.s3.secretAccessKey,
    // The default S3 V4 signer sends PUT bodies aws-chunked over plain HTTP, which S3 stand-ins
    // such as s3rver store undecoded; this signer sends the body as it is.
    'fs.s3a.signing-algorithm': 'AWS4UnsignedPayloadSignerType',
    // A stand-in that is down should fail the run in seconds, not after S3A's minutes of retries.
    'fs.s3a.attempts.maximum': '2',
    'fs.s3a.retry.limit': '2',
  };
  return Object.entries(props).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
}

/** Runs `hadoop-streaming <args…>` (an EMR step's Args) the way command-runner.jar would, locally. */
export function runStreamingLocally(stepArgs: string[], o: LocalHadoopOptions): Promise<LocalHadoopRun> {
  if (stepArgs[0] !== 'hadoop-streaming') throw new Error(`not a hadoop-streaming step: ${stepArgs[0]}`);
  const libDir = o.libDir ?? HADOOP_LIB;
  if (!fs.existsSync(libDir)) throw new Error(`no Hadoop jars in ${libDir}: run node bin/hadoop-jars.mjs`);
  const tmp = path.join(o.workDir, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  const args = [
    '-Xmx1g',
    // Streaming hands its mappers TMPDIR=java.io.tmpdir.
    `-Djava.io.tmpdir=${tmp}`,
    `-Dlog4j.configuration=file:${path.join(here, 'log4j.properties')}`,
    '-cp', path.join(libDir, '*'),
    STREAMING_MAIN,
    ...localSiteOptions(o),
    ...stepArgs.slice(1),
  ];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, {
      cwd: o.workDir,
      // The mapper's `node` is the Node running this code; its temp files stay in the scratch dir.
      env: { ...process.env, TMPDIR: tmp, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 300_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const log = Buffer.concat(chunks).toString('utf8');
      resolve({ exitCode: code ?? (signal ? 128 : 1), log: signal ? `${log}\n(killed by ${signal})` : log, ms: Date.now() - started });
    });
  });
}
