/**
 * The benchmark runner: runs a scenario's points one at a time (never concurrently: a
 * point owns the machine's cores while it runs), shows a progress line per point, and
 * writes `<out>/<timestamp>-<name>/` with points.json, points.csv, plot.svg and
 * report.md. The numbers in all of them come from the same records.
 *
 * What a point runs is chosen by `experiment` (and, as they land, by port type and
 * endpoints): an ExperimentRunner turns one point's parameters into one or more
 * measurements (peers measures several transports per point).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { type PktGenRunResult, runPktGenPair } from '../src/apps/pktgen-run.js';
import { NetmapError } from '../src/errors.js';
import { packageRoot } from '../src/paths.js';
import { runPeersBench } from './peers.js';
import { renderPlot } from './plot.js';
import { formatCsv, formatReport, pointLabel } from './report.js';
import {
  type ExperimentName,
  expandPoints,
  lineKeys,
  type PointParams,
  type Scenario,
  type SweepParam,
} from './scenario.js';

/** What one measurement yields. A figure an experiment does not measure is null. */
export interface Metrics {
  /** Median of the per-interval receive rates (ping: round trips), and their spread. */
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  /** Packets received over the whole run (warm-up included). */
  packets: number;
  sent: number | null;
  drops: number | null;
  seqErrors: number | null;
  /** Wake-ups sent to a sleeping peer, and sleeps, per packet (both sides). */
  notifiesPerPacket: number | null;
  sleepsPerPacket: number | null;
  avgBatch: number | null;
  /** Seconds from the go to the end of the stop. */
  elapsed: number | null;
  /** Number of report intervals the median is over. */
  intervals: number | null;
  /** Worker threads the point ran, against the machine's cores. */
  threads: number;
  cores: number;
  /** peers: the pipe's Mpps over this line's. */
  ratioToPipe: number | null;
  /** ping: round-trip times in µs. */
  rttMinUs: number | null;
  rttMedianUs: number | null;
  rttP99Us: number | null;
  rttMaxUs: number | null;
}

export interface PointRecord {
  /** 1-based number of the sweep point (peers: every transport of a point shares it). */
  point: number;
  /** Every parameter's value at this point (base + sweep). */
  params: PointParams;
  /** What was measured when a point measures several things (peers: the transport). */
  variant: string | null;
  /** The plot line this record belongs to. */
  line: string;
  /** Why there is no measurement (metrics is then null). */
  error: string | null;
  metrics: Metrics | null;
  /** The per-interval rates the median is over (JSON only). */
  intervalMpps: number[];
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  arch: string;
  memoryBytes: number;
  /** 1, 5 and 15 minute load averages when the run started (other work on the machine). */
  loadavg: number[];
}

export interface ResultsDoc {
  tool: { name: 'sabnetmap'; version: string };
  /** The scenario as run: defaults filled in, --seconds applied. */
  scenario: Scenario;
  source: string | null;
  command: string | null;
  machine: Machine;
  started: string;
  finished: string | null;
  /** False while the run is in progress (points.json is rewritten after each point). */
  complete: boolean;
  plot: { file: string; x: SweepParam; series: SweepParam | null; y: 'mpps'; lines: string[] };
  points: PointRecord[];
}

/** A measurement as an experiment returns it. */
export interface Measurement {
  variant: string | null;
  metrics: Metrics | null;
  error: string | null;
  intervalMpps: number[];
}

export interface ExperimentRunner {
  /** Rough seconds one point takes (for the up-front estimate). */
  estimate(s: Scenario): number;
  run(s: Scenario, p: PointParams): Promise<Measurement[]>;
}

/** Metrics in one key order (the Metrics interface's); what is not given is null. */
export function makeMetrics(
  m: Pick<Metrics, 'mpps' | 'mppsMin' | 'mppsMax' | 'packets' | 'threads' | 'cores'> & Partial<Metrics>,
): Metrics {
  return {
    mpps: m.mpps,
    mppsMin: m.mppsMin,
    mppsMax: m.mppsMax,
    packets: m.packets,
    sent: m.sent ?? null,
    drops: m.drops ?? null,
    seqErrors: m.seqErrors ?? null,
    notifiesPerPacket: m.notifiesPerPacket ?? null,
    sleepsPerPacket: m.sleepsPerPacket ?? null,
    avgBatch: m.avgBatch ?? null,
    elapsed: m.elapsed ?? null,
    intervals: m.intervals ?? null,
    threads: m.threads,
    cores: m.cores,
    ratioToPipe: m.ratioToPipe ?? null,
    rttMinUs: m.rttMinUs ?? null,
    rttMedianUs: m.rttMedianUs ?? null,
    rttP99Us: m.rttP99Us ?? null,
    rttMaxUs: m.rttMaxUs ?? null,
  };
}

function pktgenMetrics(r: PktGenRunResult): Metrics {
  const rtt = r.rtt && r.rtt.count > 0 ? r.rtt : undefined;
  return makeMetrics({
    mpps: r.mpps,
    mppsMin: r.mppsMin,
    mppsMax: r.mppsMax,
    packets: r.packets,
    sent: r.sent,
    drops: r.drops,
    seqErrors: r.seqErrors,
    notifiesPerPacket: r.notifiesPerPacket,
    sleepsPerPacket: r.sleepsPerPacket,
    avgBatch: r.avgBatch,
    elapsed: r.seconds,
    intervals: r.intervals.length,
    threads: r.threads,
    cores: r.cores,
    rttMinUs: rtt?.min,
    rttMedianUs: rtt?.median,
    rttP99Us: rtt?.p99,
    rttMaxUs: rtt?.max,
  });
}

/** Pool start-up and teardown per point, roughly. */
const POINT_OVERHEAD_S = 0.3;

/**
 * One runner per experiment. pktgen takes its topology from `s.port` (pipe, VALE) and
 * `s.endpoints` (host apps, passthrough guests, emulated-NIC guests).
 */
export const EXPERIMENTS: Record<ExperimentName, ExperimentRunner> = {
  pktgen: {
    estimate: (s) => s.base.seconds + s.base.warmupMs / 1000 + POINT_OVERHEAD_S,
    async run(s, p) {
      const r = await runPktGenPair({
        port: s.port,
        tx: s.endpoints.tx,
        rx: s.endpoints.rx,
        mode: s.mode,
        len: p.len,
        batch: p.batch,
        ring: p.ring,
        spinUs: p.spinUs,
        seconds: s.base.seconds,
        warmupMs: s.base.warmupMs,
        reportMs: s.base.reportMs,
      });
      return [{ variant: null, metrics: pktgenMetrics(r), error: null, intervalMpps: r.intervals.map((i) => i.mpps) }];
    },
  },
  peers: {
    estimate: (s) => 4 * (s.base.seconds + 0.25 + POINT_OVERHEAD_S),
    async run(s, p) {
      const r = await runPeersBench({ seconds: s.base.seconds, len: p.len, batch: p.batch });
      return r.results.map((line) => ({
        // 'postMessage-batch64' -> 'postMessage-batch': one plot line across batch sizes.
        variant: line.name.replace(/-batch\d+$/, '-batch'),
        metrics: line.skipped
          ? null
          : makeMetrics({
              mpps: line.mpps,
              mppsMin: line.mppsMin,
              mppsMax: line.mppsMax,
              packets: line.packets,
              threads: 2,
              cores: r.cores,
              ratioToPipe: line.ratioToPipe,
            }),
        error: line.skipped ? `skipped: ${line.skipped}` : null,
        intervalMpps: [],
      }));
    },
  },
};

export interface RunOptions {
  /** Parent directory of the run's directory (default `results`, relative to the cwd). */
  outDir?: string;
  /** Overrides base.seconds. */
  seconds?: number;
  /** The file the scenario came from (for the report). */
  source?: string;
  /** The command that started the run (for the report). */
  command?: string;
  /** Where progress text goes (default stderr). Called with partial lines. */
  progress?: (text: string) => void;
  /** Called after each point with its records. */
  onPoint?: (records: PointRecord[]) => void;
}

export interface RunResult {
  dir: string;
  files: { json: string; csv: string; svg: string; report: string };
  doc: ResultsDoc;
  /** Points that produced an error instead of a measurement. */
  failed: number;
}

export const FILES = { json: 'points.json', csv: 'points.csv', svg: 'plot.svg', report: 'report.md' } as const;

export function machineFacts(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    platform: platform(),
    arch: arch(),
    memoryBytes: totalmem(),
    loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

function version(): string {
  try {
    return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `<parent>/<UTC timestamp>-<name>`, created fresh (a suffix if that second is taken). */
function makeRunDir(parent: string, name: string, at: Date): string {
  mkdirSync(parent, { recursive: true });
  const stamp = at
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  for (let i = 1; ; i++) {
    const dir = join(parent, `${stamp}-${name}${i > 1 ? `-${i}` : ''}`);
    try {
      mkdirSync(dir);
      return resolve(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 100) throw e;
    }
  }
}

function lineLabel(s: Scenario, p: PointParams, variant: string | null): string {
  const parts = [...(variant ? [variant] : []), ...lineKeys(s).map((k) => `${k}=${p[k]}`)];
  return parts.length > 0 ? parts.join(' ') : `${s.port} ${s.endpoints.tx}->${s.endpoints.rx} ${s.mode}`;
}

const X_WHAT: Record<SweepParam, string> = {
  len: 'frame length, bytes',
  batch: 'batch, slots per sync',
  ring: 'ring size, slots',
  spinUs: 'busy-poll before sleeping, µs',
};
const LOG2_X: readonly SweepParam[] = ['batch', 'ring'];

export function plotSvg(doc: ResultsDoc): string {
  const s = doc.scenario;
  const lines = new Map<string, PointRecord[]>();
  for (const r of doc.points) {
    if (r.metrics === null) continue;
    const list = lines.get(r.line) ?? [];
    list.push(r);
    lines.set(r.line, list);
  }
  const fixed = (['len', 'batch', 'ring', 'spinUs'] as const)
    .filter((k) => s.sweep[k] === undefined && (s.experiment === 'pktgen' || k === 'len' || k === 'batch'))
    .map((k) => (k === 'spinUs' ? `spin ${s.base.spinUs} us` : `${k} ${s.base[k]}`));
  const m = doc.machine;
  return renderPlot({
    title: `${s.name}: ${s.experiment === 'peers' ? 'transports' : `${s.port} ${s.mode}`}, Mpps vs ${s.x}`,
    subtitle: [
      `${s.port}, ${s.endpoints.tx} -> ${s.endpoints.rx}, ${s.experiment} ${s.mode}${fixed.length ? `, ${fixed.join(', ')}` : ''}, ${s.base.seconds} s per point`,
      `${m.cores} cores, ${m.cpu}, Node ${m.node}`,
    ],
    xLabel: `${X_WHAT[s.x]}${LOG2_X.includes(s.x) ? ' (log2 scale)' : ''}`,
    xName: s.x,
    yLabel: 'Mpps (median of intervals; bars: min-max)',
    yUnit: 'Mpps',
    xLog2: LOG2_X.includes(s.x),
    series: [...lines].map(([label, recs]) => ({
      label,
      points: recs.map((r) => ({
        x: r.params[s.x],
        y: r.metrics!.mpps,
        yMin: r.metrics!.mppsMin,
        yMax: r.metrics!.mppsMax,
      })),
    })),
  });
}

function writeJson(file: string, doc: ResultsDoc): void {
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Runs every point of `scenario` in order and writes the result files. */
export async function runScenario(scenario: Scenario, o: RunOptions = {}): Promise<RunResult> {
  const s: Scenario = structuredClone(scenario);
  if (o.seconds !== undefined) {
    if (!(o.seconds > 0 && o.seconds <= 3600)) {
      throw new NetmapError('EINVAL', `seconds must be above 0, at most 3600, got ${o.seconds}`);
    }
    s.base.seconds = o.seconds;
  }
  const exp = EXPERIMENTS[s.experiment];
  const points = expandPoints(s);
  const progress = o.progress ?? ((t: string) => void process.stderr.write(t));
  const started = new Date();
  const dir = makeRunDir(o.outDir ?? 'results', s.name, started);
  const files = {
    json: join(dir, FILES.json),
    csv: join(dir, FILES.csv),
    svg: join(dir, FILES.svg),
    report: join(dir, FILES.report),
  };
  const doc: ResultsDoc = {
    tool: { name: 'sabnetmap', version: version() },
    scenario: s,
    source: o.source ?? null,
    command: o.command ?? null,
    machine: machineFacts(),
    started: started.toISOString(),
    finished: null,
    complete: false,
    plot: { file: FILES.svg, x: s.x, series: s.series ?? null, y: 'mpps', lines: [] },
    points: [],
  };
  const est = Math.round(points.length * exp.estimate(s));
  progress(`${s.name}: ${points.length} point${points.length === 1 ? '' : 's'}, about ${est} s; writing ${dir}\n`);
  const swept = Object.keys(s.sweep) as SweepParam[];
  let failed = 0;
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const width = String(points.length).length;
    progress(`[${String(i + 1).padStart(width)}/${points.length}] ${swept.map((k) => `${k}=${p[k]}`).join(' ')} ... `);
    let ms: Measurement[];
    try {
      ms = await exp.run(s, p);
    } catch (e) {
      ms = [{ variant: null, metrics: null, error: (e as Error)?.message ?? String(e), intervalMpps: [] }];
    }
    const recs = ms.map(
      (m): PointRecord => ({
        point: i + 1,
        params: p,
        variant: m.variant,
        line: lineLabel(s, p, m.variant),
        error: m.error,
        metrics: m.metrics,
        intervalMpps: m.intervalMpps,
      }),
    );
    if (recs.some((r) => r.metrics === null && !r.error?.startsWith('skipped'))) failed++;
    doc.points.push(...recs);
    progress(`${recs.map((r) => pointLabel(r, ms.length > 1)).join(', ')}\n`);
    o.onPoint?.(recs);
    writeJson(files.json, doc);
  }
  doc.finished = new Date().toISOString();
  doc.complete = true;
  doc.plot.lines = [...new Set(doc.points.filter((r) => r.metrics !== null).map((r) => r.line))];
  writeJson(files.json, doc);
  writeFileSync(files.csv, formatCsv(doc.points));
  writeFileSync(files.svg, plotSvg(doc));
  writeFileSync(files.report, formatReport(doc));
  return { dir, files, doc, failed };
}
