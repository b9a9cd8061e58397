/**
 * Experiment 5 of the talk: a chain of N bridges — host apps, or each in its own guest VM
 * with both of its ports passed through — joined by pipes or VALE switches, between a
 * pkt-gen sender and a pkt-gen receiver (host apps):
 *
 *   pkt-gen tx -> link 0 -> bridge 1 -> link 1 -> ... -> bridge N -> link N -> pkt-gen rx
 *
 * Link k is the pipe `chainK{` -> `chainK}`, or the VALE switch `valeK` (`valeK:a` ->
 * `valeK:b`, one switch per link so nothing floods between links). In a VM each bridge
 * port gets its own host kloop. The bridges and kloops are the session's forwarders and
 * stop in chain order (src/stop-order.ts), so a txseq run delivers every packet.
 */
import { availableParallelism, cpus } from 'node:os';
import { KC_DROPS } from '../../shm/layout.js';
import { kringCounterBase } from '../../shm/region.js';
import { RegionViews } from '../../shm/views.js';
import { NetmapError } from '../errors.js';
import { checkNotifyPolicy, type NotifyPolicy } from '../kernel/notify.js';
import { valeCounters } from '../kernel/vale.js';
import { type LogLevel, logLevel } from '../log.js';
import { checkPortOptions, Netmap } from '../netmap.js';
import { passThrough } from '../passthrough/hypervisor.js';
import type { KloopResult } from '../passthrough/kloop.js';
import type { PortDescriptor } from '../port.js';
import { createStopOrder, type StopOrderRef } from '../stop-order.js';
import type { ThreadTrace } from '../trace.js';
import { type BridgeOptions, checkBridgeOptions } from './bridge.js';
import type { BridgeAppTask, BridgeKloopTask, BridgeRoleResult } from './bridge-role.js';
import { type CpuAccounting, cpuAccounting, type WithThread } from './cputime.js';
import type { AppPortDescriptor } from './open.js';
import { checkPktGenOptions, type PktGenOptions } from './pktgen.js';
import type { PktGenRoleResult } from './pktgen-run.js';
import { type IntervalReport, runRate, runSession, type SessionRole } from './session.js';
import { writeTrace } from './trace-file.js';
import type { Traced } from './traced.js';

/** How a chain's links are made: pipes, or one VALE switch per link. */
export type ChainPort = 'pipe' | 'vale';
/** A chain's traffic: tx -> rx, or txseq -> rxseq (sequence checks). */
export type ChainMode = 'tx' | 'txseq';

/** Bridges in a chain: from 1 to this many. */
export const MAX_CHAIN = 8;

/** Options of runChain: bridges, links, VMs, mode, frame and ring sizes, length of the run, notify policy, trace. */
export interface ChainRunOptions {
  /** Bridges in the chain (1 to 8; default 4). */
  n?: number;
  /** How links are made: pipes (default) or one VALE switch per link. */
  port?: ChainPort;
  /** Run each bridge in a guest VM, its two ports passed through (default false). */
  vms?: boolean;
  /** tx: tx -> rx; txseq: txseq -> rxseq (sequence checks). Default tx. */
  mode?: ChainMode;
  len?: number;
  batch?: number;
  ring?: number;
  /** Measured time (after warm-up); 0 = until `count` packets are through. */
  seconds?: number;
  count?: number;
  /** Busy-poll time of every app's poll (µs); default 200 if every thread has a core, else 0. */
  spinUs?: number;
  /** VMs: how long a kloop stays awake after its last work (µs; default 1000). */
  lingerUs?: number;
  /** VMs: kloops never sleep (the guests never kick). */
  busyWait?: boolean;
  reportMs?: number;
  warmupMs?: number;
  logLevel?: LogLevel;
  /** Called once the options are checked, before any worker starts. */
  onStart?: () => void;
  /** Called once per report interval. */
  onInterval?: (r: IntervalReport) => void;
  /** Ends the run early, as if time were up (a Ctrl-C in the runner). */
  signal?: AbortSignal;
  /**
   * When a sleeping thread is worth waking, on every port of the chain (the pkt-gen apps'
   * and the bridges') and every kloop (default asleep; src/kernel/notify.ts).
   */
  notify?: NotifyPolicy;
  /** Write every thread's sleeps, wake-ups, kicks, interrupts and syncs here (Chrome Trace Event JSON). */
  trace?: string;
}

/**
 * One bridge's figures in a chain run: its ports, what it forwarded, and in a VM its
 * guest's kicks, sleeps and interrupts.
 */
export interface ChainBridgeStats {
  /** The bridge's input and output port names. */
  from: string;
  to: string;
  packets: number;
  bytes: number;
  batches: number;
  empty: number;
  zeroCopy: boolean;
  /** In a VM: the guest driver's kicks, sleeps and interrupts taken (both ports). */
  kicks: number;
  sleeps: number;
  wakeups: number;
  /** Garbage collections in the bridge's thread, and heap bytes per packet (null if a GC ran). */
  gcs: number;
  allocBytesPerPacket: number | null;
}

/** One kloop's figures in a chain run of VMs, with the host port it serves. */
export interface ChainKloopStats extends KloopResult {
  /** The host port the kloop serves. */
  port: string;
}

/**
 * The result of runChain: the chain's parameters, the receiver's rate and counts, each bridge's and kloop's figures.
 */
export interface ChainRunResult {
  n: number;
  port: ChainPort;
  vms: boolean;
  mode: ChainMode;
  /** The notify policy every port and kloop of the chain used. */
  notify: NotifyPolicy;
  len: number;
  batch: number;
  ring: number;
  spinUs: number;
  /** Median of the receiver's per-interval rates, and their spread. */
  mpps: number;
  mppsMin: number;
  mppsMax: number;
  /** Packets and bytes the receiver got over the whole run (warm-up included). */
  packets: number;
  bytes: number;
  /** Packets the sender sent. */
  sent: number;
  seconds: number;
  /** Kernel drops on every link (VALE: the switches' drops; pipes: bad slots, 0). */
  drops: number;
  /** txseq: gaps and reorderings the receiver saw. */
  seqErrors: number;
  /** Worker threads (apps, bridges, kloops) and the machine's cores. */
  threads: number;
  cores: number;
  /** The machine's CPU model. */
  cpuModel: string;
  node: string;
  /** CPU accounting per thread (sender, bridges, kloops, receiver), as pkt-gen's (src/apps/cputime.ts). */
  cpu: CpuAccounting;
  intervals: IntervalReport[];
  bridges: ChainBridgeStats[];
  kloops: ChainKloopStats[];
  /** VMs: guest kicks and host interrupts per received packet. */
  kicksPerPacket: number;
  irqsPerPacket: number;
  /** VMs: host interrupts per batch the bridges (the guests' apps, which take them) forwarded. */
  irqsPerBatch: number;
  /** Drops per link (link k feeds bridge k+1; the last one the receiver). */
  links: Array<{ tx: string; rx: string; drops: number }>;
}

/** The two ends of link k. */
function linkNames(port: ChainPort, k: number): [string, string] {
  return port === 'vale' ? [`vale${k}:a`, `vale${k}:b`] : [`chain${k}{`, `chain${k}}`];
}

/** Drops counted by a port's krings, plus (VALE) the switch's drops at this port. */
function portDrops(d: PortDescriptor): number {
  const region = RegionViews.kernel(d.mem, d.kmem);
  const ids = region.ifRings(d.ifIndex);
  const f64 = new Float64Array(d.kmem, 0, Math.floor(d.kmem.byteLength / 8));
  let t = 0;
  for (const id of [...ids.tx, ...ids.rx]) t += f64[kringCounterBase(id) + KC_DROPS];
  return t + (d.type === 'vale' ? valeCounters(d.kmem).drops : 0);
}

function check(o: ChainRunOptions): void {
  if (o === null || typeof o !== 'object') throw new NetmapError('EINVAL', 'chain options must be an object');
  const n = o.n ?? 4;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHAIN) {
    throw new NetmapError('EINVAL', `n (bridges in the chain) must be an integer from 1 to ${MAX_CHAIN}, got ${n}`);
  }
  if (o.port !== undefined && o.port !== 'pipe' && o.port !== 'vale') {
    throw new NetmapError('EINVAL', `port must be pipe or vale, got '${o.port}'`);
  }
  if (o.mode !== undefined && o.mode !== 'tx' && o.mode !== 'txseq') {
    throw new NetmapError('EINVAL', `mode must be tx or txseq, got '${o.mode}'`);
  }
  if (o.vms !== undefined && typeof o.vms !== 'boolean') {
    throw new NetmapError('EINVAL', `vms must be true or false, got '${o.vms}'`);
  }
  if (o.busyWait !== undefined && typeof o.busyWait !== 'boolean') {
    throw new NetmapError('EINVAL', `busyWait must be true or false, got '${o.busyWait}'`);
  }
  if (!(o.lingerUs === undefined || (o.lingerUs >= 0 && o.lingerUs <= 1e7))) {
    throw new NetmapError('EINVAL', `lingerUs must be from 0 to 1e7, got ${o.lingerUs}`);
  }
  if (!(o.spinUs === undefined || (o.spinUs >= 0 && Number.isFinite(o.spinUs)))) {
    throw new NetmapError('EINVAL', `spinUs must be >= 0, got ${o.spinUs}`);
  }
  if (!(o.seconds === undefined || (o.seconds >= 0 && Number.isFinite(o.seconds)))) {
    throw new NetmapError('EINVAL', `seconds must be >= 0, got ${o.seconds}`);
  }
  if (o.notify !== undefined) checkNotifyPolicy(o.notify);
  if (o.trace !== undefined && (typeof o.trace !== 'string' || o.trace === '')) {
    throw new NetmapError('EINVAL', `trace must be a file name, got '${o.trace}'`);
  }
}

/**
 * Runs a chain of bridges (host apps, or each in a guest VM) between a pkt-gen sender and
 * receiver, in worker threads, and measures it.
 */
export async function runChain(o: ChainRunOptions = {}): Promise<ChainRunResult> {
  check(o);
  const n = o.n ?? 4;
  const port: ChainPort = o.port ?? 'pipe';
  const vms = o.vms ?? false;
  const mode: ChainMode = o.mode ?? 'tx';
  const len = o.len ?? 60;
  const batch = o.batch ?? 64;
  const ring = o.ring ?? 1024;
  const count = o.count ?? 0;
  const seconds = o.seconds ?? (count > 0 ? 0 : 3);
  if (seconds === 0 && count === 0) throw new NetmapError('EINVAL', 'give seconds or count: a run needs an end');
  checkPortOptions({ ringSize: ring });
  const threads = 2 + n * (vms ? 3 : 1);
  const cores = availableParallelism();
  const spinUs = o.spinUs ?? (threads <= cores ? 200 : 0);
  const [txMode, rxMode] = mode === 'txseq' ? (['txseq', 'rxseq'] as const) : (['tx', 'rx'] as const);
  const common = { len, batch, count, spinUs };
  const nm = new Netmap();
  // Link k: up[k] is the end written into (by the sender or bridge k), down[k] the end
  // read from (by bridge k+1 or the receiver).
  const up: PortDescriptor[] = [];
  const down: PortDescriptor[] = [];
  for (let k = 0; k <= n; k++) {
    const [a, b] = linkNames(port, k);
    up.push(nm.register(a, { ringSize: ring }));
    down.push(nm.register(b, { ringSize: ring }));
  }
  // Validate here first: a bad option is a clear error, not a worker crash.
  checkPktGenOptions({ mode: txMode, ...common }, RegionViews.kernel(up[0].mem, up[0].kmem).bufSize);
  const bridgeOpts: BridgeOptions = { batch, spinUs };
  checkBridgeOptions(bridgeOpts);
  const level = o.logLevel ?? logLevel();
  const lingerUs = o.lingerUs ?? 1000;
  const busyWait = o.busyWait ?? false;
  const notify = checkNotifyPolicy(o.notify ?? 'asleep');
  const trace = o.trace !== undefined;
  // Threads: pkt-gen tx and rx, a bridge each, and in VMs two kloops each.
  const oversubscribed = 2 + n * (vms ? 3 : 1) > availableParallelism();
  o.onStart?.();

  const pktgen = (d: PortDescriptor, m: PktGenOptions['mode']) => ({
    role: 'pktgen',
    port: d,
    opts: { mode: m, ...common } satisfies PktGenOptions,
    notify,
    oversubscribed,
    trace,
    logLevel: level,
  });
  const roles: SessionRole[] = [
    { task: pktgen(up[0], txMode), sender: true },
    { task: pktgen(down[n], rxMode), sender: false, measured: true },
  ];
  const bridgeRoles: SessionRole[] = [];
  const kloopRoles: SessionRole[] = [];
  const kloopPorts: string[] = [];
  // The stop order: host bridges stop one after the other; a VM's stages are its input
  // kloop, its bridge, its output kloop (3 per VM), each after the one before.
  const sab = createStopOrder(n * (vms ? 3 : 1));
  const ref = (self: number, after: number, wake?: SharedArrayBuffer): StopOrderRef => ({
    sab,
    self,
    after,
    ...(wake === undefined ? {} : { wake }),
  });
  const bridgeTask = (
    from: AppPortDescriptor,
    to: AppPortDescriptor,
    order: StopOrderRef,
  ): Omit<BridgeAppTask, 'ctl' | 'stats'> => ({
    role: 'bridge',
    from,
    to,
    opts: { ...bridgeOpts, order },
    notify,
    oversubscribed,
    trace,
    logLevel: level,
  });
  if (!vms) {
    for (let i = 0; i < n; i++) {
      bridgeRoles.push({ task: bridgeTask(down[i], up[i + 1], ref(i, i - 1)), sender: false, forwarder: true });
    }
  } else {
    const ptIn = Array.from({ length: n }, (_, i) => passThrough(down[i]));
    const ptOut = Array.from({ length: n }, (_, i) => passThrough(up[i + 1]));
    const kloopTask = (
      kloop: (typeof ptIn)[number]['kloop'],
      order: StopOrderRef,
    ): Omit<BridgeKloopTask, 'ctl' | 'stats'> => ({
      role: 'bridge',
      kloop,
      order,
      lingerUs,
      busyWait,
      notify,
      trace,
      logLevel: level,
    });
    for (let i = 0; i < n; i++) {
      const s = 3 * i;
      // In: after the previous VM's output kloop (the first one only after the sender).
      kloopRoles.push({ task: kloopTask(ptIn[i].kloop, ref(s, i === 0 ? -1 : s - 1)), sender: false, forwarder: true });
      kloopPorts.push(down[i].name);
      // The bridge rings its output kloop's bell when it is done.
      bridgeRoles.push({
        task: bridgeTask(ptIn[i].guest, ptOut[i].guest, ref(s + 1, s, ptOut[i].guest.bell)),
        sender: false,
        forwarder: true,
      });
      // Out: after its bridge; rings the next VM's input kloop.
      kloopRoles.push({
        task: kloopTask(ptOut[i].kloop, ref(s + 2, s + 1, i + 1 < n ? ptIn[i + 1].guest.bell : undefined)),
        sender: false,
        forwarder: true,
      });
      kloopPorts.push(up[i + 1].name);
    }
  }
  const s = await runSession<unknown>([...roles, ...bridgeRoles, ...kloopRoles], {
    seconds,
    reportMs: o.reportMs ?? 1000,
    warmupMs: o.warmupMs ?? 250,
    onInterval: o.onInterval,
    signal: o.signal,
  });
  const txR = s.results[0] as PktGenRoleResult;
  const rxR = s.results[1] as PktGenRoleResult;
  const bridgeRs = s.results.slice(2, 2 + n) as Traced<BridgeRoleResult>[];
  const kloopWs = s.results.slice(2 + n) as Traced<WithThread<KloopResult>>[];
  const kloopRs = kloopWs.map(({ thread: _t, trace: _tr, ...r }): KloopResult => r);
  // Threads in path order: sender, then each bridge (and in a VM its input and output kloops), receiver.
  const threadCpus = [
    { ...txR.thread, role: `host ${txMode}` },
    ...bridgeRs.flatMap((r, i) => {
      const b = { ...r.thread, role: `bridge ${i + 1}` };
      if (!vms) return [b];
      const [kin, kout] = [kloopWs[2 * i], kloopWs[2 * i + 1]];
      return [
        { ...kin.thread, role: `kloop ${kloopPorts[2 * i]}` },
        b,
        { ...kout.thread, role: `kloop ${kloopPorts[2 * i + 1]}` },
      ];
    }),
    { ...rxR.thread, role: `host ${rxMode}` },
  ];
  if (o.trace !== undefined) {
    // The same threads in the same order as the CPU accounting.
    const traces: Array<ThreadTrace | undefined> = [
      txR.trace,
      ...bridgeRs.flatMap((r, i) => (vms ? [kloopWs[2 * i].trace, r.trace, kloopWs[2 * i + 1].trace] : [r.trace])),
      rxR.trace,
    ];
    writeTrace(
      o.trace,
      threadCpus.map((t, i) => ({ role: t.role, trace: traces[i] ?? { events: new Float64Array(0), overwritten: 0 } })),
    );
    // Written: the events stay out of the result.
    for (const r of s.results) delete (r as { trace?: ThreadTrace }).trace;
  }
  const packets = rxR.packets;
  const links = up.map((d, k) => ({ tx: d.name, rx: down[k].name, drops: portDrops(d) + portDrops(down[k]) }));
  const rate = runRate(s, packets);
  const bridges = bridgeRs.map(
    (r, i): ChainBridgeStats => ({
      from: down[i].name,
      to: up[i + 1].name,
      packets: r.packets,
      bytes: r.bytes,
      batches: r.batches,
      empty: r.empty,
      zeroCopy: r.zeroCopy,
      kicks: r.guest?.kicks ?? 0,
      sleeps: r.guest?.sleeps ?? r.counters.reduce((t, c) => t + c.sleeps, 0),
      wakeups: r.guest?.wakeups ?? r.counters.reduce((t, c) => t + c.wakeups, 0),
      gcs: r.alloc.gcs,
      allocBytesPerPacket: r.alloc.gcs === 0 && r.packets > 0 ? r.alloc.heapBytes / r.packets : null,
    }),
  );
  const kicks = bridges.reduce((t, b) => t + b.kicks, 0);
  const irqs = kloopRs.reduce((t, r) => t + r.irqs, 0);
  const bridgeBatches = bridges.reduce((t, b) => t + b.batches, 0);
  return {
    n,
    port,
    vms,
    mode,
    notify,
    len,
    batch,
    ring,
    spinUs,
    mpps: rate.mpps,
    mppsMin: rate.mppsMin,
    mppsMax: rate.mppsMax,
    packets,
    bytes: rxR.bytes,
    sent: txR.packets,
    seconds: s.elapsed,
    drops: links.reduce((t, l) => t + l.drops, 0),
    seqErrors: rxR.seqGaps + rxR.seqReorder,
    threads: roles.length + bridgeRoles.length + kloopRoles.length,
    cores,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    cpu: cpuAccounting(threadCpus, packets),
    intervals: s.intervals,
    bridges,
    kloops: kloopRs.map((r, i) => ({ port: kloopPorts[i], ...r })),
    kicksPerPacket: packets > 0 ? kicks / packets : 0,
    irqsPerPacket: packets > 0 ? irqs / packets : 0,
    irqsPerBatch: bridgeBatches > 0 ? irqs / bridgeBatches : 0,
    links,
  };
}
