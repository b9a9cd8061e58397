/**
 * The pkt-gen experiment: a sender role and a receiver role in two workers over a pipe,
 * per-interval rates sampled from the receiver, a summary with kernel counters.
 */
import { availableParallelism, cpus } from 'node:os';
import { RegionViews } from '../../shm/views.js';
import { type CountersByName, sumCounters } from '../counters.js';
import type { E1000Result } from '../emulated/e1000.js';
import { checkModeration } from '../emulated/nic.js';
import { NetmapError } from '../errors.js';
import { checkNotifyPolicy, type NotifyPolicy } from '../kernel/notify.js';
import { valeCounters } from '../kernel/vale.js';
import { type LogLevel, logLevel } from '../log.js';
import { Netmap } from '../netmap.js';
import type { LineRate } from '../nic/line.js';
import type { KloopResult } from '../passthrough/kloop.js';
import type { PortDescriptor, RingCounters } from '../port.js';
import { createStopOrder, type StopOrderRef } from '../stop-order.js';
import type { ThreadTrace } from '../trace.js';
import type { AllocReport } from './alloc.js';
import { type CpuAccounting, cpuAccounting, type ThreadCpu, type WithThread } from './cputime.js';
import { appEndpoint, ENDPOINTS, type Endpoint, type HostThread } from './endpoint.js';
import { checkFault, type Fault } from './fault.js';
import type { Mac } from './frame.js';
import { runNicPktGen } from './nic-run.js';
import type { AppPortDescriptor } from './open.js';
import { checkPktGenOptions, type PktGenMode, type PktGenOptions, type PktGenResult } from './pktgen.js';
import { type IntervalReport, runRate, runSession } from './session.js';
import { writeTrace } from './trace-file.js';

export type { IntervalReport } from './session.js';
export { median } from './session.js';

/** What a pkt-gen pair runs: tx -> rx, txseq -> rxseq (sequence checks), or ping <-> pong (round trips). */
export type PairMode = 'tx' | 'txseq' | 'ping';
export { ENDPOINTS, type Endpoint } from './endpoint.js';

/**
 * Options of runPktGenPair: the port, who sends and receives, mode, frame and ring sizes,
 * length of the run, notify policy, trace.
 */
export interface PktGenRunOptions {
  /**
   * pipe: pipe0{ -> pipe0}; vale: vale0:a -> vale0:b (copies through the switch); nic: one
   * app on nic0 (--tx or --rx) and the NIC's wire at `line` on the other side (nic-run.ts).
   */
  port?: 'pipe' | 'vale' | 'nic';
  /** nic: the wire's line rate (default 10G). */
  line?: LineRate;
  /** nic: attach the NIC to this VALE switch (vale-ctl -a); the app then runs on its port `a`. */
  attach?: string;
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
  /** Who runs the sender and the receiver: a host app, or an app in a guest VM (passthrough). */
  tx?: Endpoint;
  rx?: Endpoint;
  /** Passthrough and emulated: how long a kloop / device thread stays awake after its last work (µs; default 1000). */
  lingerUs?: number;
  /** Passthrough and emulated: kloops / device threads never sleep (the guest never kicks). */
  busyWait?: boolean;
  /** Emulated NIC: at most one interrupt per this many completions (default 1: none held back). */
  moderation?: number;
  /** VALE only: this many sender workers (vale0:a, vale0:a2 ...) into one receiver. */
  senders?: number;
  /** Called once the options are checked, before any worker starts. */
  onStart?: () => void;
  /** The namespace to register the ports in (default a new one): pass one to use its ports again after the run. */
  netmap?: Netmap;
  /** Make the sender app fail mid-flow (a crashing or killed guest; see src/apps/fault.ts). */
  txFault?: Fault;
  /** Called once per report interval. */
  onInterval?: (r: IntervalReport) => void;
  /** Random pauses in both apps (PktGenOptions.pauseUs, pauseEvery); the receiver's PRNG gets seed + 1. */
  pauseUs?: number;
  pauseEvery?: number;
  seed?: number;
  /** Ends the run early, as if its time were up (a watchdog's way out). */
  signal?: AbortSignal;
  /** When a sleeping thread is worth waking, on every port, kloop and NIC of the run (default asleep). */
  notify?: NotifyPolicy;
  /** Write every thread's sleeps, wake-ups, kicks, interrupts and syncs here (Chrome Trace Event JSON). */
  trace?: string;
}

/**
 * The result of runPktGenPair: the rate (median of the intervals and its spread), counts,
 * round trips, notifications and CPU per thread.
 */
export interface PktGenRunResult {
  port: string;
  mode: PairMode;
  /** The notify policy every port, kloop and NIC of the run used. */
  notify: NotifyPolicy;
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
  /** The receiver's sequence gaps and out-of-order packets (seqErrors is their sum, plus ping's losses). */
  seqGaps: number;
  seqReorder: number;
  notifiesPerPacket: number;
  sleepsPerPacket: number;
  /** Heap bytes each role allocated per packet (null if a GC ran: then see `gcs`). */
  allocBytesPerPacket: number | null;
  gcs: number;
  cores: number;
  /** The machine's CPU model. */
  cpuModel: string;
  node: string;
  threads: number;
  /**
   * CPU accounting per thread over the run (src/apps/cputime.ts): CPU, idle spin and
   * run-queue wait per thread; busy ns per packet summed over threads, and the rate
   * projected for a core per thread.
   */
  cpu: CpuAccounting;
  intervals: IntervalReport[];
  counters: { sender: CountersByName; receiver: CountersByName };
  tx: Endpoint;
  rx: Endpoint;
  /** Passthrough: guest kicks and host interrupts per packet, kloop wake-ups per second. */
  kicksPerPacket: number;
  irqsPerPacket: number;
  /**
   * Host interrupts per batch of the apps in guests (the ones that take them): interrupts
   * (kloops' and emulated NICs') over the batches those apps synced. 0 without a guest.
   */
  irqsPerBatch: number;
  kloopWakeupsPerSecond: number;
  /** Packets each sender sent (one entry unless several senders share a VALE switch). */
  senders: number[];
  /** Emulated endpoints: each device thread's counters (descriptors, copies, doorbells, interrupts). */
  devices?: E1000Result[];
  /** VALE: the switch's ports and their counters at the end (vale-ctl). */
  valeCtl?: ReturnType<Netmap['valeCtl']>;
  rtt?: PktGenResult['rtt'];
  /** Timed-out sleeps (apps' polls, kloops) that found their news already there: lost wake-ups. */
  lateWakeups: number;
  /** Passthrough: each guest app's driver counters (kicks, sleeps, interrupts taken). */
  guests?: { sender?: PktGenRoleResult['guest']; receiver?: PktGenRoleResult['guest'] };
  /** Passthrough: each kloop's counters (irqs, sleeps, wake-ups). */
  kloops?: KloopResult[];
}

/** What a pkt-gen role returns from its worker. */
export type PktGenRoleResult = PktGenResult & {
  counters: RingCounters[];
  alloc: AllocReport;
  /** Set when the app ran in a guest: its driver's kicks, sleeps and interrupts taken. */
  guest?: { kicks: number; sleeps: number; wakeups: number };
  /** Its thread's CPU time, run-queue wait and idle spin from the go to its end. */
  thread: ThreadCpu;
  /** Its thread's events, when the run was traced. */
  trace?: ThreadTrace;
};

const ROLES: Record<PairMode, [PktGenMode, PktGenMode]> = {
  tx: ['tx', 'rx'],
  txseq: ['txseq', 'rxseq'],
  ping: ['ping', 'pong'],
};

/** A vale-ctl line read from a descriptor's kernel memory (the port may be gone by now). */
function portLine(name: string, d: PortDescriptor): { index: number; name: string; counters: Record<string, number> } {
  return { index: d.type === 'vale' ? d.portIndex : 0, name: name.split(':')[1], counters: valeCounters(d.kmem) };
}

/** A pair run's sizes and end with their defaults, and the options every pkt-gen app of it shares. */
export function pairBasics(o: PktGenRunOptions): {
  len: number;
  batch: number;
  ring: number;
  count: number;
  seconds: number;
  common: Omit<PktGenOptions, 'mode'>;
} {
  const len = o.len ?? 60;
  const batch = o.batch ?? 64;
  const ring = o.ring ?? 1024;
  const count = o.count ?? 0;
  const seconds = o.seconds ?? (count > 0 ? 0 : 3);
  if (seconds === 0 && count === 0) throw new NetmapError('EINVAL', 'give seconds or count: a run needs an end');
  const common = {
    len,
    batch,
    count,
    spinUs: o.spinUs ?? 0,
    pauseUs: o.pauseUs,
    pauseEvery: o.pauseEvery,
    seed: o.seed,
  };
  return { len, batch, ring, count, seconds, common };
}

/**
 * Runs netmap's pkt-gen as a sender and a receiver in worker threads over a pipe, a VALE
 * switch or a NIC port, and measures them.
 */
export async function runPktGenPair(o: PktGenRunOptions = {}): Promise<PktGenRunResult> {
  if (o.port === 'nic') return runNicPktGen(o);
  const mode = o.mode ?? 'tx';
  const { len, batch, ring, seconds, common } = pairBasics(o);
  const txWho = o.tx ?? 'host';
  const rxWho = o.rx ?? 'host';
  for (const [what, v] of [
    ['tx', txWho],
    ['rx', rxWho],
  ] as const) {
    if (!ENDPOINTS.includes(v)) {
      throw new NetmapError('EINVAL', `${what} must be ${ENDPOINTS.join(', ')}; got '${v}'`);
    }
  }
  if (!(o.lingerUs === undefined || (o.lingerUs >= 0 && o.lingerUs <= 1e7))) {
    throw new NetmapError('EINVAL', `lingerUs must be from 0 to 1e7, got ${o.lingerUs}`);
  }
  if (o.txFault !== undefined) checkFault(o.txFault);
  const nm = o.netmap ?? new Netmap();
  const port = o.port ?? 'pipe';
  const senders = o.senders ?? 1;
  if (!Number.isInteger(senders) || senders < 1 || senders > 16) {
    throw new NetmapError('EINVAL', `senders must be an integer from 1 to 16, got ${senders}`);
  }
  if (senders > 1 && (port !== 'vale' || mode === 'ping')) {
    throw new NetmapError('EINVAL', 'several senders need --port vale and a tx or txseq mode');
  }
  // Sender i uses vale0:a, vale0:a2, vale0:a3 ... (each its own port and source MAC).
  const txNames =
    port === 'vale' ? Array.from({ length: senders }, (_, i) => (i === 0 ? 'vale0:a' : `vale0:a${i + 1}`)) : ['pipe0{'];
  const txPorts = txNames.map((n) => nm.register(n, { ringSize: ring }));
  const a = txPorts[0];
  const b = nm.register(port === 'vale' ? 'vale0:b' : 'pipe0}', { ringSize: ring });
  const [txMode, rxMode] = ROLES[mode];
  // Validate here first: a bad option is a clear error, not a worker crash.
  checkPktGenOptions({ mode: txMode, ...common }, RegionViews.kernel(a.mem, a.kmem).bufSize);
  const level = o.logLevel ?? logLevel();
  o.onStart?.();
  // On VALE the receiver announces its MAC first and senders unicast to it: N senders
  // then really converge on one port instead of flooding each other.
  const rxMac: Mac = [0x02, 0, 0, 0, 2, 1];
  const vale = port === 'vale';
  // A guest endpoint runs its app on the guest's view of the port (region + CSB + bell)
  // and adds a host kloop for that port.
  // An emulated endpoint runs it on the guest's own port over an e1000 NIC and adds the
  // device thread.
  // Every host thread, in path order (the senders' endpoints are made first).
  const hostThreads: HostThread[] = [];
  /** Each host thread's name in the CPU accounting: what it is and the host port it serves. */
  const hostNames: string[] = [];
  const endpoint = (d: PortDescriptor, who: Endpoint): AppPortDescriptor => {
    const e = appEndpoint(d, who, { moderation: o.moderation });
    if (e.host !== null) {
      hostThreads.push(e.host);
      hostNames.push(e.hostName);
    }
    return e.port;
  };
  if (o.moderation !== undefined) checkModeration(o.moderation);
  const notify = checkNotifyPolicy(o.notify ?? 'asleep');
  // The endpoints' host threads are known once the endpoints are made (below); senders,
  // the receiver and a kloop or device thread per guest endpoint.
  const oversubscribed =
    senders + 1 + (txWho === 'host' ? 0 : senders) + (rxWho === 'host' ? 0 : 1) > availableParallelism();
  const traced = o.trace !== undefined;
  const task = (p: AppPortDescriptor, m: PktGenMode, extra: Partial<PktGenOptions>) => ({
    role: 'pktgen',
    port: p,
    opts: { mode: m, ...common, ...extra } satisfies PktGenOptions,
    notify,
    oversubscribed,
    trace: traced,
    logLevel: level,
  });
  const txRoles = txPorts.map((p, i) => ({
    task: {
      ...task(endpoint(p, txWho), txMode, {
        srcMac: [0x02, 0, 0, 0, 1, i + 1],
        ...(vale ? { dstMac: rxMac } : {}),
      }),
      ...(o.txFault ? { fault: o.txFault } : {}),
    },
    // A failure is reported with the app and port it hit.
    name: `${txWho} ${txMode} on ${p.name}`,
    sender: true,
    measured: mode === 'ping',
  }));
  const rxRole = {
    // Its own pause sequence: the same seed on both sides would pause them in step.
    task: task(endpoint(b, rxWho), rxMode, {
      seed: ((o.seed ?? 1) + 1) >>> 0,
      ...(vale ? { srcMac: rxMac, announce: true } : {}),
    }),
    sender: false,
    measured: mode !== 'ping',
  };
  // Host threads stop in path order, the senders' side first: a stage stops only once
  // the one before it has pushed everything out, so nothing in flight is left behind.
  const order = hostThreads.length > 1 ? createStopOrder(hostThreads.length) : null;
  const hostRoles = hostThreads.map((t, i) => ({
    task: {
      ...t,
      lingerUs: o.lingerUs ?? 1000,
      busyWait: o.busyWait ?? false,
      notify,
      trace: traced,
      logLevel: level,
      ...(order === null ? {} : { order: { sab: order, after: i - 1, self: i } satisfies StopOrderRef }),
    },
    sender: false,
    forwarder: true,
  }));
  const s = await runSession<PktGenRoleResult>([...txRoles, rxRole, ...hostRoles], {
    seconds,
    reportMs: o.reportMs ?? 1000,
    warmupMs: o.warmupMs ?? 250,
    onInterval: o.onInterval,
    signal: o.signal,
  });
  const txRs = s.results.slice(0, senders);
  const rxR = s.results[senders];
  const hostWs = s.results.slice(senders + 1) as unknown as Array<
    WithThread<KloopResult | E1000Result> & { trace?: ThreadTrace }
  >;
  // The raw thread figures go into `cpu`; the kloops' and devices' own counters stay as they were.
  const hostRs = hostWs.map(({ thread: _t, trace: _tr, ...r }) => r);
  const kloopRs = hostRs.filter((_, i) => hostThreads[i].role === 'kloop') as KloopResult[];
  const deviceRs = hostRs.filter((_, i) => hostThreads[i].role === 'e1000') as E1000Result[];
  // Threads in path order: the senders, the host threads (senders' side first), the receiver.
  const threadCpus: ThreadCpu[] = [
    ...txRs.map((r, i) => ({ ...r.thread, role: `${txWho} ${txMode}${senders > 1 ? ` ${txNames[i]}` : ''}` })),
    ...hostWs.map((r, i) => ({ ...r.thread, role: hostNames[i] })),
    { ...rxR.thread, role: `${rxWho} ${rxMode}` },
  ];
  if (o.trace !== undefined) {
    const traces = [...txRs, ...hostWs, rxR].map((r) => (r as { trace?: ThreadTrace }).trace);
    writeTrace(
      o.trace,
      threadCpus.map((t, i) => ({ role: t.role, trace: traces[i] ?? { events: new Float64Array(0), overwritten: 0 } })),
    );
    // Written: the events stay out of the result.
    for (const r of s.results) delete (r as { trace?: ThreadTrace }).trace;
  }
  const txR: PktGenRoleResult = {
    ...txRs[0],
    packets: txRs.reduce((t, r) => t + r.packets, 0),
    counters: txRs.flatMap((r) => r.counters),
    alloc: {
      gcs: txRs.reduce((t, r) => t + r.alloc.gcs, 0),
      heapBytes: txRs.reduce((t, r) => t + r.alloc.heapBytes, 0),
    },
  };
  const sender = sumCounters(txR.counters);
  const receiver = sumCounters(rxR.counters);
  const rxSide = mode === 'ping' ? txR : rxR;
  const guestKicks = s.results.reduce((t, r) => t + ((r as PktGenRoleResult).guest?.kicks ?? 0), 0);
  const packets = rxSide.packets;
  const gcs = txR.alloc.gcs + rxR.alloc.gcs;
  // On VALE, packets that find the destination ring full are dropped by the switch.
  const switchDrops = port === 'vale' ? [...txPorts, b].reduce((t, p) => t + valeCounters(p.kmem).drops, 0) : 0;
  // An emulated device drops what the guest described badly (counted, never lost silently).
  const deviceDrops = deviceRs.reduce((t, r) => t + r.txBad + r.rxBad, 0);
  const rate = runRate(s, packets);
  const irqs = [...kloopRs, ...deviceRs].reduce((t, r) => t + r.irqs, 0);
  // The batches of the apps that run in guests: the interrupts go to them.
  const guestBatches =
    (txWho === 'host' ? 0 : txRs.reduce((t, r) => t + r.batches, 0)) + (rxWho === 'host' ? 0 : rxR.batches);
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
    drops: sender.drops + receiver.drops + switchDrops + deviceDrops,
    seqErrors: rxR.seqGaps + rxR.seqReorder + (mode === 'ping' ? txR.seqGaps : 0),
    seqGaps: rxR.seqGaps,
    seqReorder: rxR.seqReorder,
    notifiesPerPacket: packets > 0 ? (sender.notifies + receiver.notifies) / packets : 0,
    sleepsPerPacket: packets > 0 ? (sender.sleeps + receiver.sleeps) / packets : 0,
    allocBytesPerPacket: gcs === 0 && packets > 0 ? (txR.alloc.heapBytes + rxR.alloc.heapBytes) / packets : null,
    gcs,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    threads: senders + 1 + hostThreads.length,
    cpu: cpuAccounting(threadCpus, packets),
    notify,
    tx: txWho,
    rx: rxWho,
    // Passthrough guests count their kicks; emulated guests' drivers count doorbells per ring.
    kicksPerPacket: packets > 0 ? (guestKicks + sender.kicks + receiver.kicks) / packets : 0,
    irqsPerPacket: packets > 0 ? irqs / packets : 0,
    irqsPerBatch: guestBatches > 0 ? irqs / guestBatches : 0,
    kloopWakeupsPerSecond: s.elapsed > 0 ? [...kloopRs, ...deviceRs].reduce((t, r) => t + r.wakeups, 0) / s.elapsed : 0,
    ...(deviceRs.length > 0 ? { devices: deviceRs } : {}),
    lateWakeups: [...txRs, rxR].reduce((t, r) => t + r.lateWakeups, 0) + kloopRs.reduce((t, r) => t + r.late, 0),
    ...(kloopRs.length > 0 ? { guests: { sender: txR.guest, receiver: rxR.guest }, kloops: kloopRs } : {}),
    senders: txRs.map((r) => r.packets),
    ...(vale
      ? {
          valeCtl: [{ switch: 'vale0', ports: [...txNames, 'vale0:b'].map((n, i) => portLine(n, [...txPorts, b][i])) }],
        }
      : {}),
    intervals: s.intervals,
    counters: { sender, receiver },
    ...(mode === 'ping' ? { rtt: txR.rtt } : {}),
  };
}
