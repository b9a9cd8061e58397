/**
 * The pkt-gen experiment: a sender role and a receiver role in two workers over a pipe,
 * per-interval rates sampled from the receiver, a summary with kernel counters.
 */
import { availableParallelism, cpus } from 'node:os';
import { RegionViews } from '../../shm/views.js';
import { type CountersByName, sumCounters } from '../counters.js';
import { NetmapError } from '../errors.js';
import { valeCounters } from '../kernel/vale.js';
import { type LogLevel, logLevel } from '../log.js';
import { Netmap } from '../netmap.js';
import type { RingCounters } from '../port.js';
import type { AllocReport } from './alloc.js';
import { checkPktGenOptions, type PktGenMode, type PktGenOptions, type PktGenResult } from './pktgen.js';
import { type IntervalReport, runSession } from './session.js';

export type { IntervalReport } from './session.js';
export { median } from './session.js';

export type PairMode = 'tx' | 'txseq' | 'ping';

export interface PktGenRunOptions {
  /** pipe: pipe0{ -> pipe0}; vale: vale0:a -> vale0:b (copies through the switch). */
  port?: 'pipe' | 'vale';
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
  /** Called once the options are checked, before any worker starts. */
  onStart?: () => void;
  /** Called once per report interval. */
  onInterval?: (r: IntervalReport) => void;
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
  /** Heap bytes each role allocated per packet (null if a GC ran: then see `gcs`). */
  allocBytesPerPacket: number | null;
  gcs: number;
  cores: number;
  cpu: string;
  node: string;
  threads: number;
  intervals: IntervalReport[];
  counters: { sender: CountersByName; receiver: CountersByName };
  rtt?: PktGenResult['rtt'];
}

/** What a pkt-gen role returns from its worker. */
export type PktGenRoleResult = PktGenResult & { counters: RingCounters[]; alloc: AllocReport };

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
  const count = o.count ?? 0;
  const seconds = o.seconds ?? (count > 0 ? 0 : 3);
  if (seconds === 0 && count === 0) throw new NetmapError('EINVAL', 'give seconds or count: a run needs an end');
  const nm = new Netmap();
  const port = o.port ?? 'pipe';
  const [nameA, nameB] = port === 'vale' ? ['vale0:a', 'vale0:b'] : ['pipe0{', 'pipe0}'];
  const a = nm.register(nameA, { ringSize: ring });
  const b = nm.register(nameB, { ringSize: ring });
  const [txMode, rxMode] = ROLES[mode];
  const common = { len, batch, count, spinUs: o.spinUs ?? 0 };
  // Validate here first: a bad option is a clear error, not a worker crash.
  checkPktGenOptions({ mode: txMode, ...common }, new RegionViews(a.mem).bufSize);
  const level = o.logLevel ?? logLevel();
  o.onStart?.();
  const task = (port: typeof a, m: PktGenMode) => ({
    role: 'pktgen',
    port,
    opts: { mode: m, ...common } satisfies PktGenOptions,
    logLevel: level,
  });
  const s = await runSession<PktGenRoleResult>(
    [
      { task: task(a, txMode), sender: true, measured: mode === 'ping' },
      { task: task(b, rxMode), sender: false, measured: mode !== 'ping' },
    ],
    { seconds, reportMs: o.reportMs ?? 1000, warmupMs: o.warmupMs ?? 250, onInterval: o.onInterval },
  );
  const [txR, rxR] = s.results;
  const sender = sumCounters(txR.counters);
  const receiver = sumCounters(rxR.counters);
  const rxSide = mode === 'ping' ? txR : rxR;
  const packets = rxSide.packets;
  const gcs = txR.alloc.gcs + rxR.alloc.gcs;
  // On VALE, packets that find the destination ring full are dropped by the switch.
  const switchDrops = port === 'vale' ? valeCounters(a.kmem).drops + valeCounters(b.kmem).drops : 0;
  // A run shorter than one report interval (a --count run) has no interval: its rate
  // is then the whole run's.
  const whole = s.elapsed > 0 ? packets / (s.elapsed * 1e6) : 0;
  const rate = s.intervals.length > 0 ? s : { mpps: whole, mppsMin: whole, mppsMax: whole };
  return {
    port,
    mode,
    len,
    batch,
    ring,
    mpps: rate.mpps,
    mppsMin: rate.mppsMin,
    mppsMax: rate.mppsMax,
    packets,
    bytes: rxSide.bytes,
    sent: txR.packets,
    seconds: s.elapsed,
    avgBatch: rxSide.batches > 0 ? packets / rxSide.batches : 0,
    drops: sender.drops + receiver.drops + switchDrops,
    seqErrors: rxR.seqGaps + rxR.seqReorder + (mode === 'ping' ? txR.seqGaps : 0),
    notifiesPerPacket: packets > 0 ? (sender.notifies + receiver.notifies) / packets : 0,
    sleepsPerPacket: packets > 0 ? (sender.sleeps + receiver.sleeps) / packets : 0,
    allocBytesPerPacket: gcs === 0 && packets > 0 ? (txR.alloc.heapBytes + rxR.alloc.heapBytes) / packets : null,
    gcs,
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    threads: 2,
    intervals: s.intervals,
    counters: { sender, receiver },
    ...(mode === 'ping' ? { rtt: txR.rtt } : {}),
  };
}
