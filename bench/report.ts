/**
 * Text forms of a run's results: the CSV (every figure, written with String() like the
 * JSON so the two match exactly), the terminal table and the Markdown report.
 */
import type { PointRecord, ResultsDoc } from './runner.js';
import { lineKeys, SWEEP_PARAMS, type SweepParam } from './scenario.js';

type Cell = number | string | null;

/** Every CSV column and where its value comes from; numbers are the JSON's numbers. */
export const CSV_COLUMNS: ReadonlyArray<[string, (r: PointRecord) => Cell]> = [
  ['point', (r) => r.point],
  ['variant', (r) => r.variant],
  ['line', (r) => r.line],
  ...SWEEP_PARAMS.map((k): [string, (r: PointRecord) => Cell] => [k, (r) => r.params[k]]),
  ...(
    [
      'mpps',
      'mppsMin',
      'mppsMax',
      'packets',
      'sent',
      'drops',
      'seqErrors',
      'notifiesPerPacket',
      'sleepsPerPacket',
      'avgBatch',
      'elapsed',
      'intervals',
      'threads',
      'cores',
      'ratioToPipe',
      'rttMinUs',
      'rttMedianUs',
      'rttP99Us',
      'rttMaxUs',
    ] as const
  ).map((k): [string, (r: PointRecord) => Cell] => [k, (r) => r.metrics?.[k] ?? null]),
  ['error', (r) => r.error],
];

function csvCell(v: Cell): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsv(points: readonly PointRecord[]): string {
  const rows = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const r of points) rows.push(CSV_COLUMNS.map(([, get]) => csvCell(get(r))).join(','));
  return `${rows.join('\n')}\n`;
}

const f = (v: number, d = 2): string => v.toFixed(d);
const sci = (v: number | null): string => (v === null ? '-' : v === 0 ? '0' : v.toExponential(2));

/** The end of a progress line: `123.45 Mpps (120.10-125.00)`. */
export function pointLabel(r: PointRecord, withVariant: boolean): string {
  const who = withVariant && r.variant ? `${r.variant} ` : '';
  if (r.metrics === null) return `${who}${r.error ?? 'no result'}`;
  const m = r.metrics;
  const rtt = m.rttMedianUs !== null ? `, rtt ${f(m.rttMedianUs)} us` : '';
  const kicks = m.notifiesPerPacket !== null ? `, notifies/pkt ${sci(m.notifiesPerPacket)}` : '';
  return `${who}${f(m.mpps)} Mpps (${f(m.mppsMin)}-${f(m.mppsMax)})${withVariant ? '' : `${kicks}${rtt}`}`;
}

/** Header and rows of the results table (terminal and Markdown). */
export function tableRows(doc: ResultsDoc): { header: string[]; rows: string[][]; right: boolean[] } {
  const s = doc.scenario;
  const swept = Object.keys(s.sweep) as SweepParam[];
  const variants = doc.points.some((r) => r.variant !== null);
  const ping = s.mode === 'ping';
  const peers = s.experiment === 'peers';
  const header = [
    'point',
    ...swept,
    ...(variants ? ['variant'] : []),
    'Mpps',
    'min-max',
    ...(peers ? ['pipe is'] : ['notifies/pkt', 'sleeps/pkt', 'avg batch', 'drops']),
    ...(ping ? ['rtt median us', 'rtt p99 us'] : []),
  ];
  const right = header.map((h) => h !== 'variant');
  const rows = doc.points.map((r) => {
    const m = r.metrics;
    const head = [String(r.point), ...swept.map((k) => String(r.params[k])), ...(variants ? [r.variant ?? ''] : [])];
    if (m === null) return [...head, r.error ?? 'no result', ...header.slice(head.length + 1).map(() => '')];
    return [
      ...head,
      f(m.mpps),
      `${f(m.mppsMin)}-${f(m.mppsMax)}`,
      ...(peers
        ? [`${f(m.ratioToPipe ?? 0, 1)}x`]
        : [
            sci(m.notifiesPerPacket),
            sci(m.sleepsPerPacket),
            m.avgBatch === null ? '-' : f(m.avgBatch, 1),
            String(m.drops ?? '-'),
          ]),
      ...(ping ? [m.rttMedianUs === null ? '-' : f(m.rttMedianUs), m.rttP99Us === null ? '-' : f(m.rttP99Us)] : []),
    ];
  });
  return { header, rows, right };
}

/** The table as aligned text for the terminal. */
export function formatTable(doc: ResultsDoc): string {
  const { header, rows, right } = tableRows(doc);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')}`.trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function markdownTable(doc: ResultsDoc): string {
  const { header, rows, right } = tableRows(doc);
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${right.map((r) => (r ? '---:' : ':---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** One sentence on what the plot shows, with the best point. */
export function plotSentence(doc: ResultsDoc): string {
  const s = doc.scenario;
  const measured = doc.points.filter((r) => r.metrics !== null);
  const what =
    s.experiment === 'peers'
      ? 'the same packets streamed between two worker threads over a pipe, postMessage, batched postMessage and ringbuf.js'
      : `pkt-gen ${s.mode === 'ping' ? 'ping <-> pong round trips' : `${s.mode} -> rx${s.mode === 'txseq' ? 'seq' : ''}`} over a ${s.port}, ${s.endpoints.tx} -> ${s.endpoints.rx}`;
  const lines = doc.plot.lines.length;
  const per =
    lines > 1
      ? `, one line per ${[...(doc.points.some((r) => r.variant) ? ['transport'] : []), ...lineKeys(s)].join(' and ')}`
      : '';
  let best = '';
  if (measured.length > 0) {
    const b = measured.reduce((x, y) => (y.metrics!.mpps > x.metrics!.mpps ? y : x));
    const at = [b.variant, ...(Object.keys(s.sweep) as SweepParam[]).map((k) => `${k}=${b.params[k]}`)]
      .filter(Boolean)
      .join(' ');
    best = ` Highest: ${f(b.metrics!.mpps)} Mpps at ${at}.`;
  }
  return `Mpps (median of the per-interval rates, bars min-max) against ${s.x} for ${what}${per}.${best}`;
}

export function formatReport(doc: ResultsDoc): string {
  const s = doc.scenario;
  const m = doc.machine;
  const secs = doc.finished ? (Date.parse(doc.finished) - Date.parse(doc.started)) / 1000 : 0;
  const failed = doc.points.filter((r) => r.metrics === null);
  const out = [
    `# ${s.name}`,
    '',
    ...(s.description ? [s.description, ''] : []),
    `![${s.name}: Mpps vs ${s.x}](${doc.plot.file})`,
    '',
    plotSentence(doc),
    '',
    markdownTable(doc),
    '',
    ...(failed.length > 0 ? [`${failed.length} measurement(s) have no result: see the error column.`, ''] : []),
    `- Machine: ${m.cores} cores, ${m.cpu}, Node ${m.node}, ${m.platform} ${m.arch}; load average at the start ${m.loadavg.join(' ')}.`,
    `- Each point: ${s.experiment === 'peers' ? '250 ms' : `${s.base.warmupMs} ms`} warm-up, then ${s.base.seconds} s of ${s.experiment === 'peers' ? '500' : s.base.reportMs} ms intervals; points ran one at a time.`,
    `- Run: ${doc.command ? `\`${doc.command}\`` : s.name}${doc.source ? ` (${doc.source})` : ''}, started ${doc.started}, ${f(secs, 1)} s, sabnetmap ${doc.tool.version}.`,
    '- Files: `points.json` (machine facts, the scenario as run, every point), `points.csv` (one row per measurement), `plot.svg`.',
    '',
  ];
  return out.join('\n');
}
