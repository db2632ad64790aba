// The speed layer's Kinesis reads during a benchmark, from the workers' /metrics: GetRecords calls
// per shard per second, on average (the sluice_kinesis_get_records_total counters at the start
// and the end) and in the busiest second (the sluice_kinesis_get_records_per_second gauge, calls
// in the last second, sampled four times a second), and throttles.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type PerShard = Map<string, number>;

function parse(text: string, name: string): PerShard {
  const out: PerShard = new Map();
  for (const m of text.matchAll(new RegExp(`^${name}\\{stream="([^"]*)",shard="([^"]*)"\\} (\\S+)$`, 'gm'))) out.set(`${m[1]}/${m[2]}`, Number(m[3]));
  return out;
}

async function scrape(workersUrl: string): Promise<string> {
  return (await fetch(`${workersUrl}/metrics`).then((r) => r.text()).catch(() => '')) ?? '';
}

export interface KinesisReadSummary {
  /** Per stream: mean and busiest-second GetRecords calls per shard, throttles. */
  streams: { stream: string; shards: number; meanPerShard: number; busiestSecond: number; throttles: number }[];
  seconds: number;
}

/** Starts sampling; `stop()` returns the summary over the time between. */
export function sampleKinesisReads(workersUrl: string, sampleMs = 250) {
  let stopped = false;
  const started = Date.now();
  const busiest: PerShard = new Map();
  const first = scrape(workersUrl);
  const sampling = (async () => {
    while (!stopped) {
      for (const [shard, n] of parse(await scrape(workersUrl), 'sluice_kinesis_get_records_per_second')) busiest.set(shard, Math.max(busiest.get(shard) ?? 0, n));
      await sleep(sampleMs);
    }
  })();
  return {
    async stop(): Promise<KinesisReadSummary> {
      stopped = true;
      await sampling;
      const seconds = (Date.now() - started) / 1000;
      const [a, b] = [await first, await scrape(workersUrl)];
      const calls = [parse(a, 'sluice_kinesis_get_records_total'), parse(b, 'sluice_kinesis_get_records_total')];
      const throttles = [parse(a, 'sluice_kinesis_throttles_total'), parse(b, 'sluice_kinesis_throttles_total')];
      const byStream = new Map<string, string[]>();
      for (const shard of calls[1].keys()) {
        const stream = shard.slice(0, shard.lastIndexOf('/'));
        byStream.set(stream, [...(byStream.get(stream) ?? []), shard]);
      }
      return {
        seconds,
        streams: [...byStream].map(([stream, shards]) => ({
          stream,
          shards: shards.length,
          meanPerShard: shards.reduce((s, sh) => s + ((calls[1].get(sh) ?? 0) - (calls[0].get(sh) ?? 0)) / seconds, 0) / shards.length,
          busiestSecond: Math.max(...shards.map((sh) => busiest.get(sh) ?? 0)),
          throttles: shards.reduce((s, sh) => s + ((throttles[1].get(sh) ?? 0) - (throttles[0].get(sh) ?? 0)), 0),
        })),
      };
    },
  };
}
