/**
 * `sabnetmap bench pipeline`: the same pipeline, generator -> lb -> 2 counting workers
 * (60-byte frames, N flows), built five ways in one run, one after another:
 *
 * - sabnetmap: a Pipeline (links are pipes sharing one region; lb swaps buffers, zero copy);
 * - sabnetmap-fanout: the same without lb's thread: the source sends each frame to the
 *   worker lb's symmetric hash picks (3 threads; per-output counts are the links');
 * - postMessage: batches of frames in transferred ArrayBuffers, lb copying into its outputs' batches;
 * - ringbuf.js: an SPSC byte ring per link, batched push/pop;
 * - single thread: the generator, lb's hash and the counting in one loop.
 *
 * Each is measured like pkt-gen: a warm-up, then the packets counted by the counting
 * workers per interval; the rate is the median interval (with min and max). The work per
 * packet is the same everywhere (bench/pipeline-roles.ts: the generator's header copy,
 * lb's symmetric hash, the counters' header parse and per-port counts). Also reported:
 * the sabnetmap threads' heap growth per packet (pkt-gen's allocation check) and CPU per
 * packet.
 */
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ST_PACKETS } from '../shm/layout.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from '../src/apps/control.js';
import { spread } from '../src/apps/session.js';
import { NetmapError } from '../src/errors.js';
import { packageRoot, workerFile } from '../src/paths.js';
import { lb, Pipeline, type ThreadFigures } from '../src/pipeline/pipeline.js';
import { generator } from '../src/pipeline/sources.js';
import { loadRingBuf } from './peers-roles.js';
import type { PipelineBenchTask, PipelineBenchVia } from './pipeline-roles.js';

/** What runPipelineBench runs. */
export interface PipelineBenchOptions {
  /** Measured seconds per build, after the warm-up (default 2). */
  seconds?: number;
  /** Flows the generator sends (default 1024). */
  flows?: number;
  /** Frame length (default 60). */
  len?: number;
  /** Packets per batch (default 64, as pkt-gen and bench peers). */
  batch?: number;
  /** Slots per sabnetmap link ring, records per ringbuf.js ring, ring / batch postMessage batches in flight (default 4096). */
  ring?: number;
  /**
   * Bytes per sabnetmap buffer (default: the frame length rounded up to 64, as ringbuf.js
   * holds each record in its length). With netmap's 2048, 3 links x 4096 slots span 24 MiB
   * of buffers, two frames per 4 KiB page, in the shuffled order lb's swaps leave: each
   * stage still touches one line per frame, yet runs slower (most likely TLB misses).
   */
  bufSize?: number;
  /**
   * Rounds (default 1): every build runs once a round, in reverse order every other round;
   * each build's figure is then the median of its rounds and the ratio the median of the
   * rounds' ratios. On a machine with fewer cores than threads one run's ratio is as much
   * the scheduler's placement as the build (measured: 2.99x and 1.44x a minute apart).
   */
  rounds?: number;
  /** Called as each build finishes (every round). */
  onResult?: (r: PipelineBenchLine, round: number) => void;
  /** Builds to run (default all five). */
  only?: readonly PipelineBenchBuild[];
}

/** The builds, in the order they run. */
export const PIPELINE_BENCH_BUILDS = [
  'sabnetmap',
  'sabnetmap-fanout',
  'postMessage',
  'ringbuf.js',
  'single-thread',
] as const;
/** One build's name. */
export type PipelineBenchBuild = (typeof PIPELINE_BENCH_BUILDS)[number];

/** One build's figures. */
export interface PipelineBenchLine {
  name: PipelineBenchBuild;
  /** Median of the per-interval rates of packets counted, and their spread. */
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  /** Packets counted over the whole run. */
  packets: number;
  threads: number;
  /** Why it was not measured (figures 0). */
  skipped?: string;
}

/** The benchmark's result (`--json`). */
export interface PipelineBenchResult {
  results: PipelineBenchLine[];
  ring: number;
  batch: number;
  bufSize: number;
  /** sabnetmap / the best of postMessage and ringbuf.js (and the same for sabnetmap-fanout): the median over the rounds. */
  ratioToBestMultiThread: number;
  fanoutRatioToBestMultiThread: number;
  /** The rounds' lowest and highest sabnetmap ratio, and the rounds run. */
  ratioMin: number;
  ratioMax: number;
  rounds: number;
  /** The sabnetmap build's threads: allocation and CPU per packet. */
  sabnetmapThreads: ThreadFigures[];
  cores: number;
  cpuModel: string;
  node: string;
  seconds: number;
  flows: number;
  len: number;
}

/** Slots per link (and records per ringbuf.js ring), and packets per batch, unless told. */
export const PIPELINE_BENCH_RING = 4096;
export const PIPELINE_BENCH_BATCH = 64;
/** The frame length unless told (60 bytes: a minimal Ethernet frame without its FCS). */
export const PIPELINE_BENCH_LEN = 60;
const WARMUP_MS = 500;
const INTERVAL_MS = 250;

/** The bench's default buffer size for frames of `len` bytes: the length rounded up to 64 (netmap's buffers are multiples of 64). */
export function pipelineBenchBufSize(len: number): number {
  return Math.max(64, Math.ceil(len / 64) * 64);
}

/** Runs the builds one after another and reports each. */
export async function runPipelineBench(o: PipelineBenchOptions = {}): Promise<PipelineBenchResult> {
  const seconds = o.seconds ?? 2;
  const flows = o.flows ?? 1024;
  const len = o.len ?? PIPELINE_BENCH_LEN;
  const batch = o.batch ?? PIPELINE_BENCH_BATCH;
  const ring = o.ring ?? PIPELINE_BENCH_RING;
  const bufSize = o.bufSize ?? pipelineBenchBufSize(len);
  if (!(seconds > 0 && seconds <= 600))
    throw new NetmapError('EINVAL', `seconds must be above 0, at most 600, got ${seconds}`);
  if (!Number.isInteger(len) || len < 44 || len > 2048 || len % 4 !== 0) {
    throw new NetmapError('EINVAL', `len must be a multiple of 4 from 44 to 2048, got ${len}`);
  }
  generator({ flows, len });
  const rounds = o.rounds ?? 1;
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20))
    throw new NetmapError('EINVAL', `rounds must be an integer from 1 to 20, got ${rounds}`);
  const only = o.only ?? PIPELINE_BENCH_BUILDS;
  let sabThreads: ThreadFigures[] = [];
  const p = { seconds, flows, len, batch, ring, bufSize };
  const runBuild = async (b: PipelineBenchBuild): Promise<PipelineBenchLine> => {
    if (b === 'sabnetmap') {
      const r = await sabnetmap(p, true);
      sabThreads = r.threads;
      return r.line;
    }
    if (b === 'sabnetmap-fanout') return (await sabnetmap(p, false)).line;
    if (b === 'postMessage') return baseline('postMessage', p);
    if (b === 'ringbuf.js') {
      if ((await loadRingBuf()) !== undefined) return baseline('ringbuf.js', p);
      return { name: b, mpps: 0, mppsMin: 0, mppsMax: 0, packets: 0, threads: 4, skipped: 'ringbuf.js not installed' };
    }
    return baseline('single', p);
  };
  const builds = PIPELINE_BENCH_BUILDS.filter((b) => only.includes(b));
  const perRound: PipelineBenchLine[][] = [];
  for (let k = 0; k < rounds; k++) {
    const lines: PipelineBenchLine[] = [];
    for (const b of k % 2 === 0 ? builds : [...builds].reverse()) {
      const l = await runBuild(b);
      lines.push(l);
      o.onResult?.(l, k);
    }
    perRound.push(lines);
  }
  const ratios = (name: PipelineBenchBuild) =>
    perRound.map((lines) => {
      const of = (n: string) => lines.find((l) => l.name === n)?.mpps ?? 0;
      const best = Math.max(0, of('postMessage'), of('ringbuf.js'));
      return best > 0 ? of(name) / best : 0;
    });
  // One round: the build's own figures; several: the median of the rounds' medians, their spread.
  const results = builds.map((b): PipelineBenchLine => {
    const ls = perRound.map((lines) => lines.find((l) => l.name === b) as PipelineBenchLine);
    if (ls.length === 1) return ls[0];
    const m = spread(ls.map((l) => l.mpps));
    return {
      ...ls[0],
      mpps: m.median,
      mppsMin: m.min,
      mppsMax: m.max,
      packets: ls.reduce((t, l) => t + l.packets, 0),
    };
  });
  const sab = spread(ratios('sabnetmap'));
  return {
    results,
    ratioToBestMultiThread: sab.median,
    fanoutRatioToBestMultiThread: spread(ratios('sabnetmap-fanout')).median,
    ratioMin: sab.min,
    ratioMax: sab.max,
    rounds,
    sabnetmapThreads: sabThreads,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    seconds,
    flows,
    len,
    ring,
    batch,
    bufSize,
  };
}

interface Params {
  bufSize: number;
  seconds: number;
  flows: number;
  len: number;
  batch: number;
  ring: number;
}

/** Rates of a counter over time: the median interval after the warm-up. */
class Sampler {
  private readonly rates: number[] = [];
  private last = 0;
  private t = 0;
  start(count: number): void {
    this.last = count;
    this.t = performance.now();
  }
  sample(count: number): void {
    const now = performance.now();
    const us = (now - this.t) * 1000;
    if (us > 0) this.rates.push((count - this.last) / us);
    this.last = count;
    this.t = now;
  }
  figures(): Pick<PipelineBenchLine, 'mpps' | 'mppsMin' | 'mppsMax'> {
    const r = spread(this.rates);
    return { mpps: r.median, mppsMin: r.min, mppsMax: r.max };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(count: () => number, seconds: number): Promise<Sampler> {
  await sleep(WARMUP_MS);
  const s = new Sampler();
  s.start(count());
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end - INTERVAL_MS / 2) {
    await sleep(Math.min(INTERVAL_MS, end - performance.now()));
    s.sample(count());
  }
  return s;
}

/** The counting stage module, compiled (workers import it by URL from dist/). */
function countStageUrl(): URL {
  return pathToFileURL(join(packageRoot(), 'dist', 'bench', 'pipeline-count.js'));
}

async function sabnetmap(p: Params, lbThread: boolean): Promise<{ line: PipelineBenchLine; threads: ThreadFigures[] }> {
  const pipe = new Pipeline({ ring: p.ring, batch: p.batch, bufSize: p.bufSize }).source(
    generator({ flows: p.flows, len: p.len }),
  );
  if (lbThread) pipe.stage('lb', lb({ onFull: 'wait' }));
  pipe.stage('count', countStageUrl(), { workers: 2 });
  const ac = new AbortController();
  const run = pipe.run({ signal: ac.signal });
  // Measure from the go (the stats start moving once threads run).
  const delivered = () => {
    try {
      return pipe.stats().delivered;
    } catch {
      return 0;
    }
  };
  let sampler: Sampler;
  try {
    while (pipe.stats().seconds === 0) await sleep(10);
    sampler = await measure(delivered, p.seconds);
  } finally {
    ac.abort();
  }
  const r = await run;
  return {
    line: {
      name: lbThread ? 'sabnetmap' : 'sabnetmap-fanout',
      ...sampler.figures(),
      packets: r.delivered,
      threads: lbThread ? 4 : 3,
    },
    threads: r.threads,
  };
}

async function baseline(via: PipelineBenchVia, p: Params): Promise<PipelineBenchLine> {
  const ctl = new Control();
  // The same buffering as a sabnetmap link: a ring of `ring` packets, `ring / batch` messages.
  const window = Math.max(2, Math.floor(p.ring / p.batch));
  const base = {
    kind: 'bench' as const,
    via,
    outputs: 2,
    flows: p.flows,
    len: p.len,
    batch: p.batch,
    window,
    ctl: ctl.sab,
  };
  const roles: Array<{ task: PipelineBenchTask; transfer: TransferListItem[]; counts: boolean }> = [];
  if (via === 'single') {
    roles.push({ task: { ...base, role: 'all', index: 0, stats: new RoleStats().sab }, transfer: [], counts: true });
  } else if (via === 'postMessage') {
    const credit = new SharedArrayBuffer(16);
    const toLb = new MessageChannel();
    const outs = [new MessageChannel(), new MessageChannel()];
    roles.push(
      {
        task: { ...base, role: 'gen', index: 0, stats: new RoleStats().sab, port: toLb.port1, credit },
        transfer: [toLb.port1],
        counts: false,
      },
      {
        task: {
          ...base,
          role: 'lb',
          index: 0,
          stats: new RoleStats().sab,
          port: toLb.port2,
          ports: outs.map((c) => c.port1),
          credit,
        },
        transfer: [toLb.port2, ...outs.map((c) => c.port1)],
        counts: false,
      },
      ...outs.map((c, i) => ({
        task: { ...base, role: 'count' as const, index: i, stats: new RoleStats().sab, port: c.port2, credit },
        transfer: [c.port2] as TransferListItem[],
        counts: true,
      })),
    );
  } else {
    const RB = await loadRingBuf();
    if (RB === undefined) throw new Error('ringbuf.js is not installed');
    const storage = () => RB.getStorageForCapacity(p.ring * p.len, Uint8Array);
    const [toLb, out0, out1] = [storage(), storage(), storage()];
    roles.push(
      {
        task: { ...base, role: 'gen', index: 0, stats: new RoleStats().sab, rings: [toLb] },
        transfer: [],
        counts: false,
      },
      {
        task: { ...base, role: 'lb', index: 0, stats: new RoleStats().sab, rings: [toLb, out0, out1] },
        transfer: [],
        counts: false,
      },
      {
        task: { ...base, role: 'count', index: 0, stats: new RoleStats().sab, rings: [out0] },
        transfer: [],
        counts: true,
      },
      {
        task: { ...base, role: 'count', index: 1, stats: new RoleStats().sab, rings: [out1] },
        transfer: [],
        counts: true,
      },
    );
  }
  const pool = new Piscina({
    filename: workerFile('pipeline'),
    minThreads: roles.length,
    maxThreads: roles.length,
    idleTimeout: Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker: 1,
    atomics: 'disabled',
  });
  const counters = roles.filter((r) => r.counts).map((r) => new RoleStats(r.task.stats));
  const count = () => counters.reduce((t, s) => t + s.snapshot()[ST_PACKETS], 0);
  try {
    let failure: unknown;
    const runs = roles.map((r) =>
      pool.run(r.task, { transferList: r.transfer }).catch((e: unknown) => {
        failure ??= e;
        ctl.stop(STOP_ALL);
      }),
    );
    if (!(await ctl.waitReady(roles.length, 60_000))) throw new Error(`${via}: roles did not start`);
    ctl.go();
    const sampler = await measure(count, p.seconds);
    ctl.stop(STOP_SENDERS);
    await sleep(50);
    ctl.stop(STOP_ALL);
    await Promise.all(runs);
    if (failure !== undefined) throw failure;
    const name: PipelineBenchBuild = via === 'single' ? 'single-thread' : via;
    return { name, ...sampler.figures(), packets: count(), threads: roles.length };
  } finally {
    ctl.stop(STOP_ALL);
    await pool.destroy();
  }
}

/** The benchmark's table. */
export function formatPipelineBench(r: PipelineBenchResult): string {
  const sab = r.results.find((l) => l.name === 'sabnetmap')?.mpps ?? 0;
  const rows = r.results.map((l) => {
    const ratio = l.mpps > 0 && !l.name.startsWith('sabnetmap') ? `  sabnetmap is ${(sab / l.mpps).toFixed(1)}x` : '';
    const fig = l.skipped
      ? `skipped: ${l.skipped}`
      : `${l.mpps.toFixed(2).padStart(7)} Mpps  (${l.mppsMin.toFixed(2)}-${l.mppsMax.toFixed(2)})`;
    return `  ${l.name.padEnd(14)} ${String(l.threads).padStart(2)} threads  ${fig}${ratio}`;
  });
  const alloc = r.sabnetmapThreads
    .map(
      (t) =>
        `${t.node}#${t.worker} ${t.allocBytesPerPacket === null ? `${t.gcs} GCs` : `${t.allocBytesPerPacket.toFixed(4)} B/pkt`}`,
    )
    .join(', ');
  const cpu = r.sabnetmapThreads
    .map((t) => `${t.node}#${t.worker} ${t.cpuNsPerPacket === null ? '-' : t.cpuNsPerPacket.toFixed(1)}`)
    .join(', ');
  return (
    `pipeline: generator -> lb -> 2 counting workers, ${r.len}-byte frames, ${r.flows} flows, ring ${r.ring}, ` +
    `batch ${r.batch}, ${r.bufSize}-byte buffers, ` +
    (r.rounds > 1
      ? `${r.rounds} rounds of ${r.seconds} s per build (builds alternated): the median round's median ${INTERVAL_MS} ms interval (min-max over the rounds):\n`
      : `median of ${INTERVAL_MS} ms intervals over ${r.seconds} s (min-max):\n`) +
    `${rows.join('\n')}\n` +
    `  sabnetmap / best other multi-thread build: ${r.ratioToBestMultiThread.toFixed(2)}x` +
    `${r.rounds > 1 ? ` (rounds ${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)})` : ''} (fanout: ${r.fanoutRatioToBestMultiThread.toFixed(2)}x)\n` +
    `  sabnetmap threads, heap growth per packet: ${alloc}\n` +
    `  sabnetmap threads, CPU ns per packet: ${cpu}\n` +
    `  (${r.cores} cores, ${r.cpuModel}, Node ${r.node})\n`
  );
}
