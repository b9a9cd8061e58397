/**
 * The flagship run (`npm start`, `sabnetmap start`): in under a minute on a 2-core
 * machine, pkt-gen at batch 64 over a pipe and a VALE port for host -> host against
 * passthrough guests and emulated-NIC guests on either side, then a host app and a
 * passthrough guest sending into a NIC port whose 10G wire sinks at line rate (the NIC
 * rows, with their share of the line rate), then the peers (the pipe and VALE against
 * postMessage, batched postMessage, ringbuf.js). It writes one results directory (the
 * three scenarios' files, prefixed, plus summary.json and report.md) and prints the
 * headline: the table, passthrough / emulated per port and direction, the peers ratio,
 * and the report's path.
 *
 * Aborting `signal` (the CLI's Ctrl-C) stops the point in progress, skips what has not
 * started (the NIC rows and the peers, if the pkt-gen sweep was cut), and writes
 * everything for the points that finished, marked partial.
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { LineRate } from '../src/nic/line.js';
import { machineLine } from './describe.js';
import { finishedPoints, formatTable, plotSentence } from './report.js';
import { EXPERIMENTS, type Machine, machineFacts, makeRunDir, type RunResult, runScenario, version } from './runner.js';
import { expandPoints, type PortType, type Scenario, validateScenario } from './scenario.js';

/** The directions of the headline, in table order. */
export const FLAGSHIP_DIRECTIONS = ['host->host', 'guest->host', 'emulated->host', 'host->guest', 'host->emulated'];
/** The NIC rows: a host app and a passthrough guest sending into nic0, its wire sinking at the line rate. */
export const FLAGSHIP_NIC_DIRECTIONS = ['host->wire', 'guest->wire'];
/** The NIC rows' line rate. */
export const FLAGSHIP_NIC_LINE: LineRate = '10G';

export interface FlagshipOptions {
  /** Parent of the run's directory (default `results`). */
  outDir?: string;
  /** Measured seconds per pkt-gen point (default 2). */
  seconds?: number;
  /** Measured seconds per peers transport (default 1). */
  peersSeconds?: number;
  ports?: PortType[];
  directions?: string[];
  /** The NIC rows' directions (default FLAGSHIP_NIC_DIRECTIONS; none: no NIC rows). */
  nicDirections?: string[];
  /** The NIC rows' line rate (default 10G). */
  nicLine?: LineRate;
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
  /** NIC rows (port nic; null on the others): the wire's line rate, its Mpps at the frame length, Mpps over it, frames the wire missed. */
  line: LineRate | null;
  lineRateMpps: number | null;
  ofLineRate: number | null;
  missed: number | null;
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
  /** Passthrough guest over host app, per port and direction (the NIC port too: guest->wire / host->wire). */
  guestVsHost: Ratio[];
  /** The pipe's Mpps over each peer's (and VALE's). */
  peers: Array<{ name: string; mpps: number; mppsMin: number; mppsMax: number; pipeIs: number | null }>;
  /** The run was interrupted: the rows and peers are those of the points that finished. */
  partial: boolean;
  /** Points of both scenarios: planned, and finished (all of them unless partial). */
  plannedPoints: number;
  finishedPoints: number;
  /** nic, peers: null when the run was interrupted before they started (nic: or has no NIC rows). */
  files: {
    report: string;
    throughput: RunResult['files'];
    nic: RunResult['files'] | null;
    peers: RunResult['files'] | null;
  };
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
    ...(nicRows(s) ? ['of line rate'] : []),
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
    ...(nicRows(s) ? [ofLine(r)] : []),
  ]);
  const right = [false, false, true, false, true, true, true, true, true, true];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')}`.trimEnd();
  const st = s.settings;
  const out = [
    `pkt-gen tx -> rx, ${st.len}-byte frames, batch ${st.batch}, ring ${st.ring}: Mpps is the median of ${st.seconds} s of 250 ms intervals (min-max)`,
    line(head),
    ...rows.map(line),
    "  busy ns/pkt: CPU time minus idle spin per packet, summed over the threads; proj. Mpps: 1000 / the busiest thread's, the rate with a core per thread",
    ...(nicRows(s) ? [`  ${nicNote(s)}`] : []),
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

/** Whether the table has NIC rows (and so the line-rate column). */
const nicRows = (s: FlagshipSummary): boolean => s.rows.some((r) => r.ofLineRate !== null);

/** A NIC row's share of the line rate: "93.4% of 10G"; '' for the others. */
function ofLine(r: HeadlineRow): string {
  return r.ofLineRate === null ? '' : `${f(r.ofLineRate * 100, 1)}% of ${r.line}`;
}

/** What the NIC rows are, under the table. */
function nicNote(s: FlagshipSummary): string {
  const r = s.rows.find((x) => x.lineRateMpps !== null)!;
  return (
    `nic: the app sends into nic0 and the NIC's wire sinks at ${r.line} (line rate ${f(r.lineRateMpps!)} Mpps for ${s.settings.len}-byte frames: ` +
    '84 byte-times each); of line rate: Mpps over it'
  );
}

/** `partial: interrupted after 3 of 11 points` (as bench run says it), or null for a whole run. */
function partialLine(s: FlagshipSummary): string | null {
  if (!s.partial) return null;
  const n = s.plannedPoints;
  return `partial: interrupted after ${s.finishedPoints} of ${n} point${n === 1 ? '' : 's'}`;
}

function markdownHeadline(s: FlagshipSummary): string {
  const nic = nicRows(s);
  const rows = s.rows.map(
    (r) =>
      `| ${r.port} | ${r.direction} | ${f(r.mpps)} | ${f(r.mppsMin)}-${f(r.mppsMax)} | ${sci(r.kicksPerPacket)} | ${sci(r.irqsPerPacket)} | ${opt(r.busyNsPerPacket, 1)} | ${opt(r.projectedMpps)} | ${r.threads}/${r.cores} |${nic ? ` ${ofLine(r)} |` : ''}`,
  );
  return [
    `| port | direction | Mpps | min-max | kicks/pkt | irqs/pkt | busy ns/pkt | proj. Mpps | threads/cores |${nic ? ' of line rate |' : ''}`,
    `| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${nic ? ' ---: |' : ''}`,
    ...rows,
    '',
    "busy ns/pkt: CPU time minus idle spin per packet, summed over the point's threads; proj. Mpps: the rate with a core per thread, 1000 / the busiest thread's busy ns per packet (docs/design.md, CPU accounting).",
    ...(nic ? ['', `${nicNote(s)}.`] : []),
  ].join('\n');
}

function formatFlagshipReport(
  s: FlagshipSummary,
  tp: RunResult,
  nic: RunResult | null,
  peers: RunResult | null,
): string {
  const st = s.settings;
  const secs = (Date.parse(s.finished) - Date.parse(s.started)) / 1000;
  const rel = (file: string | null) => (file === null ? '' : relative(tp.dir, file));
  const partial = partialLine(s);
  return [
    '# sabnetmap flagship run',
    '',
    ...(partial === null ? [] : [`**${partial}**: the tables and plots hold only the points that finished.`, '']),
    `pkt-gen tx -> rx at batch ${st.batch}, ${st.len}-byte frames, ring ${st.ring}, over a pipe and a VALE port: host apps against passthrough guests and emulated-NIC guests (${st.seconds} s per point, median of 250 ms intervals, min-max)${nic === null ? '' : ', then a host app and a passthrough guest sending into a NIC port whose wire sinks at line rate (port nic)'}, then the peers.`,
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
    ...(nic === null
      ? []
      : [
          `## The NIC port (${st.seconds} s per point)`,
          '',
          `![NIC port against its line rate](${rel(nic.files.svg)})`,
          '',
          plotSentence(nic.doc),
          '',
        ]),
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
    `- Files: \`summary.json\` (this page's numbers), ${[tp, nic, peers]
      .filter((r): r is RunResult => r !== null)
      .map((r) => `\`${rel(r.files.report)}\``)
      .join(', ')} (each scenario's report), their \`*points.json\`, \`*points.csv\` and plots.`,
    '',
  ].join('\n');
}

/** Rough seconds the flagship takes (the scenarios' own estimates). */
export function flagshipEstimate(o: FlagshipOptions = {}): number {
  const { tp, nic, peers } = scenarios(o);
  return (
    expandPoints(tp).length * EXPERIMENTS.pktgen.estimate(tp) +
    (nic === null ? 0 : expandPoints(nic).length * EXPERIMENTS.pktgen.estimate(nic)) +
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
  const nicDirections = o.nicDirections ?? FLAGSHIP_NIC_DIRECTIONS;
  const nic: Scenario | null =
    nicDirections.length === 0
      ? null
      : validateScenario({
          name: 'flagship-nic',
          description: `A host app and a guest the NIC port is passed through to sending into nic0, whose ${o.nicLine ?? FLAGSHIP_NIC_LINE} wire sinks at line rate, at batch 64 (the flagship run's NIC rows).`,
          experiment: 'pktgen',
          port: 'nic',
          mode: 'tx',
          base: {
            len: 60,
            batch: 64,
            ring: 1024,
            seconds: o.seconds ?? 2,
            warmupMs: 250,
            reportMs: 250,
            line: o.nicLine ?? FLAGSHIP_NIC_LINE,
          },
          sweep: { endpoints: nicDirections },
          x: 'endpoints',
        });
  const peers = validateScenario({
    name: 'flagship-peers',
    description: 'A sabnetmap pipe and VALE port against postMessage, batched postMessage and ringbuf.js.',
    experiment: 'peers',
    base: { len: 60, batch: 64, seconds: o.peersSeconds ?? 1 },
    sweep: { batch: [64] },
  });
  return { tp, nic, peers };
}

export async function runFlagship(o: FlagshipOptions = {}): Promise<FlagshipResult> {
  const out = o.out ?? ((t: string) => void process.stdout.write(t));
  const machine = machineFacts();
  const { tp, nic: nicScn, peers: peersScn } = scenarios(o);
  const startedAt = new Date();
  out(
    `sabnetmap: netmap pipes, VALE and virtual passthrough on SharedArrayBuffer, the flagship run (about ${Math.round(flagshipEstimate(o))} s)\n` +
      `machine: ${machineLine(machine)}\n\n`,
  );
  const dir = makeRunDir(o.outDir ?? 'results', 'flagship', startedAt);
  const common = { dir, machine, progress: o.progress, command: o.command ?? 'sabnetmap start', signal: o.signal };
  const throughput = await runScenario(tp, { ...common, prefix: 'throughput-' });
  // Interrupted already: the NIC rows and the peers would only write an empty sweep (and a line saying it starts).
  const nic = nicScn === null || o.signal?.aborted ? null : await runScenario(nicScn, { ...common, prefix: 'nic-' });
  const peers = o.signal?.aborted ? null : await runScenario(peersScn, { ...common, prefix: 'peers-' });
  const partial =
    throughput.doc.partial ||
    (nicScn !== null && (nic === null || nic.doc.partial)) ||
    peers === null ||
    peers.doc.partial;
  const rows: HeadlineRow[] = [...throughput.doc.points, ...(nic?.doc.points ?? [])]
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
      line: r.params.line ?? null,
      lineRateMpps: r.metrics!.lineRateMpps,
      ofLineRate: r.metrics!.ofLineRate,
      missed: r.metrics!.missed,
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
      throughput.doc.plannedPoints +
      (nicScn === null ? 0 : (nic?.doc.plannedPoints ?? expandPoints(nicScn, machine.cores).length)) +
      (peers?.doc.plannedPoints ?? expandPoints(peersScn, machine.cores).length),
    finishedPoints:
      finishedPoints(throughput.doc) +
      (nic === null ? 0 : finishedPoints(nic.doc)) +
      (peers === null ? 0 : finishedPoints(peers.doc)),
    rows,
    passthroughVsEmulated: ratios(rows, [
      ['guest->host', 'emulated->host'],
      ['host->guest', 'host->emulated'],
    ]),
    guestVsHost: ratios(rows, [
      ['guest->host', 'host->host'],
      ['host->guest', 'host->host'],
      ['guest->wire', 'host->wire'],
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
    files: { report, throughput: throughput.files, nic: nic?.files ?? null, peers: peers?.files ?? null },
  };
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(report, formatFlagshipReport(summary, throughput, nic, peers));
  const shown = relative(process.cwd(), report);
  out(formatHeadline(summary, shown.startsWith('..') ? report : shown));
  return { dir, report, summary };
}
