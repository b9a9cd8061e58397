/**
 * The flagship run (`npm start`, `sabnetmap start`): in under a minute on a 2-core
 * machine, pkt-gen at batch 64 over a pipe and a VALE port for host -> host against
 * passthrough guests and emulated-NIC guests on either side, then the peers (the pipe
 * and VALE against postMessage, batched postMessage, ringbuf.js). It writes one results
 * directory (both scenarios' files, prefixed, plus summary.json and report.md) and
 * prints the headline: the table, passthrough / emulated per port and direction, the
 * peers ratio, and the report's path.
 *
 * Aborting `signal` (the CLI's Ctrl-C) stops the point in progress, skips what has not
 * started (the peers, if the pkt-gen sweep was cut), and writes everything for the
 * points that finished, marked partial.
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { machineLine } from './describe.js';
import { finishedPoints, formatTable, plotSentence } from './report.js';
import { EXPERIMENTS, type Machine, machineFacts, makeRunDir, type RunResult, runScenario, version } from './runner.js';
import { expandPoints, type PortType, validateScenario } from './scenario.js';

/** The directions of the headline, in table order. */
export const FLAGSHIP_DIRECTIONS = ['host->host', 'guest->host', 'emulated->host', 'host->guest', 'host->emulated'];

export interface FlagshipOptions {
  /** Parent of the run's directory (default `results`). */
  outDir?: string;
  /** Measured seconds per pkt-gen point (default 2). */
  seconds?: number;
  /** Measured seconds per peers transport (default 1). */
  peersSeconds?: number;
  ports?: PortType[];
  directions?: string[];
  /** Where the headline goes (default stdout). */
  out?: (text: string) => void;
  /** Progress lines (default: stderr; a bar when it is a terminal). */
  progress?: (text: string) => void;
  command?: string;
  /** Ends the run early with what has finished (RunOptions.signal, for both scenarios). */
  signal?: AbortSignal;
}

export interface HeadlineRow {
  port: PortType;
  direction: string;
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  kicksPerPacket: number | null;
  irqsPerPacket: number | null;
  /** CPU minus idle spin per packet, summed over the threads; the rate with a core per thread (null where unavailable). */
  busyNsPerPacket: number | null;
  projectedMpps: number | null;
  threads: number;
  cores: number;
}

export interface Ratio {
  port: PortType;
  /** "guest->host / emulated->host" */
  what: string;
  a: number;
  b: number;
  ratio: number;
}

export interface FlagshipSummary {
  tool: { name: 'sabnetmap'; version: string };
  machine: Machine;
  started: string;
  finished: string;
  settings: { len: number; batch: number; ring: number; seconds: number; peersSeconds: number };
  rows: HeadlineRow[];
  /** Passthrough over emulated NIC, per port and direction (guest->host / emulated->host ...). */
  passthroughVsEmulated: Ratio[];
  /** Passthrough guest over host app, per port and direction. */
  guestVsHost: Ratio[];
  /** The pipe's Mpps over each peer's (and VALE's). */
  peers: Array<{ name: string; mpps: number; mppsMin: number; mppsMax: number; pipeIs: number | null }>;
  /** The run was interrupted: the rows and peers are those of the points that finished. */
  partial: boolean;
  /** Points of both scenarios: planned, and finished (all of them unless partial). */
  plannedPoints: number;
  finishedPoints: number;
  /** peers: null when the run was interrupted before the peers started. */
  files: { report: string; throughput: RunResult['files']; peers: RunResult['files'] | null };
}

export interface FlagshipResult {
  dir: string;
  report: string;
  summary: FlagshipSummary;
}

const f = (v: number, d = 2): string => v.toFixed(d);
const sci = (v: number | null): string => (v === null ? '-' : v === 0 ? '0' : v.toExponential(2));
const opt = (v: number | null, d = 2): string => (v === null ? '-' : f(v, d));

function ratios(rows: HeadlineRow[], pairs: Array<[string, string]>): Ratio[] {
  const out: Ratio[] = [];
  for (const port of [...new Set(rows.map((r) => r.port))]) {
    for (const [a, b] of pairs) {
      const ra = rows.find((r) => r.port === port && r.direction === a);
      const rb = rows.find((r) => r.port === port && r.direction === b);
      if (ra && rb && rb.mpps > 0)
        out.push({ port, what: `${a} / ${b}`, a: ra.mpps, b: rb.mpps, ratio: ra.mpps / rb.mpps });
    }
  }
  return out;
}

/** The headline table as aligned text. */
export function formatHeadline(s: FlagshipSummary, reportPath: string): string {
  const head = [
    'port',
    'direction',
    'Mpps',
    '(min-max)',
    'kicks/pkt',
    'irqs/pkt',
    'busy ns/pkt',
    'proj. Mpps',
    'threads/cores',
  ];
  const rows = s.rows.map((r) => [
    r.port,
    r.direction,
    f(r.mpps),
    `(${f(r.mppsMin)}-${f(r.mppsMax)})`,
    sci(r.kicksPerPacket),
    sci(r.irqsPerPacket),
    opt(r.busyNsPerPacket, 1),
    opt(r.projectedMpps),
    `${r.threads}/${r.cores}`,
  ]);
  const right = [false, false, true, false, true, true, true, true, true];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')}`.trimEnd();
  const st = s.settings;
  const out = [
    `pkt-gen tx -> rx, ${st.len}-byte frames, batch ${st.batch}, ring ${st.ring}: Mpps is the median of ${st.seconds} s of 250 ms intervals (min-max)`,
    line(head),
    ...rows.map(line),
    "  busy ns/pkt: CPU time minus idle spin per packet, summed over the threads; proj. Mpps: 1000 / the busiest thread's, the rate with a core per thread",
    '',
  ];
  if (s.passthroughVsEmulated.length > 0) {
    out.push('passthrough vs emulated NIC (Mpps, same port and direction):');
    for (const r of s.passthroughVsEmulated) {
      out.push(`  ${r.port.padEnd(4)}  ${r.what.padEnd(31)}  ${f(r.a)} / ${f(r.b)} = ${f(r.ratio, 1)}x`);
    }
  }
  if (s.guestVsHost.length > 0) {
    out.push('passthrough guest vs host app:');
    for (const r of s.guestVsHost) {
      out.push(`  ${r.port.padEnd(4)}  ${r.what.padEnd(31)}  ${f(r.a)} / ${f(r.b)} = ${f(r.ratio, 2)}x`);
    }
  }
  const pipe = s.peers.find((p) => p.name === 'sabnetmap-pipe');
  if (pipe) {
    out.push(
      '',
      `the same ${st.len}-byte packets between two worker threads (batch ${st.batch}, ${st.peersSeconds} s each):`,
    );
    const spread = s.peers.map((p) => `(${f(p.mppsMin)}-${f(p.mppsMax)})`);
    const sw = Math.max(...spread.map((x) => x.length));
    s.peers.forEach((p, i) => {
      out.push(
        `  ${p.name.padEnd(18)} ${f(p.mpps).padStart(8)} Mpps  ${spread[i].padEnd(sw)}${p.pipeIs === null ? '' : `  pipe is ${f(p.pipeIs, 1)}x`}`,
      );
    });
    const others = s.peers.filter(
      (p) => p.name !== 'sabnetmap-pipe' && p.name !== 'sabnetmap-vale' && p.pipeIs !== null,
    );
    if (others.length > 0) {
      out.push(`peers ratio: a pipe is ${others.map((p) => `${f(p.pipeIs!, 1)}x ${p.name}`).join(', ')}`);
    }
  }
  out.push('', `machine: ${machineLine(s.machine)}`);
  const partial = partialLine(s);
  if (partial !== null) out.push(partial);
  out.push(`report: ${reportPath}`, '');
  return out.join('\n');
}

/** `partial: interrupted after 3 of 11 points` (as bench run says it), or null for a whole run. */
function partialLine(s: FlagshipSummary): string | null {
  if (!s.partial) return null;
  const n = s.plannedPoints;
  return `partial: interrupted after ${s.finishedPoints} of ${n} point${n === 1 ? '' : 's'}`;
}

function markdownHeadline(s: FlagshipSummary): string {
  const rows = s.rows.map(
    (r) =>
      `| ${r.port} | ${r.direction} | ${f(r.mpps)} | ${f(r.mppsMin)}-${f(r.mppsMax)} | ${sci(r.kicksPerPacket)} | ${sci(r.irqsPerPacket)} | ${opt(r.busyNsPerPacket, 1)} | ${opt(r.projectedMpps)} | ${r.threads}/${r.cores} |`,
  );
  return [
    '| port | direction | Mpps | min-max | kicks/pkt | irqs/pkt | busy ns/pkt | proj. Mpps | threads/cores |',
    '| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    "busy ns/pkt: CPU time minus idle spin per packet, summed over the point's threads; proj. Mpps: the rate with a core per thread, 1000 / the busiest thread's busy ns per packet (README, CPU accounting).",
  ].join('\n');
}

function formatFlagshipReport(s: FlagshipSummary, tp: RunResult, peers: RunResult | null): string {
  const st = s.settings;
  const secs = (Date.parse(s.finished) - Date.parse(s.started)) / 1000;
  const rel = (file: string | null) => (file === null ? '' : relative(tp.dir, file));
  const partial = partialLine(s);
  return [
    '# sabnetmap flagship run',
    '',
    ...(partial === null ? [] : [`**${partial}**: the tables and plots hold only the points that finished.`, '']),
    `pkt-gen tx -> rx at batch ${st.batch}, ${st.len}-byte frames, ring ${st.ring}, over a pipe and a VALE port: host apps against passthrough guests and emulated-NIC guests (${st.seconds} s per point, median of 250 ms intervals, min-max), then the peers.`,
    '',
    markdownHeadline(s),
    '',
    ...(s.passthroughVsEmulated.length > 0
      ? [
          'Passthrough over emulated NIC (Mpps): ' +
            s.passthroughVsEmulated.map((r) => `${r.port} ${r.what} = ${f(r.ratio, 1)}x`).join('; ') +
            '.',
          '',
        ]
      : []),
    ...(s.guestVsHost.length > 0
      ? [
          'Passthrough guest over host app (Mpps): ' +
            s.guestVsHost.map((r) => `${r.port} ${r.what} = ${f(r.ratio, 2)}x`).join('; ') +
            '.',
          '',
        ]
      : []),
    `![throughput per direction and port](${rel(tp.files.svg)})`,
    '',
    plotSentence(tp.doc),
    '',
    ...(tp.files.events
      ? [
          `![wake-ups per packet](${rel(tp.files.events)})`,
          '',
          'Notifies, kicks and interrupts per packet for the same points (log scale): the guests pay for theirs in throughput.',
          '',
        ]
      : []),
    `## The peers (${st.peersSeconds} s per transport)`,
    '',
    peers === null
      ? 'Not run: the run was interrupted before.'
      : formatTable(peers.doc)
          .trimEnd()
          .split('\n')
          .map((l) => `    ${l}`)
          .join('\n'),
    '',
    `- Machine: ${machineLine(s.machine)} at the start.`,
    `- Run: \`sabnetmap start\`, started ${s.started}, ${f(secs, 1)} s, sabnetmap ${s.tool.version}.`,
    `- Files: \`summary.json\` (this page's numbers), \`${rel(tp.files.report)}\`${peers === null ? '' : ` and \`${rel(peers.files.report)}\``} (each scenario's report), their \`*points.json\`, \`*points.csv\` and plots.`,
    '',
  ].join('\n');
}

/** Rough seconds the flagship takes (the scenarios' own estimates). */
export function flagshipEstimate(o: FlagshipOptions = {}): number {
  const { tp, peers } = scenarios(o);
  return (
    expandPoints(tp).length * EXPERIMENTS.pktgen.estimate(tp) +
    expandPoints(peers).length * EXPERIMENTS.peers.estimate(peers)
  );
}

function scenarios(o: FlagshipOptions) {
  const tp = validateScenario({
    name: 'flagship',
    description:
      'Host apps against passthrough guests and emulated-NIC guests, on a pipe and on VALE, at batch 64 (the flagship run).',
    experiment: 'pktgen',
    mode: 'tx',
    base: { len: 60, batch: 64, ring: 1024, seconds: o.seconds ?? 2, warmupMs: 250, reportMs: 250 },
    sweep: { port: o.ports ?? ['pipe', 'vale'], endpoints: o.directions ?? FLAGSHIP_DIRECTIONS },
    x: 'endpoints',
    series: 'port',
  });
  const peers = validateScenario({
    name: 'flagship-peers',
    description: 'A sabnetmap pipe and VALE port against postMessage, batched postMessage and ringbuf.js.',
    experiment: 'peers',
    base: { len: 60, batch: 64, seconds: o.peersSeconds ?? 1 },
    sweep: { batch: [64] },
  });
  return { tp, peers };
}

export async function runFlagship(o: FlagshipOptions = {}): Promise<FlagshipResult> {
  const out = o.out ?? ((t: string) => void process.stdout.write(t));
  const machine = machineFacts();
  const { tp, peers: peersScn } = scenarios(o);
  const startedAt = new Date();
  out(
    `sabnetmap: netmap pipes, VALE and virtual passthrough on SharedArrayBuffer, the flagship run (about ${Math.round(flagshipEstimate(o))} s)\n` +
      `machine: ${machineLine(machine)}\n\n`,
  );
  const dir = makeRunDir(o.outDir ?? 'results', 'flagship', startedAt);
  const common = { dir, machine, progress: o.progress, command: o.command ?? 'sabnetmap start', signal: o.signal };
  const throughput = await runScenario(tp, { ...common, prefix: 'throughput-' });
  // Interrupted already: the peers would only write an empty sweep (and a line saying it starts).
  const peers = o.signal?.aborted ? null : await runScenario(peersScn, { ...common, prefix: 'peers-' });
  const partial = throughput.doc.partial || peers === null || peers.doc.partial;
  const rows: HeadlineRow[] = throughput.doc.points
    .filter((r) => r.metrics !== null)
    .map((r) => ({
      port: r.params.port ?? 'pipe',
      direction: r.params.endpoints ?? 'host->host',
      mpps: r.metrics!.mpps,
      mppsMin: r.metrics!.mppsMin,
      mppsMax: r.metrics!.mppsMax,
      kicksPerPacket: r.metrics!.kicksPerPacket,
      irqsPerPacket: r.metrics!.irqsPerPacket,
      busyNsPerPacket: r.metrics!.busyNsPerPacket,
      projectedMpps: r.metrics!.projectedMpps,
      threads: r.metrics!.threads,
      cores: r.metrics!.cores,
    }));
  const report = join(dir, 'report.md');
  const summary: FlagshipSummary = {
    tool: { name: 'sabnetmap', version: version() },
    machine,
    started: startedAt.toISOString(),
    finished: new Date().toISOString(),
    settings: { len: 60, batch: 64, ring: 1024, seconds: tp.base.seconds, peersSeconds: peersScn.base.seconds },
    partial,
    plannedPoints:
      throughput.doc.plannedPoints + (peers?.doc.plannedPoints ?? expandPoints(peersScn, machine.cores).length),
    finishedPoints: finishedPoints(throughput.doc) + (peers === null ? 0 : finishedPoints(peers.doc)),
    rows,
    passthroughVsEmulated: ratios(rows, [
      ['guest->host', 'emulated->host'],
      ['host->guest', 'host->emulated'],
    ]),
    guestVsHost: ratios(rows, [
      ['guest->host', 'host->host'],
      ['host->guest', 'host->host'],
    ]),
    peers: (peers?.doc.points ?? [])
      .filter((r) => r.metrics !== null)
      .map((r) => ({
        name: r.variant ?? '',
        mpps: r.metrics!.mpps,
        mppsMin: r.metrics!.mppsMin,
        mppsMax: r.metrics!.mppsMax,
        pipeIs: r.metrics!.ratioToPipe,
      })),
    files: { report, throughput: throughput.files, peers: peers?.files ?? null },
  };
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(report, formatFlagshipReport(summary, throughput, peers));
  const shown = relative(process.cwd(), report);
  out(formatHeadline(summary, shown.startsWith('..') ? report : shown));
  return { dir, report, summary };
}
