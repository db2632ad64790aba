import http from 'node:http';
import type { AddressInfo } from 'node:net';

// A counting HTTP proxy in front of kinesalite, for the read-budget tests. It forwards every
// request unchanged and learns which shard each iterator belongs to from the answers
// (GetShardIterator: the request names the shard, the answer holds its iterator; GetRecords: the
// answer's NextShardIterator continues the request's shard), so it can count GetRecords calls
// per shard per wall-clock second as Kinesis would see them. It can also answer GetRecords of a
// chosen shard with ProvisionedThroughputExceededException instead of forwarding it, as an
// overloaded shard of Amazon Kinesis does.

export interface GetRecordsCall {
  /** `<stream>/<shardId>`, or `?` for an iterator the proxy never saw issued. */
  shard: string;
  atMs: number;
  throttled: boolean;
}

export interface KinesisProxy {
  url: string;
  calls: GetRecordsCall[];
  /** Answers the next `times` GetRecords calls of shards matching `match` with ProvisionedThroughputExceededException. */
  throttle(match: (shard: string) => boolean, times: number): void;
  /** Calls per shard in each whole second of [fromMs, toMs): shard → counts, one per second. */
  perSecond(fromMs: number, toMs: number): Map<string, number[]>;
  close(): Promise<void>;
}

const target = (req: http.IncomingMessage) => String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';

function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

const parse = (body: Buffer): Record<string, unknown> => {
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
};

export async function startKinesisProxy(upstreamPort: number, port = 0): Promise<KinesisProxy> {
  const shardOf = new Map<string, string>();
  const calls: GetRecordsCall[] = [];
  const plan: { match: (shard: string) => boolean; times: number }[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = http.createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const op = target(req);
      const input = op === 'GetShardIterator' || op === 'GetRecords' ? parse(body) : {};
      let shard = '?';
      if (op === 'GetRecords') {
        shard = shardOf.get(String(input.ShardIterator)) ?? '?';
        const fault = plan.find((p) => p.times > 0 && p.match(shard));
        calls.push({ shard, atMs: Date.now(), throttled: fault !== undefined });
        if (fault) {
          fault.times -= 1;
          const payload = JSON.stringify({ __type: 'ProvisionedThroughputExceededException', message: `Rate exceeded for shard ${shard.split('/')[1]} in stream ${shard.split('/')[0]} under account 000000000000.` });
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'ProvisionedThroughputExceededException', 'content-length': Buffer.byteLength(payload) });
          res.end(payload);
          return;
        }
      }
      const headers = { ...req.headers, host: `127.0.0.1:${upstreamPort}` };
      const upstream = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent }, async (up) => {
        try {
          const answer = await readBody(up);
          if ((op === 'GetShardIterator' || op === 'GetRecords') && up.statusCode === 200) {
            const out = parse(answer);
            if (op === 'GetShardIterator' && typeof out.ShardIterator === 'string') shardOf.set(out.ShardIterator, `${String(input.StreamName)}/${String(input.ShardId)}`);
            if (op === 'GetRecords' && typeof out.NextShardIterator === 'string') shardOf.set(out.NextShardIterator, shard);
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(answer);
        } catch {
          res.destroy();
        }
      });
      upstream.on('error', () => res.destroy()); // kinesalite down: the client sees the connection cut
      upstream.end(body);
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    calls,
    throttle(match, times) {
      plan.push({ match, times });
    },
    perSecond(fromMs, toMs) {
      const first = Math.floor(fromMs / 1000);
      const seconds = Math.floor(toMs / 1000) - first;
      const out = new Map<string, number[]>();
      for (const c of calls) {
        const s = Math.floor(c.atMs / 1000) - first;
        if (c.atMs < fromMs || s < 0 || s >= seconds) continue;
        const counts = out.get(c.shard) ?? Array.from({ length: seconds }, () => 0);
        counts[s] += 1;
        out.set(c.shard, counts);
      }
      return out;
    },
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
