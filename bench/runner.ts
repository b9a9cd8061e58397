/**
 * The benchmark runner: runs a scenario's points one at a time (never concurrently: a
 * point owns the machine's cores while it runs), shows progress (a bar and the table
 * growing row by row on a terminal, a line per point otherwise), and writes
 * `<out>/<timestamp>-<name>/` with points.json, points.csv, plot.svg, events.svg and
 * report.md. The numbers in all of them come from the same records.
 *
 * What a point runs is chosen by `experiment`: an ExperimentRunner turns one point's
 * parameters into one or more measurements (peers measures several transports per
 * point). pktgen and ping take their topology from the point's port and endpoints
 * (host apps, passthrough guests, emulated-NIC guests; on a NIC port one app and the
 * wire at the point's line rate), chain from its port, n and vms.
 *
 * With `trace`, each point of a pktgen, ping or chain run writes every thread's sleeps,
 * wake-ups, kicks, interrupts and syncs to `trace-<point>.json` in the run's directory
 * (Chrome Trace Event JSON); not on a NIC port (its runs do not trace yet).
 *
 * A run stops early when its `signal` aborts (the CLI's Ctrl-C): the point in progress
 * stops as if its time were up and is dropped (a cut-short measurement would sit in the
 * table as if it were one), and the files are written for the points that finished,
 * marked `partial`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { type ChainPort, runChain } from '../src/apps/chain-run.js';
import type { CpuAccounting, ThreadCpuFigures } from '../src/apps/cputime.js';
import { pingWaits } from '../src/apps/endpoint.js';
import type { NicRunResult } from '../src/apps/nic-run.js';
import { type Endpoint, type PktGenRunResult, runPktGenPair } from '../src/apps/pktgen-run.js';
import { NetmapError } from '../src/errors.js';
import { packageRoot } from '../src/paths.js';
import { eventsSvg, fixedWhat, machineLine, plotSvg } from './describe.js';
import { runPeersBench } from './peers.js';
import { type LiveOut, LiveProgress } from './progress.js';
import { formatCsv, formatReport, liveTable, pointLabel } from './report.js';
import {
  type ExperimentName,
  expandPoints,
  formatParam,
  isNicScenario,
  lineKeys,
  type PointParams,
  paramValue,
  pointEndpoints,
  pointThreads,
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
  /** Guests: kicks (guest -> host: CSB kicks, NIC doorbells) and interrupts (host -> guest) per packet. */
  kicksPerPacket: number | null;
  irqsPerPacket: number | null;
  /**
   * Guests: interrupts per batch of the guest apps that take them (interrupts over the
   * batches those apps synced, both counted over the run); null for ping (a batch is a round trip).
   */
  irqsPerBatch: number | null;
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
  /**
   * CPU accounting (pktgen, ping, chain; null elsewhere and where a thread's CPU time is
   * unavailable): CPU and idle-spin ns per packet summed over the threads, busy (CPU minus
   * spin) summed, and the rate projected for a core per thread (see docs/design.md, CPU accounting).
   */
  cpuNsPerPacket: number | null;
  spinNsPerPacket: number | null;
  busyNsPerPacket: number | null;
  projectedMpps: number | null;
  /**
   * A NIC port (null elsewhere): the line rate in Mpps at the point's frame length, the
   * measured rate over it (mpps / lineRateMpps), the frames the wire's measured lane
   * missed (TX: the sink; RX: no room in the RX ring) and the time the wire thread fell
   * behind the line (ms).
   */
  lineRateMpps: number | null;
  ofLineRate: number | null;
  missed: number | null;
  wireBehindMs: number | null;
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
  /** Per thread: CPU and idle-spin ns per packet, run-queue wait % (JSON only; null where not measured). */
  cpuThreads: ThreadCpuFigures[] | null;
  /** The point's Chrome trace, a file in the run's directory (JSON only; runs with `trace`). */
  trace?: string;
}

export interface Machine {
  /** The CPU model. */
  cpuModel: string;
  cores: number;
  node: string;
  platform: string;
  arch: string;
  memoryBytes: number;
  /** 1, 5 and 15 minute load averages when the run started (other work on the machine). */
  loadavg: number[];
}

/** The figure a plot draws: Mpps, or (ping) the median RTT. */
export type PlotY = 'mpps' | 'rttMedianUs';

export interface ResultsDoc {
  tool: { name: 'sabnetmap'; version: string };
  /** The scenario as run: defaults filled in, --seconds applied. */
  scenario: Scenario;
  source: string | null;
  command: string | null;
  machine: Machine;
  started: string;
  finished: string | null;
  /**
   * False while the run is in progress (points.json is rewritten after each point) and
   * when it was interrupted; true once every point has run.
   */
  complete: boolean;
  /** The run was interrupted: `points` holds the points that finished before (of `plannedPoints`). */
  partial: boolean;
  /** Points the sweep has (a point measuring several things, as peers do, is one). */
  plannedPoints: number;
  /**
   * The main plot (`file`: y against x, one line per entry of `lines`) and the events
   * plot (`events`: notifies, kicks and irqs per packet against x; null for peers).
   */
  plot: { file: string; x: SweepParam; series: SweepParam | null; y: PlotY; lines: string[]; events: string | null };
  points: PointRecord[];
}

/** A measurement as an experiment returns it. */
export interface Measurement {
  variant: string | null;
  metrics: Metrics | null;
  error: string | null;
  intervalMpps: number[];
  /** Per thread CPU figures, where the experiment measures them. */
  cpuThreads?: ThreadCpuFigures[];
}

export interface ExperimentRunner {
  /** Rough seconds one point takes (for the up-front estimate). */
  estimate(s: Scenario): number;
  /**
   * Runs one point. `signal` aborting ends it early (its result is then dropped); `trace`,
   * where the experiment traces its threads, is the file its Chrome trace goes to.
   */
  run(s: Scenario, p: PointParams, signal?: AbortSignal, trace?: string): Promise<Measurement[]>;
  /** Whether `trace` is honoured (the threads run netmap ports; default false). */
  traces?: boolean;
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
    kicksPerPacket: m.kicksPerPacket ?? null,
    irqsPerPacket: m.irqsPerPacket ?? null,
    irqsPerBatch: m.irqsPerBatch ?? null,
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
    cpuNsPerPacket: m.cpuNsPerPacket ?? null,
    spinNsPerPacket: m.spinNsPerPacket ?? null,
    busyNsPerPacket: m.busyNsPerPacket ?? null,
    projectedMpps: m.projectedMpps ?? null,
    lineRateMpps: m.lineRateMpps ?? null,
    ofLineRate: m.ofLineRate ?? null,
    missed: m.missed ?? null,
    wireBehindMs: m.wireBehindMs ?? null,
  };
}

/** A run's CPU accounting as metrics: the sums over its threads. */
export function cpuMetrics(
  c: CpuAccounting,
): Pick<Metrics, 'cpuNsPerPacket' | 'spinNsPerPacket' | 'busyNsPerPacket' | 'projectedMpps'> {
  const sum = (k: 'cpuNsPerPacket' | 'spinNsPerPacket') =>
    c.available && c.threads.every((t) => t[k] !== null) ? c.threads.reduce((a, t) => a + t[k]!, 0) : null;
  return {
    cpuNsPerPacket: sum('cpuNsPerPacket'),
    spinNsPerPacket: sum('spinNsPerPacket'),
    busyNsPerPacket: c.busyNsPerPacket,
    projectedMpps: c.projectedMpps,
  };
}

/** A NIC run's metrics: pkt-gen's, and the line rate and the wire's measured lane (TX: the app sends; RX: it receives). */
function nicMetrics(r: NicRunResult, dir: 'tx' | 'rx'): Metrics {
  const lanes = r.wire.lanes;
  const lane = lanes.find((l) => l.name.endsWith(` ${dir}`)) ?? lanes[dir === 'tx' ? 0 : lanes.length - 1];
  return {
    ...pktgenMetrics(r),
    lineRateMpps: r.lineRateMpps,
    ofLineRate: r.ofLineRate,
    missed: lane?.missed ?? null,
    wireBehindMs: lane?.behindMs ?? null,
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
    kicksPerPacket: r.kicksPerPacket,
    irqsPerPacket: r.irqsPerPacket,
    // ping: a batch is a round trip, so per batch would only repeat per packet.
    irqsPerBatch: r.mode === 'ping' ? null : r.irqsPerBatch,
    avgBatch: r.avgBatch,
    elapsed: r.seconds,
    intervals: r.intervals.length,
    threads: r.threads,
    cores: r.cores,
    rttMinUs: rtt?.min,
    rttMedianUs: rtt?.median,
    rttP99Us: rtt?.p99,
    rttMaxUs: rtt?.max,
    ...cpuMetrics(r.cpu),
  });
}

/** Pool start-up and teardown per point, roughly (more threads, more start-up). */
const POINT_OVERHEAD_S = 0.3;

/** ping: at most this many round trips per point (an RTT array of 8 MB in the pinging worker). */
export const PING_MAX_ROUND_TRIPS = 1_000_000;

/** The knobs every traffic experiment passes on as they are: the point's and the scenario's. */
function runKnobs(s: Scenario, p: PointParams) {
  return {
    len: p.len,
    batch: p.batch,
    ring: p.ring,
    spinUs: p.spinUs,
    seconds: s.base.seconds,
    warmupMs: s.base.warmupMs,
    reportMs: s.base.reportMs,
    lingerUs: s.base.lingerUs,
    notify: p.notify,
  };
}

/**
 * pktgen on a NIC port: one app on nic0, the wire at the point's line rate on the other
 * side (host->wire: the app sends and the wire sinks; wire->host: the wire generates).
 */
async function runNic(s: Scenario, p: PointParams, signal?: AbortSignal): Promise<Measurement[]> {
  const e = pointEndpoints(p);
  const dir = e.rx === 'wire' ? 'tx' : 'rx';
  const who = (dir === 'tx' ? e.tx : e.rx) as Endpoint;
  const r = (await runPktGenPair({
    port: 'nic',
    line: p.line,
    [dir]: who,
    mode: s.mode === 'txseq' ? 'txseq' : 'tx',
    ...runKnobs(s, p),
    busyWait: s.base.busyWait,
    signal,
  })) as NicRunResult;
  return [
    {
      variant: null,
      metrics: nicMetrics(r, dir),
      error: null,
      intervalMpps: r.intervals.map((i) => i.mpps),
      cpuThreads: r.cpu.threads,
    },
  ];
}

/** pktgen and ping: one pair of apps over the point's port, each side host, guest or emulated (or a NIC port's app and wire). */
async function runPair(s: Scenario, p: PointParams, signal?: AbortSignal, trace?: string): Promise<Measurement[]> {
  if (p.port === 'nic') return runNic(s, p, signal);
  const e = pointEndpoints(p);
  const ping = s.experiment === 'ping';
  // ping: how the path waits, awake or asleep, for this point's threads and cores (pingWaits).
  const waits = ping ? pingWaits(p.peer === 'awake', pointThreads(s, p), availableParallelism()) : null;
  const r = await runPktGenPair({
    port: p.port ?? 'pipe',
    tx: e.tx as Endpoint,
    rx: e.rx as Endpoint,
    mode: ping ? 'ping' : s.mode,
    // ping stops after this many round trips (else 10000): enough for the whole point at any RTT seen here.
    ...(ping ? { count: PING_MAX_ROUND_TRIPS } : {}),
    ...runKnobs(s, p),
    busyWait: waits?.busyWait ?? s.base.busyWait,
    ...(waits?.lingerUs !== undefined ? { lingerUs: waits.lingerUs } : {}),
    moderation: s.base.moderation,
    signal,
    trace,
  });
  const metrics = pktgenMetrics(r);
  const error = ping && metrics.rttMedianUs === null ? 'no round trip completed' : null;
  return [{ variant: null, metrics, error, intervalMpps: r.intervals.map((i) => i.mpps), cpuThreads: r.cpu.threads }];
}

/** A sender/receiver pair's point: measured time, warm-up, pool start-up. */
const pairEstimate = (s: Scenario) => s.base.seconds + s.base.warmupMs / 1000 + POINT_OVERHEAD_S;

/**
 * One runner per experiment. pktgen and ping take their topology from the point's
 * `port` and `endpoints`; chain from its `port`, `n` and `vms`.
 */
export const EXPERIMENTS: Record<ExperimentName, ExperimentRunner> = {
  pktgen: { estimate: pairEstimate, run: runPair, traces: true },
  ping: { estimate: pairEstimate, run: runPair, traces: true },
  chain: {
    estimate: (s) => s.base.seconds + s.base.warmupMs / 1000 + 2 * POINT_OVERHEAD_S,
    traces: true,
    async run(s, p, signal, trace) {
      const r = await runChain({
        n: p.n,
        // The validator keeps chains on pipes and VALE.
        port: p.port as ChainPort | undefined,
        vms: p.vms,
        mode: s.mode === 'txseq' ? 'txseq' : 'tx',
        ...runKnobs(s, p),
        busyWait: s.base.busyWait,
        signal,
        trace,
      });
      const metrics = makeMetrics({
        mpps: r.mpps,
        mppsMin: r.mppsMin,
        mppsMax: r.mppsMax,
        packets: r.packets,
        sent: r.sent,
        drops: r.drops,
        seqErrors: r.seqErrors,
        kicksPerPacket: r.kicksPerPacket,
        irqsPerPacket: r.irqsPerPacket,
        irqsPerBatch: r.irqsPerBatch,
        elapsed: r.seconds,
        intervals: r.intervals.length,
        threads: r.threads,
        cores: r.cores,
        ...cpuMetrics(r.cpu),
      });
      return [
        {
          variant: null,
          metrics,
          error: null,
          intervalMpps: r.intervals.map((i) => i.mpps),
          cpuThreads: r.cpu.threads,
        },
      ];
    },
  },
  peers: {
    estimate: (s) => 5 * (s.base.seconds + 0.25 + POINT_OVERHEAD_S),
    // postMessage and ringbuf.js have no traced points.
    traces: false,
    async run(s, p, signal) {
      const r = await runPeersBench({ seconds: s.base.seconds, len: p.len, batch: p.batch, vale: true, signal });
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
  /** Write into exactly this directory (created if needed) instead of a fresh `<outDir>/<timestamp>-<name>`. */
  dir?: string;
  /** Prefix of every file name written (several scenarios in one directory). */
  prefix?: string;
  /** Overrides base.seconds. */
  seconds?: number;
  /** The file the scenario came from (for the report). */
  source?: string;
  /** The command that started the run (for the report). */
  command?: string;
  /** Where progress lines go (default stderr). Called with partial lines. */
  progress?: (text: string) => void;
  /**
   * A progress bar over the sweep and the table growing row by row, on stderr (default:
   * when stderr is a terminal and no `progress` is given). Otherwise a line per point.
   */
  live?: boolean;
  /** Where the live bar and table go (default stderr). */
  liveOut?: LiveOut;
  /** The machine facts to record (default: read now). */
  machine?: Machine;
  /** Called after each point with its records. */
  onPoint?: (records: PointRecord[]) => void;
  /**
   * Stops the run early: the point in progress stops (senders first, the rest drain) and
   * is dropped, no further point starts, and the files are written for the finished
   * points with `partial: true`. runScenario then resolves as usual.
   */
  signal?: AbortSignal;
  /**
   * Trace every point (pktgen, ping, chain): each writes `trace-<point>.json` (with the
   * prefix) into the run's directory, every thread's sleeps, wake-ups, kicks, interrupts
   * and syncs as Chrome Trace Event JSON.
   */
  trace?: boolean;
}

export interface RunResult {
  dir: string;
  files: { json: string; csv: string; svg: string; events: string | null; report: string };
  doc: ResultsDoc;
  /** Points that produced an error instead of a measurement. */
  failed: number;
  /** Whether the table was already shown on the terminal as the run went. */
  shownLive: boolean;
}

export const FILES = {
  json: 'points.json',
  csv: 'points.csv',
  svg: 'plot.svg',
  events: 'events.svg',
  report: 'report.md',
} as const;

export function machineFacts(): Machine {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    platform: platform(),
    arch: arch(),
    memoryBytes: totalmem(),
    loadavg: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

export function version(): string {
  try {
    return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `<parent>/<UTC timestamp>-<name>`, created fresh (a suffix if that second is taken). */
export function makeRunDir(parent: string, name: string, at: Date): string {
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
  const parts = [...(variant ? [variant] : []), ...lineKeys(s).map((k) => formatParam(k, paramValue(p, k)))];
  if (parts.length > 0) return parts.join(' ');
  const fixed = fixedWhat(s);
  return s.experiment === 'chain' ? `chain ${fixed}` : `${fixed}${s.experiment === 'pktgen' ? ` ${s.mode}` : ''}`;
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
  if (o.trace === true && !exp.traces) {
    throw new NetmapError(
      'EINVAL',
      `trace is not available for the ${s.experiment} experiment (only pktgen, ping and chain run traced threads)`,
    );
  }
  if (o.trace === true && isNicScenario(s)) {
    throw new NetmapError('EINVAL', "trace is not available on port 'nic' (a NIC run does not trace its threads yet)");
  }
  const machine = o.machine ?? machineFacts();
  const points = expandPoints(s, machine.cores);
  const live = o.live ?? (o.progress === undefined && process.stderr.isTTY === true);
  const progress = o.progress ?? ((t: string) => void process.stderr.write(t));
  const started = new Date();
  let dir: string;
  if (o.dir !== undefined) {
    mkdirSync(o.dir, { recursive: true });
    dir = resolve(o.dir);
  } else dir = makeRunDir(o.outDir ?? 'results', s.name, started);
  const pre = o.prefix ?? '';
  const events = s.experiment === 'peers' ? null : `${pre}${FILES.events}`;
  const files = {
    json: join(dir, `${pre}${FILES.json}`),
    csv: join(dir, `${pre}${FILES.csv}`),
    svg: join(dir, `${pre}${FILES.svg}`),
    events: events === null ? null : join(dir, events),
    report: join(dir, `${pre}${FILES.report}`),
  };
  const doc: ResultsDoc = {
    tool: { name: 'sabnetmap', version: version() },
    scenario: s,
    source: o.source ?? null,
    command: o.command ?? null,
    machine,
    started: started.toISOString(),
    finished: null,
    complete: false,
    partial: false,
    plannedPoints: points.length,
    plot: {
      file: `${pre}${FILES.svg}`,
      x: s.x,
      series: s.series ?? null,
      y: s.experiment === 'ping' ? 'rttMedianUs' : 'mpps',
      lines: [],
      events,
    },
    points: [],
  };
  const perPoint = exp.estimate(s);
  const est = Math.round(points.length * perPoint);
  const head = `${s.name}: ${points.length} point${points.length === 1 ? '' : 's'}, about ${est} s; writing ${dir}\n`;
  const swept = Object.keys(s.sweep) as SweepParam[];
  const bar = live ? new LiveProgress(points.length, perPoint, o.liveOut) : null;
  const table = live ? liveTable(s, swept, points) : null;
  if (bar && table) {
    bar.print(`${head}machine: ${machineLine(machine)}\n\n${table.header}`);
  } else progress(`${head}machine: ${machineLine(machine)}\n`);
  let failed = 0;
  const signal = o.signal;
  let interrupted = false;
  // Without the bar a point's line stays open while it runs: the abort ends it at once
  // (what else the caller prints about the interruption then starts on a line of its own).
  let lineOpen = false;
  const onAbort = () => {
    if (lineOpen) progress('interrupted\n');
    lineOpen = false;
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let i = 0; i < points.length; i++) {
      if (signal?.aborted) {
        interrupted = true;
        break;
      }
      const p = points[i];
      const where = swept.map((k) => `${k}=${paramValue(p, k)}`).join(' ');
      const width = String(points.length).length;
      if (bar) bar.start(i, where);
      else {
        progress(`[${String(i + 1).padStart(width)}/${points.length}] ${where} ... `);
        lineOpen = true;
      }
      let ms: Measurement[];
      const trace = o.trace === true ? `${pre}trace-${i + 1}.json` : undefined;
      try {
        ms = await exp.run(s, p, signal, trace === undefined ? undefined : join(dir, trace));
      } catch (e) {
        ms = [{ variant: null, metrics: null, error: (e as Error)?.message ?? String(e), intervalMpps: [] }];
      }
      // Aborted while it ran: the point was cut short (or failed because of it); drop it.
      if (signal?.aborted) {
        interrupted = true;
        break;
      }
      lineOpen = false;
      const recs = ms.map(
        (m): PointRecord => ({
          point: i + 1,
          params: p,
          variant: m.variant,
          line: lineLabel(s, p, m.variant),
          error: m.error,
          metrics: m.metrics,
          intervalMpps: m.intervalMpps,
          cpuThreads: m.cpuThreads ?? null,
          ...(trace !== undefined && m.metrics !== null ? { trace } : {}),
        }),
      );
      if (recs.some((r) => r.metrics === null && !r.error?.startsWith('skipped'))) failed++;
      doc.points.push(...recs);
      if (bar && table) bar.print(recs.map((r) => table.row(r)).join('\n'));
      else progress(`${recs.map((r) => pointLabel(r, ms.length > 1)).join(', ')}\n`);
      o.onPoint?.(recs);
      writeJson(files.json, doc);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    bar?.stop();
  }
  doc.finished = new Date().toISOString();
  doc.complete = !interrupted;
  doc.partial = interrupted;
  doc.plot.lines = [...new Set(doc.points.filter((r) => r.metrics !== null).map((r) => r.line))];
  writeJson(files.json, doc);
  writeFileSync(files.csv, formatCsv(doc));
  writeFileSync(files.svg, plotSvg(doc));
  if (files.events !== null) writeFileSync(files.events, eventsSvg(doc));
  writeFileSync(files.report, formatReport(doc));
  return { dir, files, doc, failed, shownLive: live };
}
