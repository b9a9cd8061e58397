/**
 * The pkt-gen experiment: a sender role and a receiver role in two workers over a port
 * pair, per-interval rates sampled from the receiver, a summary with kernel counters.
 */
import { availableParallelism, cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ST_BATCHES, ST_BYTES, ST_PACKETS, ST_SEQ_GAPS, ST_SEQ_REORDER } from '../../shm/layout.js';
import { RegionViews } from '../../shm/views.js';
import { type CountersByName, sumCounters } from '../counters.js';
import { NetmapError } from '../errors.js';
import { type LogLevel, logLevel } from '../log.js';
import { Netmap } from '../netmap.js';
import type { RingCounters } from '../port.js';
import { RolePool } from '../roles.js';
import { Control, RoleStats, STOP_ALL, STOP_SENDERS } from './control.js';
import { checkPktGenOptions, type PktGenMode, type PktGenOptions, type PktGenResult } from './pktgen.js';

export type PairMode = 'tx' | 'txseq' | 'ping';

export interface PktGenRunOptions {
  port?: 'pipe';
  /** tx: tx -> rx; txseq: txseq -> rxseq; ping: ping <-> pong. */
  mode?: PairMode;
  len?: number;
  batch?: number;
  ring?: number;
  /** Measured time (after warm-up); 0 = until `count` packets are through. */
  seconds?: number;
  count?: number;
  spinUs?: number;
  reportMs?: number;
  warmupMs?: number;
  logLevel?: LogLevel;
  /** Called once per report interval. */
  onInterval?: (r: IntervalReport) => void;
}

export interface IntervalReport {
  t: number;
  usec: number;
  packets: number;
  bytes: number;
  mpps: number;
  gbps: number;
  avgBatch: number;
}

export interface PktGenRunResult {
  port: string;
  mode: PairMode;
  len: number;
  batch: number;
  ring: number;
  /** Median of the per-interval receive rates, and their spread. */
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  /** Received packets and bytes over the whole run (warm-up included). */
  packets: number;
  bytes: number;
  sent: number;
  seconds: number;
  avgBatch: number;
  drops: number;
  seqErrors: number;
  notifiesPerPacket: number;
  sleepsPerPacket: number;
  cores: number;
  cpu: string;
  node: string;
  threads: number;
  intervals: IntervalReport[];
  counters: { sender: CountersByName; receiver: CountersByName };
  rtt?: PktGenResult['rtt'];
}

type RoleResult = PktGenResult & { counters: RingCounters[] };

const ROLES: Record<PairMode, [PktGenMode, PktGenMode]> = {
  tx: ['tx', 'rx'],
  txseq: ['txseq', 'rxseq'],
  ping: ['ping', 'pong'],
};

export async function runPktGenPair(o: PktGenRunOptions = {}): Promise<PktGenRunResult> {
  const mode = o.mode ?? 'tx';
  const len = o.len ?? 60;
  const batch = o.batch ?? 64;
  const ring = o.ring ?? 1024;
  const seconds = o.seconds ?? (o.count ? 0 : 3);
  const count = o.count ?? 0;
  const reportMs = o.reportMs ?? 1000;
  const warmupMs = o.warmupMs ?? 250;
  if (!(seconds >= 0) || !Number.isFinite(seconds))
    throw new NetmapError('EINVAL', `seconds must be >= 0, got ${seconds}`);
  if (seconds === 0 && count === 0) throw new NetmapError('EINVAL', 'give seconds or count');
  if (!(reportMs >= 10)) throw new NetmapError('EINVAL', `report interval must be >= 10 ms, got ${reportMs}`);
  const nm = new Netmap();
  const a = nm.register('pipe0{', { ringSize: ring });
  const b = nm.register('pipe0}');
  const [txMode, rxMode] = ROLES[mode];
  const common = { len, batch, count, spinUs: o.spinUs ?? 0 };
  // Validate in this thread first: a bad option is a clear error, not a worker crash.
  checkPktGenOptions({ mode: txMode, ...common }, new RegionViews(a.mem).bufSize);
  const ctl = new Control();
  const txStats = new RoleStats();
  const rxStats = new RoleStats();
  const level = o.logLevel ?? logLevel();
  const pool = new RolePool(2);
  try {
    const txP = pool.run<RoleResult>({
      role: 'pktgen',
      port: a,
      opts: { mode: txMode, ...common } satisfies PktGenOptions,
      ctl: ctl.sab,
      stats: txStats.sab,
      logLevel: level,
    });
    const rxP = pool.run<RoleResult>({
      role: 'pktgen',
      port: b,
      opts: { mode: rxMode, ...common } satisfies PktGenOptions,
      ctl: ctl.sab,
      stats: rxStats.sab,
      logLevel: level,
    });
    // A role that fails stops the run at once.
    let failure: unknown;
    const watch = Promise.all([txP, rxP]).catch((e) => {
      failure = e;
      ctl.stop(STOP_ALL);
    });
    if (!(await ctl.waitReady(2, 30_000))) throw failure ?? new Error('roles did not start within 30 s');
    ctl.go();
    const start = performance.now();
    if (warmupMs > 0) await sleep(warmupMs);
    const intervals: IntervalReport[] = [];
    const rolesDone = (() => {
      let done = false;
      Promise.allSettled([txP, rxP]).then(() => {
        done = true;
      });
      return () => done;
    })();
    let prev = sample(mode === 'ping' ? txStats : rxStats);
    const measureEnd = performance.now() + seconds * 1000;
    while (failure === undefined && !rolesDone()) {
      const now = performance.now();
      if (seconds > 0 && now >= measureEnd - 1) break;
      const wait = seconds > 0 ? Math.min(reportMs, measureEnd - now) : reportMs;
      await Promise.race([sleep(wait), watch]);
      const cur = sample(mode === 'ping' ? txStats : rxStats);
      const usec = (cur.t - prev.t) * 1000;
      if (usec < reportMs * 500 && seconds > 0) break; // a short tail interval would skew the median
      const dp = cur.packets - prev.packets;
      const db = cur.batches - prev.batches;
      const iv: IntervalReport = {
        t: (cur.t - start) / 1000,
        usec,
        packets: dp,
        bytes: cur.bytes - prev.bytes,
        mpps: dp / usec,
        gbps: ((cur.bytes - prev.bytes) * 8) / usec / 1000,
        avgBatch: db > 0 ? dp / db : 0,
      };
      if (dp > 0 || db > 0 || usec > 0) {
        intervals.push(iv);
        o.onInterval?.(iv);
      }
      prev = cur;
    }
    ctl.stop(STOP_SENDERS);
    const txR = await txP.catch((e) => {
      ctl.stop(STOP_ALL);
      throw e;
    });
    ctl.stop(STOP_ALL);
    const rxR = await rxP;
    await watch;
    if (failure !== undefined) throw failure;
    const elapsed = (performance.now() - start) / 1000;
    const rates = intervals.map((i) => i.mpps).sort((x, y) => x - y);
    const sender = sumCounters(txR.counters);
    const receiver = sumCounters(rxR.counters);
    const rxSide = mode === 'ping' ? txR : rxR;
    const packets = rxSide.packets;
    return {
      port: 'pipe',
      mode,
      len,
      batch,
      ring,
      mpps: median(rates),
      mppsMin: rates[0] ?? 0,
      mppsMax: rates[rates.length - 1] ?? 0,
      packets,
      bytes: rxSide.bytes,
      sent: txR.packets,
      seconds: elapsed,
      avgBatch: rxSide.batches > 0 ? packets / rxSide.batches : 0,
      drops: sender.drops + receiver.drops,
      seqErrors: rxR.seqGaps + rxR.seqReorder + (mode === 'ping' ? txR.seqGaps : 0),
      notifiesPerPacket: packets > 0 ? (sender.notifies + receiver.notifies) / packets : 0,
      sleepsPerPacket: packets > 0 ? (sender.sleeps + receiver.sleeps) / packets : 0,
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      threads: 2,
      intervals,
      counters: { sender, receiver },
      ...(mode === 'ping' ? { rtt: txR.rtt } : {}),
    };
  } finally {
    ctl.stop(STOP_ALL);
    await pool.close();
  }
}

function sample(st: RoleStats): { t: number; packets: number; bytes: number; batches: number; seqErr: number } {
  const f = st.snapshot();
  return {
    t: performance.now(),
    packets: f[ST_PACKETS],
    bytes: f[ST_BYTES],
    batches: f[ST_BATCHES],
    seqErr: f[ST_SEQ_GAPS] + f[ST_SEQ_REORDER],
  };
}

export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return 0;
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}
