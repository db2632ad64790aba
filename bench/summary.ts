import fs from 'node:fs';

// `npm run bench` runs each whole-stack benchmark in a process of its own and ends with one table
// of their headline figures side by side: a child appends its lines (JSON, one per line) to the
// file named by BENCH_SUMMARY_FILE when that is set; run alone, it writes nothing.

export interface SummaryLine {
  bench: string;
  measure: string;
  measured: string;
  target?: string;
  met?: boolean;
}

export function reportSummary(bench: string, lines: Omit<SummaryLine, 'bench'>[], file = process.env.BENCH_SUMMARY_FILE): void {
  if (!file) return;
  fs.appendFileSync(file, lines.map((l) => `${JSON.stringify({ bench, ...l })}\n`).join(''));
}

export function readSummary(file: string): SummaryLine[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SummaryLine);
}

/** The lines as one markdown table. */
export function summaryTable(lines: readonly SummaryLine[]): string {
  const verdict = (l: SummaryLine) => (l.met === undefined ? '' : l.met ? 'met' : '**not met**');
  return [
    '| benchmark | measure | measured | target | |',
    '| --- | --- | ---: | --- | --- |',
    ...lines.map((l) => `| ${l.bench} | ${l.measure} | ${l.measured} | ${l.target ?? ''} | ${verdict(l)} |`),
  ].join('\n');
}
