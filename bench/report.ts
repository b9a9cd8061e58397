/**
 * Text forms of a run's results: the CSV (every figure, written with String() like the
 * JSON so the two match exactly), the terminal table (also grown row by row while a
 * sweep runs) and the Markdown report.
 */
import { EVENTS, eventSeries, machineLine } from './describe.js';
import type { PointRecord, ResultsDoc } from './runner.js';
import {
  directionOf,
  isNicScenario,
  lineKeys,
  type PointParams,
  paramValue,
  type Scenario,
  SWEEP_PARAMS,
  type SweepParam,
} from './scenario.js';

type Cell = number | string | boolean | null;

const METRIC_COLUMNS = [
  'mpps',
  'mppsMin',
  'mppsMax',
  'packets',
  'sent',
  'drops',
  'seqErrors',
  'notifiesPerPacket',
  'sleepsPerPacket',
  'kicksPerPacket',
  'irqsPerPacket',
  'irqsPerBatch',
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
  'cpuNsPerPacket',
  'spinNsPerPacket',
  'busyNsPerPacket',
  'projectedMpps',
  'lineRateMpps',
  'ofLineRate',
  'missed',
  'wireBehindMs',
] as const;

/**
 * The CSV column of a parameter: its name, but `lineRate` for a NIC's line rate (`line`
 * is already the plot line's column).
 */
export function csvParamColumn(k: SweepParam): string {
  return k === 'line' ? 'lineRate' : k;
}

/**
 * Every CSV column and where its value comes from; numbers are the JSON's numbers. A
 * parameter the experiment does not have (peers: port) is empty. Every row carries the
 * machine (cpuModel, node; cores is a metric), so a CSV on its own still says where it ran.
 * The CPU accounting columns are the sums over the point's threads (the per-thread list
 * is in points.json). A NIC port's points fill lineRate ("10G", params.line in the JSON),
 * lineRateMpps, ofLineRate, missed and wireBehindMs; other points leave them empty.
 */
export const CSV_COLUMNS: ReadonlyArray<[string, (r: PointRecord, doc: ResultsDoc) => Cell]> = [
  ['point', (r) => r.point],
  ['variant', (r) => r.variant],
  ['line', (r) => r.line],
  ...SWEEP_PARAMS.map((k): [string, (r: PointRecord) => Cell] => [
    csvParamColumn(k),
    (r) => paramValue(r.params, k) ?? null,
  ]),
  ...METRIC_COLUMNS.map((k): [string, (r: PointRecord) => Cell] => [k, (r) => r.metrics?.[k] ?? null]),
  ['cpuModel', (_r, doc) => doc.machine.cpuModel],
  ['node', (_r, doc) => doc.machine.node],
  ['error', (r) => r.error],
];

function csvCell(v: Cell): string {
  if (v === null) return '';
  if (typeof v !== 'string') return String(v);
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsv(doc: ResultsDoc): string {
  const rows = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const r of doc.points) rows.push(CSV_COLUMNS.map(([, get]) => csvCell(get(r, doc))).join(','));
  return `${rows.join('\n')}\n`;
}

const f = (v: number, d = 2): string => v.toFixed(d);
const sci = (v: number | null): string => (v === null ? '-' : v === 0 ? '0' : v.toExponential(2));
const opt = (v: number | null, d = 2): string => (v === null ? '-' : f(v, d));
/** A fraction as a percentage: 0.934 -> "93.4%". */
const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

/** The end of a progress line: `123.45 Mpps (120.10-125.00)`; ping: the RTT. */
export function pointLabel(r: PointRecord, withVariant: boolean): string {
  const who = withVariant && r.variant ? `${r.variant} ` : '';
  if (r.metrics === null) return `${who}${r.error ?? 'no result'}`;
  const m = r.metrics;
  if (r.params.peer !== undefined && m.rttMedianUs !== null) {
    return `rtt median ${f(m.rttMedianUs)} us (min ${f(m.rttMinUs ?? 0)}, p99 ${f(m.rttP99Us ?? 0)}), ${m.threads}/${m.cores} threads/cores`;
  }
  const rtt = m.rttMedianUs !== null ? `, rtt ${f(m.rttMedianUs)} us` : '';
  const nic =
    m.ofLineRate !== null
      ? `, ${pct(m.ofLineRate)} of the ${r.params.line ?? ''} line rate, missed ${m.missed ?? '-'}`
      : '';
  const kicks = m.notifiesPerPacket !== null ? `, notifies/pkt ${sci(m.notifiesPerPacket)}` : '';
  const guest =
    (m.kicksPerPacket ?? 0) > 0 || (m.irqsPerPacket ?? 0) > 0
      ? `, kicks/pkt ${sci(m.kicksPerPacket)}, irqs/pkt ${sci(m.irqsPerPacket)}${(m.irqsPerBatch ?? 0) > 0 ? `, irqs/batch ${sci(m.irqsPerBatch)}` : ''}`
      : '';
  return `${who}${f(m.mpps)} Mpps (${f(m.mppsMin)}-${f(m.mppsMax)})${withVariant ? '' : `${nic}${kicks}${guest}${rtt}`}`;
}

/** The measured columns of each experiment's table, and how each is shown. */
function measuredColumns(s: Scenario): Array<[string, (r: PointRecord) => string]> {
  const m = (r: PointRecord) => r.metrics!;
  const threads: [string, (r: PointRecord) => string] = ['threads/cores', (r) => `${m(r).threads}/${m(r).cores}`];
  const mpps: Array<[string, (r: PointRecord) => string]> = [
    ['Mpps', (r) => f(m(r).mpps)],
    ['min-max', (r) => `${f(m(r).mppsMin)}-${f(m(r).mppsMax)}`],
  ];
  const kicks: Array<[string, (r: PointRecord) => string]> = [
    ['kicks/pkt', (r) => sci(m(r).kicksPerPacket)],
    ['irqs/pkt', (r) => sci(m(r).irqsPerPacket)],
  ];
  // Streams: the interrupts per batch of the guest apps that take them, too.
  const irqsPerBatch: [string, (r: PointRecord) => string] = ['irqs/batch', (r) => sci(m(r).irqsPerBatch)];
  // CPU accounting: busy ns per packet summed over threads, the rate with a core per thread.
  const cpu: Array<[string, (r: PointRecord) => string]> = [
    ['busy ns/pkt', (r) => opt(m(r).busyNsPerPacket, 1)],
    ['proj. Mpps', (r) => opt(m(r).projectedMpps)],
  ];
  switch (s.experiment) {
    case 'peers':
      return [...mpps, ['pipe is', (r) => `${f(m(r).ratioToPipe ?? 0, 1)}x`]];
    case 'ping':
      return [
        ['RTT median us', (r) => opt(m(r).rttMedianUs)],
        ['RTT min us', (r) => opt(m(r).rttMinUs)],
        ['RTT p99 us', (r) => opt(m(r).rttP99Us)],
        ['round trips', (r) => String(m(r).packets)],
        ...kicks,
        ['sleeps/pkt', (r) => sci(m(r).sleepsPerPacket)],
        threads,
      ];
    case 'chain':
      return [...mpps, ...kicks, irqsPerBatch, ['drops', (r) => String(m(r).drops ?? '-')], ...cpu, threads];
    case 'pktgen': {
      // A NIC port: the share of the line rate next to the rate, and what the wire saw.
      const nic = isNicScenario(s);
      const ofLine: Array<[string, (r: PointRecord) => string]> = nic
        ? [['% of line', (r) => (m(r).ofLineRate === null ? '-' : pct(m(r).ofLineRate!))]]
        : [];
      const wire: Array<[string, (r: PointRecord) => string]> = nic
        ? [
            ['missed', (r) => String(m(r).missed ?? '-')],
            ['wire behind ms', (r) => opt(m(r).wireBehindMs, 1)],
          ]
        : [];
      return [
        ...mpps,
        ...ofLine,
        ...kicks,
        irqsPerBatch,
        ['notifies/pkt', (r) => sci(m(r).notifiesPerPacket)],
        ['sleeps/pkt', (r) => sci(m(r).sleepsPerPacket)],
        ['avg batch', (r) => (m(r).avgBatch === null ? '-' : f(m(r).avgBatch!, 1))],
        ['drops', (r) => String(m(r).drops ?? '-')],
        ...wire,
        ...cpu,
        threads,
        ...(s.mode === 'ping'
          ? ([
              ['rtt median us', (r) => opt(m(r).rttMedianUs)],
              ['rtt p99 us', (r) => opt(m(r).rttP99Us)],
            ] as Array<[string, (r: PointRecord) => string]>)
          : []),
      ];
    }
  }
}

interface TableSpec {
  header: string[];
  right: boolean[];
  row: (r: PointRecord) => string[];
}

function tableSpec(s: Scenario, variants: boolean): TableSpec {
  const swept = Object.keys(s.sweep) as SweepParam[];
  const cols = measuredColumns(s);
  const header = ['point', ...swept, ...(variants ? ['variant'] : []), ...cols.map(([h]) => h)];
  // Numbers right, words (directions, ports, transports) left.
  const right = header.map(
    (h) => h !== 'variant' && !['port', 'endpoints', 'peer', 'vms', 'notify', 'line'].includes(h),
  );
  const row = (r: PointRecord): string[] => {
    const head = [
      String(r.point),
      ...swept.map((k) => String(paramValue(r.params, k))),
      ...(variants ? [r.variant ?? ''] : []),
    ];
    if (r.metrics === null) return [...head, r.error ?? 'no result', ...cols.slice(1).map(() => '')];
    return [...head, ...cols.map(([, get]) => get(r))];
  };
  return { header, right, row };
}

/** Header and rows of the results table (terminal and Markdown). */
export function tableRows(doc: ResultsDoc): { header: string[]; rows: string[][]; right: boolean[] } {
  const t = tableSpec(
    doc.scenario,
    doc.points.some((r) => r.variant !== null),
  );
  return { header: t.header, rows: doc.points.map(t.row), right: t.right };
}

/** Points of the sweep that finished (a point measuring several things, as peers do, counts once). */
export function finishedPoints(doc: ResultsDoc): number {
  return new Set(doc.points.map((r) => r.point)).size;
}

/**
 * `partial: interrupted after 3 of 8 points` for an interrupted run, else null: said
 * under every table and in the report, so that a short sweep is never read as whole.
 */
export function partialLine(doc: ResultsDoc): string | null {
  if (!doc.partial) return null;
  const n = doc.plannedPoints;
  return `partial: interrupted after ${finishedPoints(doc)} of ${n} point${n === 1 ? '' : 's'}`;
}

/** The table as aligned text for the terminal (and the partial line under it). */
export function formatTable(doc: ResultsDoc): string {
  const { header, rows, right } = tableRows(doc);
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')}`.trimEnd();
  const partial = partialLine(doc);
  return `${[line(header), ...rows.map(line), ...(partial === null ? [] : [partial])].join('\n')}\n`;
}

/**
 * The table grown row by row while a sweep runs: column widths fixed up front from the
 * swept values and typical figures (a wider cell just pushes its row).
 */
export function liveTable(
  s: Scenario,
  swept: SweepParam[],
  points: PointParams[],
): { header: string; row: (r: PointRecord) => string } {
  const t = tableSpec(s, s.experiment === 'peers');
  const w = t.header.map((h, i) => {
    const k = swept[i - 1];
    if (i === 0) return Math.max(h.length, String(points.length).length);
    if (k !== undefined && i <= swept.length)
      return Math.max(h.length, ...points.map((p) => String(paramValue(p, k)).length));
    if (h === 'variant') return 17;
    if (h === 'min-max') return 13;
    return Math.max(h.length, 8);
  });
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (t.right[i] ? c.padStart(w[i] ?? 0) : c.padEnd(w[i] ?? 0))).join('  ')}`.trimEnd();
  return { header: line(t.header), row: (r) => line(t.row(r)) };
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

/** Where a record sits in the sweep: "ring=256 batch=64" (variant first). */
function at(doc: ResultsDoc, r: PointRecord): string {
  return [r.variant, ...(Object.keys(doc.scenario.sweep) as SweepParam[]).map((k) => `${k}=${paramValue(r.params, k)}`)]
    .filter(Boolean)
    .join(' ');
}

/** How a sentence names what each line or swept parameter stands for. */
const KEY_WORDS: Partial<Record<SweepParam, string>> = {
  endpoints: 'direction',
  port: 'port type',
  peer: 'peer state',
  vms: 'bridge kind (host apps or VMs)',
  notify: 'notify policy',
  line: 'line rate',
};
const keyWord = (k: SweepParam): string => KEY_WORDS[k] ?? k;

/** What a scenario measures, in words. */
function measures(s: Scenario): string {
  const over = s.sweep.port ? 'over each port type' : `over a ${s.port}`;
  const ends = s.endpoints ? directionOf(s.endpoints, s.experiment) : '';
  // The policy is named when it is fixed and not the default (asleep: any news wakes).
  const policy = s.sweep.notify === undefined && s.base.notify !== undefined && s.base.notify !== 'asleep';
  const dirs = `${s.sweep.endpoints ? ' for each direction' : ends ? `, ${ends}` : ''}${policy ? `, notify ${s.base.notify}` : ''}`;
  switch (s.experiment) {
    case 'peers':
      return 'the same packets streamed between two worker threads over a pipe, a VALE port, postMessage, batched postMessage and ringbuf.js';
    case 'chain': {
      const links = s.sweep.port ? 'pipes or VALE switches' : s.port === 'vale' ? 'VALE switches' : 'pipes';
      return `pkt-gen ${s.mode} -> rx through a chain of ${s.sweep.n ? 'N' : s.base.n} bridges (${s.sweep.vms ? 'host apps or VMs' : s.base.vms ? 'in VMs' : 'host apps'}) joined by ${links}`;
    }
    case 'ping':
      return `pkt-gen ping <-> pong round trips ${over}${dirs}${s.sweep.peer ? '' : `, peer ${s.base.peer}`}`;
    case 'pktgen': {
      if (isNicScenario(s)) {
        const line = s.sweep.line ? 'each line rate' : `${s.base.line}`;
        const sends = (s.sweep.endpoints ?? [ends]).map((d) => d.endsWith('->wire'));
        const how = sends.every(Boolean)
          ? 'the app sends and the wire sinks'
          : sends.some(Boolean)
            ? 'the app sends and the wire sinks, or the wire generates and the app receives'
            : 'the wire generates and the app receives';
        return `pkt-gen ${s.mode} on a NIC port (nic0) against its wire at ${line} (${how})${dirs}`;
      }
      const pair =
        s.mode === 'ping' ? 'ping <-> pong round trips' : `${s.mode} -> rx${s.mode === 'txseq' ? 'seq' : ''}`;
      return `pkt-gen ${pair} ${over}${dirs}`;
    }
  }
}

function perLine(doc: ResultsDoc): string {
  const s = doc.scenario;
  return doc.plot.lines.length > 1
    ? `, one line per ${[...(doc.points.some((r) => r.variant) ? ['transport'] : []), ...lineKeys(s).map(keyWord)].join(' and ')}`
    : '';
}

/** One sentence on what the plot shows, with the best point. */
export function plotSentence(doc: ResultsDoc): string {
  const s = doc.scenario;
  const measured = doc.points.filter((r) => r.metrics !== null);
  if (s.experiment === 'ping') {
    let best = '';
    const timed = measured.filter((r) => r.metrics!.rttMedianUs !== null);
    if (timed.length > 0) {
      const b = timed.reduce((x, y) => (y.metrics!.rttMedianUs! < x.metrics!.rttMedianUs! ? y : x));
      const w = timed.reduce((x, y) => (y.metrics!.rttMedianUs! > x.metrics!.rttMedianUs! ? y : x));
      best = ` Lowest: ${f(b.metrics!.rttMedianUs!)} us at ${at(doc, b)}; highest: ${f(w.metrics!.rttMedianUs!)} us at ${at(doc, w)}.`;
    }
    return `Median round-trip time in us (bars min to p99, log scale) against ${keyWord(s.x)} for ${measures(s)}${perLine(doc)}.${best}`;
  }
  let best = '';
  if (measured.length > 0) {
    const b = measured.reduce((x, y) => (y.metrics!.mpps > x.metrics!.mpps ? y : x));
    const of =
      b.metrics!.ofLineRate !== null ? ` (${pct(b.metrics!.ofLineRate)} of the ${b.params.line} line rate)` : '';
    best = ` Highest: ${f(b.metrics!.mpps)} Mpps at ${at(doc, b)}${of}.`;
  }
  const dashed = isNicScenario(s)
    ? ' Dashed: the line rate at the frame length (a 60-byte frame takes 84 byte-times on the wire).'
    : '';
  return `Mpps (median of the per-interval rates, bars min-max) against ${keyWord(s.x)} for ${measures(s)}${perLine(doc)}.${best}${dashed}`;
}

/** One sentence on what the events plot shows, with the highest rate. */
export function eventsSentence(doc: ResultsDoc): string {
  const s = doc.scenario;
  const unit = s.experiment === 'ping' ? 'round trip' : 'packet';
  const series = eventSeries(doc);
  if (series.length === 0) {
    return `No notifies, kicks or interrupts at any point: every thread found work without being woken (a wake-up would cost a wait/notify round trip, tens of us here).`;
  }
  let top: { r: PointRecord; v: number; name: string } | undefined;
  for (const r of doc.points) {
    if (r.metrics === null) continue;
    for (const e of EVENTS) {
      if (e.per !== 'packet') continue;
      const v = r.metrics[e.key] ?? 0;
      if (v > (top?.v ?? 0)) top = { r, v, name: e.name };
    }
  }
  const most = top ? ` Most: ${top.v.toExponential(2)} ${top.name}/${unit} at ${at(doc, top.r)}.` : '';
  const perBatch = series.some((e) => e.unit === '/batch')
    ? ', irqs/batch: interrupts per batch of the guest apps that take them'
    : '';
  return (
    `Wake-ups per ${unit} against ${keyWord(s.x)} (log scale; notifies: a host thread woke a sleeping peer, kicks: guest -> host, irqs: host -> guest${perBatch}; zeros not drawn), ` +
    `one line per ${[...lineKeys(s).map(keyWord), 'kind'].join(' and ')}: each costs a wait/notify round trip (tens of us on this machine), ` +
    `${s.experiment === 'ping' ? 'which is what an asleep peer adds to every round trip' : 'so where the first plot falls, a rise here is the cause'}.${most}`
  );
}

/** The line about how each point was measured. */
function measuredHow(s: Scenario): string {
  if (s.experiment === 'peers') {
    return `- Each point: 250 ms warm-up, then ${s.base.seconds} s of 500 ms intervals per transport; points ran one at a time.`;
  }
  const spin =
    s.experiment === 'ping'
      ? 'peer awake: poll busy-polls and kloops/device threads busy-wait where every thread has a core, else nobody spins and they linger 200 us; asleep: everything sleeps at once'
      : `spin ${s.base.spinUs === 'auto' ? 'auto (200 us when every thread has a core, else 0)' : `${s.base.spinUs} us`}`;
  return `- Each point: ${s.base.warmupMs} ms warm-up, then ${s.base.seconds} s of ${s.base.reportMs} ms intervals (${spin}); points ran one at a time.`;
}

export function formatReport(doc: ResultsDoc): string {
  const s = doc.scenario;
  const m = doc.machine;
  const secs = doc.finished ? (Date.parse(doc.finished) - Date.parse(doc.started)) / 1000 : 0;
  const failed = doc.points.filter((r) => r.metrics === null);
  const csv = doc.plot.file.replace(/plot\.svg$/, 'points.csv');
  const json = doc.plot.file.replace(/plot\.svg$/, 'points.json');
  const partial = partialLine(doc);
  const out = [
    `# ${s.name}`,
    '',
    ...(partial === null ? [] : [`**${partial}**: the plots and the table hold only the points that finished.`, '']),
    ...(s.description ? [s.description, ''] : []),
    `![${s.name}: ${doc.plot.y === 'mpps' ? 'Mpps' : 'RTT'} vs ${s.x}](${doc.plot.file})`,
    '',
    plotSentence(doc),
    '',
    ...(doc.plot.events
      ? [`![${s.name}: notifies, kicks and irqs per packet vs ${s.x}](${doc.plot.events})`, '', eventsSentence(doc), '']
      : []),
    markdownTable(doc),
    '',
    ...(failed.length > 0 ? [`${failed.length} measurement(s) have no result: see the error column.`, ''] : []),
    `- Machine: ${machineLine(m)} at the start.`,
    measuredHow(s),
    `- Run: ${doc.command ? `\`${doc.command}\`` : s.name}${doc.source ? ` (${doc.source})` : ''}, started ${doc.started}, ${f(secs, 1)} s, sabnetmap ${doc.tool.version}.`,
    `- Files: \`${json}\` (machine facts, the scenario as run, every point), \`${csv}\` (one row per measurement), \`${doc.plot.file}\`${doc.plot.events ? `, \`${doc.plot.events}\`` : ''}.`,
    '',
  ];
  return out.join('\n');
}
